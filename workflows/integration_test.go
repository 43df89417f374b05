package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/activities"
	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// These tests run SyncWorkflow on a real Temporal server embedded in the test process,
// with memory connectors on both sides.

// requireMirrored asserts the target holds exactly one record per source record, equal on
// the mapped fields.
func requireMirrored(t *testing.T, source, target *memory.Connector) {
	t.Helper()
	src := source.All("companies")
	byDomain := map[string][]connectors.Record{}
	for _, r := range target.All("companies") {
		d := connectors.KeyString(r.Fields["domain"])
		byDomain[d] = append(byDomain[d], r)
	}
	require.Equal(t, len(src), target.Len("companies"), "target record count")
	for _, s := range src {
		got := byDomain[connectors.KeyString(s.Fields["domain"])]
		require.Len(t, got, 1, "target records for %s", s.Fields["domain"])
		for _, f := range []string{"name", "phone"} {
			require.Equal(t, s.Fields[f], got[0].Fields[f], "field %s of %s", f, s.Fields["domain"])
		}
	}
}

func TestBackfill10000RecordsThenNothingToWrite(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	source.Seed("companies", 10_000, memory.SampleCompany)
	s := testenv.NewSync(t, testenv.Def("backfill"), source, target)
	s.Start()

	st := s.WaitRuns(1, 2*time.Minute)
	requireMirrored(t, source, target)
	assert.Equal(t, workflows.Counts{Fetched: 10_000, Created: 10_000}, st.LastRun.Counts)
	assert.Empty(t, st.LastRun.Error)
	writes := target.Writes()

	// A second run finds nothing new and writes nothing.
	s.Signal(workflows.SignalSyncNow, nil)
	st = s.WaitRuns(2, time.Minute)
	assert.Equal(t, workflows.Counts{}, st.LastRun.Counts)
	assert.Equal(t, writes, target.Writes())

	// Reading everything again compares equal payloads and still writes nothing.
	s.Signal(workflows.SignalResync, workflows.ResyncSignal{From: time.Time{}})
	st = s.WaitRuns(3, 2*time.Minute)
	assert.Equal(t, workflows.Counts{Fetched: 10_000, Skipped: 10_000}, st.LastRun.Counts)
	assert.Equal(t, writes, target.Writes())
	assert.Equal(t, workflows.Counts{Fetched: 20_000, Created: 10_000, Skipped: 10_000}, st.Totals)
}

func TestChangesBetweenRunsAllArriveAcrossEqualTimestamps(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	source.Seed("companies", 100, memory.SampleCompany)
	def := testenv.Def("between-runs")
	def.PageSize = 10
	s := testenv.NewSync(t, def, source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)
	requireMirrored(t, source, target)

	// 35 changes with one timestamp straddle several page boundaries: some edits of
	// existing records, some new records.
	at := time.Now().Add(time.Minute).Truncate(time.Second)
	all := source.All("companies")
	for i := range 20 {
		r := all[i*3]
		r.Fields["phone"] = fmt.Sprintf("+44 20 7946 %04d", i)
		r.UpdatedAt = at
		source.Put("companies", r)
	}
	for i := range 15 {
		f := memory.SampleCompany(1000 + i)
		source.Put("companies", connectors.Record{UpdatedAt: at, Fields: f})
	}
	s.Signal(workflows.SignalSyncNow, nil)
	st := s.WaitRuns(2, time.Minute)
	assert.Equal(t, workflows.Counts{Fetched: 35, Created: 15, Updated: 20}, st.LastRun.Counts)
	requireMirrored(t, source, target)
}

