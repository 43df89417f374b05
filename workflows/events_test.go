package workflows

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"tandem/activities"
	"tandem/connectors"
)

func (f *fakeServices) get(_ context.Context, in activities.GetRecordsInput) (activities.Records, error) {
	f.gets++
	var out activities.Records
	for _, id := range in.IDs {
		for _, r := range f.source {
			if r.ID == id {
				out.Records = append(out.Records, r)
				out.Keys = append(out.Keys, r.Fields["domain"].(string))
			}
		}
	}
	return out, nil
}

func changes(side string, ids ...string) ChangeSignal {
	sig := ChangeSignal{Side: side}
	for _, id := range ids {
		// event id "e-<record>-<n>": record and delivery
		sig.Events = append(sig.Events, ChangeEvent{ID: id, RecordID: id[2:6]})
	}
	return sig
}

// idle is a state whose next scheduled run is far away, so only signals cause work.
func idle(cursor connectors.Cursor) *SyncState {
	return &SyncState{
		Cursors:   map[string]connectors.Cursor{activities.SideA: cursor},
		NextRunAt: t0.Add(100 * 365 * 24 * time.Hour),
		Runs:      1,
	}
}

func (s *SyncWorkflowSuite) TestWebhookEventsAreDeduplicatedAndSyncedFresh() {
	s.env.OnActivity(a.GetRecords, mock.Anything, mock.Anything).Return(s.fake.get)
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalChange, changes("a", "e-r001-1", "e-r002-1", "e-r001-2"))
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		// The same deliveries again, and one new event.
		s.env.SignalWorkflow(SignalChange, changes("a", "e-r001-1", "e-r002-1", "e-r003-1"))
	}, 2*time.Minute)
	s.env.RegisterDelayedCallback(func() {
		st := s.query()
		s.Equal(EventStats{Received: 6, Duplicates: 2, Batches: 2, LastBatchAt: st.Events.LastBatchAt}, st.Events)
		s.Equal(Counts{Fetched: 3, Created: 3}, st.Realtime)
		s.Zero(st.Pending)
		s.Len(s.fake.target, 3)
		s.env.SignalWorkflow(SignalSyncNow, nil)
	}, 3*time.Minute)
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s", State: idle(connectors.Cursor{UpdatedAt: t0.Add(time.Hour)})})

	st := s.continued()
	// The event ids survive continue-as-new.
	s.Equal([]string{"e-r001-1", "e-r002-1", "e-r001-2", "e-r003-1"}, st.Seen)
	s.Equal(Counts{Fetched: 3, Created: 3}, st.Totals)
}

func (s *SyncWorkflowSuite) TestRedeliveryAfterContinueAsNewIsDropped() {
	s.env.OnActivity(a.GetRecords, mock.Anything, mock.Anything).Return(s.fake.get)
	prev := idle(connectors.Cursor{UpdatedAt: t0.Add(time.Hour)})
	prev.Seen = []string{"e-r001-1"}
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalChange, changes("a", "e-r001-1"))
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		st := s.query()
		s.Equal(1, st.Events.Duplicates)
		s.Zero(s.fake.gets)
		s.env.SignalWorkflow(SignalSyncNow, nil)
	}, 2*time.Minute)
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s", State: prev})
	s.continued()
	s.Empty(s.fake.target)
}

func (s *SyncWorkflowSuite) TestEventsAreServedAheadOfTheNextBackfillPage() {
	s.env.OnActivity(a.GetRecords, mock.Anything, mock.Anything).Return(s.fake.get)
	var order []string
	sent := false
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		switch info.ActivityType.Name {
		case "FetchChanges":
			var in activities.FetchChangesInput
			s.Require().NoError(args.Get(&in))
			order = append(order, fmt.Sprintf("page after %s", in.Cursor.ID))
			if !sent {
				sent = true
				s.env.SignalWorkflow(SignalChange, changes("a", "e-r009-1"))
			}
		}
	})
	// A micro-batch's steps are local activities.
	s.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		if info.ActivityType.Name == "GetRecords" {
			order = append(order, "event batch")
		}
	})
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s"})
	s.continued()
	// The event arrived while the first page was read; it was synced right after that
	// page was written, before the third page was read. (The second page is read ahead,
	// while the first is written: whether its read or the event batch starts first is up
	// to the goroutines the test environment runs activities in.)
	s.ElementsMatch([]string{"page after ", "page after r002", "event batch", "page after r005", "page after r008"}, order)
	s.Equal("page after ", order[0])
	s.Less(slices.Index(order, "event batch"), slices.Index(order, "page after r005"), "%v", order)
	s.Len(s.fake.target, 10)
}

