package demo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem/activities"
	"tandem/connectors/builtin"
	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspotfake"
	"tandem/connectors/memory"
	"tandem/connectors/salesloft/salesloftfake"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// BenchmarkSalesloftToHubSpot syncs 10,000 accounts from fake Salesloft to fake HubSpot,
// with HubSpot's limits (190 requests per 10 s, 4 searches per second) and Salesloft's
// cost budget (600 per minute) enforced by the fakes, through the embedded Temporal
// server. It reports records per second against the ceiling HubSpot's limit allows with
// 100-record batches (19 requests/s x 100 records = 1,900 records/s, if every request were a
// batch write), HubSpot calls per record, the 429s received, and requests sent before a
// Retry-After expired.
//
//	go test ./internal/demo -run '^$' -bench SalesloftToHubSpot -benchtime 1x
//
// TANDEM_TIMELINE=FILE writes when each HubSpot request arrived and the first run's
// history events, to see where a run waits.
//
// Three runs: with Salesloft's real budget (600 per minute: the 100 reads of 100 records
// fit in one minute's budget, so only runs longer than a minute are held to it), with
// Salesloft unlimited,
// so HubSpot's limits are the only ones; and that again with searches counted towards the
// 190 per 10 s as well (HubSpot does not say whether they are).
func BenchmarkSalesloftToHubSpot(b *testing.B) {
	b.Run("salesloft-600-per-minute", func(b *testing.B) { benchSalesloftToHubSpot(b, slToHS{}) })
	b.Run("salesloft-unlimited", func(b *testing.B) { benchSalesloftToHubSpot(b, slToHS{salesloftBudget: salesloftfake.Unlimited}) })
	b.Run("salesloft-unlimited-searches-counted", func(b *testing.B) {
		benchSalesloftToHubSpot(b, slToHS{salesloftBudget: salesloftfake.Unlimited, searchesCounted: true})
	})
	b.Run("salesloft-unlimited-two-spellings", func(b *testing.B) {
		benchSalesloftToHubSpot(b, slToHS{salesloftBudget: salesloftfake.Unlimited, findVariants: hubspot.DefaultFindVariants})
	})
}

// slToHS are a run's settings. searchesCounted has the fake count searches towards the
// 190 per 10 s as well as the 4 per second (HubSpot does not document whether they do),
// and tells the client so. findVariants are the spellings of a domain each search asks
// for; default one ("{v}", 500 keys a search), the demo's default two ("{v},www.{v}",
// 250 keys a search, twice the searches).
type slToHS struct {
	salesloftBudget int
	searchesCounted bool
	findVariants    string
}

