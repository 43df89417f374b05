package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/connectors"
	"tandem/definition"
)

// Deletes (issue 15; activities/deletes.go has the detection and the writes). A sync whose
// definition acts on deletes (deletes.mode archive or delete) looks for deleted records at
// the start of every run, before its change pages, on every side it reads, and on webhook
// events of kind "deleted" in their micro-batch. What it finds is pending in the link
// store; unless the mass-delete breaker trips it is done at once. A tripped breaker holds
// every pending delete until an operator approves or discards them (Updates
// deletes-approve and deletes-discard).

// Update names of the breaker's controls.
const (
	UpdateDeletesApprove = "deletes-approve"
	UpdateDeletesDiscard = "deletes-discard"
)

// HeldDeletes says the breaker holds the sync's pending deletes.
type HeldDeletes struct {
	Count int `json:"count"`
	// Linked is how many live pairs the sync had; Percent is Count of them.
	Linked     int       `json:"linked"`
	Percent    float64   `json:"percent"`
	Max        int       `json:"max"`
	MaxPercent float64   `json:"max_percent"`
	Since      time.Time `json:"since"`
}

// String is the status line's words: "600 (60% > 10%)".
func (h HeldDeletes) String() string {
	return fmt.Sprintf("%d (%s%% > %s%%)", h.Count, Percent(h.Percent), Percent(h.MaxPercent))
}

// Percent prints a percentage as status does: whole numbers plainly, others to a tenth.
func Percent(p float64) string {
	if p == float64(int(p)) {
		return fmt.Sprint(int(p))
	}
	return fmt.Sprintf("%.1f", p)
}

// DeleteState is what a sync keeps about deletes.
type DeleteState struct {
	// Cursors are the delete-log cursors by side.
	Cursors map[string]connectors.Cursor `json:"cursors,omitempty"`
	// LastDiff is when each side was last diffed in full.
	LastDiff map[string]time.Time `json:"last_diff,omitempty"`
	// Notes say, by side, how its deletes are found when not from its log ("no delete
	// log: ...", or why the log could not be used).
	Notes map[string]string `json:"notes,omitempty"`
	// Webhook are record ids webhook events announced deleted, by side, not yet looked at.
	Webhook map[string][]string `json:"webhook,omitempty"`
	// Held is set while the breaker holds the pending deletes; Approved once an operator
	// released them and until they are done; Discard once an operator discarded them and
	// until they are dropped.
	Held     *HeldDeletes `json:"held,omitempty"`
	Approved bool         `json:"approved,omitempty"`
	Discard  bool         `json:"discard,omitempty"`
	// Pending is how many deletes were pending after the last detection.
	Pending int `json:"pending,omitempty"`
	// Recent are the latest outcomes, newest last (bounded).
	Recent []activities.DeleteOutcome `json:"recent,omitempty"`
	// Discarded counts the deletes discarded by operators.
	Discarded int `json:"discarded,omitempty"`
	// Mode is the policy the sync last acted on deletes with.
	Mode string `json:"mode,omitempty"`
}

// noLogNote starts the note of a side without a delete log.
const noLogNote = "no delete log"

// maxRecentDeletes bounds DeleteState.Recent.
const maxRecentDeletes = 20

// deletesActive reports whether the run's definition acts on deletes.
func (s *syncer) deletesActive() bool {
	return s.plan != nil && s.plan.Def != nil && s.plan.Def.Deletes.Active()
}

func (s *syncer) dels() *DeleteState {
	if s.st.Deletes == nil {
		s.st.Deletes = &DeleteState{}
	}
	return s.st.Deletes
}

// detectOptions are longer than a page's: a full id diff lists every id of a side.
func detectOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour,
		HeartbeatTimeout:    4 * activities.HeartbeatEvery,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    10,
		},
	})
}

// runDeletes looks for deleted records on every side the run reads and settles them.
func (s *syncer) runDeletes(ctx workflow.Context) error {
	sides := []string{activities.SideA}
	if s.plan.Mode == definition.TwoWay {
		sides = append(sides, activities.SideB)
	}
	d := s.dels()
	d.Mode = string(s.plan.Def.Deletes.Mode)
	now := workflow.Now(ctx)
	pending, linked, looked := 0, 0, false
	for _, side := range sides {
		if d.Cursors == nil {
			d.Cursors = map[string]connectors.Cursor{}
		}
		cur, ok := d.Cursors[side]
		if !ok {
			// Deletes are acted on from the moment the policy is on.
			cur = connectors.Cursor{UpdatedAt: now}
			d.Cursors[side] = cur
		}
		if every := s.plan.Def.Deletes.DiffEvery; every > 0 && strings.HasPrefix(d.Notes[side], noLogNote) && now.Sub(d.LastDiff[side]) < every {
			// No delete log, and the last diff is recent enough.
			continue
		}
		var det activities.DetectedDeletes
		if err := workflow.ExecuteActivity(detectOptions(ctx), a.DetectDeletes, activities.DetectDeletesInput{
			Ref: s.ref(), Side: side, Cursor: cur, Now: now, Limit: s.plan.PageSize,
		}).Get(ctx, &det); err != nil {
			return err
		}
		s.noteDetected(side, det, now)
		pending, linked, looked = det.Pending, det.Linked, true
	}
	if !looked {
		return nil
	}
	return s.settleDeletes(ctx, pending, linked)
}

