package devserver

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"tandem/internal/logging"
	"tandem/internal/searchattr"
)

const (
	taskQueue     = "devserver-test"
	finishSignal  = "finish"
	testTimeout   = 2 * time.Minute
	visibleWithin = 30 * time.Second
)

var syncKey = temporal.NewSearchAttributeKeyKeyword("TandemSync")

func greet(_ workflow.Context, name string) (string, error) {
	return "hello " + name, nil
}

func waitForFinish(ctx workflow.Context) (string, error) {
	var v string
	workflow.GetSignalChannel(ctx, finishSignal).Receive(ctx, &v)
	return "finished " + v, nil
}

func testLogger(t *testing.T) *zap.Logger {
	t.Helper()
	// Not zaptest: the server may log from its own goroutines after a test ends.
	l, err := logging.New("warn", false)
	require.NoError(t, err)
	return l
}

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	begin := time.Now()
	s, err := Start(opts)
	require.NoError(t, err)
	t.Logf("started in %v on %s", time.Since(begin).Round(time.Millisecond), s.FrontendAddress())
	t.Cleanup(s.Stop)
	return s
}

func dial(t *testing.T, s *Server) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := s.NewClient(ctx, client.Options{})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func runWorker(t *testing.T, c client.Client) worker.Worker {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(greet)
	w.RegisterWorkflow(waitForFinish)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return w
}

func TestInMemoryRunsWorkflowWithSearchAttribute(t *testing.T) {
	s := start(t, Options{SearchAttributes: map[string]enums.IndexedValueType{
		"TandemSync": enums.INDEXED_VALUE_TYPE_KEYWORD,
	}})
	assert.Equal(t, "default", s.Namespace())
	assert.True(t, strings.HasPrefix(s.FrontendAddress(), "127.0.0.1:"), s.FrontendAddress())
	assert.Empty(t, s.UIAddress())

	c := dial(t, s)
	runWorker(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    "greet-x",
		TaskQueue:             taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(syncKey.ValueSet("x")),
	}, greet, "tandem")
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	assert.Equal(t, "hello tandem", got)

	assert.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `TandemSync = "x"`})
		require.NoError(ct, err)
		require.Len(ct, resp.GetExecutions(), 1)
		assert.Equal(ct, "greet-x", resp.GetExecutions()[0].GetExecution().GetWorkflowId())
	}, visibleWithin, 100*time.Millisecond)

	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `TandemSync = "y"`})
	require.NoError(t, err)
	assert.Empty(t, resp.GetExecutions())
}

func TestRestartOnSameFileKeepsWorkflows(t *testing.T) {
	dbFile := filepath.Join(t.TempDir(), "tandem.db")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	first := start(t, Options{DBFile: dbFile, SearchAttributes: map[string]enums.IndexedValueType{
		"TandemSync": enums.INDEXED_VALUE_TYPE_KEYWORD,
	}})
	c1 := dial(t, first)
	// No worker yet: the workflow only has to be durably started.
	run, err := c1.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    "wait-for-finish",
		TaskQueue:             taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(syncKey.ValueSet("restart")),
	}, waitForFinish)
	require.NoError(t, err)
	c1.Close()
	first.Stop()
	first.Stop() // safe twice

	// The same file, a new server in the same process, with one more search
	// attribute: the reused namespace gets it through the operator service.
	second := start(t, Options{DBFile: dbFile, SearchAttributes: map[string]enums.IndexedValueType{
		"TandemSync": enums.INDEXED_VALUE_TYPE_KEYWORD,
		"TandemRun":  enums.INDEXED_VALUE_TYPE_INT,
	}})
	c2 := dial(t, second)

	desc, err := c2.DescribeWorkflowExecution(ctx, "wait-for-finish", run.GetRunID())
	require.NoError(t, err)
	assert.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus())

	attrs, err := c2.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: second.Namespace()})
	require.NoError(t, err)
	assert.Equal(t, enums.INDEXED_VALUE_TYPE_KEYWORD, attrs.GetCustomAttributes()["TandemSync"])
	assert.Equal(t, enums.INDEXED_VALUE_TYPE_INT, attrs.GetCustomAttributes()["TandemRun"])

	runWorker(t, c2)
	require.NoError(t, c2.SignalWorkflow(ctx, "wait-for-finish", "", finishSignal, "after restart"))
	var got string
	require.NoError(t, c2.GetWorkflow(ctx, "wait-for-finish", run.GetRunID()).Get(ctx, &got))
	assert.Equal(t, "finished after restart", got)

	// The search attribute written before the restart still finds the workflow,
	// and the one added on restart is usable at once.
	assert.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := c2.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: `TandemSync = "restart" AND ExecutionStatus = "Completed"`,
		})
		require.NoError(ct, err)
		assert.Len(ct, resp.GetExecutions(), 1)
	}, visibleWithin, 100*time.Millisecond)
	_, err = c2.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        "greet-run",
		TaskQueue: taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyInt64("TandemRun").ValueSet(7)),
	}, greet, "again")
	require.NoError(t, err)
	assert.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := c2.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `TandemRun = 7`})
		require.NoError(ct, err)
		assert.Len(ct, resp.GetExecutions(), 1)
	}, visibleWithin, 100*time.Millisecond)
}

