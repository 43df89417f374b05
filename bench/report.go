package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// result is one design's figures in one scenario.
type result struct {
	Scenario      string  `json:"scenario"`
	Design        string  `json:"design"`
	Records       int     `json:"records"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_s"`
	// HistoryEvents is -1 where there is no history (direct).
	HistoryEvents   int     `json:"history_events"`
	EventsPerRecord float64 `json:"history_events_per_record"`
	// HistoryBytes is the bytes of those events (summed over the sync's chain of runs);
	// both are -1 where not measured (direct, per-event, copy).
	HistoryBytes   int64   `json:"history_bytes"`
	BytesPerRecord float64 `json:"history_bytes_per_record"`
	// APICalls are the calls both services received from the design (reads and writes;
	// not the webhooks scenarios' own changes of the source); both are -1 where they are
	// not counted (the sql connector).
	APICalls       int     `json:"api_calls"`
	CallsPerRecord float64 `json:"api_calls_per_record"`
	Writes         int     `json:"target_writes"`
	// PeakMiB is the peak heap in use during the run above the heap just before it;
	// RetainedMiB is what was still in use after it (after a GC).
	PeakMiB     float64 `json:"peak_heap_mib"`
	RetainedMiB float64 `json:"retained_heap_mib"`
	// CPUSeconds is the CPU time this process used during the run (the embedded server,
	// the worker and the in-process fakes alike, the heap sampler's reads too; not a
	// PostgreSQL server's, which runs apart), or -1 where not measured. On a machine whose
	// speed varies, it moves less than the run's seconds.
	CPUSeconds float64 `json:"cpu_s"`
	// Webhooks only.
	Events   int     `json:"events,omitempty"`
	Failed   int     `json:"failed_acks,omitempty"`
	AckP50ms float64 `json:"ack_p50_ms,omitempty"`
	AckP99ms float64 `json:"ack_p99_ms,omitempty"`
	E2EP50ms float64 `json:"e2e_p50_ms,omitempty"`
	E2EP99ms float64 `json:"e2e_p99_ms,omitempty"`
	Note     string  `json:"note,omitempty"`
}

// check is a target of issue 8 with its measured value.
type check struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Target string `json:"target"`
	Pass   bool   `json:"pass"`
}

// setHistory records the history a design wrote for n records.
func (r *result) setHistory(h history, n int) {
	r.HistoryEvents, r.HistoryBytes = h.events, h.bytes
	r.EventsPerRecord = float64(h.events) / float64(n)
	r.BytesPerRecord = float64(h.bytes) / float64(n)
}

type report struct {
	Command string   `json:"command"`
	Machine string   `json:"machine"`
	Results []result `json:"results"`
	// Checks are issue 8's targets, Targets issue 17's; Ratios compare designs.
	Checks  []check  `json:"checks"`
	Targets []target `json:"targets"`
	Ratios  []ratio  `json:"ratios"`
}

// medianRuns keeps, of the runs of each scenario and design (-rounds), the one of median
// records/s (of an even number, the slower of the middle two), in the order the designs
// first ran; with more than one run, its note gives how many and their range. A failed
// run is kept as it is, beside the median of the others.
func medianRuns(rs []result) []result {
	type key struct{ scenario, design string }
	var order []key
	runs := map[key][]result{}
	var out []result
	for _, r := range rs {
		if strings.HasPrefix(r.Note, "FAILED") {
			out = append(out, r)
			continue
		}
		k := key{r.Scenario, r.Design}
		if _, ok := runs[k]; !ok {
			order = append(order, k)
		}
		runs[k] = append(runs[k], r)
	}
	for _, k := range order {
		rs := runs[k]
		if len(rs) == 1 {
			out = append(out, rs[0])
			continue
		}
		slices.SortStableFunc(rs, func(a, b result) int { return cmp.Compare(a.RecordsPerSec, b.RecordsPerSec) })
		m := rs[(len(rs)-1)/2]
		rounds := fmt.Sprintf("median of %d runs (%.0f-%.0f records/s)", len(rs), rs[0].RecordsPerSec, rs[len(rs)-1].RecordsPerSec)
		m.Note = strings.TrimPrefix(m.Note+"; "+rounds, "; ")
		out = append(out, m)
	}
	return out
}

func find(rs []result, scenario, design string) (result, bool) {
	for _, r := range rs {
		if r.Scenario == scenario && r.Design == design && r.RecordsPerSec > 0 && !strings.HasPrefix(r.Note, "FAILED") {
			return r, true
		}
	}
	return result{}, false
}

