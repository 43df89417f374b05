package metrics_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/internal/metrics"
)

const alertsFile = "../../deploy/alerts.yaml"

// knownLabels are the labels Tandem's metrics carry: its own tags, those the SDK's metrics
// handler adds, and those Prometheus adds when it scrapes a worker.
var knownLabels = []string{
	"sync", "side", "outcome", "status", "connection",
	"namespace", "task_queue", "workflow_type",
	"instance", "job",
}

var templateLabel = regexp.MustCompile(`\$labels\.([A-Za-z_][A-Za-z0-9_]*)`)

type alertRule struct {
	rulefmt.Rule
	metrics []string // the metric names its expression selects
}

// loadAlerts parses a rule file as Prometheus does when it loads it, and returns its alerts
// with what is wrong with them: a metric Tandem does not export, a label its metrics do not
// carry, a missing severity, summary or description.
func loadAlerts(t *testing.T, path string) (alerts map[string]alertRule, problems []string) {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		problems = append(problems, err.Error())
	}
	if groups == nil {
		return nil, problems
	}
	alerts = map[string]alertRule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				problems = append(problems, fmt.Sprintf("group %s: recording rule %q: only alerts are expected", g.Name, r.Record))
				continue
			}
			bad := func(format string, args ...any) {
				problems = append(problems, fmt.Sprintf("alert %s: ", r.Alert)+fmt.Sprintf(format, args...))
			}
			if _, dup := alerts[r.Alert]; dup {
				bad("defined twice")
			}
			switch r.Labels["severity"] {
			case "critical", "warning":
			default:
				bad("severity label %q: want critical or warning", r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description"} {
				if r.Annotations[a] == "" {
					bad("no %s annotation", a)
				}
				for _, m := range templateLabel.FindAllStringSubmatch(r.Annotations[a], -1) {
					if !slices.Contains(knownLabels, m[1]) {
						bad("%s uses $labels.%s, a label Tandem's metrics do not carry", a, m[1])
					}
				}
			}
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				bad("expr: %v", err)
				continue
			}
			rule := alertRule{Rule: r}
			var labels []string
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				switch n := n.(type) {
				case *parser.VectorSelector:
					name := n.Name
					for _, m := range n.LabelMatchers {
						if m.Name == model.MetricNameLabel {
							name = m.Value
						} else {
							labels = append(labels, m.Name)
						}
					}
					rule.metrics = append(rule.metrics, name)
				case *parser.AggregateExpr:
					labels = append(labels, n.Grouping...)
				case *parser.BinaryExpr:
					if n.VectorMatching != nil {
						labels = append(labels, n.VectorMatching.MatchingLabels...)
						labels = append(labels, n.VectorMatching.Include...)
					}
				}
				return nil
			})
			for _, name := range rule.metrics {
				if !slices.Contains(metrics.Exported, name) {
					bad("expr selects %q, which Tandem does not export (metrics.Exported: %v)", name, metrics.Exported)
				}
			}
			for _, l := range labels {
				if !slices.Contains(knownLabels, l) {
					bad("expr uses label %q, which Tandem's metrics do not carry", l)
				}
			}
			alerts[r.Alert] = rule
		}
	}
	return alerts, problems
}

func TestShippedAlertsParseAndUseOnlyMetricsTandemExports(t *testing.T) {
	alerts, problems := loadAlerts(t, alertsFile)
	require.Empty(t, problems, "%s", alertsFile)

	// The alerts issue 16 promised, and the metric each watches.
	want := map[string][]string{
		"TandemSyncStale":   {"tandem_last_success_timestamp_seconds", "tandem_schedule_seconds"},
		"TandemSyncFailing": {"tandem_sync_failing"},
		"TandemQuotaHigh":   {"tandem_quota_used_ratio"},
		"TandemVerifyDrift": {"tandem_verify_drift"},
		"TandemDeletesHeld": {"tandem_deletes_held"},
	}
	for name, watched := range want {
		a, ok := alerts[name]
		if !assert.True(t, ok, "%s has no alert %s", alertsFile, name) {
			continue
		}
		assert.ElementsMatch(t, watched, a.metrics, "metrics alert %s selects", name)
	}
}