func TestWorkerStoppedMidRunLeavesEveryRecordOnce(t *testing.T) {
	// pages: a source read page by page; spans: one that reads spans at once
	// (connectors.RangeReader), so the stop catches reads ahead of the cursor.
	for _, reads := range []int{1, 4} {
		name := "pages"
		if reads > 1 {
			name = "spans"
		}
		t.Run(name, func(t *testing.T) {
			source := memory.New(memory.Options{IDPrefix: "s-", ParallelReads: reads})
			// Slow writes so the run is caught in the middle; no native upsert, so a create
			// repeated after the restart must be caught by the lookup before creating.
			target := memory.New(memory.Options{IDPrefix: "t-", NoNativeUpsert: true, Latency: 20 * time.Millisecond})
			source.Seed("companies", 3000, memory.SampleCompany)
			def := testenv.Def("restart-" + name)
			def.PageSize = 100
			s := testenv.NewSync(t, def, source, target)
			s.Start()

			// Pages after the first go in chunks, whose counts show only when a chunk ends:
			// the target's records show the run under way.
			require.Eventually(t, func() bool { return target.Len("companies") >= 500 }, time.Minute, 5*time.Millisecond, "a run under way")
			s.StopWorker()
			mid := target.Len("companies")
			require.Less(t, mid, 3000, "the run was stopped in the middle")
			s.StartWorker()

			// An activity the stopped worker had in flight is retried when its heartbeat timeout
			// passes (see TestActivityOfADeadWorkerIsRetriedAfterItsHeartbeatTimeout).
			st := s.WaitRuns(1, 2*time.Minute)
			requireMirrored(t, source, target)
			assert.Empty(t, st.LastRun.Error)
			if reads > 1 {
				assert.Positive(t, source.Calls()[memory.MethodChangesBetween], "spans read")
			} else {
				assert.Zero(t, source.Calls()[memory.MethodMarks], "no spans")
			}
		})
	}
}

func TestCreateRetriedAfterTimeoutDoesNotDuplicate(t *testing.T) {
	for _, native := range []bool{true, false} {
		t.Run(fmt.Sprintf("native-upsert=%v", native), func(t *testing.T) {
			source := memory.New(memory.Options{IDPrefix: "s-"})
			target := memory.New(memory.Options{IDPrefix: "t-", NoNativeUpsert: !native})
			source.Seed("companies", 50, memory.SampleCompany)
			// The service writes the batch, then the call times out.
			method := memory.MethodCreate
			if native {
				method = memory.MethodUpsert
			}
			target.FailAfter(method, 1, errors.New("read tcp: i/o timeout"))
			s := testenv.NewSync(t, testenv.Def(fmt.Sprintf("timeout-%v", native)), source, target)
			s.Start()
			st := s.WaitRuns(1, time.Minute)
			requireMirrored(t, source, target)
			assert.Empty(t, st.LastRun.Error)
			assert.Equal(t, 50, st.LastRun.Created+st.LastRun.Updated)
		})
	}
}

func TestRejectedRecordIsReportedWithTheServiceReason(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	recs := source.Seed("companies", 20, memory.SampleCompany)
	bad := connectors.KeyString(recs[7].Fields["domain"])
	target.RejectRecords(func(r connectors.Record) string {
		if connectors.KeyString(r.Fields["domain"]) == bad {
			return "Property values were not valid: phone"
		}
		return ""
	})
	s := testenv.NewSync(t, testenv.Def("rejected"), source, target)
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	assert.Equal(t, workflows.Counts{Fetched: 20, Created: 19, Failed: 1}, st.LastRun.Counts)
	require.Len(t, st.Failures, 1)
	assert.Equal(t, recs[7].ID, st.Failures[0].RecordID)
	assert.Equal(t, bad, st.Failures[0].Key)
	assert.Contains(t, st.Failures[0].Reason, "Property values were not valid: phone")
	assert.Equal(t, 19, target.Len("companies"))
}

func TestSyncIsFoundBySearchAttribute(t *testing.T) {
	source := memory.New(memory.Options{})
	target := memory.New(memory.Options{})
	s := testenv.NewSync(t, testenv.Def("findable"), source, target)
	s.Start()
	ctx := context.Background()
	require.Eventually(t, func() bool {
		resp, err := s.Client.ListWorkflow(ctx, listByName("findable"))
		return err == nil && len(resp.GetExecutions()) > 0 &&
			resp.GetExecutions()[0].GetExecution().GetWorkflowId() == workflows.WorkflowID("findable")
	}, 30*time.Second, 100*time.Millisecond)
}

func TestAuthErrorStopsTheRunWithAClearMessage(t *testing.T) {
	source := memory.New(memory.Options{})
	target := memory.New(memory.Options{})
	source.Seed("companies", 5, memory.SampleCompany)
	target.FailNext(memory.MethodFind, 1, &connectors.AuthError{Reason: "401 Unauthorized: token expired"})
	s := testenv.NewSync(t, testenv.Def("auth"), source, target)
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	assert.Contains(t, st.LastRun.Error, "token expired")
	assert.Equal(t, 0, target.Len("companies"))
	// The cursor did not move: the next run reads the same records again.
	assert.True(t, st.Cursors[activities.SideA].UpdatedAt.Before(source.All("companies")[0].UpdatedAt))
	s.Signal(workflows.SignalSyncNow, nil)
	s.WaitRuns(2, time.Minute)
	requireMirrored(t, source, target)
}

