package main

import (
	"bytes"
	"strings"
	"testing"
)

func rate(scenario, design string, records int, perSec float64) result {
	return result{Scenario: scenario, Design: design, Records: records, RecordsPerSec: perSec,
		HistoryEvents: -1, HistoryBytes: -1, BytesPerRecord: -1, APICalls: -1, CallsPerRecord: -1}
}

func TestTargets(t *testing.T) {
	memTandem := rate("backfill-memory", designTandem, 2000, 4000)
	memTandem.HistoryEvents, memTandem.HistoryBytes, memTandem.BytesPerRecord = 100, 36000, 18
	hook := rate("webhooks", designTandem, 6000, 100)
	hook.E2EP50ms, hook.AckP99ms = 46, 438
	hook.APICalls, hook.CallsPerRecord = 11400, 1.9
	hook.HistoryEvents, hook.EventsPerRecord = 18000, 3
	failedDirect := rate("salesloft-to-hubspot", designDirect, 1000, 1735)
	failedDirect.Note = "FAILED: boom"

	tests := []struct {
		name string
		rs   []result
		want []target
	}{
		{name: "nothing ran", rs: nil, want: nil},
		{
			name: "backfill-memory: the share misses, the bytes pass",
			rs:   []result{memTandem, rate("backfill-memory", designPerEvent, 200, 50), rate("backfill-memory", designDirect, 2000, 40000)},
			want: []target{
				{Measure: "backfill-memory, 2000 records: Tandem / direct records/s (%)", Value: 10, Target: ">= 40", Pass: false},
				{Measure: "backfill-memory, 2000 records: history bytes per record", Value: 18, Target: "<= 20", Pass: true},
			},
		},
		{
			name: "backfill-postgres at exactly the bound passes",
			rs:   []result{rate(scenarioPostgres, designTandem, 20000, 5000), rate(scenarioPostgres, designDirect, 20000, 10000), rate(scenarioPostgres, designCopy, 20000, 200000)},
			want: []target{{Measure: "backfill-postgres, 20000 rows: Tandem / direct loop records/s (%)", Value: 50, Target: ">= 50", Pass: true}},
		},
		{
			name: "a failed or skipped design leaves its measure out",
			rs: []result{rate("salesloft-to-hubspot", designTandem, 1000, 1580), failedDirect,
				{Scenario: scenarioPostgres, Design: designTandem, Note: "SKIPPED: no PostgreSQL binaries"}},
			want: nil,
		},
		{
			name: "webhooks: each of the four bounds",
			rs:   []result{hook},
			want: []target{
				{Measure: "webhooks: webhook-to-target p50 (ms)", Value: 46, Target: "<= 50", Pass: true},
				{Measure: "webhooks: ack p99 (ms)", Value: 438, Target: "<= 20", Pass: false},
				{Measure: "webhooks: API calls per event", Value: 1.9, Target: "<= 1.5", Pass: false},
				{Measure: "webhooks: history events per event", Value: 3, Target: "<= 3", Pass: true},
			},
		},
		{
			name: "memory-check: 10xN against N",
			rs: []result{
				{Scenario: "memory-check", Design: designTandem, Records: 100000, RecordsPerSec: 1, PeakMiB: 50},
				{Scenario: "memory-check", Design: designTandem, Records: 1000000, RecordsPerSec: 1, PeakMiB: 55},
			},
			want: []target{{Measure: "memory-check: peak heap at 1000000 / at 100000 records (x)", Value: 1.1, Target: "<= 1.2", Pass: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := targets(tt.rs)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d targets %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Measure != w.Measure || g.Target != w.Target || g.Pass != w.Pass || !near(g.Value, w.Value) {
					t.Errorf("target %d: got %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestRatios(t *testing.T) {
	rs := []result{
		rate(scenarioPostgres, designTandem, 20000, 5000),
		rate(scenarioPostgres, designDirect, 20000, 10000),
		rate(scenarioPostgres, designCopy, 20000, 200000),
		rate("backfill-memory", designPerEvent, 200, 50), // no tandem: no ratio
		rate(scenarioTwoWay, designOneWay, 1000, 100),
		rate(scenarioTwoWay, designOneWayLinks, 1000, 40),
		rate(scenarioTwoWay, designTwoWay, 1000, 20),
	}
	got := ratios(rs)
	want := []ratio{{scenarioPostgres, designDirect, 50}, {scenarioPostgres, designCopy, 2.5}, {scenarioTwoWay, "one-way keeping links", 50}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].Scenario != want[i].Scenario || got[i].Over != want[i].Over || !near(got[i].Percent, want[i].Percent) {
			t.Errorf("ratio %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPrintTargets(t *testing.T) {
	var b bytes.Buffer
	printTargets(&b, []target{atLeast("x (%)", 8.517, 40), atMost("y", 18, 20)})
	out := b.String()
	for _, want := range []string{"x (%)  8.52  >= 40  MISS", "y      18    <= 20  PASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	printTargets(&b, nil)
	if !strings.Contains(b.String(), "none measured") {
		t.Errorf("no targets: got %q", b.String())
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// A run with -links map measures no two-way target (its links are not in a store), and
// gives two-way against one-way with the store's cost left out.
func TestLinksInMapRatios(t *testing.T) {
	rs := []result{
		rate(scenarioTwoWay, designOneWay, 1000, 100),
		rate(scenarioTwoWay, designOneWayLinks+linksInMap, 1000, 80),
		rate(scenarioTwoWay, designTwoWay+linksInMap, 1000, 40),
	}
	if got := targets(rs); len(got) != 0 {
		t.Errorf("targets of a -links map run: %+v, want none", got)
	}
	got := ratios(rs)
	want := []ratio{{scenarioTwoWay, "one-way (two-way's links in a map)", 40}, {scenarioTwoWay, "one-way keeping links (both in a map)", 50}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].Over != want[i].Over || !near(got[i].Percent, want[i].Percent) {
			t.Errorf("ratio %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// With -rounds, each design's median run is reported (of an even number, the slower of
// the middle two), in the order the designs first ran, and the target reads the medians.
func TestMedianRuns(t *testing.T) {
	var rs []result
	for _, round := range [][2]float64{{100, 45}, {90, 50}, {120, 40}, {80, 35}} {
		rs = append(rs, rate(scenarioTwoWay, designOneWay, 1000, round[0]), rate(scenarioTwoWay, designTwoWay, 1000, round[1]))
	}
	failed := rate(scenarioTwoWay, designTwoWay, 1000, 500)
	failed.Note = "FAILED: boom"
	rs = append(rs, failed)

	got := medianRuns(rs)
	if len(got) != 3 {
		t.Fatalf("got %d results, want the failed run and two medians: %+v", len(got), got)
	}
	if got[0].Note != "FAILED: boom" {
		t.Errorf("the failed run is not kept as it is: %+v", got[0])
	}
	oneWay, twoWay := got[1], got[2]
	if oneWay.Design != designOneWay || oneWay.RecordsPerSec != 90 || oneWay.Note != "median of 4 runs (80-120 records/s)" {
		t.Errorf("one-way: %+v", oneWay)
	}
	if twoWay.Design != designTwoWay || twoWay.RecordsPerSec != 40 || twoWay.Note != "median of 4 runs (35-50 records/s)" {
		t.Errorf("two-way: %+v", twoWay)
	}
	tgts := targets(got)
	found := false
	for _, tg := range tgts {
		if strings.HasPrefix(tg.Measure, "two-way") {
			found = true
			if !near(tg.Value, 100*40.0/90) {
				t.Errorf("two-way target reads %v, want the medians' %v", tg.Value, 100*40.0/90)
			}
		}
	}
	if !found {
		t.Errorf("no two-way target in %+v", tgts)
	}

	one := medianRuns([]result{rate(scenarioTwoWay, designOneWay, 1000, 100)})
	if len(one) != 1 || one[0].Note != "" {
		t.Errorf("a single run is changed: %+v", one)
	}
}
