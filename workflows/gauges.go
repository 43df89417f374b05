package workflows

import (
	"strconv"
	"strings"

	"go.temporal.io/sdk/workflow"
)

// Gauges a sync keeps current for alerting (deploy/alerts.yaml). They are set through the
// SDK's metrics handler, which emits nothing while replaying, and set again at every
// iteration of the run loop, so a worker that restarts has them back within a moment.
const (
	// MetricLastSuccess is when the sync's last run without an error finished (unix
	// seconds); absent until one has.
	MetricLastSuccess = "tandem_last_success_timestamp_seconds"
	// MetricSchedule is the sync's schedule (seconds between runs), so a rule can say
	// "no success in N schedules".
	MetricSchedule = "tandem_schedule_seconds"
	// MetricFailing is 1 while the sync's state is failing, else 0.
	MetricFailing = "tandem_sync_failing"
	// MetricQuota is, by side, the largest share of a quota the side's service reports
	// used (0 to 1), e.g. Salesforce's daily API requests.
	MetricQuota = "tandem_quota_used_ratio"
	// MetricVerifyDrift is how many problems the sync's last verify found (missing,
	// different, orphaned, duplicate keys).
	MetricVerifyDrift = "tandem_verify_drift"
)

// setGauges sets the sync's gauges from its state.
func (s *syncer) setGauges(ctx workflow.Context) {
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"sync": s.name})
	if !s.st.LastSuccess.IsZero() {
		m.Gauge(MetricLastSuccess).Update(float64(s.st.LastSuccess.UnixMilli()) / 1000)
	}
	if s.st.Every > 0 {
		m.Gauge(MetricSchedule).Update(s.st.Every.Seconds())
	}
	if v := s.st.LastVerify; v != nil {
		m.Gauge(MetricVerifyDrift).Update(float64(v.Totals.Drift()))
	}
	failing := 0.0
	if s.state() == StateFailing {
		failing = 1
	}
	m.Gauge(MetricFailing).Update(failing)
	for _, side := range workflow.DeterministicKeys(s.st.Usage) {
		if r, ok := quotaRatio(s.st.Usage[side]); ok {
			m.WithTags(map[string]string{"side": side}).Gauge(MetricQuota).Update(r)
		}
	}
}

// quotaRatio is the largest used/limit share among a service's usage values ("18/5000").
func quotaRatio(u map[string]string) (float64, bool) {
	best, ok := 0.0, false
	for _, k := range workflow.DeterministicKeys(u) {
		used, limit, found := strings.Cut(u[k], "/")
		if !found {
			continue
		}
		n, err1 := strconv.ParseFloat(strings.TrimSpace(used), 64)
		d, err2 := strconv.ParseFloat(strings.TrimSpace(limit), 64)
		if err1 != nil || err2 != nil || d <= 0 {
			continue
		}
		if r := n / d; !ok || r > best {
			best, ok = r, true
		}
	}
	return best, ok
}
