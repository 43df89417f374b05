// Package app wires Tandem's parts together for the worker and starter commands: the
// Temporal client from the environment, the opened connections, the registered worker,
// and the calls that start and drive a sync's workflow.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"tandem/activities"
	"tandem/connectors"
	"tandem/internal/config"
	"tandem/workflows"
)

// Defaults for reaching Temporal, overridden by TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
)

// ClientOptions are the Temporal client options from the standard environment.
func ClientOptions(logger log.Logger) client.Options {
	opts := client.Options{HostPort: DefaultAddress, Namespace: DefaultNamespace, Logger: logger}
	if v := os.Getenv("TEMPORAL_ADDRESS"); v != "" {
		opts.HostPort = v
	}
	if v := os.Getenv("TEMPORAL_NAMESPACE"); v != "" {
		opts.Namespace = v
	}
	return opts
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
	return conns, nil
}

// NewWorker returns a worker on Tandem's task queue with the sync workflow and the
// pipeline's activities registered.
func NewWorker(c client.Client, acts *activities.Activities) worker.Worker {
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflow(workflows.SyncWorkflow)
	w.RegisterActivity(acts)
	return w
}

// StartSync starts a sync's workflow, or finds it running. started is false when it was
// already running.
func StartSync(ctx context.Context, c client.Client, sync string) (run client.WorkflowRun, started bool, err error) {
	// Whether it runs already decides the message; the start itself is idempotent.
	desc, descErr := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(sync), "")
	running := descErr == nil && desc.GetWorkflowExecutionInfo().GetCloseTime() == nil
	run, err = c.ExecuteWorkflow(ctx, workflows.StartOptions(sync), workflows.SyncWorkflow, workflows.SyncInput{Sync: sync})
	if err != nil {
		return nil, false, fmt.Errorf("start sync %q: %w", sync, err)
	}
	return run, !running, nil
}

// Status queries a sync's workflow.
func Status(ctx context.Context, c client.Client, sync string) (workflows.Status, error) {
	v, err := c.QueryWorkflow(ctx, workflows.WorkflowID(sync), "", workflows.QueryStatus)
	if err != nil {
		return workflows.Status{}, fmt.Errorf("status of sync %q: %w", sync, err)
	}
	var st workflows.Status
	if err := v.Get(&st); err != nil {
		return workflows.Status{}, fmt.Errorf("status of sync %q: %w", sync, err)
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
