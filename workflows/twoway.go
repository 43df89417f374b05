package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/definition"
)

// Wave 1's two-way memory in the workflow state: baselines of recently written pairs and
// a flip counter per key. Runs since the "link-store" version keep their pairs in the link
// store instead (linked.go, package pairs); this code stays so histories recorded before
// it replay as they ran. Nothing new goes here.

// Bounds of the two-way state carried across continue-as-new.
const (
	maxBaselines = 5000
	maxDecisions = 50
	// A pair written in alternating directions more than maxFlips times within
	// loopWindow is stopped: some difference between the services keeps the two sides
	// from ever comparing equal.
	maxFlips   = 3
	loopWindow = 10 * time.Minute
)

func (s *syncer) baselinesFor(keys []string) map[string]string {
	if len(s.st.Baselines) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, k := range keys {
		if b, ok := s.st.Baselines[k]; ok {
			out[k] = b
		}
	}
	return out
}

func (s *syncer) setBaseline(key, fp string) {
	if s.st.Baselines == nil {
		s.st.Baselines = map[string]string{}
	}
	if _, ok := s.st.Baselines[key]; !ok {
		s.st.BaselineOrder = append(s.st.BaselineOrder, key)
	}
	s.st.Baselines[key] = fp
	if n := len(s.st.BaselineOrder); n > maxBaselines {
		for _, old := range s.st.BaselineOrder[:n-maxBaselines] {
			delete(s.st.Baselines, old)
		}
		s.st.BaselineOrder = append([]string(nil), s.st.BaselineOrder[n-maxBaselines:]...)
	}
}

func (s *syncer) recordDecision(d DecisionRecord) {
	s.logger.Info("Two-way decision", "kind", d.Kind, "key", d.Key, "winner", d.Winner, "reason", d.Reason)
	s.st.Decisions = append(s.st.Decisions, d)
	if n := len(s.st.Decisions); n > maxDecisions {
		s.st.Decisions = append([]DecisionRecord(nil), s.st.Decisions[n-maxDecisions:]...)
	}
}

// breakLoops drops the writes of pairs that keep being written back and forth, and
// reports them with both payloads.
func (s *syncer) breakLoops(now time.Time, from string, plan activities.Plan, items []activities.Item, run int, c *Counts) activities.Plan {
	if s.plan.Mode != definition.TwoWay {
		return plan
	}
	if s.st.Loops == nil {
		s.st.Loops = map[string]*LoopState{}
	}
	// Map order differs between replays: walk the keys sorted.
	for _, k := range workflow.DeterministicKeys(s.st.Loops) {
		if now.Sub(s.st.Loops[k].Since) > loopWindow {
			delete(s.st.Loops, k)
		}
	}
	// The side each pair of the batch is written to; a batch that writes a pair both
	// ways (fields that go one way each) is no flip.
	dir := map[string]string{}
	var keys []string
	for _, op := range plan.Ops {
		if _, ok := dir[op.Key]; !ok {
			keys = append(keys, op.Key)
		}
		dir[op.Key] = definition.Other(from)
	}
	for _, op := range plan.BackOps {
		d, ok := dir[op.Key]
		switch {
		case !ok:
			keys = append(keys, op.Key)
			dir[op.Key] = from
		case d != from:
			dir[op.Key] = "both"
		}
	}
	stopped := map[string]bool{}
	for _, key := range keys {
		side := dir[key]
		l := s.st.Loops[key]
		switch {
		case l == nil:
			s.st.Loops[key] = &LoopState{Since: now, LastTo: side}
			continue
		case side != "both" && l.LastTo != side:
			l.Flips++
			l.LastTo = side
		}
		if l.Flips > maxFlips {
			l.Stopped = true
		}
		if l.Stopped {
			stopped[key] = true
		}
	}
	if len(stopped) == 0 {
		return plan
	}
	keep := func(ops []activities.WriteOp) []activities.WriteOp {
		var out []activities.WriteOp
		for _, op := range ops {
			if !stopped[op.Key] {
				out = append(out, op)
			}
		}
		return out
	}
	plan.Ops, plan.BackOps = keep(plan.Ops), keep(plan.BackOps)
	for _, it := range items {
		if !stopped[it.Key] {
			continue
		}
		l := s.st.Loops[it.Key]
		reason := fmt.Sprintf("written back and forth %d times since %s; stopped, nothing written: the services keep values that never compare equal (add a normalizer, or make the field one-way)",
			l.Flips, l.Since.UTC().Format(time.RFC3339))
		// Both payloads under the other side's field names, side by side.
		d := DecisionRecord{Run: run, At: now, Key: it.Key, Kind: "loop", Reason: reason}
		if from == activities.SideA {
			d.A, d.B = it.Want, it.Have
		} else {
			d.A, d.B = it.Have, it.Want
		}
		s.recordDecision(d)
		c.Failed++
		s.recordFailure(FailedRecord{Run: run, At: now, Side: from, RecordID: it.SourceID, Key: it.Key, Reason: "loop: " + reason})
	}
	return plan
}
