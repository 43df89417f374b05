package cli_test

import (
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
	out, err = run(t, "replay", "--workflow-id", workflows.WorkflowID("replayed"))
	require.NoError(t, err)
	assert.Equal(t, "replays cleanly\n", out)
	out, err = run(t, "replay", "--workflow-id", workflows.WorkflowID("replayed"), "--run-id", s.FirstRunID)
	require.NoError(t, err)
	assert.Equal(t, "replays cleanly\n", out)
}

func TestSetupIsIdempotent(t *testing.T) {
	for range 2 {
		out, err := run(t, "setup")
		require.NoError(t, err)
		assert.Equal(t, "search attribute TandemSync (Keyword) is registered on namespace default\n", out)
	}
}
