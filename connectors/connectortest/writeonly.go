package connectortest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
)

// The cases of a write-only destination (Driver.ReadBack): what was written is read back
// from the service, not through the connector.

// writeOnlyFullBatch: a batch of exactly Info().MaxBatch records (200 when unlimited) is
// written in one call, every record once.
func (s *suite) writeOnlyFullBatch(t *testing.T) {
	c, ctx := s.open(t)
	n := c.Info().MaxBatch
	if n == 0 {
		n = 200
	}
	fields := s.fields(0, n)
	res, err := c.Create(ctx, s.d.Object, records(fields))
	require.NoError(t, err, "a batch of %d", n)
	require.Len(t, res, n)
	for i, r := range res {
		require.NoError(t, r.Err, "record %d", i)
	}
	s.requireWritten(t, c, fields)
}

// writeOnlyRejected: one record the service (or the connector) refuses fails alone with
// a reason; the rest of its batch is written.
func (s *suite) writeOnlyRejected(t *testing.T) {
	if s.d.Invalid == nil {
		t.Skip("Driver.Invalid is nil")
	}
	c, ctx := s.open(t)
	good := s.fields(0, 2)
	res, err := c.Create(ctx, s.d.Object, records([]map[string]any{good[0], s.d.Invalid(), good[1]}))
	require.NoError(t, err, "one invalid record does not fail the call")
	require.Len(t, res, 3)
	require.NoError(t, res[0].Err)
	require.NoError(t, res[2].Err)
	var invalid *connectors.InvalidRecordError
	require.ErrorAs(t, res[1].Err, &invalid)
	assert.NotEmpty(t, invalid.Reason, "the reason")
	s.requireWritten(t, c, good)
}

// writeOnlyCancelled: writes with a cancelled context fail with an error that wraps
// context.Canceled, and write nothing.
func (s *suite) writeOnlyCancelled(t *testing.T) {
	c, live := s.open(t)
	ctx, cancel := context.WithCancel(live)
	cancel()
	rec := []connectors.Record{{Fields: s.d.NewFields(0)}}
	for name, call := range map[string]func() error{
		"Create": func() error { _, err := c.Create(ctx, s.d.Object, rec); return err },
		"Upsert": func() error { _, err := c.Upsert(ctx, s.d.Object, s.d.KeyField, rec); return err },
	} {
		err := call()
		if assert.Error(t, err, "%s with a cancelled context", name) {
			assert.ErrorIs(t, err, context.Canceled, name)
		}
	}
	assert.Empty(t, s.d.ReadBack(t, c), "calls with a cancelled context wrote nothing")
}

// writeOnlyReads: a destination cannot be read from (Changes and Get fail, so a sync
// that names it as a source stops with the connector's error) and never matches an
// existing record (Find finds nothing, so every change is written).
func (s *suite) writeOnlyReads(t *testing.T) {
	c, ctx := s.open(t)
	_, err := c.Changes(ctx, s.d.Object, connectors.Cursor{}, 10)
	assert.Error(t, err, "Changes")
	_, err = c.Get(ctx, s.d.Object, []string{s.d.MissingID})
	assert.Error(t, err, "Get")
	found, err := c.Find(ctx, s.d.Object, s.d.KeyField, []string{"x"})
	require.NoError(t, err, "Find")
	assert.Empty(t, found, "Find")
}

// requireWritten requires that the service holds exactly the records of want, each once
// (compared by the key field) with its fields.
func (s *suite) requireWritten(t *testing.T, c connectors.Connector, want []map[string]any) {
	t.Helper()
	got := s.d.ReadBack(t, c)
	require.Len(t, got, len(want), "records written")
	byKey := map[string]map[string]any{}
	for _, g := range got {
		k := s.key(g)
		require.NotContains(t, byKey, k, "record %s written twice", k)
		byKey[k] = g
	}
	for _, w := range want {
		g, ok := byKey[s.key(w)]
		require.True(t, ok, "record %s not written", s.key(w))
		requireFields(t, w, connectors.Record{ID: s.key(w), Fields: g})
	}
}
