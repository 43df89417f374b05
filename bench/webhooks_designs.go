package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"tandem/activities"
	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/connectors/standardwebhooks"
)

// webhooksOther runs the webhook load against the two other designs, each behind an HTTP
// handler of its own that verifies the same signatures:
//   - per-event: every event starts one workflow (the article's design) and is
//     acknowledged once the start was accepted;
//   - direct: every event is read, compared and written inside the request, and
//     acknowledged once written (no Temporal: nothing survives a crash).
//
// Both start with the target in step, as Tandem's sync is after its first run.
func (b *bench) webhooksOther(ctx context.Context, design string) (result, error) {
	const scenario = "webhooks"
	r := result{Scenario: scenario, Design: design, HistoryEvents: -1, HistoryBytes: -1, BytesPerRecord: -1, CPUSeconds: -1}
	lt := newLatencies()
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-", OnChange: lt.written})
	fx := memoryFixtureWith(uniqueName(scenario, design), 100, source, target, 100, false)
	if _, err := directCopy(ctx, fx.acts, fx.sync); err != nil {
		return r, fmt.Errorf("initial copy: %w", err)
	}
	verifier, err := standardwebhooks.NewVerifier([]string{webhookSecret}, standardwebhooks.VerifierOptions{})
	if err != nil {
		return r, err
	}

	var runsMu sync.Mutex
	var runs []client.WorkflowRun
	var handle func(ctx context.Context, ev connectors.WebhookEvent) error
	switch design {
	case designPerEvent:
		queue := "bench-per-event-" + fx.sync
		w := worker.New(b.c, queue, worker.Options{})
		w.RegisterWorkflow(perEventWorkflow)
		w.RegisterActivity(fx.acts)
		if err := w.Start(); err != nil {
			return r, fmt.Errorf("start per-event worker: %w", err)
		}
		defer w.Stop()
		handle = func(ctx context.Context, ev connectors.WebhookEvent) error {
			run, err := b.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-pe-" + fx.sync + "-" + ev.ID, TaskQueue: queue},
				perEventWorkflow, perEventInput{Sync: fx.sync, RecordID: ev.RecordID})
			if err != nil {
				return err
			}
			runsMu.Lock()
			runs = append(runs, run)
			runsMu.Unlock()
			return nil
		}
	case designDirect:
		handle = func(ctx context.Context, ev connectors.WebhookEvent) error {
			recs, err := fx.acts.GetRecords(ctx, activities.GetRecordsInput{Ref: activities.Ref{Sync: fx.sync}, Side: activities.SideA, IDs: []string{ev.RecordID}})
			if err != nil || len(recs.Records) == 0 {
				return err
			}
			return copyBatch(ctx, fx.acts, fx.sync, recs, "direct-"+ev.ID)
		}
	default:
		return r, fmt.Errorf("unknown design %q", design)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		evs, err := verifier.Verify(req, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		for _, ev := range evs {
			if err := handle(req.Context(), ev); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	total := b.o.webhookRate * b.o.webhookSeconds
	fx.resetCalls()
	s := startSampler()
	start := time.Now()
	acks, failed, own, err := b.loadWebhooks(ctx, source, fx.sourceIDs, srv.URL, http.StatusAccepted, total, lt.changed)
	if err != nil {
		return r, err
	}
	history := 0
	for _, run := range runs {
		_ = run.Get(ctx, nil) // a failed event is counted by its missing write
		if d, err := b.c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID()); err == nil {
			history += int(d.GetWorkflowExecutionInfo().GetHistoryLength())
		}
	}
	elapsed := time.Since(start)
	peak := s.stop()

	lat, overtaken := lt.result()
	r.Records, r.Events, r.Failed = total, total, failed
	r.Seconds, r.RecordsPerSec = elapsed.Seconds(), float64(total)/elapsed.Seconds()
	if design == designPerEvent {
		r.HistoryEvents = history
		r.EventsPerRecord = float64(history) / float64(total)
	}
	r.APICalls = fx.calls() - own
	r.CallsPerRecord = float64(r.APICalls) / float64(total)
	r.Writes = fx.writes()
	r.PeakMiB, r.RetainedMiB = mib(peak), mib(s.retained())
	r.AckP50ms, r.AckP99ms = ms(pct(acks, 50)), ms(pct(acks, 99))
	r.E2EP50ms, r.E2EP99ms = ms(pct(lat, 50)), ms(pct(lat, 99))
	r.Note = fmt.Sprintf("%d events at %d/s; %d changes written, %d overtaken by a newer change of the same record",
		total, b.o.webhookRate, len(lat), overtaken)
	if failed > 0 {
		return r, fmt.Errorf("%d of %d webhooks not acknowledged", failed, total)
	}
	return r, nil
}
