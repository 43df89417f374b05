// Package app wires Tandem's parts together for the worker and starter commands: the
// Temporal client from the environment, the opened connections, the registered worker,
// and the calls that start and drive a sync's workflow.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/connectors"
	"tandem/definition"
	"tandem/internal/config"
	"tandem/internal/ingress"
	"tandem/internal/searchattr"
	"tandem/secret"
	"tandem/workflows"
)

// Defaults for reaching Temporal when neither the environment nor a profile names them.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
)

// ClientOptions are the Temporal client options from the standard environment and
// profile file, as every Temporal tool reads them (go.temporal.io/sdk/contrib/envconfig):
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_CLIENT_CERT_PATH
// and _KEY_PATH (or _DATA), TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_PROFILE and
// TEMPORAL_CONFIG_FILE (default ~/.config/temporalio/temporal.toml). So the same binaries
// run against a local server and Temporal Cloud.
func ClientOptions(logger log.Logger) (client.Options, error) {
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("Temporal client configuration (TEMPORAL_* environment or profile file): %w", err)
	}
	if opts.HostPort == "" {
		opts.HostPort = DefaultAddress
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	opts.Logger = logger
	return opts, nil
}

// DialEnv connects to Temporal as the standard environment says (see ClientOptions).
func DialEnv(ctx context.Context, logger log.Logger) (client.Client, error) {
	opts, err := ClientOptions(logger)
	if err != nil {
		return nil, err
	}
	return Dial(ctx, opts)
}

// Dial connects to Temporal, failing within a few seconds with an error that names the
// address when the server cannot be reached.
func Dial(ctx context.Context, opts client.Options) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %s): %w; start one with `go run ./worker --dev` or set TEMPORAL_ADDRESS",
			opts.HostPort, opts.Namespace, errors.Unwrap(err))
	}
	return c, nil
}

// SearchAttributes are the custom search attributes Tandem's workflows carry.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	workflows.SyncSearchAttribute:        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	workflows.StateSearchAttribute:       enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	workflows.LastSuccessSearchAttribute: enumspb.INDEXED_VALUE_TYPE_DATETIME,
}

// HasStateAttributes reports whether the namespace has the state search attributes
// (TandemState, TandemLastSuccess), which syncs publish only where they exist; the
// names missing are returned for a message.
func HasStateAttributes(ctx context.Context, c client.Client, namespace string) (bool, []string, error) {
	missing, err := searchattr.Missing(ctx, c, namespace, map[string]enumspb.IndexedValueType{
		workflows.StateSearchAttribute:       SearchAttributes[workflows.StateSearchAttribute],
		workflows.LastSuccessSearchAttribute: SearchAttributes[workflows.LastSuccessSearchAttribute],
	})
	if err != nil {
		return false, nil, err
	}
	return len(missing) == 0, missing, nil
}

// Setup registers Tandem's search attributes on the client's namespace; it is idempotent.
func Setup(ctx context.Context, c client.Client, namespace string) error {
	if err := searchattr.Ensure(ctx, c, namespace, SearchAttributes); err != nil {
		return fmt.Errorf("register search attributes on namespace %s: %w", namespace, err)
	}
	return nil
}

// OpenConnections opens every connection of a definitions file.
func OpenConnections(f *config.File, reg *connectors.Registry) (map[string]connectors.Connector, error) {
	conns := make(map[string]connectors.Connector, len(f.Connections))
	for name, c := range f.Connections {
		conn, err := reg.Open(name, c.Type, c.Settings)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		conns[name] = conn
	}
	// Each connection reads every field its syncs map, not only its default set.
	for _, s := range f.Syncs {
		for _, side := range []struct {
			sd     config.Side
			fields func(config.Field) string
		}{{s.A, func(f config.Field) string { return f.A }}, {s.B, func(f config.Field) string { return f.B }}} {
			sel, ok := conns[side.sd.Connection].(connectors.FieldSelector)
			if !ok {
				continue
			}
			names := []string{side.sd.Key}
			for _, fl := range s.Fields {
				names = append(names, side.fields(fl))
			}
			sel.ReadFields(side.sd.Object, names)
		}
	}
	return conns, nil
}

