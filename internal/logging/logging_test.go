package logging

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"tandem/secret"
)

func TestNewLevels(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want zapcore.Level
	}{
		{"", zapcore.InfoLevel},
		{"debug", zapcore.DebugLevel},
		{"INFO", zapcore.InfoLevel},
		{"warn", zapcore.WarnLevel},
		{"error", zapcore.ErrorLevel},
	} {
		for _, json := range []bool{false, true} {
			l, err := New(tc.in, json)
			require.NoError(t, err, tc.in)
			assert.Equal(t, tc.want, l.Level(), "level %q", tc.in)
		}
	}
}

func TestNewRejectsUnknownLevel(t *testing.T) {
	_, err := New("verbose", false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"verbose"`)
	assert.Contains(t, err.Error(), Levels)
}

func TestTemporalWritesToZap(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	l := Temporal(zap.New(core))

	l.Debug("dropped")
	log.With(l, "WorkflowID", "tandem/sync/companies").Info("run finished", "Created", 3)
	l.Error("activity failed", "Error", "boom")

	entries := logs.AllUntimed()
	require.Len(t, entries, 2)
	assert.Equal(t, "run finished", entries[0].Message)
	assert.Equal(t, map[string]any{"WorkflowID": "tandem/sync/companies", "Created": int64(3)}, entries[0].ContextMap())
	assert.Equal(t, zapcore.ErrorLevel, entries[1].Level)
	assert.True(t, entries[1].Caller.Defined)
	assert.Contains(t, entries[1].Caller.File, "logging_test.go", "caller should be the logging call site")
}

func TestScrubRemovesSecretsFromMessagesAndFields(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s := secret.New([]string{"postgres://tandem:R3brk:x%zzPw@db/tandem", "pat-0123456789"})
	l := Scrub(zap.New(core), s).With(zap.String("dsn", "postgres://tandem:R3brk:x%zzPw@db/tandem"))
	l.Error("cannot parse postgres://tandem:R3brk:xxxxx@db/tandem",
		zap.Error(errors.New("401 for token pat-0123456789")), zap.Stringer("url", stringer("https://x/?t=pat-0123456789")))
	Temporal(Scrub(zap.New(core), s)).Warn("Activity error", "Error", errors.New("dial with pat-0123456789"))
	require.Equal(t, 2, logs.Len())
	for _, e := range logs.All() {
		text := e.Message
		for k, v := range e.ContextMap() {
			text += " " + k + "=" + fmt.Sprint(v)
		}
		assert.NotContains(t, text, "R3brk", text)
		assert.NotContains(t, text, "pat-0123456789", text)
		assert.Contains(t, text, secret.Redacted)
	}
}

type stringer string

func (s stringer) String() string { return string(s) }
