package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// A sync's workflow publishes its state as search attributes, so Temporal's UI and
// `temporal workflow list` can list the failing syncs without querying each one:
//
//	temporal workflow list --query 'TandemState="failing"'
const (
	StateSearchAttribute       = "TandemState"
	LastSuccessSearchAttribute = "TandemLastSuccess"
)

// Typed keys of the state search attributes.
var (
	StateKey       = temporal.NewSearchAttributeKeyKeyword(StateSearchAttribute)
	LastSuccessKey = temporal.NewSearchAttributeKeyTime(LastSuccessSearchAttribute)
)

// States of a sync, as TandemState and status show them.
const (
	StateIdle    = "idle"
	StateRunning = "running"
	StatePaused  = "paused"
	StateFailing = "failing"
)

// state is what the sync is doing: paused, running a run, failing (its last run or
// micro-batch stopped on an error), or idle.
func (s *syncer) state() string {
	switch {
	case s.st.Paused:
		return StatePaused
	case s.st.Current != nil && s.st.Current.Error == "":
		return StateRunning
	case s.st.Current != nil, s.st.LastRun != nil && s.st.LastRun.Error != "", s.st.Events.LastError != "":
		return StateFailing
	}
	return StateIdle
}

// publish upserts the state search attributes when they changed. The worker says in the
// run's plan whether the namespace has them (activities.SyncPlan.Search), so a namespace
// without them (`starter setup` not run) does not fail the workflow.
func (s *syncer) publish(ctx workflow.Context) {
	if !s.st.Search {
		return
	}
	if workflow.GetVersion(ctx, "search-state", workflow.DefaultVersion, 1) != 1 {
		return
	}
	if !s.publishedRead {
		// Continue-as-new carries the attributes over: read what they say.
		attrs := workflow.GetTypedSearchAttributes(ctx)
		s.published, _ = attrs.GetKeyword(StateKey)
		s.publishedSuccess, _ = attrs.GetTime(LastSuccessKey)
		s.publishedRead = true
	}
	state, last := s.state(), s.st.LastSuccess
	var updates []temporal.SearchAttributeUpdate
	if state != s.published {
		updates = append(updates, StateKey.ValueSet(state))
	}
	if !last.IsZero() && !last.Equal(s.publishedSuccess) {
		updates = append(updates, LastSuccessKey.ValueSet(last))
	}
	if len(updates) == 0 {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		s.logger.Warn("Search attributes not updated", "error", err)
		return
	}
	s.published, s.publishedSuccess = state, last
}
