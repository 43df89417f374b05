package ingress_test

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	historypb "go.temporal.io/api/history/v1"
)

// writeTimings writes to path where a sync's time went during a stream of webhooks:
// for its workflow tasks and each activity type, schedule-to-start and start-to-close
// (mean, p50, p90), from the histories of every execution after the first (the first is
// the initial run). It is how the 45 ms workflow-task wait was found.
func writeTimings(path string, hs []*historypb.History) {
	type span struct{ sched, start, done time.Time }
	wft := map[int64]*span{}
	act := map[int64]*span{}
	names := map[int64]string{}
	var sb strings.Builder
	stats := map[string][]time.Duration{}
	add := func(k string, d time.Duration) { stats[k] = append(stats[k], d) }
	for _, h := range hs[1:] {
		for _, e := range h.Events {
			t := e.GetEventTime().AsTime()
			switch {
			case e.GetWorkflowTaskScheduledEventAttributes() != nil:
				wft[e.GetEventId()] = &span{sched: t}
			case e.GetWorkflowTaskStartedEventAttributes() != nil:
				if s := wft[e.GetWorkflowTaskStartedEventAttributes().GetScheduledEventId()]; s != nil {
					s.start = t
					add("wft sched->start", t.Sub(s.sched))
				}
			case e.GetWorkflowTaskCompletedEventAttributes() != nil:
				if s := wft[e.GetWorkflowTaskCompletedEventAttributes().GetScheduledEventId()]; s != nil {
					add("wft start->done", t.Sub(s.start))
				}
			case e.GetActivityTaskScheduledEventAttributes() != nil:
				act[e.GetEventId()] = &span{sched: t}
				names[e.GetEventId()] = e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			case e.GetActivityTaskStartedEventAttributes() != nil:
				id := e.GetActivityTaskStartedEventAttributes().GetScheduledEventId()
				if s := act[id]; s != nil {
					s.start = t
					add(names[id]+" sched->start", t.Sub(s.sched))
				}
			case e.GetActivityTaskCompletedEventAttributes() != nil:
				id := e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
				if s := act[id]; s != nil {
					add(names[id]+" start->done", t.Sub(s.start))
					s.done = t
				}
			}
		}
	}
	keys := make([]string, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d := stats[k]
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		fmt.Fprintf(&sb, "%-32s n=%5d mean=%6.1fms p50=%6.1fms p90=%6.1fms\n", k, len(d), float64(sum.Microseconds())/float64(len(d))/1000,
			float64(d[len(d)/2].Microseconds())/1000, float64(d[len(d)*9/10].Microseconds())/1000)
	}
	_ = os.WriteFile(path, []byte(sb.String()), 0o644)
}