func TestLookAheadSeesWhatThePageBeforeCreated(t *testing.T) {
	// Two source records share a key and sit on consecutive pages. The second page's
	// look-up runs while the first page is written; the first page's create fails once
	// and is retried, so that look-up certainly finds nothing. The key is looked up again
	// before the second page is used: it updates the record the first created instead of
	// creating a second one.
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-", NoNativeUpsert: true})
	source.Put("companies", connectors.Record{Fields: map[string]any{"name": "Acme", "domain": "acme.com", "phone": "+1"}})
	time.Sleep(2 * time.Millisecond)
	source.Put("companies", connectors.Record{Fields: map[string]any{"name": "Acme Inc", "domain": "ACME.com", "phone": "+2"}})
	target.FailNext(memory.MethodCreate, 1, errors.New("connection reset"))
	def := testenv.Def("look-ahead")
	def.PageSize = 1
	s := testenv.NewSync(t, def, source, target)
	s.Start()
	st := s.WaitRuns(1, time.Minute)

	require.Empty(t, st.LastRun.Error)
	all := target.All("companies")
	require.Len(t, all, 1, "one target record for the shared key, not one per page")
	assert.Equal(t, "Acme Inc", all[0].Fields["name"], "the later record's values win")
	assert.Equal(t, workflows.Counts{Fetched: 2, Created: 1, Updated: 1}, st.LastRun.Counts)
	assert.Equal(t, 2, target.Calls()[memory.MethodCreate], "one create failed, its retry went through, no other")
}

// hangingCreate is a memory connector whose first Create never returns, whatever its
// context says: the activity of a worker that died (kill -9) or lost its network.
type hangingCreate struct {
	*memory.Connector
	entered, release chan struct{}
	once             sync.Once
}

func (h *hangingCreate) Create(ctx context.Context, object string, recs []connectors.Record) ([]connectors.WriteResult, error) {
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.entered)
		<-h.release
		return nil, errors.New("this worker is gone")
	}
	return h.Connector.Create(ctx, object, recs)
}

// A worker that dies in the middle of an activity: the activity stops heartbeating, and
// Temporal gives its work to another worker when the heartbeat timeout ends, not when the
// two-minute start-to-close timeout does (wave 1 stalled about two minutes).
func TestActivityOfADeadWorkerIsRetriedAfterItsHeartbeatTimeout(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	source.Seed("companies", 3, memory.SampleCompany)
	target := &hangingCreate{Connector: memory.New(memory.Options{IDPrefix: "t-", NoNativeUpsert: true}),
		entered: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(target.release) })
	def := testenv.Def("dead-worker")
	s := testenv.NewFileSync(t, testenv.Client(t), &config.File{Path: "test", Syncs: []config.Sync{def}},
		map[string]connectors.Connector{"source": source, "target": target}, def.Name)
	s.Start()
	<-target.entered
	s.StopWorker() // its activity hangs on; its heartbeats stop with its context
	s.StartWorker()
	st := s.WaitRuns(1, 3*time.Minute)
	require.Empty(t, st.LastRun.Error)
	requireMirrored(t, source, target.Connector)

	hs, err := s.Histories(context.Background())
	require.NoError(t, err)
	var timeouts []enumspb.TimeoutType
	for _, h := range hs {
		for _, e := range h.Events {
			if a := e.GetActivityTaskTimedOutEventAttributes(); a != nil {
				timeouts = append(timeouts, a.GetFailure().GetTimeoutFailureInfo().GetTimeoutType())
			}
		}
	}
	// The attempt that timed out is recorded when the activity finally closes; its
	// retry ran on the new worker after a heartbeat timeout.
	for _, h := range hs {
		for _, e := range h.Events {
			if a := e.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
				f := a.GetLastFailure()
				require.NotNil(t, f, "the retried attempt records why the one before failed")
				assert.Equal(t, enumspb.TIMEOUT_TYPE_HEARTBEAT, f.GetTimeoutFailureInfo().GetTimeoutType(), "%v", f)
				return
			}
		}
	}
	t.Fatalf("no retried attempt in the histories (timeouts: %v)", timeouts)
}