func TestAlertCheckRejectsWhatPrometheusWouldNotAlertOn(t *testing.T) {
	const good = `
groups:
  - name: t
    rules:
      - alert: Held
        expr: max by (sync) (tandem_deletes_held) > 0
        labels: {severity: warning}
        annotations: {summary: "{{ $labels.sync }} holds deletes", description: "approve or discard"}
`
	cases := []struct {
		name, old, new string
		problem        string // a regexp one of the problems must match
	}{
		{"misspelt metric", "tandem_deletes_held", "tandem_delete_held", `selects "tandem_delete_held", which Tandem does not export`},
		{"counter without _total", "tandem_deletes_held", "tandem_records", `selects "tandem_records"`},
		{"name in a matcher", "tandem_deletes_held", `{__name__="tandem_deletes_hold"}`, `selects "tandem_deletes_hold"`},
		{"misspelt label in by", "by (sync)", "by (snyc)", `label "snyc"`},
		{"misspelt label in a template", "$labels.sync", "$labels.synk", `\$labels\.synk`},
		{"bad PromQL", "> 0", "> > 0", `expr|parse error`},
		{"no severity", "{severity: warning}", "{team: data}", `severity label ""`},
		{"no description", `, description: "approve or discard"`, "", `no description`},
		{"unknown field", "labels:", "label:", `field label not found`},
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name+".yaml")
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}

	_, problems := loadAlerts(t, write("good", good))
	require.Empty(t, problems, "the unaltered rule must pass, or the cases below prove nothing")

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			altered := regexp.MustCompile(regexp.QuoteMeta(c.old)).ReplaceAllLiteralString(good, c.new)
			require.NotEqual(t, good, altered)
			_, problems := loadAlerts(t, write(fmt.Sprint(i), altered))
			re := regexp.MustCompile(c.problem)
			assert.True(t, slices.ContainsFunc(problems, re.MatchString), "want a problem matching %q, got %q", c.problem, problems)
		})
	}
}

// The stale rule is the one with arithmetic in it: evaluate the shipped expression with
// Prometheus' engine on series shaped like a worker's.
func TestSyncStaleFiresAfterThreeSchedulesWithoutSuccess(t *testing.T) {
	alerts, problems := loadAlerts(t, alertsFile)
	require.Empty(t, problems)
	expr := strings.Join(strings.Fields(alerts["TandemSyncStale"].Expr), " ")

	// Every sync runs every 5 minutes (300s). "quiet" last succeeded at 0; "busy" succeeds
	// every minute; "moved" moved from worker w1, which still exports the success it saw
	// at 0, to w2, where it succeeds every minute; "never" has not succeeded.
	promqltest.RunTest(t, `
load 1m
  tandem_schedule_seconds{namespace="default", sync="quiet", instance="w1"} 300x60
  tandem_last_success_timestamp_seconds{namespace="default", sync="quiet", instance="w1"} 0x60
  tandem_schedule_seconds{namespace="default", sync="busy", instance="w1"} 300x60
  tandem_last_success_timestamp_seconds{namespace="default", sync="busy", instance="w1"} 0+60x60
  tandem_schedule_seconds{namespace="default", sync="moved", instance="w1"} 300x60
  tandem_last_success_timestamp_seconds{namespace="default", sync="moved", instance="w1"} 0x60
  tandem_schedule_seconds{namespace="default", sync="moved", instance="w2"} 300x60
  tandem_last_success_timestamp_seconds{namespace="default", sync="moved", instance="w2"} 0+60x60
  tandem_schedule_seconds{namespace="default", sync="never", instance="w1"} 300x60

# 10 minutes without a success is 2 schedules: not yet stale.
eval instant at 10m `+expr+`

# 15 minutes is 3 schedules, not more than 3.
eval instant at 15m `+expr+`

eval instant at 30m `+expr+`
  {namespace="default", sync="quiet"} 1800
`, promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery))
}
