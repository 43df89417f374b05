package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/proto"

	"tandem/activities"
	"tandem/connectors"
	"tandem/internal/app"
	"tandem/workflows"
)

const (
	designTandem   = "tandem"
	designPerEvent = "per-event"
	designDirect   = "direct"
)

// perEventStarters is how many goroutines start per-event workflows at once: enough to
// keep the worker busy, bounded as an event consumer would be.
const perEventStarters = 16

// threeDesigns runs a scenario under tandem, per-event and direct, each on a fresh
// fixture. With rerun, each design first copies everything (not measured), then the
// measured pass reads everything again with nothing changed and must write nothing.
func (b *bench) threeDesigns(ctx context.Context, scenario string, newFixture func(string, int) (*fixture, error), rerun bool) ([]result, error) {
	var out []result
	var errs []error
	for _, design := range b.o.pick([]string{designTandem, designPerEvent, designDirect}) {
		fx, err := newFixture(uniqueName(scenario, design), b.o.records)
		if err != nil {
			return out, err
		}
		var r result
		switch design {
		case designTandem:
			r, err = b.tandem(ctx, fx, rerun)
		case designPerEvent:
			r, err = b.perEvent(ctx, fx, b.perEventRecords(scenario), rerun)
		case designDirect:
			r, err = b.direct(ctx, fx, rerun)
		}
		fx.close()
		r.Scenario, r.Design = scenario, design
		if err == nil && rerun && r.Writes != 0 {
			err = fmt.Errorf("the re-run with nothing changed wrote %d records (want 0)", r.Writes)
		}
		if err != nil {
			r.Note = "FAILED: " + err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", design, err))
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// perEventRecords is how many records the per-event design runs: a share of them, since
// rates are compared, and under HubSpot's limits at most a hundred or so (each record
// needs its own search, at 4 searches per second).
func (b *bench) perEventRecords(scenario string) int {
	n := max(1, b.o.records/max(1, b.o.perEventShare))
	if scenario == "salesloft-to-hubspot" {
		n = min(n, b.o.perEventHubMax)
	}
	return n
}

// measured runs f with the heap sampled and fills the result's time, CPU, rate, calls
// and peak memory. n is the number of records f handles.
func measured(fx *fixture, n int, f func() error) (result, error) {
	if stop := profileRun(fx.sync); stop != nil {
		defer stop()
	}
	fx.resetCalls()
	s := startSampler()
	cpu0, cpuOK := processCPU()
	start := time.Now()
	err := f()
	elapsed := time.Since(start)
	cpu1, _ := processCPU()
	peak := s.stop()
	retained := s.retained()
	r := result{RetainedMiB: mib(retained),
		Records: n, Seconds: elapsed.Seconds(), RecordsPerSec: float64(n) / elapsed.Seconds(),
		APICalls: -1, CallsPerRecord: -1, Writes: fx.writes(), PeakMiB: mib(peak),
		HistoryEvents: -1, HistoryBytes: -1, BytesPerRecord: -1, CPUSeconds: -1,
	}
	if cpuOK {
		r.CPUSeconds = (cpu1 - cpu0).Seconds()
	}
	if fx.calls != nil {
		r.APICalls = fx.calls()
		r.CallsPerRecord = float64(r.APICalls) / float64(n)
	}
	return r, err
}

// tandem runs the real thing: a worker with SyncWorkflow and the activities, StartSync,
// and the first run awaited through the status query.
func (b *bench) tandem(ctx context.Context, fx *fixture, rerun bool) (result, error) {
	w := app.NewWorker(b.c, fx.acts)
	if err := w.Start(); err != nil {
		return result{}, fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	defer func() { _ = b.c.TerminateWorkflow(ctx, workflows.WorkflowID(fx.sync), "", "bench over") }()

	n := fx.n()
	var firstRun string
	start := func() error {
		run, _, err := app.StartSync(ctx, b.c, fx.sync, nil)
		if err != nil {
			return err
		}
		firstRun = run.GetRunID()
		return b.waitRuns(ctx, fx.sync, 1)
	}
	var before history // before the measured pass
	measure := start
	if rerun {
		if err := start(); err != nil {
			return result{}, err
		}
		var err error
		if before, err = chainHistory(ctx, b.c, workflows.WorkflowID(fx.sync), firstRun); err != nil {
			return result{}, err
		}
		// Rewinding the cursor to the beginning makes the next run read everything again.
		measure = func() error {
			if err := app.Signal(ctx, b.c, fx.sync, workflows.SignalResync, workflows.ResyncSignal{From: time.Time{}}); err != nil {
				return err
			}
			return b.waitRuns(ctx, fx.sync, 2)
		}
	}
	r, err := measured(fx, n, measure)
	if err != nil {
		return r, err
	}
	if got := fx.targetLen(); got != n {
		return r, fmt.Errorf("target holds %d records, want %d", got, n)
	}
	after, err := chainHistory(ctx, b.c, workflows.WorkflowID(fx.sync), firstRun)
	if err != nil {
		return r, err
	}
	r.setHistory(after.minus(before), n)
	return r, nil
}

// waitRuns polls the status until the sync has finished n runs; a run that stopped
// with an error is an error.
func (b *bench) waitRuns(ctx context.Context, sync string, n int) error {
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		st, err := app.Status(ctx, b.c, sync)
		// Queries fail briefly while a run continues as new: poll again.
		if err == nil && st.LastRun != nil && st.LastRun.Number >= n && st.Current == nil {
			if st.LastRun.Error != "" {
				return fmt.Errorf("run %d stopped: %s", st.LastRun.Number, st.LastRun.Error)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("sync %s: %d runs not finished after 30 minutes", sync, n)
}

// history is the size of a workflow's history: its events, and their bytes as protobuf
// (what the server stores, less its framing).
type history struct {
	events int
	bytes  int64
}

func (h history) minus(o history) history { return history{h.events - o.events, h.bytes - o.bytes} }

// chainHistory sums the history of a workflow's continue-as-new chain from firstRun, the
// open run included (as testenv.Sync.HistoryEvents does), following each run's
// continued-as-new event to the next.
func chainHistory(ctx context.Context, c client.Client, id, firstRun string) (history, error) {
	var h history
	for runID := firstRun; runID != ""; {
		iter := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		runID = ""
		for iter.HasNext() {
			e, err := iter.Next()
			if err != nil {
				return history{}, fmt.Errorf("history of %s: %w", id, err)
			}
			h.events++
			h.bytes += int64(proto.Size(e))
			if a := e.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				runID = a.GetNewExecutionRunId()
			}
		}
	}
	return h, nil
}

// perEvent runs the article's design on the first n source records: one perEventWorkflow
// per record, started by perEventStarters goroutines, each awaited.
func (b *bench) perEvent(ctx context.Context, fx *fixture, n int, rerun bool) (result, error) {
	// Its own task queue, so it never shares pollers or tasks with a sync's worker.
	queue := "bench-per-event-" + fx.sync
	w := worker.New(b.c, queue, worker.Options{})
	w.RegisterWorkflow(perEventWorkflow)
	w.RegisterActivity(fx.acts)
	if err := w.Start(); err != nil {
		return result{}, fmt.Errorf("start per-event worker: %w", err)
	}
	defer w.Stop()

	ids := fx.sourceIDs[:n]
	runAll := func(pass string) ([]client.WorkflowRun, error) {
		runs := make([]client.WorkflowRun, len(ids))
		var mu sync.Mutex
		var errs []error
		next := make(chan int)
		var wg sync.WaitGroup
		for range perEventStarters {
			wg.Go(func() {
				for i := range next {
					run, err := b.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
						ID:        fmt.Sprintf("bench/per-event/%s/%s/%s", fx.sync, pass, ids[i]),
						TaskQueue: queue,
					}, perEventWorkflow, perEventInput{Sync: fx.sync, RecordID: ids[i]})
					if err == nil {
						err = run.Get(ctx, nil)
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("record %s: %w", ids[i], err))
						mu.Unlock()
					}
					runs[i] = run
				}
			})
		}
		for i := range ids {
			next <- i
		}
		close(next)
		wg.Wait()
		if len(errs) > 0 {
			return runs, fmt.Errorf("%d of %d per-event workflows failed; first: %w", len(errs), len(ids), errs[0])
		}
		return runs, nil
	}
	if rerun {
		if _, err := runAll("first"); err != nil {
			return result{}, err
		}
	}
	var runs []client.WorkflowRun
	r, err := measured(fx, n, func() error {
		var err error
		runs, err = runAll("measured")
		return err
	})
	if err != nil {
		return r, err
	}
	if got := fx.targetLen(); got != n {
		return r, fmt.Errorf("target holds %d records, want %d", got, n)
	}
	events := 0
	for _, run := range runs {
		d, err := b.c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			return r, fmt.Errorf("describe %s: %w", run.GetID(), err)
		}
		events += int(d.GetWorkflowExecutionInfo().GetHistoryLength())
	}
	r.HistoryEvents = events
	r.EventsPerRecord = float64(events) / float64(n)
	r.Note = fmt.Sprintf("%d of %d records, %d concurrent starters", n, fx.n(), perEventStarters)
	return r, nil
}

// direct copies with no Temporal: the pipeline's activity methods called in a plain loop
// with a plain context. Same connector calls, same mapping, nothing recorded.
func (b *bench) direct(ctx context.Context, fx *fixture, rerun bool) (result, error) {
	n := fx.n()
	if rerun {
		if _, err := directCopy(ctx, fx.acts, fx.sync); err != nil {
			return result{}, err
		}
	}
	r, err := measured(fx, n, func() error {
		got, err := directCopy(ctx, fx.acts, fx.sync)
		if err == nil && got != n {
			err = fmt.Errorf("read %d records, want %d", got, n)
		}
		return err
	})
	if err != nil {
		return r, err
	}
	if got := fx.targetLen(); got != n {
		return r, fmt.Errorf("target holds %d records, want %d", got, n)
	}
	r.Note = "no Temporal: the ceiling"
	return r, nil
}

// directCopy reads the source's changes page by page from the beginning and writes what
// differs, and returns how many records it read.
func directCopy(ctx context.Context, a *activities.Activities, sync string) (int, error) {
	plan, err := a.LoadSync(ctx, activities.LoadSyncInput{Sync: sync})
	if err != nil {
		return 0, err
	}
	read := 0
	var cursor connectors.Cursor
	for {
		page, err := a.FetchChanges(ctx, activities.FetchChangesInput{Ref: activities.Ref{Sync: sync}, Side: activities.SideA, Cursor: cursor, Limit: plan.PageSize})
		if err != nil {
			return read, err
		}
		if len(page.Records) == 0 {
			return read, nil
		}
		if err := copyBatch(ctx, a, sync, page, "direct"); err != nil {
			return read, err
		}
		read += len(page.Records)
		cursor = connectors.CursorOf(page.Records[len(page.Records)-1])
		if !page.More {
			return read, nil
		}
	}
}

// copyBatch is the pipeline's find, build, compare and write for one batch, called
// directly.
func copyBatch(ctx context.Context, a *activities.Activities, sync string, batch activities.Records, name string) error {
	m, err := a.FindByIdentifier(ctx, activities.FindByIdentifierInput{Ref: activities.Ref{Sync: sync}, Side: activities.SideB, Values: batch.UniqueKeys()})
	if err != nil {
		return err
	}
	items, err := a.BuildPayloads(ctx, activities.BuildPayloadsInput{Ref: activities.Ref{Sync: sync}, From: activities.SideA, Source: batch, Matches: m.Matches})
	if err != nil {
		return err
	}
	dec, err := a.Compare(ctx, activities.CompareInput{Ref: activities.Ref{Sync: sync}, From: activities.SideA, Items: items.Items})
	if err != nil {
		return err
	}
	plan := dec.Plan(activities.SideA, items.Items)
	if len(plan.Failures) > 0 {
		return fmt.Errorf("%d records refused, first: %s", len(plan.Failures), plan.Failures[0].Reason)
	}
	if len(plan.Ops) == 0 {
		return nil
	}
	w, err := a.Upsert(ctx, activities.UpsertInput{Ref: activities.Ref{Sync: sync}, Side: activities.SideB, Ops: plan.Ops, Batch: name})
	if err != nil {
		return err
	}
	for _, res := range w.Results {
		if res.Action == activities.ActionFail {
			return fmt.Errorf("write failed: %s", res.Reason)
		}
	}
	return nil
}

// runProfiles is -runprofile's prefix: each measured run's CPU profile goes to
// <prefix>-<scenario>-<design>.pprof.
var runProfiles string

// profileRun starts the CPU profile of the run of sync (uniqueName's), if -runprofile asks
// for it, and returns what stops it; nil when none was started.
func profileRun(sync string) func() {
	if runProfiles == "" {
		return nil
	}
	name := strings.TrimPrefix(sync, "bench-")
	if i := strings.LastIndex(name, "-"); i > 0 {
		name = name[:i] // the name's time
	}
	path := runProfiles + "-" + strings.ReplaceAll(name, " ", "-") + ".pprof"
	f, err := os.Create(path)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -runprofile:", err)
		return nil
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: -runprofile:", err)
		}
	}
}
