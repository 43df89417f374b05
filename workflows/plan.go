package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/connectors"
	"tandem/pairs"
)

// Before and after a sync (issue 16): a plan says what the next run would do, a verify
// compares both sides in full. Each runs as a short workflow of its own, beside the
// sync's (ids tandem/plan/<sync>/... and tandem/verify/<sync>/...), so it is in the UI and
// never touches the sync's state; it reads the sync's cursors and inline definition with a
// query first (the starter does that and passes them in).

// QueryPlanInput is the query that returns what a plan needs of a sync: its inline
// definition and its cursors.
const QueryPlanInput = "plan-input"

// SignalVerified carries a verify's totals to its sync, for status and metrics.
const SignalVerified = "verified"

// PlanInput is what a plan or a verify of a sync starts from.
type PlanInput struct {
	Sync string `json:"sync"`
	// Definition is the sync's inline definition, if it has one.
	Definition json.RawMessage `json:"definition,omitempty"`
	// Cursors and DeleteCursors are the sync's now (none: it never ran).
	Cursors       map[string]connectors.Cursor `json:"cursors,omitempty"`
	DeleteCursors map[string]connectors.Cursor `json:"delete_cursors,omitempty"`
	// Limit bounds the records a plan reads per side, or the problems a verify lists.
	Limit int `json:"limit,omitempty"`
	// Repair (verify) sends what differs through the sync's pipeline.
	Repair bool `json:"repair,omitempty"`
}

// Verified is a verify's summary, as its sync keeps it.
type Verified struct {
	At     time.Time               `json:"at"`
	Totals activities.VerifyTotals `json:"totals"`
	// Checked counts the records read, by side; Repaired how many were sent to be synced
	// again (and deleted: as deletes); Capped says a repair left some for the next one.
	Checked  map[string]int `json:"checked,omitempty"`
	Repaired int            `json:"repaired,omitempty"`
	Capped   bool           `json:"capped,omitempty"`
	// Scheduled is set for the definition's own verify (verify.every).
	Scheduled bool `json:"scheduled,omitempty"`
}

// VerifyReport is what a verify workflow returns.
type VerifyReport struct {
	activities.VerifyResult
	// Repaired is how many record ids were sent to the sync (with --repair).
	Repaired int `json:"repaired,omitempty"`
}

// PlanWorkflowID and VerifyWorkflowID name a plan's and a verify's workflow.
func PlanWorkflowID(sync string, at time.Time) string {
	return fmt.Sprintf("tandem/plan/%s/%d", sync, at.UnixNano())
}

func VerifyWorkflowID(sync string, at time.Time) string {
	return fmt.Sprintf("tandem/verify/%s/%d", sync, at.UnixNano())
}

// longOptions are a plan's and a verify's: one activity reads whole tables.
func longOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    4 * activities.HeartbeatEvery,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
}

// loadFor loads a sync's definition for a plan or a verify.
func loadFor(ctx workflow.Context, in PlanInput) (activities.SyncPlan, error) {
	var plan activities.SyncPlan
	err := workflow.ExecuteLocalActivity(localOptions(ctx), a.LoadSync, activities.LoadSyncInput{
		Sync: in.Sync, Definition: in.Definition,
	}).Get(ctx, &plan)
	return plan, err
}

// PlanWorkflow says what the next run of a sync would do, writing nothing.
func PlanWorkflow(ctx workflow.Context, in PlanInput) (activities.PlanResult, error) {
	plan, err := loadFor(ctx, in)
	if err != nil {
		return activities.PlanResult{}, err
	}
	var out activities.PlanResult
	err = workflow.ExecuteActivity(longOptions(ctx), a.PlanSync, activities.PlanSyncInput{
		Ref: activities.Ref{Sync: in.Sync, Def: plan.Def}, Cursors: in.Cursors, DeleteCursors: in.DeleteCursors,
		Limit: in.Limit, Now: workflow.Now(ctx),
	}).Get(ctx, &out)
	return out, err
}

// repairBatch is how many record ids one repair signal carries.
const repairBatch = 1000

