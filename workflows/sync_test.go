package workflows

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/connectors"
	"tandem/internal/config"
)

// unitSyncs is the definition the unit tests' real local activities (BuildPayloads,
// Compare) read; the activities that touch services are mocked.
var unitSyncs = &config.File{
	Path: "unit.yaml",
	Syncs: []config.Sync{{
		Name: "s",
		Mode: config.OneWay,
		A:    config.Side{Connection: "src", Object: "companies", Key: "domain"},
		B:    config.Side{Connection: "dst", Object: "companies", Key: "domain"},
		Fields: []config.Field{
			{A: "name", B: "name"},
			{A: "domain", B: "domain", Normalize: []string{"domain"}},
		},
		Schedule: config.Schedule{Every: time.Hour, StartFrom: t0},
		PageSize: 3,
	}},
}

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeServices backs the mocked activities: a source side with records and a target
// keyed by domain.
type fakeServices struct {
	// mu guards the fields below: the workflow's look-ahead finds while it writes.
	mu      sync.Mutex
	source  []connectors.Record
	target  map[string]connectors.Record // by domain
	upserts int
	gets    int
	// failUpsert, when set, makes Upsert fail for that call number (1-based).
	failUpsert int
	// reject makes Upsert refuse the record with this key.
	reject string
}

func newFake(n int) *fakeServices {
	f := &fakeServices{target: map[string]connectors.Record{}}
	for i := range n {
		f.source = append(f.source, connectors.Record{
			ID:        fmt.Sprintf("r%03d", i),
			UpdatedAt: t0.Add(time.Duration(i/2) * time.Minute), // pairs of equal timestamps
			Fields:    map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%d.com", i)},
		})
	}
	return f
}

func (f *fakeServices) fetch(_ context.Context, in activities.FetchChangesInput) (activities.Records, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sorted := append([]connectors.Record(nil), f.source...)
	sort.Slice(sorted, func(i, j int) bool { return connectors.CursorOf(sorted[i]).Before(sorted[j]) })
	var out activities.Records
	for _, r := range sorted {
		if !in.Cursor.Before(r) {
			continue
		}
		if len(out.Records) == in.Limit {
			out.More = true
			break
		}
		out.Records = append(out.Records, r)
		out.Keys = append(out.Keys, r.Fields["domain"].(string))
	}
	return out, nil
}

func (f *fakeServices) find(_ context.Context, in activities.FindByIdentifierInput) (activities.Matches, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := activities.Matches{Matches: map[string][]connectors.Record{}}
	for _, v := range in.Values {
		if r, ok := f.target[v]; ok {
			m.Matches[v] = []connectors.Record{r}
		}
	}
	return m, nil
}

func (f *fakeServices) upsert(_ context.Context, in activities.UpsertInput) (activities.Written, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.upserts++
	if f.upserts == f.failUpsert {
		return activities.Written{}, temporal.NewNonRetryableApplicationError("service down", "Auth", nil)
	}
	var w activities.Written
	for _, op := range in.Ops {
		if op.Key == f.reject {
			w.Results = append(w.Results, activities.OpResult{Action: activities.ActionFail, Reason: "domain: is not a valid domain"})
			continue
		}
		r := f.target[op.Key]
		if r.Fields == nil {
			r = connectors.Record{ID: "t-" + op.Key, Fields: map[string]any{}}
		}
		for k, v := range op.Fields {
			r.Fields[k] = v
		}
		f.target[op.Key] = r
		w.Results = append(w.Results, activities.OpResult{Action: op.Action, TargetID: r.ID})
	}
	return w, nil
}

type SyncWorkflowSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env  *testsuite.TestWorkflowEnvironment
	fake *fakeServices
}

func TestSyncWorkflow(t *testing.T) { suite.Run(t, new(SyncWorkflowSuite)) }

func (s *SyncWorkflowSuite) SetupTest() {
	// Quiet unless something goes wrong: the SDK's test environment logs every timer and
	// activity at DEBUG, hundreds of lines around a failure.
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	s.env = s.NewTestWorkflowEnvironment()
	// These tests look at the state each run continues as new with.
	s.T().Cleanup(SetRunInPlaceEvents(0))
	// The SDK fails a workflow task that runs over a second without yielding; on a loaded
	// 2-core machine the test environment's first tasks can (issue 14, finding 9).
	s.env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID("s")})
	s.env.RegisterWorkflow(SyncWorkflow)
	s.env.RegisterActivity(&activities.Activities{Syncs: unitSyncs})
	s.fake = newFake(10)
	s.env.OnActivity(a.FetchChanges, mock.Anything, mock.Anything).Return(s.fake.fetch)
	s.env.OnActivity(a.FindByIdentifier, mock.Anything, mock.Anything).Return(s.fake.find)
	s.env.OnActivity(a.Upsert, mock.Anything, mock.Anything).Return(s.fake.upsert)
	s.env.OnActivity(a.CountChanges, mock.Anything, mock.Anything).Return(activities.Count{}, nil)
	s.env.OnActivity(a.CheckMapping, mock.Anything, mock.Anything).Return(activities.MappingCheck{}, nil)
}

