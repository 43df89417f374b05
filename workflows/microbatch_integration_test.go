package workflows_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/memory"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// TestWebhookMicroBatchIsOneWorkflowTask reproduces issue 17's webhook finding (8.45
// history events per event: every step of a micro-batch was an activity, three events and
// a workflow task of three more) and checks the fix: after the first run, a micro-batch's
// steps are markers of local activities, and no activity is scheduled.
func TestWebhookMicroBatchIsOneWorkflowTask(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	recs := source.Seed("companies", 10, memory.SampleCompany)
	def := testenv.Def("micro-local")
	def.Webhooks = true
	s := testenv.NewSync(t, def, source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)

	for i := range 3 {
		edit(t, source, recs[i].ID, map[string]any{"phone": fmt.Sprintf("+1 555 01%02d", i)})
		announce(s, "a", recs[i].ID)
		s.WaitFor(fmt.Sprintf("batch %d", i+1), time.Minute, func(st workflows.Status) bool {
			return st.Events.Batches == i+1 && st.Pending == 0
		})
	}
	for i := range 3 {
		domain := recs[i].Fields["domain"].(string)
		got, err := target.Find(context.Background(), "companies", "domain", []string{domain})
		require.NoError(t, err)
		require.Len(t, got[domain], 1)
		assert.Equal(t, fmt.Sprintf("+1 555 01%02d", i), got[domain][0].Fields["phone"])
	}

	hs, err := s.Histories(context.Background())
	require.NoError(t, err)
	h := hs[len(hs)-1]
	signaled := false
	steps := map[string]int{}
	for _, e := range h.Events {
		if a := e.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == workflows.SignalChange {
			signaled = true
		}
		if !signaled {
			continue
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			t.Errorf("event %d: activity %s scheduled by a micro-batch", e.GetEventId(), a.GetActivityType().GetName())
		}
		if typ := localActivity(e); typ != "" {
			steps[typ]++
		}
	}
	require.True(t, signaled, "no change signal in the last execution's history")
	for _, step := range []string{"GetRecords", "FindByIdentifier", "BuildPayloads", "Compare", "Upsert"} {
		assert.Equal(t, 3, steps[step], "%s markers, one per micro-batch", step)
	}
}

// localActivity returns the activity type of a local activity's marker, or "".
func localActivity(e *historypb.HistoryEvent) string {
	m := e.GetMarkerRecordedEventAttributes()
	if m == nil {
		return ""
	}
	var meta struct{ ActivityType string }
	if converter.GetDefaultDataConverter().FromPayloads(m.GetDetails()["data"], &meta) != nil {
		return ""
	}
	return meta.ActivityType
}
