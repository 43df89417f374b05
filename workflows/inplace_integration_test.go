package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/memory"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// TestRunsShareAnExecutionUntilItsHistoryIsLong: continuing as new after every run held
// the next execution's first workflow task for a second (the server's
// workflowIdReuseMinimalInterval), and the sync answered no status query meanwhile (issue
// 17: a 10,000-record backfill spent most of its time there). Runs now go on in one
// execution until its history is long.
func TestRunsShareAnExecutionUntilItsHistoryIsLong(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	recs := source.Seed("companies", 20, memory.SampleCompany)
	s := testenv.NewSync(t, testenv.Def("in-place"), source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)
	for i := range 3 {
		edit(t, source, recs[i].ID, map[string]any{"phone": "+1 555 0000"})
		s.Signal(workflows.SignalSyncNow, nil)
		st := s.WaitRuns(i+2, time.Minute)
		assert.Equal(t, 1, st.LastRun.Updated, "run %d", i+2)
	}
	hs, err := s.Histories(context.Background())
	require.NoError(t, err)
	assert.Len(t, hs, 1, "four short runs in one execution")

	// Past the bound, a finished run continues as new, with its state.
	defer workflows.SetRunInPlaceEvents(1)()
	s.Signal(workflows.SignalSyncNow, nil)
	st := s.WaitRuns(5, time.Minute)
	// The close is a workflow task of its own, after the run's: the status may show the
	// run finished a moment before the execution has continued as new.
	require.Eventually(t, func() bool {
		hs, err = s.Histories(context.Background())
		return err == nil && len(hs) == 2
	}, time.Minute, 10*time.Millisecond, "the finished run continues as new")
	require.NoError(t, err)
	assert.Equal(t, 5, st.Runs)
	assert.Equal(t, 23, st.Totals.Fetched)
	require.Len(t, target.All("companies"), 20)
}

// TestContinueAsNewMidRunUsesThePageReadAhead: when the server suggests continuing as new
// while the next page is read and looked up ahead, that page is written first: its read
// and its searches are not thrown away and made again (on a rate-limited service the
// searches are what a run waits for; issue 17's salesloft-to-hubspot spent 3 extra).
func TestContinueAsNewMidRunUsesThePageReadAhead(t *testing.T) {
	// A history of a few pages is "long": the run is told to continue as new mid-way.
	c := testenv.ClientWith(t, map[string]any{"limit.historySize.suggestContinueAsNew": 40_000})

	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	source.Seed("companies", 600, memory.SampleCompany)
	def := testenv.Def("drain-ahead")
	def.PageSize = 50 // 12 pages; fewer than 1,000 records stay off the bulk path
	s := testenv.NewSyncWith(t, c, def, source, target)
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	require.Equal(t, 600, st.LastRun.Created)
	require.Equal(t, 600, target.Len("companies"))

	hs, err := s.Histories(context.Background())
	require.NoError(t, err)
	require.Greater(t, len(hs), 2, "the run continued as new mid-way")
	assert.Equal(t, 12, source.Calls()[memory.MethodChanges], "each page read once")
	assert.Equal(t, 12, target.Calls()[memory.MethodFind], "each page's keys looked up once")
}
