package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/memory"
	"tandem/internal/testenv"
	"tandem/workflows"
)

func TestReplay(t *testing.T) {
	out, err := run(t, "replay", "--file", "../../workflows/testdata/two-way-conflict.json")
	require.NoError(t, err)
	assert.Equal(t, "replays cleanly\n", out)

	_, err = run(t, "replay", "--file", "../../workflows/testdata/bad-changed-workflow.json")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "non-deterministic at event 5")

	// A run that has not completed a workflow task has nothing to replay yet.
	h, err := os.ReadFile("../../workflows/testdata/two-way-conflict.json")
	require.NoError(t, err)
	var full map[string]any
	require.NoError(t, json.Unmarshal(h, &full))
	full["events"] = full["events"].([]any)[:2] // started, workflow task scheduled
	short := filepath.Join(t.TempDir(), "just-started.json")
	b, err := json.Marshal(full)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(short, b, 0o644))
	out, err = run(t, "replay", "--file", short)
	require.NoError(t, err)
	assert.Equal(t, "nothing to replay yet: the run has not completed a workflow task\n", out)

	_, err = run(t, "replay", "--file", "starter_test.go")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not a workflow history in JSON")

	_, err = run(t, "replay")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--file history.json or --workflow-id ID")

	// A live sync's history, fetched from the server.
	source := memory.New(memory.Options{})
	source.Seed("companies", 10, memory.SampleCompany)
	s := testenv.NewSync(t, testenv.Def("replayed"), source, memory.New(memory.Options{}))
	s.Start()
	s.WaitRuns(1, time.Minute)
	// The latest run continued as new a moment ago: until its first workflow task is
	// done there is nothing to replay, and replay says so.
	require.Eventually(t, func() bool {
		out, err = run(t, "replay", "--workflow-id", workflows.WorkflowID("replayed"))
		require.NoError(t, err)
		if out != "replays cleanly\n" {
			require.Equal(t, "nothing to replay yet: the run has not completed a workflow task; give --run-id for an earlier run\n", out)
			return false
		}
		return true
	}, 30*time.Second, 50*time.Millisecond)
	out, err = run(t, "replay", "--workflow-id", workflows.WorkflowID("replayed"), "--run-id", s.FirstRunID)
	require.NoError(t, err)
	assert.Equal(t, "replays cleanly\n", out)
}

func TestSetupIsIdempotent(t *testing.T) {
	for range 2 {
		out, err := run(t, "setup")
		require.NoError(t, err)
		assert.Equal(t, "search attribute TandemLastSuccess (Datetime) is registered on namespace default\nsearch attribute TandemState (Keyword) is registered on namespace default\nsearch attribute TandemSync (Keyword) is registered on namespace default\n", out)
	}
}
