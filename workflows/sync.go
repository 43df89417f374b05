package workflows

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/connectors"
)

// failedRunRetry is how soon a run that stopped on an error is tried again at most.
const failedRunRetry = 5 * time.Minute

// a is the nil receiver the workflow names activities through.
var a *activities.Activities

// SyncWorkflow runs one sync for ever: it sleeps on a durable timer until the next run,
// wakes early on sync-now, pulls changes page by page through the pipeline, and continues
// as new after every run (and mid-run when the server suggests it) carrying its state.
func SyncWorkflow(ctx workflow.Context, in SyncInput) error {
	// A sync has one workflow, tandem/sync/<name>: started under another id (from the
	// Temporal CLI or UI, say) it would be a second live workflow writing the same records,
	// which status does not list. It fails at once, saying how to start it. Checked on the
	// first, live, execution of the task only: a replayer runs histories under an id of its
	// own ("ReplayId"), and a history that passed once passes again.
	if id := workflow.GetInfo(ctx).WorkflowExecution.ID; !workflow.IsReplaying(ctx) && (in.Sync == "" || id != WorkflowID(in.Sync)) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"workflow %q was started with sync %q: a sync's workflow id must be %q; start it with `starter start --sync NAME` or `temporal workflow start --type SyncWorkflow --task-queue %s --workflow-id tandem/sync/NAME --input '{\"Sync\":\"NAME\"}'`",
			id, in.Sync, WorkflowID(in.Sync), TaskQueue), "BadStart", nil)
	}
	s := newSyncer(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryStatus, s.status); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryPlanInput, s.planInput); err != nil {
		return err
	}
	if err := s.setUpdates(ctx); err != nil {
		return err
	}
	return s.run(ctx)
}

type syncer struct {
	name   string
	st     *SyncState
	plan   *activities.SyncPlan
	logger log.Logger

	syncNow, pause, resume, resync, change, verified workflow.ReceiveChannel
	// wake is sent to by update handlers, so the run loop acts on what they changed.
	wake workflow.Channel
	// seen holds the ids of recent events (st.Seen as a set).
	seen map[string]bool
	// inFlight is the size of the micro-batch being synced.
	inFlight int
	// trigger says why the next run starts, for its summary.
	trigger string
	// lastChange is when this execution last received webhook events (see
	// continueAsNew).
	lastChange time.Time
	// rewound is set when a resync moved a cursor during a run, so a page fetched
	// ahead from the old position is not used.
	rewound bool
	// touched is the latest look-ahead's record of writes since it began (nil before
	// any); see lookAhead.
	touched map[string]map[string][]string
	// dirty is the latest look-ahead's record of records written or linked since it
	// began (linked two-way syncs; see staleAhead).
	dirty map[string]map[string]bool
	// published and publishedSuccess are the state search attributes as last upserted.
	published        string
	publishedSuccess time.Time
	publishedRead    bool
	// fatal, once set, ends the workflow with it (a sync no worker knows).
	fatal error
	// linked is set for two-way syncs that keep their pairs in the link store (every
	// run since the "link-store" version); see linked.go.
	linked bool
	// local is set while a webhook micro-batch runs its steps as local activities (see
	// remote and processEvents).
	local bool
	// gathered is how long the latest micro-batch waited for events (see gatherTime).
	gathered time.Duration
	// next is the timer of the next run, kept across waits for the same time (see wait).
	next   workflow.Future
	nextAt time.Time
	// nextCancel cancels next.
	nextCancel workflow.CancelFunc
}

func newSyncer(ctx workflow.Context, in SyncInput) *syncer {
	st := in.State
	if st == nil {
		st = &SyncState{}
	}
	if st.Cursors == nil {
		st.Cursors = map[string]connectors.Cursor{}
	}
	if len(in.Definition) > 0 && len(st.Definition) == 0 {
		st.Definition = in.Definition
	}
	return &syncer{
		name:     in.Sync,
		st:       st,
		logger:   log.With(workflow.GetLogger(ctx), "sync", in.Sync),
		syncNow:  workflow.GetSignalChannel(ctx, SignalSyncNow),
		pause:    workflow.GetSignalChannel(ctx, SignalPause),
		resume:   workflow.GetSignalChannel(ctx, SignalResume),
		resync:   workflow.GetSignalChannel(ctx, SignalResync),
		change:   workflow.GetSignalChannel(ctx, SignalChange),
		verified: workflow.GetSignalChannel(ctx, SignalVerified),
		wake:     workflow.NewBufferedChannel(ctx, 1),
		trigger:  "schedule",
		seen:     seenSet(st.Seen),
	}
}

