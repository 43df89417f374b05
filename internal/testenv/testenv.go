// Package testenv gives integration tests and benchmarks a real Temporal server embedded
// in the test process (one per test binary, in memory, on free loopback ports) and a
// harness that runs a sync between two memory connectors on it.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"tandem/activities"
	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/devserver"
	"tandem/internal/logging"
	"tandem/pairs"
	"tandem/workflows"
)

var (
	once    sync.Once
	server  *devserver.Server
	cl      client.Client
	onceErr error
)

// Client returns a client of the test binary's embedded server, starting it on first use.
func Client(t testing.TB) client.Client {
	t.Helper()
	once.Do(func() {
		server, onceErr = devserver.Start(devserver.Options{
			SearchAttributes: app.SearchAttributes,
		})
		if onceErr != nil {
			return
		}
		cl, onceErr = server.NewClient(context.Background(), client.Options{
			Logger: logging.Temporal(zap.NewNop()),
			// On loopback, gzip costs a fifth of the CPU and saves nothing.
			ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}},
		})
	})
	if onceErr != nil {
		t.Fatalf("embedded Temporal server: %v", onceErr)
	}
	return cl
}

// ClientWith starts a server of the test's own with the given dynamic config (e.g. a low
// "limit.historySize.suggestContinueAsNew"), stopped when the test ends, and returns a
// client of it.
func ClientWith(t testing.TB, dynamicConfig map[string]any) client.Client {
	t.Helper()
	srv, err := devserver.Start(devserver.Options{SearchAttributes: app.SearchAttributes, DynamicConfig: dynamicConfig})
	if err != nil {
		t.Fatalf("embedded Temporal server: %v", err)
	}
	t.Cleanup(srv.Stop)
	c, err := srv.NewClient(context.Background(), client.Options{Logger: logging.Temporal(zap.NewNop())})
	if err != nil {
		t.Fatalf("client of the embedded Temporal server: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Server returns the embedded server (started by Client).
func Server(t testing.TB) *devserver.Server {
	Client(t)
	return server
}

// Sync is one sync running on the embedded server: between two memory connectors
// (NewSync), or as a definitions file says (NewFileSync).
type Sync struct {
	T      testing.TB
	Name   string
	Client client.Client
	// Source and Target are the memory connectors of NewSync (nil for NewFileSync).
	Source *memory.Connector
	Target *memory.Connector
	Acts   *activities.Activities
	Worker worker.Worker
	// FirstRunID is the run Start started.
	FirstRunID string
}

// Def returns a one-way definition from "source" to "target" companies keyed by domain.
func Def(name string) config.Sync {
	return config.Sync{
		Name: name,
		Mode: config.OneWay,
		A:    config.Side{Connection: "source", Object: "companies", Key: "domain"},
		B:    config.Side{Connection: "target", Object: "companies", Key: "domain"},
		Fields: []config.Field{
			{A: "name", B: "name", Direction: config.Both},
			{A: "domain", B: "domain", Normalize: []string{"domain"}, Direction: config.Both},
			{A: "phone", B: "phone", Direction: config.Both},
		},
		Conflict: config.NewestWins,
		Schedule: config.Schedule{Every: time.Hour},
		PageSize: config.DefaultPageSize,
	}
}

// NewSync prepares a sync (not started): a worker with the definition and the two
// connectors. The worker is stopped and the workflow terminated when the test ends, so
// tests in one binary do not see each other's syncs.
func NewSync(t testing.TB, def config.Sync, source, target *memory.Connector) *Sync {
	t.Helper()
	return NewSyncWith(t, Client(t), def, source, target)
}

// NewSyncWith is NewSync with a client of the caller's (e.g. one with a metrics handler).
func NewSyncWith(t testing.TB, c client.Client, def config.Sync, source, target *memory.Connector) *Sync {
	t.Helper()
	s := NewFileSync(t, c, &config.File{Path: "test", Syncs: []config.Sync{def}}, map[string]connectors.Connector{
		def.A.Connection: source,
		def.B.Connection: target,
	}, def.Name)
	s.Source, s.Target = source, target
	return s
}

// NewFileSync prepares the sync named name of a definitions file, with connections
// opened by the caller (any connector types, e.g. app.OpenConnections over fakes): a
// worker is started, and stopped with the workflow terminated when the test ends. Source
// and Target are nil.
func NewFileSync(t testing.TB, c client.Client, f *config.File, conns map[string]connectors.Connector, name string) *Sync {
	t.Helper()
	links, err := pairs.Open(filepath.Join(t.TempDir(), "links.db"))
	if err != nil {
		t.Fatalf("link store: %v", err)
	}
	t.Cleanup(func() { _ = links.Close() })
	s := &Sync{T: t, Name: name, Client: c, Acts: &activities.Activities{Syncs: f, Connections: conns, Links: links, SearchState: true}}
	s.StartWorker()
	t.Cleanup(s.Close)
	return s
}

// Close stops the worker and terminates the workflow (idempotent).
func (s *Sync) Close() {
	s.StopWorker()
	_ = s.Client.TerminateWorkflow(context.Background(), workflows.WorkflowID(s.Name), "", "test over")
}

// StartWorker starts a worker (again) with the sync's activities.
func (s *Sync) StartWorker() {
	s.T.Helper()
	s.Worker = app.NewWorker(s.Client, s.Acts)
	if err := s.Worker.Start(); err != nil {
		s.T.Fatalf("start worker: %v", err)
	}
}

// StopWorker stops the worker (idempotent).
func (s *Sync) StopWorker() {
	if s.Worker != nil {
		s.Worker.Stop()
		s.Worker = nil
	}
}

// Start starts the sync's workflow.
func (s *Sync) Start() {
	s.T.Helper()
	run, _, err := app.StartSync(context.Background(), s.Client, s.Name, nil)
	if err != nil {
		s.T.Fatal(err)
	}
	s.FirstRunID = run.GetRunID()
}

// Status queries the workflow. Queries can fail briefly while a run continues as new,
// so it retries for a few seconds.
func (s *Sync) Status() workflows.Status {
	s.T.Helper()
	var err error
	for range 50 {
		var st workflows.Status
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err = app.Status(ctx, s.Client, s.Name)
		cancel()
		if err == nil {
			return st
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.T.Fatalf("status: %v", err)
	return workflows.Status{}
}

// Signal sends a signal to the sync's workflow.
func (s *Sync) Signal(name string, arg any) {
	s.T.Helper()
	// The client's SignalWorkflow gives each attempt at most 10 s and does not retry one
	// that ran out: an embedded server starved on a loaded 2-core machine failed tests
	// so (TestTwoWayRandom in CI, twice). The service call takes the whole minute instead,
	// and keeps one request id across its retries, so the server never signals twice.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	input, err := converter.GetDefaultDataConverter().ToPayloads(arg)
	if err != nil {
		s.T.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	req := &workflowservice.SignalWorkflowExecutionRequest{
		Namespace:         "default",
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID(s.Name)},
		SignalName:        name,
		Input:             input,
		Identity:          "testenv",
		RequestId:         hex.EncodeToString(id),
	}
	// A run that is continuing as new refuses signals for a moment (ResourceExhausted,
	// "workflow is closing"), as a server under load may (Unavailable): both are tried
	// again, as the client's own retries would.
	refused := func(err error) bool {
		var busy *serviceerror.ResourceExhausted
		var down *serviceerror.Unavailable
		return errors.As(err, &busy) || errors.As(err, &down)
	}
	_, err = s.Client.WorkflowService().SignalWorkflowExecution(ctx, req)
	for wait := 10 * time.Millisecond; refused(err) && ctx.Err() == nil; wait = min(2*wait, time.Second) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
			_, err = s.Client.WorkflowService().SignalWorkflowExecution(ctx, req)
		}
		t.Stop()
	}
	if err != nil {
		s.T.Fatalf("signal %s to sync %q: %v", name, s.Name, err)
	}
}

// WaitRuns waits until the sync has finished n runs and returns its status.
func (s *Sync) WaitRuns(n int, timeout time.Duration) workflows.Status {
	s.T.Helper()
	return s.WaitFor(fmt.Sprintf("%d finished runs", n), timeout, func(st workflows.Status) bool {
		return st.LastRun != nil && st.LastRun.Number >= n && st.Current == nil
	})
}

// WaitFor polls the status until cond holds.
func (s *Sync) WaitFor(what string, timeout time.Duration, cond func(workflows.Status) bool) workflows.Status {
	s.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			s.T.Fatalf("timed out after %s waiting for %s; status: %+v", timeout, what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Histories returns the history of every execution of the sync's workflow since Start,
// oldest first (the chain of continue-as-new runs, the open one last).
func (s *Sync) Histories(ctx context.Context) ([]*historypb.History, error) {
	var out []*historypb.History
	for runID := s.FirstRunID; runID != ""; {
		iter := s.Client.GetWorkflowHistory(ctx, workflows.WorkflowID(s.Name), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		runID = ""
		h := &historypb.History{}
		for iter.HasNext() {
			e, err := iter.Next()
			if err != nil {
				return nil, err
			}
			h.Events = append(h.Events, e)
			if a := e.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				runID = a.GetNewExecutionRunId()
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// HistoryEvents counts the history events of the sync's workflow since Start, and their
// encoded size: every execution of its continue-as-new chain, the open one included.
func (s *Sync) HistoryEvents(ctx context.Context) (events, bytes int, err error) {
	for runID := s.FirstRunID; runID != ""; {
		iter := s.Client.GetWorkflowHistory(ctx, workflows.WorkflowID(s.Name), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		runID = ""
		for iter.HasNext() {
			e, err := iter.Next()
			if err != nil {
				return 0, 0, err
			}
			events++
			bytes += proto.Size(e)
			if a := e.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				runID = a.GetNewExecutionRunId()
			}
		}
	}
	return events, bytes, nil
}