func benchSalesloftToHubSpot(b *testing.B, o slToHS) {
	salesloftBudget, searchesCounted := o.salesloftBudget, o.searchesCounted
	if o.findVariants == "" {
		o.findVariants = "{v}"
	}
	const records = 10_000
	const ceiling = 190.0 / 10 * 100
	for i := 0; b.Loop(); i++ {
		sl := salesloftfake.New(salesloftfake.Options{Token: "t", CostPerMinute: salesloftBudget})
		hs := hubspotfake.New(hubspotfake.Options{Token: "t", SearchCountsTowardRate: searchesCounted})
		for j := range records {
			f := memory.SampleCompany(j)
			sl.Seed(map[string]any{"name": f["name"], "domain": f["domain"], "phone": f["phone"]})
		}
		slSrv, hsSrv := httptest.NewServer(sl.Handler()), httptest.NewServer(hs.Handler())
		name := fmt.Sprintf("sl-to-hs-%d-%d", time.Now().UnixNano(), i)
		defs := &config.File{
			Path: "bench",
			Connections: map[string]config.Connection{
				"salesloft": {Name: "salesloft", Type: "salesloft", Settings: map[string]string{"token": "t", "base_url": slSrv.URL, "cost_per_minute": budget(salesloftBudget)}},
				"hubspot": {Name: "hubspot", Type: "hubspot", Settings: map[string]string{"token": "t", "base_url": hsSrv.URL, "find_variants": o.findVariants,
					"search_counts_toward_rate": strconv.FormatBool(searchesCounted)}},
			},
			Syncs: []config.Sync{{
				Name: name, Mode: config.OneWay,
				A: config.Side{Connection: "salesloft", Object: "accounts", Key: "domain"},
				B: config.Side{Connection: "hubspot", Object: "companies", Key: "domain"},
				Fields: []config.Field{
					{A: "name", B: "name", Direction: config.Both},
					{A: "domain", B: "domain", Normalize: []string{"domain"}, Direction: config.Both},
					{A: "phone", B: "phone", Direction: config.Both},
				},
				Conflict: config.NewestWins, Schedule: config.Schedule{Every: time.Hour}, PageSize: 1000,
			}},
		}
		conns, err := app.OpenConnections(defs, builtin.Registry())
		if err != nil {
			b.Fatal(err)
		}
		c := testenv.Client(b)
		w := app.NewWorker(c, &activities.Activities{Syncs: defs, Connections: conns})
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		hs.ResetStats()
		start := time.Now()
		run, _, err := app.StartSync(ctx, c, name, nil)
		if err != nil {
			b.Fatal(err)
		}
		var st workflows.Status
		for {
			st, err = app.Status(ctx, c, name)
			if err == nil && st.LastRun != nil && st.Current == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		elapsed := time.Since(start)
		w.Stop()
		_ = c.TerminateWorkflow(ctx, workflows.WorkflowID(name), "", "bench over")
		if got := len(hs.Records("companies")); got != records || st.LastRun.Error != "" {
			b.Fatalf("HubSpot has %d companies, want %d; run error %q", got, records, st.LastRun.Error)
		}

		stats := hs.Stats()
		calls := 0
		for _, n := range stats.Requests {
			calls += n
		}
		early := sentBeforeRetryAfter(hs.Requests())
		if path := os.Getenv("TANDEM_TIMELINE"); path != "" {
			var sb strings.Builder
			for _, r := range hs.Requests() {
				fmt.Fprintf(&sb, "%6d ms %s %d\n", r.At.Sub(start).Milliseconds(), r.Endpoint, r.Status)
			}
			it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, 0)
			names := map[int64]string{}
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					break
				}
				name := ""
				if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
					names[ev.GetEventId()] = a.GetActivityType().GetName()
					name = a.GetActivityType().GetName()
				}
				if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
					name = names[a.GetScheduledEventId()]
				}
				if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
					name = names[a.GetScheduledEventId()]
				}
				fmt.Fprintf(&sb, "%6d ms H %s %s\n", ev.GetEventTime().AsTime().Sub(start).Milliseconds(), ev.GetEventType(), name)
			}
			_ = os.WriteFile(path, []byte(sb.String()), 0o644)
		}
		rate := records / elapsed.Seconds()
		b.ReportMetric(rate, "records/s")
		b.ReportMetric(rate/ceiling*100, "%-of-ceiling")
		b.ReportMetric(float64(calls)/records, "hubspot-calls/record")
		b.ReportMetric(float64(stats.RateLimited), "429s")
		b.ReportMetric(float64(early), "early-requests")
		b.Logf("%d records in %s: %.0f records/s (%.0f%% of the %.0f ceiling); HubSpot calls %v; 429s %d; requests before a Retry-After expired %d",
			records, elapsed.Round(time.Millisecond), rate, rate/ceiling*100, ceiling, stats.Requests, stats.RateLimited, early)
		slSrv.Close()
		hsSrv.Close()
		sl.Close()
		hs.Close()
		for _, cn := range conns {
			if cl, ok := cn.(interface{ Close() }); ok {
				cl.Close()
			}
		}
	}
}

// budget is the client's cost_per_minute for the fake's budget (the client needs a
// positive one; a generous one stands for no limit).
func budget(fake int) string {
	if fake < 0 {
		return "1000000"
	}
	return "600"
}

// sentBeforeRetryAfter counts requests that arrived while an earlier 429's Retry-After
// was still running.
func sentBeforeRetryAfter(reqs []hubspotfake.Request) int {
	var until time.Time
	n := 0
	for _, r := range reqs {
		if r.At.Before(until) {
			n++
		}
		if r.Status == http.StatusTooManyRequests && r.RetryAfter > 0 {
			if t := r.At.Add(r.RetryAfter); t.After(until) {
				until = t
			}
		}
	}
	return n
}