func (s *SyncWorkflowSuite) TestTargetEventsOfAOneWaySyncAreIgnored() {
	s.env.OnActivity(a.GetRecords, mock.Anything, mock.Anything).Return(s.fake.get)
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalChange, changes("b", "e-r001-1"))
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		s.Zero(s.fake.gets)
		s.Zero(s.query().Pending)
		s.env.SignalWorkflow(SignalSyncNow, nil)
	}, 2*time.Minute)
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s", State: idle(connectors.Cursor{UpdatedAt: t0.Add(time.Hour)})})
	s.continued()
}

func (s *SyncWorkflowSuite) TestPendingEventsAreBoundedAndARunCatchesUp() {
	defer func(n int) { maxPending = n }(maxPending)
	maxPending = 3
	s.env.OnActivity(a.GetRecords, mock.Anything, mock.Anything).Return(s.fake.get)
	st := idle(connectors.Cursor{UpdatedAt: t0.Add(-time.Hour)})
	st.Paused = true
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalChange, changes("a", "e-r001-1", "e-r002-1", "e-r003-1", "e-r004-1", "e-r005-1"))
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		st := s.query()
		s.Equal(3, st.Pending, "the bound")
		s.Equal(2, st.Overflowed, "events past it are counted")
		s.env.SignalWorkflow(SignalResume, nil)
	}, 2*time.Minute)
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s", State: st})
	next := s.continued()
	s.Equal(2, next.Overflowed)
	s.Empty(next.Pending)
	// A run was started for the dropped events: the cursor read them.
	s.Require().NotNil(next.LastRun)
	s.Equal("overflow", next.LastRun.Trigger)
	s.Len(s.fake.target, 10)
}

// A signal whose payload does not decode (`temporal workflow signal --name resync --input
// '"people"'`) used to freeze the sync: the SDK drops it and waits for the next value
// inside the handler, so no run started again. It is now rejected, counted and shown.
func (s *SyncWorkflowSuite) TestMalformedSignalsAreRejectedNotStalling() {
	s.env.OnActivity(a.GetRecords, mock.Anything, mock.Anything).Return(s.fake.get)
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalResync, "people")
		s.env.SignalWorkflow(SignalChange, []int{1, 2})
		s.env.SignalWorkflow(SignalResync, ResyncSignal{Side: "c"})
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		st := s.query()
		s.Equal(3, st.RejectedSignals)
		s.Contains(st.LastRejectedSignal, `resync: unknown side "c"`)
		s.env.SignalWorkflow(SignalSyncNow, nil)
	}, 2*time.Minute)
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s", State: idle(connectors.Cursor{UpdatedAt: t0.Add(-time.Hour)})})
	next := s.continued()
	s.Equal(3, next.RejectedSignals)
	s.Require().NotNil(next.LastRun, "sync-now still starts a run")
	s.Equal("sync-now", next.LastRun.Trigger)
}

// resync without a side rewinds every side the sync reads: both of a two-way sync (wave 1
// rewound side a only, though the README said "read everything").
func (s *SyncWorkflowSuite) TestResyncWithoutASideRewindsBothSides() {
	prev := idle(connectors.Cursor{UpdatedAt: t0.Add(time.Hour)})
	prev.Cursors[activities.SideB] = connectors.Cursor{UpdatedAt: t0.Add(2 * time.Hour), ID: "x"}
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalResync, ResyncSignal{From: t0.Add(-time.Hour)})
	}, time.Minute)
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s", State: prev})
	next := s.continued()
	s.Equal(connectors.Cursor{UpdatedAt: t0.Add(-time.Hour)}, next.Cursors[activities.SideB], "side b rewound too")
	s.Equal("resync", next.LastRun.Trigger)
	s.Equal(10, next.LastRun.Fetched, "side a read again from the start")
}