// NewWorker returns a worker on Tandem's task queue with the sync workflow and the
// pipeline's activities registered.
func NewWorker(c client.Client, acts *activities.Activities) worker.Worker {
	var opts worker.Options
	if acts.Secrets.Active() {
		opts.Interceptors = []interceptor.WorkerInterceptor{&scrubber{s: acts.Secrets}}
	}
	w := worker.New(c, workflows.TaskQueue, opts)
	w.RegisterWorkflow(workflows.SyncWorkflow)
	w.RegisterWorkflow(workflows.PlanWorkflow)
	w.RegisterWorkflow(workflows.VerifyWorkflow)
	w.RegisterWorkflow(workflows.LinksWorkflow)
	w.RegisterWorkflow(workflows.BulkOutcomeWorkflow)
	w.RegisterWorkflowWithOptions(workflows.HandoffWorkflow, workflow.RegisterOptions{Name: workflows.HandoffWorkflowType})
	w.RegisterActivity(acts)
	w.RegisterActivityWithOptions(ingress.NewDeliverer(c).DeliverChange, activity.RegisterOptions{Name: workflows.ActivityDeliverChange})
	return w
}

// StartSync starts a sync's workflow, or finds it running. started is false when it was
// already running. def, when given, is the sync's definition inline (the workers' files
// are not used for it).
func StartSync(ctx context.Context, c client.Client, sync string, def json.RawMessage) (run client.WorkflowRun, started bool, err error) {
	// Whether it runs already decides the message; the start itself is idempotent.
	desc, descErr := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(sync), "")
	running := descErr == nil && desc.GetWorkflowExecutionInfo().GetCloseTime() == nil
	run, err = c.ExecuteWorkflow(ctx, workflows.StartOptions(sync), workflows.SyncWorkflow, workflows.SyncInput{Sync: sync, Definition: def})
	if err != nil {
		return nil, false, fmt.Errorf("start sync %q: %w", sync, err)
	}
	return run, !running, nil
}

// Status queries a sync's workflow.
func Status(ctx context.Context, c client.Client, sync string) (workflows.Status, error) {
	var st workflows.Status
	v, err := c.QueryWorkflow(ctx, workflows.WorkflowID(sync), "", workflows.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		// A workflow closed before its run's first task (terminated just after it
		// continued as new) cannot be queried; its description still says it is closed.
		desc, derr := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(sync), "")
		if derr != nil || desc.GetWorkflowExecutionInfo().GetCloseTime() == nil {
			return workflows.Status{}, fmt.Errorf("status of sync %q: %w", sync, err)
		}
		st = workflows.Status{Sync: sync, WorkflowID: workflows.WorkflowID(sync)}
	}
	if desc, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(sync), ""); err == nil {
		info := desc.GetWorkflowExecutionInfo()
		if info.GetCloseTime() != nil {
			// A query answers from a closed workflow's last state, which still reads
			// "idle, next run due": say it is not running at all.
			st.Closed = strings.ToLower(strings.TrimPrefix(info.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))
			st.ClosedAt = info.GetCloseTime().AsTime()
			st.Running = false
		} else {
			st.Retrying = retrying(desc)
			addChunkProgress(&st, desc)
		}
	}
	return st, nil
}

// addChunkProgress adds to the run in progress the records a running chunk has read so
// far (its last heartbeat): the workflow counts them only when the chunk ends.
func addChunkProgress(st *workflows.Status, desc *workflowservice.DescribeWorkflowExecutionResponse) {
	if st.Current == nil {
		return
	}
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetActivityType().GetName() != "SyncChunk" || pa.GetHeartbeatDetails() == nil {
			continue
		}
		var p activities.ChunkProgress
		if converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &p) == nil && p.Fetched > 0 {
			run := *st.Current
			run.Fetched += p.Fetched
			st.Current = &run
		}
	}
}

// retrying lists the sync's activities that failed and are being retried, from Temporal's
// description of the workflow (the workflow itself learns of a failure only when the
// retries are spent).
func retrying(desc *workflowservice.DescribeWorkflowExecutionResponse) []workflows.RetryingActivity {
	var out []workflows.RetryingActivity
	for _, pa := range desc.GetPendingActivities() {
		f := pa.GetLastFailure()
		if f == nil {
			continue
		}
		r := workflows.RetryingActivity{Activity: pa.GetActivityType().GetName(), Attempt: int(pa.GetAttempt()), Error: failureText(f)}
		if t := pa.GetNextAttemptScheduleTime(); t != nil && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
			r.NextAttempt = t.AsTime()
		}
		out = append(out, r)
	}
	return out
}

