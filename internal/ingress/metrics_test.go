package ingress_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/internal/ingress"
	"tandem/internal/metrics"
)

func TestWebhookRequestsAreCountedBySyncAndStatus(t *testing.T) {
	m := metrics.New()
	defer m.Close()
	reg := builtin.Registry()
	require.NoError(t, reg.RegisterWebhooks("fake", func(string, connectors.Settings) (connectors.WebhookVerifier, error) {
		return fakeVerifier{}, nil
	}))
	srv, err := ingress.New(parse(t, definitions), reg, &fakeSignaler{}, ingress.Options{Logger: zap.NewNop(), Metrics: m.Handler()})
	require.NoError(t, err)
	h := srv.Handler()
	body := event("companies", "crm-1")
	for _, rq := range []request{
		{path: "/webhooks/companies/a", body: body, header: signed(crmSecret, "m1", time.Now(), body)},
		{path: "/webhooks/companies/a", body: body, header: signed(crmSecret, "m2", time.Now(), body)},
		{path: "/webhooks/companies/a", body: body, header: signed("guess", "m3", time.Now(), body)},
		{path: "/webhooks/nope/a", body: body},
	} {
		r := httptest.NewRequest(http.MethodPost, rq.path, strings.NewReader(rq.body))
		for k, v := range rq.header {
			r.Header[k] = v
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}

	waitScraped(t, m,
		`tandem_webhook_requests_total{status="202",sync="companies"} 2`,
		`tandem_webhook_requests_total{status="401",sync="companies"} 1`,
		`tandem_webhook_requests_total{status="404",sync="unknown"} 1`)
}

// waitScraped waits until the metrics' scrape holds every line of want.
func waitScraped(t *testing.T, m *metrics.Metrics, want ...string) {
	t.Helper()
	scrape := httptest.NewServer(m.HTTPHandler())
	defer scrape.Close()
	var text string
	require.Eventually(t, func() bool {
		resp, err := http.Get(scrape.URL)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		text = string(b)
		for _, w := range want {
			if !strings.Contains(text, w) {
				return false
			}
		}
		return true
	}, 5*time.Second, 100*time.Millisecond, "scraped:\n%s", text)
}

// A request handed off (its sync's execution was closing) is accepted like any other, and
// counted as handed off in the stats and the metrics.
func TestHandedOffRequestsAreCounted(t *testing.T) {
	m := metrics.New()
	defer m.Close()
	reg := builtin.Registry()
	require.NoError(t, reg.RegisterWebhooks("fake", func(string, connectors.Settings) (connectors.WebhookVerifier, error) {
		return fakeVerifier{}, nil
	}))
	sig := &fakeSignaler{delivery: ingress.HandedOff}
	srv, err := ingress.New(parse(t, definitions), reg, sig, ingress.Options{Logger: zap.NewNop(), Metrics: m.Handler()})
	require.NoError(t, err)
	body := event("companies", "crm-1")
	r := httptest.NewRequest(http.MethodPost, "/webhooks/companies/a", strings.NewReader(body))
	for k, v := range signed(crmSecret, "m1", time.Now(), body) {
		r.Header[k] = v
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, r)
	require.Equal(t, http.StatusAccepted, rec.Code)
	st := srv.Stats()
	require.Equal(t, int64(1), st.Accepted)
	require.Equal(t, int64(1), st.HandedOff)
	require.Equal(t, int64(1), st.HandedOffEvents)
	require.Equal(t, int64(1), st.Events)

	waitScraped(t, m, `tandem_webhook_handoffs_total{sync="companies"} 1`)
}