func (s *syncer) run(ctx workflow.Context) error {
	for {
		if s.fatal != nil {
			return s.fatal
		}
		s.drainSignals(ctx)
		s.deleteControl(ctx)
		s.publish(ctx)
		s.setGauges(ctx)
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Between two batches is a safe point, even mid-run or with events waiting:
			// all of it is in the state.
			return s.continueAsNew(ctx)
		}
		if s.heldDue(ctx) && !s.st.Paused {
			s.releaseHeld(ctx)
		}
		if s.hasPending() && !s.st.Paused {
			s.processEvents(ctx)
			continue
		}
		if s.st.Current == nil && !s.st.Paused && s.due(ctx) {
			s.startRun(ctx)
			// A run can take a while (a backfill): the UI's list says it is running.
			s.publish(ctx)
		}
		if s.st.Current != nil && !s.st.Paused {
			finished := s.runPages(ctx)
			if s.fatal != nil {
				return s.fatal
			}
			if finished {
				s.finishRun(ctx)
				if s.verifyDue(ctx) {
					s.scheduledVerify(ctx)
				}
				if s.continueAfterRun(ctx) {
					return s.continueAsNew(ctx)
				}
				s.pruneWritten(workflow.Now(ctx))
				continue // the loop's top publishes the finished run's state and gauges
			}
		}
		if s.st.Current == nil || s.st.Paused {
			s.wait(ctx)
		}
	}
}

func (s *syncer) due(ctx workflow.Context) bool {
	return s.st.SyncNowPending || !workflow.Now(ctx).Before(s.st.NextRunAt)
}

func (s *syncer) startRun(ctx workflow.Context) {
	s.st.Runs++
	trigger := s.trigger
	if s.st.SyncNowPending {
		trigger = "sync-now"
	}
	s.st.SyncNowPending = false
	s.trigger = "schedule"
	if workflow.GetVersion(ctx, "plan-per-run", workflow.DefaultVersion, 1) == 1 {
		// Every run loads its definition afresh (micro-batches before it in this
		// execution may have loaded an older one): an edit applies from the next run.
		s.plan = nil
	}
	s.st.Current = &RunSummary{Number: s.st.Runs, Trigger: trigger, StartedAt: workflow.Now(ctx)}
	if workflow.GetVersion(ctx, "run-marker", workflow.DefaultVersion, 1) == 1 {
		// Runs share an execution ("run-in-place"): a marker with the run's number tells
		// a reader of the history (explain) where each begins.
		n := s.st.Runs
		_ = workflow.SideEffect(ctx, func(workflow.Context) any { return n })
	}
	s.logger.Info("Run started", "run", s.st.Runs, "trigger", trigger)
}

func (s *syncer) finishRun(ctx workflow.Context) {
	run := s.st.Current
	run.FinishedAt = workflow.Now(ctx)
	s.st.LastRun, s.st.Current, s.st.Plan = run, nil, nil
	if run.Error == "" {
		s.st.LastSuccess = run.FinishedAt
	}
	every := time.Duration(0)
	if s.plan != nil {
		every = s.plan.Every
	}
	if run.Error != "" && (every == 0 || every > failedRunRetry) {
		every = failedRunRetry
	}
	s.st.NextRunAt = run.FinishedAt.Add(every)
	s.logger.Info("Run finished", "run", run.Number, "fetched", run.Fetched, "created", run.Created,
		"updated", run.Updated, "skipped", run.Skipped, "failed", run.Failed, "error", run.Error,
		"nextRunAt", s.st.NextRunAt)
}

// A finished run continues as new once the execution's history holds runInPlaceEvents
// events or runInPlaceBytes bytes (or the server suggests it); until then the next run goes
// on in the same execution. Continuing as new after every run, as before "run-in-place",
// cost each run a second: the server starts the new execution's first workflow task only
// once the one before is a second old (history.workflowIdReuseMinimalInterval), and the
// sync answers no query meanwhile. A run on the bulk path is a few dozen events, so most
// executions hold many runs; a webhook stream's markers fill one in minutes. Both bounds
// decide a branch that replay takes again: a history recorded with other bounds does not
// replay (a change to them goes behind a new GetVersion).
const runInPlaceBytes = 2 << 20

// runInPlaceEvents is a variable for tests (SetRunInPlaceEvents), read by workflows on
// workers in the test's process. A history recorded with it changed replays only with the
// same value (TestRecordFixtures uses the server's suggestion instead).
var runInPlaceEvents atomic.Int64

func init() { runInPlaceEvents.Store(2000) }

// continueAfterRun reports whether a finished run ends the execution.
func (s *syncer) continueAfterRun(ctx workflow.Context) bool {
	if workflow.GetVersion(ctx, "run-in-place", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return true
	}
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || int64(info.GetCurrentHistoryLength()) >= runInPlaceEvents.Load() ||
		info.GetCurrentHistorySize() >= runInPlaceBytes
}

// A sync that received webhook events within streamingWithin is continuing as new under a
// stream of them, and waits at most closeWakeWait for the next (continueAsNew).
const (
	streamingWithin = 5 * time.Second
	closeWakeWait   = time.Second
)

