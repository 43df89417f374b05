package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/definition"
	"tandem/internal/app"
	"tandem/internal/metrics"
	"tandem/internal/testenv"
	"tandem/workflows"
)

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestMetricsEndpointServesTandemCountersAfterASync(t *testing.T) {
	m := metrics.New()
	defer m.Close()
	srv := httptest.NewServer(m.HTTPHandler())
	defer srv.Close()

	c, err := testenv.Server(t).NewClient(context.Background(), client.Options{MetricsHandler: m.Handler()})
	require.NoError(t, err)
	// Closed after the sync's worker stops (cleanups run last first). A deferred Close
	// ran before the worker was stopped, and with -count=3 the later runs' counters never
	// reached their handler.
	t.Cleanup(c.Close)
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	source.Seed("companies", 40, memory.SampleCompany)
	target.RejectRecords(func(r connectors.Record) string {
		if r.Fields["domain"] == source.All("companies")[0].Fields["domain"] {
			return "invalid"
		}
		return ""
	})
	def := testenv.Def("metered")
	def.Deletes = definition.Deletes{Mode: definition.DeleteDelete, Max: 2, MaxPercent: 1}
	s := testenv.NewSyncWith(t, c, def, source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)

	created := regexp.MustCompile(`(?m)^tandem_records_total\{[^}]*outcome="created"[^}]*sync="metered"[^}]*\} 39$`)
	var body string
	ok := assert.Eventually(t, func() bool {
		body = scrape(t, srv.URL)
		return created.MatchString(body)
	}, 10*time.Second, 200*time.Millisecond)
	if !ok {
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "tandem_") {
				t.Log(l)
			}
		}
		t.FailNow()
	}
	assert.Regexp(t, `(?m)^tandem_records_total\{[^}]*outcome="fetched"[^}]*sync="metered"[^}]*\} 40$`, body)
	assert.Regexp(t, `(?m)^tandem_records_total\{[^}]*outcome="failed"[^}]*sync="metered"[^}]*\} 1$`, body)
	// The gauges alert rules use (deploy/alerts.yaml).
	require.Eventually(t, func() bool {
		body = scrape(t, srv.URL)
		return regexp.MustCompile(`(?m)^tandem_last_success_timestamp_seconds\{[^}]*sync="metered"[^}]*\} 1\.?[0-9e+.]*$`).MatchString(body)
	}, 10*time.Second, 200*time.Millisecond, "last success gauge")
	assert.Regexp(t, `(?m)^tandem_schedule_seconds\{[^}]*sync="metered"[^}]*\} 3600$`, body)
	assert.Regexp(t, `(?m)^tandem_sync_failing\{[^}]*sync="metered"[^}]*\} 0$`, body)
	// The SDK's own metrics come through the same handler.
	assert.Regexp(t, `(?m)^temporal_workflow_task_execution_latency_seconds`, body)
	assert.Regexp(t, `(?m)^temporal_activity_execution_latency_seconds`, body)

	// Deletes: five held by the breaker (a gauge), then approved (counted).
	for _, r := range source.All("companies")[1:6] {
		source.Remove("companies", r.ID)
	}
	s.Signal(workflows.SignalSyncNow, nil)
	s.WaitFor("deletes held", time.Minute, func(st workflows.Status) bool { return st.Deletes != nil && st.Deletes.Held != nil })
	held := regexp.MustCompile(`(?m)^tandem_deletes_held\{[^}]*sync="metered"[^}]*\} 5$`)
	require.Eventually(t, func() bool { return held.MatchString(scrape(t, srv.URL)) }, 10*time.Second, 200*time.Millisecond)
	_, err = app.Update(context.Background(), c, "metered", workflows.UpdateDeletesApprove, nil)
	require.NoError(t, err)
	deleted := regexp.MustCompile(`(?m)^tandem_records_total\{[^}]*outcome="deleted"[^}]*sync="metered"[^}]*\} 5$`)
	released := regexp.MustCompile(`(?m)^tandem_deletes_held\{[^}]*sync="metered"[^}]*\} 0$`)
	require.Eventually(t, func() bool {
		body := scrape(t, srv.URL)
		return deleted.MatchString(body) && released.MatchString(body)
	}, 10*time.Second, 200*time.Millisecond)
}