// VerifyWorkflow compares both sides of a sync in full and, with Repair, sends what
// differs to the sync's workflow as events: each record is read fresh and goes through
// the pipeline (and deletes through the delete policy and its breaker). The totals go to
// the sync too, for its status and metrics.
func VerifyWorkflow(ctx workflow.Context, in PlanInput) (VerifyReport, error) {
	plan, err := loadFor(ctx, in)
	if err != nil {
		return VerifyReport{}, err
	}
	var res activities.VerifyResult
	if err := workflow.ExecuteActivity(longOptions(ctx), a.Verify, activities.VerifyInput{
		Ref: activities.Ref{Sync: in.Sync, Def: plan.Def}, Limit: in.Limit, Now: workflow.Now(ctx),
	}).Get(ctx, &res); err != nil {
		return VerifyReport{}, err
	}
	out := VerifyReport{VerifyResult: res}
	sync := WorkflowID(in.Sync)
	if in.Repair {
		n, err := sendRepair(ctx, sync, res)
		if err != nil {
			return out, fmt.Errorf("repair: %w (is the sync running? `starter start --sync %s`)", err, in.Sync)
		}
		out.Repaired = n
	}
	// The sync may not be running (a verify of a stopped sync): its status then misses it.
	_ = workflow.SignalExternalWorkflow(ctx, sync, "", SignalVerified, Verified{
		At: workflow.Now(ctx), Totals: res.Totals, Checked: res.Checked, Repaired: out.Repaired, Capped: res.Capped,
	}).Get(ctx, nil)
	return out, nil
}

// sendRepair signals the sync the ids to sync again and the deletes to act on; it returns
// how many ids it sent.
func sendRepair(ctx workflow.Context, sync string, res activities.VerifyResult) (int, error) {
	n := 0
	at := workflow.Now(ctx)
	for _, list := range []struct {
		ids  map[string][]string
		kind string
	}{{res.Repair, "updated"}, {res.Deleted, "deleted"}} {
		for _, side := range workflow.DeterministicKeys(list.ids) {
			ids := list.ids[side]
			for start := 0; start < len(ids); start += repairBatch {
				sig := ChangeSignal{Side: side}
				for _, id := range ids[start:min(start+repairBatch, len(ids))] {
					sig.Events = append(sig.Events, ChangeEvent{
						ID:       fmt.Sprintf("verify-%d-%s-%s-%s", at.UnixNano(), list.kind, side, id),
						RecordID: id, Kind: list.kind, At: at,
					})
				}
				if err := workflow.SignalExternalWorkflow(ctx, sync, "", SignalChange, sig).Get(ctx, nil); err != nil {
					return n, err
				}
				n += len(sig.Events)
			}
		}
	}
	return n, nil
}

// planInput answers QueryPlanInput.
func (s *syncer) planInput() (PlanInput, error) {
	in := PlanInput{Sync: s.name, Definition: s.st.Definition, Cursors: s.st.Cursors}
	if d := s.st.Deletes; d != nil {
		in.DeleteCursors = d.Cursors
	}
	return in, nil
}

// verifyDue reports whether the definition's scheduled verify is due.
func (s *syncer) verifyDue(ctx workflow.Context) bool {
	if s.plan == nil || s.plan.Def == nil || s.plan.Def.Verify.Every <= 0 {
		return false
	}
	last := s.st.LastScheduledVerify
	return last.IsZero() || !workflow.Now(ctx).Before(last.Add(s.plan.Def.Verify.Every))
}

// scheduledVerify runs the definition's verify (no repair: it reports drift; `starter
// verify --repair` repairs it).
func (s *syncer) scheduledVerify(ctx workflow.Context) {
	now := workflow.Now(ctx)
	s.st.LastScheduledVerify = now
	var res activities.VerifyResult
	if err := workflow.ExecuteActivity(longOptions(ctx), a.Verify, activities.VerifyInput{Ref: s.ref(), Now: now}).Get(ctx, &res); err != nil {
		s.logger.Warn("Scheduled verify failed", "error", err)
		return
	}
	s.onVerified(ctx, Verified{At: now, Totals: res.Totals, Checked: res.Checked, Capped: res.Capped, Scheduled: true})
}

// onVerified keeps a verify's summary and sets the drift gauge.
func (s *syncer) onVerified(ctx workflow.Context, v Verified) {
	s.st.LastVerify = &v
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"sync": s.name}).Gauge(MetricVerifyDrift).Update(float64(v.Totals.Drift()))
	s.logger.Info("Verified", "drift", v.Totals.Drift(), "scheduled", v.Scheduled)
}

// LinksWorkflow reads the links of a sync's key from the workers' link store, for explain.
func LinksWorkflow(ctx workflow.Context, in activities.LinksByKeyInput) ([]pairs.Link, error) {
	var out []pairs.Link
	err := workflow.ExecuteActivity(activityOptions(ctx), a.LinksByKey, in).Get(ctx, &out)
	return out, err
}

// BulkOutcomeWorkflow reads the latest outcome of a sync's key from the workers' bulk log
// (a one-way chunk's records), for explain; nil when it holds none.
func BulkOutcomeWorkflow(ctx workflow.Context, in activities.LinksByKeyInput) (*pairs.LoggedOutcome, error) {
	var out *pairs.LoggedOutcome
	err := workflow.ExecuteActivity(activityOptions(ctx), a.BulkOutcome, in).Get(ctx, &out)
	return out, err
}
