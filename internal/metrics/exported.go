package metrics

import (
	"tandem/activities"
	"tandem/internal/ingress"
	"tandem/workflows"
)

// Exported is every metric Tandem itself exports, named as Prometheus sees it: counters
// with the "_total" suffix the SDK's Prometheus naming adds, gauges as they are. It is the
// list alert rules may use (deploy/alerts.yaml is tested against it), so it must be kept
// in step with the code: a metric added, renamed or dropped where it is emitted is added,
// renamed or dropped here. Built from the constants it is emitted by, so a rename there
// reaches the rules' test.
var Exported = []string{
	workflows.MetricRecords + "_total",       // {sync, outcome}
	ingress.MetricWebhookRequests + "_total", // {sync, status}
	activities.MetricRateLimited + "_total",  // {connection}
	workflows.MetricDeletesHeld,              // {sync}
	workflows.MetricLastSuccess,              // {sync}, absent until a run succeeds
	workflows.MetricSchedule,                 // {sync}
	workflows.MetricFailing,                  // {sync}, 1 or 0
	workflows.MetricQuota,                    // {sync, side}, 0 to 1
	workflows.MetricVerifyDrift,              // {sync}
}