// query asks the running workflow for its status.
func (s *SyncWorkflowSuite) query() Status {
	v, err := s.env.QueryWorkflow(QueryStatus)
	s.Require().NoError(err)
	var st Status
	s.Require().NoError(v.Get(&st))
	return st
}

// continued returns the state the workflow continued as new with.
func (s *SyncWorkflowSuite) continued() *SyncState {
	s.Require().True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	s.Require().ErrorAs(err, &can)
	var in SyncInput
	s.Require().NoError(converterPayloads(can, &in))
	s.Require().NotNil(in.State)
	return in.State
}

func (s *SyncWorkflowSuite) TestFirstRunSyncsEverythingAndContinuesAsNew() {
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s"})
	st := s.continued()
	s.Len(s.fake.target, 10)
	s.Equal("Company 7", s.fake.target["c7.com"].Fields["name"])
	s.Equal(Counts{Fetched: 10, Created: 10}, st.LastRun.Counts)
	s.Equal(Counts{Fetched: 10, Created: 10}, st.Totals)
	last := s.fake.source[9]
	s.Equal(connectors.CursorOf(last), st.Cursors[activities.SideA])
	s.Equal(st.LastRun.FinishedAt.Add(time.Hour), st.NextRunAt)
	s.Nil(st.Current)
	s.Equal(1, st.Runs)
}

func (s *SyncWorkflowSuite) TestContinueAsNewCarriesEveryPieceOfState() {
	prev := &SyncState{
		Cursors:   map[string]connectors.Cursor{activities.SideA: {UpdatedAt: t0.Add(2 * time.Minute), ID: "r005"}},
		NextRunAt: time.Time{},
		LastRun:   &RunSummary{Number: 4, Trigger: "schedule", Counts: Counts{Fetched: 6, Created: 6}},
		Runs:      4,
		Totals:    Counts{Fetched: 40, Created: 30, Updated: 5, Skipped: 4, Failed: 1},
		Failures:  []FailedRecord{{Run: 2, Side: "a", RecordID: "x", Reason: "bad"}},
	}
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s", State: prev})
	st := s.continued()
	// Only the records after the carried cursor were read.
	s.Equal(Counts{Fetched: 4, Created: 4}, st.LastRun.Counts)
	s.Equal(5, st.Runs)
	s.Equal(Counts{Fetched: 44, Created: 34, Updated: 5, Skipped: 4, Failed: 1}, st.Totals)
	s.Equal(prev.Failures, st.Failures)
	s.Equal(connectors.CursorOf(s.fake.source[9]), st.Cursors[activities.SideA])
}

func (s *SyncWorkflowSuite) TestFailedRecordIsReportedAndDoesNotBlockItsPage() {
	s.fake.reject = "c4.com"
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s"})
	st := s.continued()
	s.Len(s.fake.target, 9)
	s.Equal(Counts{Fetched: 10, Created: 9, Failed: 1}, st.LastRun.Counts)
	s.Require().Len(st.Failures, 1)
	s.Equal("r004", st.Failures[0].RecordID)
	s.Equal("c4.com", st.Failures[0].Key)
	s.Equal("domain: is not a valid domain", st.Failures[0].Reason)
	s.Equal(connectors.CursorOf(s.fake.source[9]), st.Cursors[activities.SideA])
}

func (s *SyncWorkflowSuite) TestCursorAdvancesOnlyAfterAWrite() {
	s.fake.failUpsert = 2 // the second page's write fails
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s"})
	st := s.continued()
	// Page one (3 records) was written and committed; page two was not.
	s.Equal(connectors.CursorOf(s.fake.source[2]), st.Cursors[activities.SideA])
	s.Contains(st.LastRun.Error, "service down")
	s.Equal(Counts{Fetched: 3, Created: 3}, st.LastRun.Counts)
	// A failed run is retried sooner than the hourly schedule.
	s.Equal(st.LastRun.FinishedAt.Add(failedRunRetry), st.NextRunAt)
}

func (s *SyncWorkflowSuite) TestSecondRunWritesNothingAndSkipsEqualPayloads() {
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s"})
	st := s.continued()
	writes := s.fake.upserts

	// Everything changes its timestamp but not its mapped values: all skipped.
	for i := range s.fake.source {
		s.fake.source[i].UpdatedAt = t0.Add(24 * time.Hour)
	}
	st.NextRunAt = time.Time{}
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID("s")})
	env.RegisterActivity(&activities.Activities{Syncs: unitSyncs})
	env.OnActivity(a.FetchChanges, mock.Anything, mock.Anything).Return(s.fake.fetch)
	env.OnActivity(a.FindByIdentifier, mock.Anything, mock.Anything).Return(s.fake.find)
	env.OnActivity(a.Upsert, mock.Anything, mock.Anything).Return(s.fake.upsert)
	env.OnActivity(a.CheckMapping, mock.Anything, mock.Anything).Return(activities.MappingCheck{}, nil)
	env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s", State: st})
	s.env = env
	st = s.continued()
	s.Equal(writes, s.fake.upserts)
	s.Equal(Counts{Fetched: 10, Skipped: 10}, st.LastRun.Counts)
}

