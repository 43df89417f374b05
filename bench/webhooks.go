package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/connectors/memory"
	"tandem/connectors/standardwebhooks"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/ingress"
	"tandem/workflows"
)

// webhookSecret signs the bench's webhooks (Standard Webhooks, base64 after whsec_).
const webhookSecret = "whsec_dGFuZGVtLWJlbmNoLXNlY3JldA=="

// webhooks posts signed webhooks at a steady rate through the real ingress to a sync on
// the embedded server, as internal/ingress's benchmark does: each event changes one of
// 100 source records first. It reports the acknowledgement latency (the POST's round
// trip: 2xx only once Temporal accepted the signal) and webhook-to-target latency (from
// the change in the source until the target holds the new value).
func (b *bench) webhooks(ctx context.Context) (result, error) {
	const scenario = "webhooks"
	r := result{Scenario: scenario, Design: designTandem, HistoryEvents: -1, HistoryBytes: -1, BytesPerRecord: -1, CPUSeconds: -1}
	lt := newLatencies()
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-", OnChange: lt.written})
	fx := memoryFixtureWith(uniqueName(scenario, designTandem), 100, source, target, 100, true)

	w := app.NewWorker(b.c, fx.acts)
	if err := w.Start(); err != nil {
		return r, fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	defer func() { _ = b.c.TerminateWorkflow(ctx, workflows.WorkflowID(fx.sync), "", "bench over") }()
	run, _, err := app.StartSync(ctx, b.c, fx.sync, nil)
	if err != nil {
		return r, err
	}
	if err := b.waitRuns(ctx, fx.sync, 1); err != nil {
		return r, err
	}
	before, err := chainHistory(ctx, b.c, workflows.WorkflowID(fx.sync), run.GetRunID())
	if err != nil {
		return r, err
	}

	defs := &config.File{
		Path: "bench",
		Connections: map[string]config.Connection{
			"source": {Name: "source", Type: "memory", Settings: map[string]string{standardwebhooks.SettingSecret: webhookSecret}},
			"target": {Name: "target", Type: "memory"},
		},
		Syncs: fx.acts.Syncs.Syncs,
	}
	in, err := ingress.New(defs, builtin.Registry(), ingress.NewTemporalSignaler(b.c, ""), ingress.Options{})
	if err != nil {
		return r, fmt.Errorf("ingress: %w", err)
	}
	srv := httptest.NewServer(in.Handler())
	defer srv.Close()
	url := srv.URL + "/webhooks/" + fx.sync + "/a"

	total := b.o.webhookRate * b.o.webhookSeconds
	fx.resetCalls()
	s := startSampler()
	start := time.Now()
	acks, failed, own, err := b.loadWebhooks(ctx, source, fx.sourceIDs, url, http.StatusAccepted, total, lt.changed)
	if err != nil {
		return r, err
	}
	deadline := time.Now().Add(5 * time.Minute)
	var st workflows.Status
	for {
		st, err = app.Status(ctx, b.c, fx.sync)
		if err == nil && st.Events.Received >= total-failed && st.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("events not all handled after 5 minutes: status %+v (err %v)", st.Events, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	peak := s.stop()

	after, err := chainHistory(ctx, b.c, workflows.WorkflowID(fx.sync), run.GetRunID())
	if err != nil {
		return r, err
	}
	// Requests that arrived while the sync's execution was closing were handed off to
	// its HandoffWorkflow: their histories count too.
	handedOff := in.Stats().HandedOff
	handoffs, err := handoffHistory(ctx, b.c, fx.sync, start, handedOff)
	if err != nil {
		return r, err
	}
	after.events += handoffs.events
	after.bytes += handoffs.bytes
	lat, overtaken := lt.result()
	r.Records, r.Events, r.Failed = total, total, failed
	r.Seconds, r.RecordsPerSec = elapsed.Seconds(), float64(total)/elapsed.Seconds()
	r.setHistory(after.minus(before), total)
	r.APICalls = fx.calls() - own
	r.CallsPerRecord = float64(r.APICalls) / float64(total)
	r.Writes = fx.writes()
	r.PeakMiB, r.RetainedMiB = mib(peak), mib(s.retained())
	r.AckP50ms, r.AckP99ms = ms(pct(acks, 50)), ms(pct(acks, 99))
	r.E2EP50ms, r.E2EP99ms = ms(pct(lat, 50)), ms(pct(lat, 99))
	r.Note = fmt.Sprintf("%d events at %d/s; %d micro-batches; %d requests handed off (the sync's execution closing; the handoffs' %d history events counted); %d changes written, %d overtaken by a newer change of the same record (no latency of their own); records/s = events/s",
		total, b.o.webhookRate, st.Events.Batches, handedOff, handoffs.events, len(lat), overtaken)
	if failed > 0 {
		return r, fmt.Errorf("%d of %d webhooks not acknowledged", failed, total)
	}
	return r, nil
}

// handoffHistory sums the histories of a sync's HandoffWorkflows started since start
// (when n requests were handed off), waiting for the last to end and for the visibility
// store to list them closed.
func handoffHistory(ctx context.Context, c client.Client, sync string, start time.Time, n int64) (history, error) {
	if n == 0 {
		return history{}, nil
	}
	query := fmt.Sprintf("WorkflowId = '%s' AND StartTime >= '%s'", workflows.HandoffID(sync), start.UTC().Format(time.RFC3339Nano))
	deadline := time.Now().Add(time.Minute)
	for {
		var h history
		open, found := 0, 0
		var token []byte
		for {
			resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
			if err != nil {
				return history{}, fmt.Errorf("list handoffs: %w", err)
			}
			for _, e := range resp.GetExecutions() {
				found++
				if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
					open++
					continue
				}
				one, err := chainHistory(ctx, c, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId())
				if err != nil {
					return history{}, err
				}
				h.events += one.events
				h.bytes += one.bytes
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				break
			}
		}
		if found > 0 && open == 0 {
			return h, nil
		}
		if time.Now().After(deadline) {
			return history{}, fmt.Errorf("handoffs of sync %s: %d listed, %d still running after a minute", sync, found, open)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// latencies times each change from the source to the target, by the phone number the
// change writes (each change writes a new one).
type latencies struct {
	mu   sync.Mutex
	sent map[string]time.Time
	e2e  []time.Duration
}

func newLatencies() *latencies { return &latencies{sent: map[string]time.Time{}} }

// changed is called just before the source changes to phone.
func (l *latencies) changed(phone string) {
	l.mu.Lock()
	l.sent[phone] = time.Now()
	l.mu.Unlock()
}

// written is the target's OnChange.
func (l *latencies) written(_ string, rec connectors.Record) {
	phone, _ := rec.Fields["phone"].(string)
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.sent[phone]; ok {
		l.e2e = append(l.e2e, time.Since(at))
		delete(l.sent, phone)
	}
}

// result is the latencies measured and how many changes were never written themselves
// (a newer change of the same record overtook them).
func (l *latencies) result() ([]time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.e2e), len(l.sent)
}

// loadWebhooks changes one of ids and posts its signed webhook to url, rate times a second,
// total times, each post from its own goroutine as independent senders do; want is the
// status a design acknowledges with. mark is called with the phone each change writes,
// just before the change. own is how many calls its changes made to source: the service's
// counts include them, and they are the bench's calls, not the design's.
func (b *bench) loadWebhooks(ctx context.Context, source *memory.Connector, ids []string, url string, want, total int, mark func(phone string)) (acks []time.Duration, failed, own int, err error) {
	var ackMu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(b.o.webhookRate))
	defer tick.Stop()
	for i := range total {
		<-tick.C
		id := ids[i%len(ids)]
		phone := fmt.Sprintf("+1 555 %07d", i)
		mark(phone)
		res, err := source.Update(ctx, "companies", []connectors.Record{{ID: id, Fields: map[string]any{"phone": phone}}})
		own++
		if err == nil {
			err = res[0].Err
		}
		if err != nil {
			return acks, failed, own, fmt.Errorf("change source record %s: %w", id, err)
		}
		wg.Go(func() {
			t0 := time.Now()
			status, err := postWebhook(url, fmt.Sprintf("bench-%d", i), id)
			d := time.Since(t0)
			ackMu.Lock()
			defer ackMu.Unlock()
			if err != nil || status != want {
				failed++
				return
			}
			acks = append(acks, d)
		})
	}
	wg.Wait()
	return acks, failed, own, nil
}

// postWebhook posts a signed Standard Webhooks event announcing a change of record id.
func postWebhook(url, eventID, recordID string) (int, error) {
	body, _ := json.Marshal(standardwebhooks.Payload{
		Type:      standardwebhooks.TypeUpdated,
		Timestamp: time.Now().UTC().Format(time.RFC3339),
		Data:      standardwebhooks.PayloadData{Object: "companies", ID: recordID},
	})
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	standardwebhooks.SetHeaders(req.Header, webhookSecret, eventID, time.Now(), body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// memoryCheck runs the tandem memory backfill at N and at 10xN records: pages are
// streamed, so the peak should stay nearly flat as the work grows.
func (b *bench) memoryCheck(ctx context.Context) ([]result, error) {
	var out []result
	err := b.withFileServer(ctx, func(fb *bench) error {
		for _, n := range []int{b.o.records, 10 * b.o.records} {
			fx := streamFixture(uniqueName("memory-check", fmt.Sprint(n)), n)
			r, err := fb.tandem(ctx, fx, false)
			fx.close()
			r.Scenario, r.Design = "memory-check", designTandem
			if err != nil {
				r.Note = "FAILED: " + err.Error()
				out = append(out, r)
				return err
			}
			r.Note = fmt.Sprintf("%d generated records into a sink, server SQLite in a file: the heap holds Tandem's working set and the server's caches", n)
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
