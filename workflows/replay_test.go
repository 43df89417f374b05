package workflows_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/internal/replay"
)

// TestReplayFixtures replays every recorded history under testdata/ against the current
// workflow code. Histories named bad-* were recorded from a deliberately changed workflow
// and must be reported as non-deterministic.
func TestReplayFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no fixtures: record them with TANDEM_RECORD_FIXTURES=1")
	bad := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			err := replay.File(f, nil)
			if strings.HasPrefix(filepath.Base(f), "bad-") {
				bad++
				require.Error(t, err, "a changed workflow's history replayed cleanly")
				assert.True(t, replay.IsNonDeterministic(err), "want a non-determinism error, got: %v", err)
				assert.Contains(t, replay.Describe(err), "non-deterministic")
				return
			}
			assert.NoError(t, err, replay.Describe(err))
		})
	}
	assert.Equal(t, 1, bad, "fixtures recorded from a changed workflow")
}