func (s *SyncWorkflowSuite) TestPauseHoldsRunsUntilResume() {
	prev := &SyncState{
		Cursors:   map[string]connectors.Cursor{activities.SideA: {UpdatedAt: t0}},
		NextRunAt: t0.Add(100 * 365 * 24 * time.Hour), // far away: only signals start runs
		Runs:      1,
	}
	var paused, resumed Status
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalPause, nil)
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		paused = s.query()
		// sync-now while paused waits for resume.
		s.env.SignalWorkflow(SignalSyncNow, nil)
	}, 2*time.Minute)
	s.env.RegisterDelayedCallback(func() {
		s.Zero(s.fake.upserts, "no run while paused")
		resumed = s.query()
		s.env.SignalWorkflow(SignalResume, nil)
	}, 3*time.Minute)
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s", State: prev})

	s.True(paused.Paused)
	s.True(resumed.Paused, "still paused until the resume signal")
	st := s.continued()
	s.False(st.Paused)
	s.Equal("sync-now", st.LastRun.Trigger)
	s.Equal(Counts{Fetched: 10, Created: 10}, st.LastRun.Counts)
}

func (s *SyncWorkflowSuite) TestPauseMidRunStopsBetweenPages() {
	s.env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, _ error) {
		if info.ActivityType.Name == "Upsert" && s.fake.upserts == 1 {
			s.env.SignalWorkflow(SignalPause, nil)
		}
	})
	s.env.RegisterDelayedCallback(func() {
		st := s.query()
		s.True(st.Paused)
		s.False(st.Running)
		s.Require().NotNil(st.Current)
		// It stopped at a page boundary, with the cursor at the last record written.
		n := st.Current.Fetched
		s.Less(n, 10)
		s.Zero(n % 3)
		s.Equal(Counts{Fetched: n, Created: n}, st.Current.Counts)
		s.Equal(connectors.CursorOf(s.fake.source[n-1]), st.Cursors[activities.SideA])
		s.Len(s.fake.target, n)
		s.env.SignalWorkflow(SignalResume, nil)
	}, time.Hour)
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s"})
	st := s.continued()
	s.Equal(Counts{Fetched: 10, Created: 10}, st.LastRun.Counts)
	s.Len(s.fake.target, 10)
}

func (s *SyncWorkflowSuite) TestResyncRewindsTheCursor() {
	prev := &SyncState{
		Cursors:   map[string]connectors.Cursor{activities.SideA: connectors.CursorOf(s.fake.source[9])},
		NextRunAt: t0.Add(100 * 365 * 24 * time.Hour),
		Runs:      1,
	}
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalResync, ResyncSignal{From: t0.Add(3 * time.Minute)})
	}, time.Minute)
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s", State: prev})
	st := s.continued()
	// The resync re-read the records from minute 3 on (r006..r009) and wrote them.
	s.Equal(Counts{Fetched: 4, Created: 4}, st.LastRun.Counts)
	s.Equal("resync", st.LastRun.Trigger)
	s.Len(s.fake.target, 4)
	s.Contains(s.fake.target, "c6.com")
	s.Equal(connectors.CursorOf(s.fake.source[9]), st.Cursors[activities.SideA])
}

func (s *SyncWorkflowSuite) TestSyncNowWakesTheTimer() {
	prev := &SyncState{
		Cursors:   map[string]connectors.Cursor{activities.SideA: {UpdatedAt: t0}},
		NextRunAt: t0.Add(100 * 365 * 24 * time.Hour),
	}
	s.env.RegisterDelayedCallback(func() {
		st := s.query()
		s.False(st.Running)
		s.Equal(prev.NextRunAt, st.NextRunAt)
		s.env.SignalWorkflow(SignalSyncNow, nil)
	}, time.Minute)
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s", State: prev})
	st := s.continued()
	s.Equal("sync-now", st.LastRun.Trigger)
	s.Len(s.fake.target, 10)
}

func (s *SyncWorkflowSuite) TestAWorkflowStartedUnderAnotherIDFailsAtOnce() {
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "people-from-cli"})
	s.env.ExecuteWorkflow(SyncWorkflow, SyncInput{Sync: "s"})
	s.Require().True(s.env.IsWorkflowCompleted())
	var app *temporal.ApplicationError
	s.Require().ErrorAs(s.env.GetWorkflowError(), &app)
	s.True(app.NonRetryable())
	s.Contains(app.Message(), `a sync's workflow id must be "tandem/sync/s"`)
	s.Empty(s.fake.target, "nothing was written")
}

func TestWorkflowIDRoundTrip(t *testing.T) {
	name, ok := SyncFromWorkflowID(WorkflowID("companies"))
	require.True(t, ok)
	require.Equal(t, "companies", name)
	_, ok = SyncFromWorkflowID("other/x")
	require.False(t, ok)
}