func TestEnsureSearchAttributesIsIdempotentAndChecksTypes(t *testing.T) {
	s := start(t, Options{Namespace: "tandem-test"})
	c := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	attrs := map[string]enums.IndexedValueType{"TandemSync": enums.INDEXED_VALUE_TYPE_KEYWORD}
	require.NoError(t, searchattr.Ensure(ctx, c, s.Namespace(), attrs))
	require.NoError(t, searchattr.Ensure(ctx, c, s.Namespace(), attrs))

	err := searchattr.Ensure(ctx, c, s.Namespace(), map[string]enums.IndexedValueType{
		"TandemSync": enums.INDEXED_VALUE_TYPE_INT,
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TandemSync")
}

func TestUIServesAndStopClosesListener(t *testing.T) {
	uiPort := freeTestPort(t)
	s := start(t, Options{UIPort: uiPort})
	require.NotEmpty(t, s.UIAddress())

	noRedirect := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := noRedirect.Get("http://" + s.UIAddress() + "/")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.True(t, resp.StatusCode == http.StatusOK || resp.StatusCode/100 == 3, "GET / answered %s", resp.Status)

	// The UI reaches the frontend: its API lists the namespace.
	resp, err = noRedirect.Get("http://" + s.UIAddress() + "/api/v1/namespaces")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	s.Stop()
	_, err = net.DialTimeout("tcp", s.UIAddress(), time.Second)
	require.Error(t, err, "UI still listening after Stop")
	_, err = net.DialTimeout("tcp", s.FrontendAddress(), time.Second)
	require.Error(t, err, "frontend still listening after Stop")

	// The port is free again for a new server in the same process.
	again := start(t, Options{UIPort: uiPort})
	assert.Equal(t, s.UIAddress(), again.UIAddress())
}

func TestStartRejectsBusyPorts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port

	_, err = Start(Options{Port: busy})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "frontend port")

	_, err = Start(Options{UIPort: busy, Logger: testLogger(t)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "UI port")
}

// The tests start and stop many servers in one process; a stopped server must
// not leave Temporal code running (pollers, timers) behind. What remains are a
// few idle gRPC client connections the server never closes, and the SQLite
// connection its plugin keeps for the life of the process.
func TestStopLeavesNoTemporalGoroutines(t *testing.T) {
	// Only this test's server is judged: goroutines of servers that tests before it
	// started (in this process) and that are still ending are left out.
	before := map[string]bool{}
	for _, g := range temporalGoroutines() {
		before[goroutineID(g)] = true
	}
	s := start(t, Options{UIPort: freeTestPort(t)})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := s.NewClient(ctx, client.Options{})
	require.NoError(t, err)
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(greet)
	require.NoError(t, w.Start())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: taskQueue}, greet, "leak")
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
	require.NotEmpty(t, temporalGoroutines(), "the check would see a running server")

	w.Stop()
	c.Close()
	s.Stop()
	var left []string
	assert.Eventually(t, func() bool {
		left = slices.DeleteFunc(temporalGoroutines(), func(g string) bool { return before[goroutineID(g)] })
		return len(left) == 0
	}, 10*time.Second, 100*time.Millisecond)
	assert.Empty(t, left, "Temporal goroutines still running after Stop")
}

// goroutineID is the id in a goroutine's stack ("goroutine 42 [select]:...").
func goroutineID(stack string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(stack, "goroutine "), " ")
	return id
}

// temporalGoroutines lists the stacks of goroutines running Temporal server,
// SDK or UI code.
func temporalGoroutines() []string {
	buf := make([]byte, 16<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "go.temporal.io/") || strings.Contains(g, "temporalio/ui-server") {
			left = append(left, g)
		}
	}
	return left
}

func freeTestPort(t *testing.T) int {
	t.Helper()
	p, err := freePort("127.0.0.1")
	require.NoError(t, err)
	return p
}
