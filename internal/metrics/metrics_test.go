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
	"tandem/internal/metrics"
	"tandem/internal/testenv"
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
	s := testenv.NewSyncWith(t, c, testenv.Def("metered"), source, target)
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
	// The SDK's own metrics come through the same handler.
	assert.Regexp(t, `(?m)^temporal_workflow_task_execution_latency_seconds`, body)
	assert.Regexp(t, `(?m)^temporal_activity_execution_latency_seconds`, body)
}
