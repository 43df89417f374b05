package main

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
)

// perEventInput names one changed record of a sync's side a.
type perEventInput struct {
	Sync     string
	RecordID string
}

// perEventWorkflow is the article's design, built from Tandem's own activities with the
// options SyncWorkflow uses: one workflow per change event that reads the record fresh,
// finds its counterpart, builds and compares the payloads (local activities, as in
// SyncWorkflow) and writes the one record if it differs. Nothing is slowed down; what
// it costs is one workflow, and its activities, per record.
func perEventWorkflow(ctx workflow.Context, in perEventInput) error {
	var a *activities.Activities
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10,
		},
	})
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})

	var rec activities.Records
	if err := workflow.ExecuteActivity(actx, a.GetRecords, activities.GetRecordsInput{
		Ref: activities.Ref{Sync: in.Sync}, Side: activities.SideA, IDs: []string{in.RecordID},
	}).Get(ctx, &rec); err != nil {
		return err
	}
	if len(rec.Records) == 0 {
		return nil // deleted since the event: nothing to copy
	}
	var m activities.Matches
	if err := workflow.ExecuteActivity(actx, a.FindByIdentifier, activities.FindByIdentifierInput{
		Ref: activities.Ref{Sync: in.Sync}, Side: activities.SideB, Values: rec.UniqueKeys(),
	}).Get(ctx, &m); err != nil {
		return err
	}
	var items activities.Items
	if err := workflow.ExecuteLocalActivity(lctx, a.BuildPayloads, activities.BuildPayloadsInput{
		Ref: activities.Ref{Sync: in.Sync}, From: activities.SideA, Source: rec, Matches: m.Matches,
	}).Get(ctx, &items); err != nil {
		return err
	}
	var dec activities.Decisions
	if err := workflow.ExecuteLocalActivity(lctx, a.Compare, activities.CompareInput{
		Ref: activities.Ref{Sync: in.Sync}, From: activities.SideA, Items: items.Items,
	}).Get(ctx, &dec); err != nil {
		return err
	}
	plan := dec.Plan(activities.SideA, items.Items)
	if len(plan.Failures) > 0 {
		return temporal.NewNonRetryableApplicationError(plan.Failures[0].Reason, "refused", nil)
	}
	if len(plan.Ops) == 0 {
		return nil // equal on both sides
	}
	var w activities.Written
	if err := workflow.ExecuteActivity(actx, a.Upsert, activities.UpsertInput{
		Ref: activities.Ref{Sync: in.Sync}, Side: activities.SideB, Ops: plan.Ops, Batch: "per-event-" + in.RecordID,
	}).Get(ctx, &w); err != nil {
		return err
	}
	for _, r := range w.Results {
		if r.Action == activities.ActionFail {
			return fmt.Errorf("record %s not written: %s", in.RecordID, r.Reason)
		}
	}
	return nil
}