// checks evaluates the targets on whatever scenarios ran.
func checks(rs []result) []check {
	var out []check
	if t, ok := find(rs, "backfill-memory", designTandem); ok {
		if p, ok := find(rs, "backfill-memory", designPerEvent); ok {
			x := t.RecordsPerSec / p.RecordsPerSec
			out = append(out, check{"backfill: tandem / per-event records/s", fmt.Sprintf("%.1fx", x), ">= 50x", x >= 50})
		}
		out = append(out, check{"backfill: tandem history events / record", fmt.Sprintf("%.3f", t.EventsPerRecord), "<= 0.2", t.EventsPerRecord <= 0.2})
		if d, ok := find(rs, "backfill-memory", designDirect); ok {
			x := t.RecordsPerSec / d.RecordsPerSec
			out = append(out, check{"backfill: tandem / direct records/s (info)", fmt.Sprintf("%.2f%%", x*100), "-", true})
		}
	}
	if t, ok := find(rs, "salesloft-to-hubspot", designTandem); ok {
		if d, ok := find(rs, "salesloft-to-hubspot", designDirect); ok {
			x := t.RecordsPerSec / d.RecordsPerSec
			out = append(out, check{"salesloft-to-hubspot: tandem / direct records/s", fmt.Sprintf("%.0f%%", x*100), ">= 80%", x >= 0.8})
		}
		if p, ok := find(rs, "salesloft-to-hubspot", designPerEvent); ok {
			x := t.RecordsPerSec / p.RecordsPerSec
			out = append(out, check{"salesloft-to-hubspot: tandem / per-event records/s (info)", fmt.Sprintf("%.1fx", x), "-", true})
		}
	}
	for _, r := range rs {
		if r.Scenario == "rerun-unchanged" && r.RecordsPerSec > 0 {
			out = append(out, check{"rerun-unchanged: " + r.Design + " writes", fmt.Sprint(r.Writes), "0", r.Writes == 0})
		}
	}
	var small, large *result
	for i, r := range rs {
		if r.Scenario == "memory-check" && r.RecordsPerSec > 0 {
			if small == nil {
				small = &rs[i]
			} else {
				large = &rs[i]
			}
		}
	}
	if small != nil && large != nil && small.PeakMiB > 0 {
		x := large.PeakMiB / small.PeakMiB
		out = append(out, check{fmt.Sprintf("memory: peak at %d / peak at %d records", large.Records, small.Records), fmt.Sprintf("%.2fx", x), "<= 1.5x", x <= 1.5})
		if w1, w2 := small.PeakMiB-small.RetainedMiB, large.PeakMiB-large.RetainedMiB; w1 > 0 {
			out = append(out, check{"memory: peak minus retained (working set) ratio (info)", fmt.Sprintf("%.2fx", w2/w1), "-", true})
		}
	}
	return out
}

func printTable(w io.Writer, rep report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tdesign\trecords\tseconds\trecords/s\thistory events/record\thistory bytes/record\tAPI calls/record\ttarget writes\tpeak heap MiB\tretained MiB\tCPU s\t")
	for _, r := range rep.Results {
		if r.RecordsPerSec == 0 && r.Events == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t\n", r.Scenario, r.Design)
			continue
		}
		ev, by, calls := "n/a", "n/a", "n/a"
		if r.HistoryEvents >= 0 {
			ev = fmt.Sprintf("%.3f", r.EventsPerRecord)
		}
		if r.HistoryBytes >= 0 {
			by = fmt.Sprintf("%.0f", r.BytesPerRecord)
		}
		if r.APICalls >= 0 {
			calls = fmt.Sprintf("%.4f", r.CallsPerRecord)
		}
		cpu := "n/a"
		if r.CPUSeconds >= 0 {
			cpu = fmt.Sprintf("%.2f", r.CPUSeconds)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.0f\t%s\t%s\t%s\t%d\t%.1f\t%.1f\t%s\t\n",
			r.Scenario, r.Design, r.Records, r.Seconds, r.RecordsPerSec, ev, by, calls, r.Writes, r.PeakMiB, r.RetainedMiB, cpu)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nnotes:")
	for _, r := range rep.Results {
		if r.Note != "" {
			fmt.Fprintf(w, "  %s/%s: %s\n", r.Scenario, r.Design, r.Note)
		}
	}
	for _, r := range rep.Results {
		if r.Events > 0 {
			fmt.Fprintf(w, "\nwebhooks (%s): %d events, %d failed acks; ack p50 %.1f ms, p99 %.1f ms; webhook-to-target p50 %.0f ms, p99 %.0f ms\n",
				r.Design, r.Events, r.Failed, r.AckP50ms, r.AckP99ms, r.E2EP50ms, r.E2EP99ms)
		}
	}

	if len(rep.Checks) > 0 {
		fmt.Fprintln(w, "\ntargets (issue 8):")
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range rep.Checks {
		verdict := "PASS"
		if c.Target == "-" {
			verdict = ""
		} else if !c.Pass {
			verdict = "MISS"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Name, c.Value, c.Target, verdict)
	}
	tw.Flush()

	printRatios(w, rep.Ratios)
	printTargets(w, rep.Targets)
}