// noteDetected keeps what a detection says about its side.
func (s *syncer) noteDetected(side string, det activities.DetectedDeletes, now time.Time) {
	d := s.dels()
	d.Cursors[side] = det.Cursor
	if d.Notes == nil {
		d.Notes = map[string]string{}
	}
	switch {
	case det.Expired != "":
		d.Notes[side] = "delete log expired: " + det.Expired + "; every id was diffed against the pairs instead"
		s.logger.Warn("Delete log expired; diffed every id instead", "side", side, "reason", det.Expired)
	case det.NoLog:
		every := "every run"
		if e := s.plan.Def.Deletes.DiffEvery; e > 0 {
			every = "every " + e.String()
		}
		d.Notes[side] = noLogNote + ": every id is diffed against the pairs " + every
	default:
		delete(d.Notes, side)
	}
	if det.How == "diff" {
		if d.LastDiff == nil {
			d.LastDiff = map[string]time.Time{}
		}
		d.LastDiff[side] = now
	}
	if det.Found > 0 || det.Restored > 0 {
		s.logger.Info("Deletes found", "side", side, "how", det.How, "found", det.Found, "restored", det.Restored, "pending", det.Pending)
	}
	d.Pending = det.Pending
}

// settleDeletes does the pending deletes, or holds them when the breaker trips: more than
// Max of them AND more than MaxPercent of the live pairs.
func (s *syncer) settleDeletes(ctx workflow.Context, pending, linked int) error {
	d := s.dels()
	if pending == 0 {
		d.Held = nil
		return nil
	}
	if d.Held != nil && !d.Approved {
		d.Held.Count = pending
		return nil
	}
	pol := s.plan.Def.Deletes
	share := 100.0
	if linked > 0 {
		share = float64(pending) * 100 / float64(linked)
	}
	if !d.Approved && pending > pol.Max && share > pol.MaxPercent {
		d.Held = &HeldDeletes{Count: pending, Linked: linked, Percent: share, Max: pol.Max, MaxPercent: pol.MaxPercent, Since: workflow.Now(ctx)}
		s.logger.Warn("Mass-delete breaker tripped: deletes held until approved or discarded", "held", d.Held.String(), "max", pol.Max)
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"sync": s.name}).Gauge(MetricDeletesHeld).Update(float64(pending))
		return nil
	}
	return s.applyDeletes(ctx)
}

// applyDeletes does every pending delete, a page at a time.
func (s *syncer) applyDeletes(ctx workflow.Context) error {
	d := s.dels()
	for {
		var res activities.AppliedDeletes
		if err := workflow.ExecuteActivity(detectOptions(ctx), a.ApplyDeletes, activities.ApplyDeletesInput{
			Ref: s.ref(), Limit: s.plan.PageSize, Now: workflow.Now(ctx),
		}).Get(ctx, &res); err != nil {
			return err
		}
		s.noteApplied(ctx, res.Results)
		if !res.More {
			break
		}
	}
	if d.Held != nil {
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"sync": s.name}).Gauge(MetricDeletesHeld).Update(0)
	}
	d.Held, d.Approved, d.Pending = nil, false, 0
	return nil
}

// noteApplied counts the outcomes of done deletes, keeps them for status and explain, and
// queues the partners a conflict kept, to be created again on the deleting side.
func (s *syncer) noteApplied(ctx workflow.Context, results []activities.DeleteOutcome) {
	d := s.dels()
	now := workflow.Now(ctx)
	run := 0
	if s.st.Current != nil {
		run = s.st.Current.Number
	}
	var c Counts
	for _, o := range results {
		switch o.Action {
		case activities.DeleteDone:
			c.Deleted++
		case activities.DeleteArchived:
			c.Archived++
		case activities.DeleteKept:
			s.enqueue(ctx, o.PartnerSide, o.PartnerID)
		case activities.DeleteFailed:
			c.Failed++
			s.recordFailure(FailedRecord{Run: run, At: now, Side: o.Side, RecordID: o.ID, Key: o.Key, Reason: o.Reason})
		}
		if o.Conflict {
			c.Conflicts++
			s.recordDecision(DecisionRecord{Run: run, At: now, Key: o.Key, Kind: "delete-conflict", Winner: winnerOf(o), Reason: o.Reason})
		}
		if o.Action != activities.DeleteUnlinked {
			s.logger.Info("Delete", "side", o.Side, "record", o.ID, "key", o.Key, "action", o.Action, "reason", o.Reason)
		}
	}
	d.Recent = append(d.Recent, results...)
	if n := len(d.Recent); n > maxRecentDeletes {
		d.Recent = append([]activities.DeleteOutcome(nil), d.Recent[n-maxRecentDeletes:]...)
	}
	if s.st.Current != nil {
		s.st.Current.add(c)
	} else {
		s.st.Realtime.add(c)
	}
	s.st.Totals.add(c)
	s.count(ctx, c)
}