// failureText is a failure's message; Go errors carry their causes' text in it already
// (the causes are the same text, unwrapped), so they are not repeated.
func failureText(f *failurepb.Failure) string { return f.GetMessage() }

// Update sends an update (pause, resume, sync-now, resync, define) to a sync's workflow and
// waits for its answer: the sync's new status, or why the sync refused it.
func Update(ctx context.Context, c client.Client, sync, name string, arg any) (workflows.Status, error) {
	opts := client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(sync),
		UpdateName:   name,
		WaitForStage: client.WorkflowUpdateStageCompleted,
	}
	if arg != nil {
		opts.Args = []any{arg}
	}
	h, err := c.UpdateWorkflow(ctx, opts)
	var st workflows.Status
	if err == nil {
		err = h.Get(ctx, &st)
	}
	if err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) {
			return workflows.Status{}, fmt.Errorf("sync %q refused %s: %s", sync, name, app.Message())
		}
		return workflows.Status{}, fmt.Errorf("%s sync %q: %w", name, sync, err)
	}
	return st, nil
}

// Signal sends a signal to a sync's workflow.
func Signal(ctx context.Context, c client.Client, sync, signal string, arg any) error {
	if err := c.SignalWorkflow(ctx, workflows.WorkflowID(sync), "", signal, arg); err != nil {
		return fmt.Errorf("signal %s to sync %q: %w", signal, sync, err)
	}
	return nil
}

// scrubber removes secrets from every error an activity returns, before Temporal records
// it (in history, in the run's summary, in status): one place for every activity and
// every connector's messages.
type scrubber struct {
	interceptor.WorkerInterceptorBase
	s *secret.Scrubber
}

func (w *scrubber) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	a := &scrubActivity{s: w.s}
	a.Next = next
	return a
}

type scrubActivity struct {
	interceptor.ActivityInboundInterceptorBase
	s *secret.Scrubber
}

func (a *scrubActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := a.Next.ExecuteActivity(ctx, in)
	return res, ScrubError(a.s, err)
}

// ScrubError returns err with every secret s knows removed from its message (and its
// causes'), keeping what Temporal acts on: an application error's type, whether it may be
// retried and after how long. err itself when it holds no secret.
func ScrubError(s *secret.Scrubber, err error) error {
	if err == nil || !s.Active() {
		return err
	}
	msg := err.Error()
	clean := s.String(msg)
	if clean == msg {
		return err
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return temporal.NewApplicationErrorWithOptions(clean, app.Type(), temporal.ApplicationErrorOptions{
			NonRetryable:   app.NonRetryable(),
			NextRetryDelay: app.NextRetryDelay(),
		})
	}
	return errors.New(clean)
}

// ErrMappingInvalid marks a definitions file whose mapping names fields the services'
// objects do not have (CheckMappings).
var ErrMappingInvalid = errors.New("mapping invalid")

// CheckMappings checks every sync's mapping against the fields each side's service says
// its object has (connectors.Describer), as a worker starts: a field missing, or not
// writable where the sync writes it, is an error wrapping ErrMappingInvalid that names
// the file, the sync and each field. A service that cannot be asked (unreachable, say) is
// not an error here: each run checks again before it reads (workflows), and warn is told.
func CheckMappings(ctx context.Context, f *config.File, conns map[string]connectors.Connector, warn func(sync string, err error)) error {
	var problems []string
	for i := range f.Syncs {
		s := &f.Syncs[i]
		for _, side := range []definition.Side{definition.A, definition.B} {
			end := s.End(side)
			conn, ok := conns[end.Connection]
			if !ok {
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			found, err := activities.DescribeAndCheck(dctx, s, side, end, conn)
			cancel()
			if err != nil {
				if warn != nil {
					warn(s.Name, fmt.Errorf("describe %s.%s: %w", end.Connection, end.Object, err))
				}
				continue
			}
			for _, p := range found {
				problems = append(problems, fmt.Sprintf("sync %q: %s", s.Name, p))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %w: %s", f.Path, ErrMappingInvalid, strings.Join(problems, "; "))
	}
	return nil
}