func (s *syncer) continueAsNew(ctx workflow.Context) error {
	streaming := !s.lastChange.IsZero() && workflow.Now(ctx).Sub(s.lastChange) < streamingWithin
	if streaming && workflow.GetVersion(ctx, "close-after-wake", workflow.DefaultVersion, 1) == 1 {
		// While webhooks stream in, the close goes in a workflow task of its own. A
		// signal that reaches the server while the closing task is open fails the
		// close (UnhandledCommand), and the server then refuses signals until the
		// retried task has replayed the whole execution (see HandoffWorkflow). The
		// task that decided to close has often been open a while (a micro-batch's
		// local activities run in it), so at 100 events a second a signal nearly
		// always came in. The sync waits for the next signal instead, which the
		// server delivers in a fresh task at once if one came meanwhile; only that
		// task's few milliseconds remain exposed. Should the stream stop, it closes
		// after closeWakeWait. (A timer of a millisecond would wake a fresh task too,
		// but the server fired one 991 ms late in a quiet bulk run.)
		if _, err := workflow.AwaitWithTimeout(ctx, closeWakeWait, func() bool { return s.change.Len() > 0 }); err != nil {
			return err
		}
	}
	// An update being handled (a definition being checked) finishes in this run: its
	// caller gets its answer, and its change is carried over.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	s.drainSignals(ctx)
	s.publish(ctx)
	if s.plan != nil {
		s.pruneWritten(workflow.Now(ctx))
	}
	return workflow.NewContinueAsNewError(ctx, SyncWorkflow, SyncInput{Sync: s.name, State: s.st})
}

func (s *syncer) status() (Status, error) {
	st := Status{
		Sync:        s.name,
		WorkflowID:  WorkflowID(s.name),
		Paused:      s.st.Paused,
		PausedFor:   s.st.PausedFor,
		Running:     s.st.Current != nil && !s.st.Paused,
		State:       s.state(),
		LastSuccess: s.st.LastSuccess,
		Cursors:     s.st.Cursors,
		NextRunAt:   s.st.NextRunAt,
		Current:     s.st.Current,
		LastRun:     s.st.LastRun,
		Runs:        s.st.Runs,
		Totals:      s.st.Totals,
		Failures:    s.st.Failures,
		Decisions:   s.st.Decisions,
		Realtime:    s.st.Realtime,
		Usage:       s.st.Usage,
		Events:      s.st.Events,
		Pending:     s.pendingCount(),
		Held:        s.st.Held,
		HeldCount:   s.st.HeldCount,
		Overflowed:  s.st.Overflowed,
		LastVerify:  s.st.LastVerify,
		Failing:     s.st.Failing,

		RejectedSignals:    s.st.RejectedSignals,
		Definition:         s.definitionSource(),
		LastRejectedSignal: s.st.LastRejectedSignal,
	}
	if d := s.st.Deletes; d != nil {
		st.Deletes = &DeletesStatus{Mode: d.Mode, Held: d.Held, Pending: d.Pending, Notes: d.Notes, Recent: d.Recent, Discarded: d.Discarded}
	}
	for _, side := range workflow.DeterministicKeys(s.st.Written) {
		if st.RecentlyWritten == nil {
			st.RecentlyWritten = map[string]int{}
		}
		st.RecentlyWritten[side] = len(s.st.Written[side])
	}
	return st, nil
}

func activityOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		// Activities heartbeat every activities.HeartbeatEvery while they run: one whose
		// worker died is retried after this, not after StartToClose.
		HeartbeatTimeout: 4 * activities.HeartbeatEvery,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    10,
		},
	})
}

// remote runs a pipeline step that calls a service or the link store: an activity, or a
// local activity inside a webhook micro-batch (s.local), where the whole batch is then one
// workflow task: no trip through the server's task queues between its steps, and a
// marker in history for each step instead of an activity's three events and a workflow
// task's three.
func (s *syncer) remote(ctx workflow.Context, fn, in any) workflow.Future {
	if s.local {
		return workflow.ExecuteLocalActivity(microOptions(ctx), fn, in)
	}
	return workflow.ExecuteActivity(activityOptions(ctx), fn, in)
}

// microOptions are the options of a micro-batch's steps: a failed batch is dropped after
// a few attempts with its error in the status (the next run reads its records anyway),
// rather than holding the events behind it.
func microOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    10 * time.Second,
			MaximumAttempts:    3,
		},
	})
}

func localOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
}

// errorText is what the status says of a failed step: the activity's own message, not
// the layers of wrapping around it.
func errorText(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out (" + timeout.TimeoutType().String() + ")"
	}
	return err.Error()
}

// definitionSource says where the sync's definition comes from: "inline" or the workers'
// files (the file of the worker that loaded it last).
func (s *syncer) definitionSource() string {
	switch {
	case len(s.st.Definition) > 0:
		return "inline"
	case s.plan != nil && s.plan.Source != "":
		return s.plan.Source
	}
	return ""
}
