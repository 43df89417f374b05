package workflows

import (
	"sort"
	"time"

	"go.temporal.io/sdk/workflow"

	"tandem/activities"
)

// The sync's state beyond cursors: recent writes, quota use, metrics and failed records.

// maxFailures is how many failed records the state keeps (the newest); older ones are
// still counted in the totals.
const maxFailures = 100

// maxWritten bounds the recent writes per side that the state keeps (see reread), as a
// chunk bounds those it hands back.
const maxWritten = activities.MaxRecentWrites

// noteWritten remembers, on a side whose Find lags its writes, the id written for a key
// and when, for reread.
func (s *syncer) noteWritten(side, key, id string, now time.Time) {
	lag := s.plan.Lag[side]
	if key == "" || id == "" || lag <= 0 || s.linked {
		// Linked two-way syncs read what they wrote by its link, not by a search.
		return
	}
	if s.st.Written == nil {
		s.st.Written = map[string]map[string]WrittenKey{}
	}
	w := s.st.Written[side]
	if w == nil {
		w = map[string]WrittenKey{}
		s.st.Written[side] = w
	}
	w[key] = w[key].Add(id, now)
	if len(w) > maxWritten {
		s.pruneWritten(now)
	}
}

// pruneWritten drops the writes Find has caught up with, and past maxWritten per side
// the oldest.
func (s *syncer) pruneWritten(now time.Time) {
	for _, side := range workflow.DeterministicKeys(s.st.Written) {
		w, lag := s.st.Written[side], s.plan.Lag[side]
		keys := workflow.DeterministicKeys(w)
		for _, k := range keys {
			if now.Sub(w[k].At) >= lag {
				delete(w, k)
			}
		}
		if len(w) > maxWritten {
			keys = workflow.DeterministicKeys(w)
			sort.SliceStable(keys, func(i, j int) bool { return w[keys[i]].At.Before(w[keys[j]].At) })
			for _, k := range keys[:len(w)-maxWritten*3/4] {
				delete(w, k)
			}
		}
		if len(w) == 0 {
			delete(s.st.Written, side)
		}
	}
	if len(s.st.Written) == 0 {
		s.st.Written = nil
	}
}

// recentWrites prunes the recent writes (pruneWritten) and returns side's, for a chunk
// that writes it (nil when it has none).
func (s *syncer) recentWrites(side string, now time.Time) map[string]WrittenKey {
	s.pruneWritten(now)
	return s.st.Written[side]
}

// setUsage keeps a side's latest quota use.
func (s *syncer) setUsage(side string, u map[string]string) {
	if len(u) == 0 {
		return
	}
	if s.st.Usage == nil {
		s.st.Usage = map[string]map[string]string{}
	}
	s.st.Usage[side] = u
}

// count adds a batch's outcomes to the sync's metrics (not emitted while replaying).
func (s *syncer) count(ctx workflow.Context, c Counts) {
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"sync": s.name})
	for _, o := range []struct {
		outcome string
		n       int
	}{{"fetched", c.Fetched}, {"created", c.Created}, {"updated", c.Updated}, {"skipped", c.Skipped}, {"failed", c.Failed}, {"conflicts", c.Conflicts}, {"held", c.Held}, {"stale", c.Stale}, {"deleted", c.Deleted}, {"archived", c.Archived}} {
		if o.n > 0 {
			m.WithTags(map[string]string{"outcome": o.outcome}).Counter(MetricRecords).Inc(int64(o.n))
		}
	}
}

func (s *syncer) recordFailure(f FailedRecord) {
	s.logger.Warn("Record not synced", "side", f.Side, "record", f.RecordID, "key", f.Key, "reason", f.Reason)
	s.st.Failures = append(s.st.Failures, f)
	if n := len(s.st.Failures); n > maxFailures {
		s.st.Failures = append([]FailedRecord(nil), s.st.Failures[n-maxFailures:]...)
	}
}