// winnerOf is the side whose change won a delete conflict.
func winnerOf(o activities.DeleteOutcome) string {
	if o.Action == activities.DeleteKept {
		return o.PartnerSide
	}
	return o.Side
}

// processWebhookDeletes looks at the records webhook events announced deleted, in their
// micro-batch.
func (s *syncer) processWebhookDeletes(ctx workflow.Context) {
	d := s.dels()
	if !s.deletesActive() {
		d.Webhook = nil
		return
	}
	var pending, linked int
	looked := false
	for _, side := range []string{activities.SideA, activities.SideB} {
		ids := d.Webhook[side]
		if len(ids) == 0 {
			continue
		}
		delete(d.Webhook, side)
		if side == activities.SideB && s.plan.Mode != definition.TwoWay {
			continue // a one-way sync never writes to its source
		}
		var det activities.DetectedDeletes
		if err := workflow.ExecuteActivity(detectOptions(ctx), a.DetectDeletes, activities.DetectDeletesInput{
			Ref: s.ref(), Side: side, IDs: ids, Now: workflow.Now(ctx), Limit: s.plan.PageSize,
		}).Get(ctx, &det); err != nil {
			s.st.Events.LastError = errorText(err)
			s.logger.Warn("Webhook deletes failed; the next run's delete detection picks them up", "side", side, "error", err)
			continue
		}
		d.Pending = det.Pending
		pending, linked, looked = det.Pending, det.Linked, true
	}
	if len(d.Webhook) == 0 {
		d.Webhook = nil
	}
	if !looked {
		return
	}
	if err := s.settleDeletes(ctx, pending, linked); err != nil {
		s.st.Events.LastError = errorText(err)
		s.logger.Warn("Webhook deletes failed; they stay pending for the next run", "error", err)
	}
}

// hasWebhookDeletes reports whether webhook deletes wait.
func (s *syncer) hasWebhookDeletes() bool {
	return s.st.Deletes != nil && len(s.st.Deletes.Webhook) > 0
}

// queueDeleted notes a record a webhook event announced deleted.
func (s *syncer) queueDeleted(side, id string) {
	d := s.dels()
	if d.Webhook == nil {
		d.Webhook = map[string][]string{}
	}
	for _, x := range d.Webhook[side] {
		if x == id {
			return
		}
	}
	if len(d.Webhook[side]) >= maxPending {
		s.st.Overflowed++ // the next run's detection finds it
		return
	}
	d.Webhook[side] = append(d.Webhook[side], id)
}

// deleteControl acts on an operator's approve or discard.
func (s *syncer) deleteControl(ctx workflow.Context) {
	d := s.st.Deletes
	if d == nil || (!d.Approved && !d.Discard) || s.st.Paused {
		return
	}
	if err := s.loadPlan(ctx); err != nil {
		return
	}
	if d.Discard {
		var out activities.Discarded
		if err := workflow.ExecuteActivity(detectOptions(ctx), a.DiscardDeletes, activities.DiscardDeletesInput{Ref: s.ref()}).Get(ctx, &out); err != nil {
			s.logger.Warn("Discarding the held deletes failed", "error", err)
			d.Discard = false
			return
		}
		s.logger.Info("Held deletes discarded", "dropped", out.Dropped)
		d.Discarded += out.Dropped
		d.Held, d.Discard, d.Approved, d.Pending = nil, false, false, 0
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"sync": s.name}).Gauge(MetricDeletesHeld).Update(0)
		return
	}
	if err := s.applyDeletes(ctx); err != nil {
		s.logger.Warn("Applying the approved deletes failed", "error", err)
		if s.st.Current != nil {
			s.st.Current.Error = errorText(err)
		}
		d.Approved = false
	}
}

// checkDeletesControl refuses an approve or discard with nothing held.
func (s *syncer) checkDeletesControl(verb string) error {
	if s.st.Deletes == nil || s.st.Deletes.Held == nil {
		return fmt.Errorf("sync %q holds no deletes: nothing to %s", s.name, verb)
	}
	if s.st.Paused {
		return fmt.Errorf("sync %q is paused: resume it first", s.name)
	}
	return nil
}

// onDeletesControl asks the run loop to approve (or discard) the held deletes, and waits
// until it has.
func (s *syncer) onDeletesControl(ctx workflow.Context, discard bool) (Status, error) {
	d := s.dels()
	if discard {
		d.Discard = true
	} else {
		d.Approved = true
	}
	s.wake.SendAsync(true)
	if err := workflow.Await(ctx, func() bool { return !d.Approved && !d.Discard }); err != nil {
		return Status{}, err
	}
	return s.updated()
}
