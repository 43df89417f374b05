package workflows_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"tandem/connectors/memory"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// TestWebhookEventsAcrossContinueAsNew streams webhook events at a sync whose executions
// are short: every finished run continues as new, and the server suggests it once a
// history holds a few micro-batches. Events keep arriving while an execution drains its
// signals and hands its state over, and through the second before the next one starts
// (history.workflowIdReuseMinimalInterval): each is received once (none lost at a
// hand-over, none counted twice), and every announced change reaches the target. Until
// wave 2, session 7 only the ingress's answer to a server's refusal (503) was tested.
func TestWebhookEventsAcrossContinueAsNew(t *testing.T) {
	// A few micro-batches' markers make a history "long".
	c := testenv.ClientWith(t, map[string]any{"limit.historySize.suggestContinueAsNew": 8_000})
	defer workflows.SetRunInPlaceEvents(1)() // every finished run continues as new

	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	recs := source.Seed("companies", 40, memory.SampleCompany)
	def := testenv.Def("events-across-can")
	def.Webhooks = true
	s := testenv.NewSyncWith(t, c, def, source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)

	ctx := context.Background()
	executions := func() int { // called by Eventually on a goroutine of its own: no FailNow
		hs, err := s.Histories(ctx)
		if err != nil {
			t.Error(err)
		}
		return len(hs)
	}
	// Five groups of eight events, each sent once the group before has made the sync
	// continue as new: a group's signals reach the new execution while the server holds
	// its first workflow task back, and the execution before may still be draining.
	const group = 8
	for g := 0; g < len(recs)/group; g++ {
		before := executions()
		for i := g * group; i < (g+1)*group; i++ {
			edit(t, source, recs[i].ID, map[string]any{"phone": fmt.Sprintf("+1 555 02%02d", i)})
			announce(s, "a", recs[i].ID)
		}
		s.Signal(workflows.SignalSyncNow, nil) // a run, which continues as new when it ends
		require.Eventually(t, func() bool { return executions() > before }, time.Minute, 20*time.Millisecond,
			"group %d: the sync continues as new", g)
	}
	st := s.WaitFor("every event handled", 2*time.Minute, func(st workflows.Status) bool {
		return st.Events.Received >= len(recs) && st.Pending == 0 && st.Current == nil
	})
	assert.Equal(t, len(recs), st.Events.Received, "each event received once")
	assert.Zero(t, st.Events.Duplicates)
	assert.Empty(t, st.Events.LastError)

	hs, err := s.Histories(context.Background())
	require.NoError(t, err)
	signaled, signals := 0, 0
	for _, h := range hs {
		n := 0
		for _, e := range h.Events {
			if a := e.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == workflows.SignalChange {
				n++
			}
		}
		if n > 0 {
			signaled++
		}
		signals += n
	}
	assert.Equal(t, len(recs), signals, "each signal in one execution's history")
	fresh := 0
	for _, h := range hs {
		if assertClosedInFreshTask(t, h) {
			fresh++
		}
	}
	assert.Positive(t, fresh, "a close under the stream waited for the next signal")
	assert.GreaterOrEqual(t, signaled, 4, "the events reached several executions")
	for i, r := range recs {
		domain := r.Fields["domain"].(string)
		got, err := target.Find(context.Background(), "companies", "domain", []string{domain})
		require.NoError(t, err)
		require.Len(t, got[domain], 1, domain)
		assert.Equal(t, fmt.Sprintf("+1 555 02%02d", i), got[domain][0].Fields["phone"], domain)
	}
}

// assertClosedInFreshTask checks an execution that continued as new while webhooks
// streamed in (its close waited for the next signal: see waitedAtClose) did so in a
// workflow task that recorded nothing but the close (and version markers and search
// attributes): no step of a micro-batch. It reports whether the execution closed so.
func assertClosedInFreshTask(t *testing.T, h *historypb.History) bool {
	t.Helper()
	if !waitedAtClose(h) {
		return false // no stream at the close (the machine was slow between groups)
	}
	events := h.GetEvents()
	last := closingTask(events)
	for _, e := range events[last+1 : len(events)-1] {
		switch {
		case e.GetMarkerRecordedEventAttributes() != nil:
			assert.Equal(t, "Version", e.GetMarkerRecordedEventAttributes().GetMarkerName(), "the closing task records only the close")
		case e.GetEventType() != enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES && e.GetEventType() != enumspb.EVENT_TYPE_TIMER_CANCELED:
			assert.Fail(t, "the closing task records only the close", "recorded %s", e.GetEventType())
		}
	}
	return true
}

// waitedAtClose reports whether an execution continued as new after waiting for the next
// change signal ("close-after-wake"): a timer cancelled or fired after the workflow task
// before the closing one.
func waitedAtClose(h *historypb.History) bool {
	events := h.GetEvents()
	if len(events) == 0 || events[len(events)-1].GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
		return false
	}
	before := -1
	for i := closingTask(events) - 1; i >= 0 && before < 0; i-- {
		if events[i].GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			before = i
		}
	}
	if before < 0 {
		return false
	}
	for _, e := range events[before+1:] {
		if e.GetEventType() == enumspb.EVENT_TYPE_TIMER_CANCELED || e.GetEventType() == enumspb.EVENT_TYPE_TIMER_FIRED {
			return true
		}
	}
	return false
}

// closingTask is the index of the last WorkflowTaskCompleted of events (-1 if none).
func closingTask(events []*historypb.HistoryEvent) int {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			return i
		}
	}
	return -1
}
