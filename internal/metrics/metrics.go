// Package metrics exposes a worker's or an ingress's Prometheus metrics: the Temporal SDK's
// own (workflow and activity task latencies, poller counts, ...) and Tandem's, which are
// emitted through the same SDK metrics handler (records per sync and outcome, webhook
// requests by status, rate-limit waits per connection, and the gauges a sync keeps for
// alerting). Exported names every one of Tandem's as Prometheus sees it; the alert rules in
// deploy/alerts.yaml use only those, and a test holds them to it.
package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Tandem's counters are named where they are counted (workflows.MetricRecords,
// ingress.MetricWebhookRequests, activities.MetricRateLimited) and exported with the
// Prometheus "_total" suffix: tandem_records_total{sync,outcome},
// tandem_webhook_requests_total{sync,status}, tandem_rate_limited_total{connection};
// gauges as they are: tandem_deletes_held{sync} (workflows.MetricDeletesHeld).
// Timers are exported in seconds, like the SDK's (temporal_*_seconds).

// Metrics is a Prometheus registry fed through a Temporal SDK metrics handler.
type Metrics struct {
	registry *prom.Registry
	reporter tallyprom.Reporter
	scope    tally.Scope
	closer   io.Closer
	handler  client.MetricsHandler
}

// New returns an empty set of metrics, reported every second.
func New() *Metrics {
	reg := prom.NewRegistry()
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer: reg,
		// A metric name used with two sets of tags is a programming error; report it
		// rather than crash a worker.
		OnRegisterError: func(error) {},
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	scope = sdktally.NewPrometheusNamingScope(scope)
	return &Metrics{registry: reg, reporter: reporter, scope: scope, closer: closer, handler: sdktally.NewMetricsHandler(scope)}
}

// Handler is the SDK metrics handler: set it as client.Options.MetricsHandler, and emit
// Tandem's counters through it.
func (m *Metrics) Handler() client.MetricsHandler { return m.handler }

// HTTPHandler serves the metrics in the Prometheus text format.
func (m *Metrics) HTTPHandler() http.Handler { return m.reporter.HTTPHandler() }

// Serve serves GET /metrics on ln until ctx ends.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.HTTPHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close flushes and stops the reporting loop.
func (m *Metrics) Close() error { return m.closer.Close() }
