package ingress_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/workflows"
)

// BenchmarkWebhookLatency posts signed webhooks at a steady rate through the ingress to a
// sync on the embedded Temporal server (the pieces `worker --dev` runs) and reports the
// acknowledgement latency and the webhook-to-target latency: from the source's change to
// the target holding the new value. Each event changes one of 100 records.
//
//	go test ./internal/ingress -run '^$' -bench WebhookLatency -benchtime 1x
//
// TANDEM_BENCH_RATE (events/s, default 100) and TANDEM_BENCH_SECONDS (default 60) set
// the load; TANDEM_TIMELINE=FILE writes where the workflow's time went (see writeTimings).
func BenchmarkWebhookLatency(b *testing.B) {
	rate := envInt("TANDEM_BENCH_RATE", 100)
	seconds := envInt("TANDEM_BENCH_SECONDS", 60)
	for b.Loop() {
		var mu sync.Mutex
		sent := map[string]time.Time{}
		var e2e []time.Duration
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-", OnChange: func(_ string, r connectors.Record) {
			mu.Lock()
			defer mu.Unlock()
			phone, _ := r.Fields["phone"].(string)
			if at, ok := sent[phone]; ok {
				e2e = append(e2e, time.Since(at))
				delete(sent, phone)
			}
		}})
		recs := source.Seed("companies", 100, memory.SampleCompany)
		h := newHooked(b, fmt.Sprintf("latency-%d", time.Now().UnixNano()), source, target, nil)
		h.Start()
		h.WaitRuns(1, time.Minute)

		total := rate * seconds
		acks := make([]time.Duration, 0, total)
		var failed int
		tick := time.NewTicker(time.Second / time.Duration(rate))
		var wg sync.WaitGroup
		var ackMu sync.Mutex
		for i := range total {
			<-tick.C
			r := recs[i%len(recs)]
			phone := fmt.Sprintf("+1 555 %06d", i)
			mu.Lock()
			sent[phone] = time.Now()
			mu.Unlock()
			change(b, source, r.ID, phone)
			wg.Go(func() {
				start := time.Now()
				status, _ := post(b, h.URL, hook{id: fmt.Sprintf("lat-%d", i), record: r.ID})
				d := time.Since(start)
				ackMu.Lock()
				defer ackMu.Unlock()
				if status != http.StatusAccepted {
					failed++
					return
				}
				acks = append(acks, d)
			})
		}
		tick.Stop()
		wg.Wait()
		h.WaitFor("every event handled", 2*time.Minute, func(st workflows.Status) bool {
			return st.Events.Received == total && st.Pending == 0
		})
		st := h.Status()
		if path := os.Getenv("TANDEM_TIMELINE"); path != "" {
			hs, err := h.Histories(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			writeTimings(path, hs)
		}
		h.Close()

		mu.Lock()
		// A change overtaken by a newer one of the same record before it was written is
		// never written itself (the newer value is): it has no webhook-to-target latency.
		overtaken := len(sent)
		lat := slices.Clone(e2e)
		mu.Unlock()
		b.ReportMetric(float64(failed), "failed-acks")
		b.ReportMetric(ms(pct(acks, 50)), "ack-p50-ms")
		b.ReportMetric(ms(pct(acks, 99)), "ack-p99-ms")
		b.ReportMetric(ms(pct(lat, 50)), "e2e-p50-ms")
		b.ReportMetric(ms(pct(lat, 99)), "e2e-p99-ms")
		b.ReportMetric(float64(st.Events.Batches), "batches")
		b.ReportMetric(float64(overtaken), "overtaken")
		b.Logf("%d events at %d/s: %d acks, %d failed; %d changes written, %d overtaken by a newer change; %d micro-batches",
			total, rate, len(acks), failed, len(lat), overtaken, st.Events.Batches)
	}
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

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
