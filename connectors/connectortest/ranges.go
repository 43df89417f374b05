package connectortest

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
)

// rangeReads: a connectors.RangeReader's marks are every step-th change after the
// cursor, and the spans between them, read with any limit, and the changes after the last
// one are every change once, in order: what a bulk run that reads spans at once commits.
func (s *suite) rangeReads(t *testing.T) {
	c, ctx := s.open(t)
	rr, ok := c.(connectors.RangeReader)
	if !ok {
		t.Skip("the connector does not read ranges")
	}
	s.create(t, ctx, c, s.fields(0, 12))
	all := s.changes(t, ctx, c, connectors.Cursor{}, 100)
	require.Len(t, all, 12)
	s.checkSpans(t, c, rr, all)

	marks, err := rr.Marks(ctx, s.d.Object, connectors.Cursor{}, 2, 3)
	require.NoError(t, err)
	assert.Equal(t, []string{all[1].ID, all[3].ID, all[5].ID}, cursorIDs(marks), "at most n marks")

	// A span read with a limit under its size says More, and goes on after its last record.
	page, err := rr.ChangesBetween(ctx, s.d.Object, connectors.Cursor{}, connectors.CursorOf(all[5]), 4)
	require.NoError(t, err)
	assert.Equal(t, ids(all[:4]), ids(page.Records))
	assert.True(t, page.More, "More in the middle of a span")
	page, err = rr.ChangesBetween(ctx, s.d.Object, connectors.CursorOf(all[3]), connectors.CursorOf(all[5]), 4)
	require.NoError(t, err)
	assert.Equal(t, ids(all[4:6]), ids(page.Records))
	assert.False(t, page.More, "More at the end of a span")

	// A record changed after the marks were read has left its span: it is read after the
	// last mark, with the changes that follow.
	s.pause()
	moved := all[2]
	_, err = c.Update(ctx, s.d.Object, []connectors.Record{{ID: moved.ID, Fields: s.d.Mutate(moved.Fields)}})
	require.NoError(t, err)
	page, err = rr.ChangesBetween(ctx, s.d.Object, connectors.Cursor{}, connectors.CursorOf(all[5]), 100)
	require.NoError(t, err)
	assert.Equal(t, ids(slices.Delete(slices.Clone(all[:6]), 2, 3)), ids(page.Records), "the changed record left its span")
	rest := s.changes(t, ctx, c, connectors.CursorOf(all[len(all)-1]), 100)
	assert.Equal(t, []string{moved.ID}, ids(rest), "the changed record is read after the last one")
}

// rangeReadsEqualTimestamps: marks and spans split records with equal UpdatedAt by ID,
// as Changes does.
func (s *suite) rangeReadsEqualTimestamps(t *testing.T) {
	if s.d.SetUpdatedAt == nil {
		t.Skip("Driver.SetUpdatedAt is nil: this connector cannot force timestamps")
	}
	c, ctx := s.open(t)
	rr, ok := c.(connectors.RangeReader)
	if !ok {
		t.Skip("the connector does not read ranges")
	}
	created := s.create(t, ctx, c, s.fields(0, 7))
	at := time.Now().UTC().Truncate(time.Second).Add(time.Hour)
	for _, id := range created[1:] {
		s.d.SetUpdatedAt(t, c, s.d.Object, id, at)
	}
	all := s.changes(t, ctx, c, connectors.Cursor{}, 100)
	tied := slices.Clone(created[1:])
	sort.Strings(tied)
	require.Equal(t, append([]string{created[0]}, tied...), ids(all))
	s.checkSpans(t, c, rr, all)
}

// checkSpans reads all (every change, in order) back as spans between marks, with each
// step and several limits, and requires the marks and the spans to be what all says.
func (s *suite) checkSpans(t *testing.T, c connectors.Connector, rr connectors.RangeReader, all []connectors.Record) {
	t.Helper()
	ctx := t.Context()
	for _, step := range []int{1, 2, 3, 5, len(all), len(all) + 1} {
		for _, k := range []int{-1, 0, 4} {
			since, rest := connectors.Cursor{}, all
			if k >= 0 {
				since, rest = connectors.CursorOf(all[k]), all[k+1:]
			}
			marks, err := rr.Marks(ctx, s.d.Object, since, step, 100)
			require.NoError(t, err, "marks after %s, step %d", since, step)
			var want []string
			for i := step - 1; i < len(rest); i += step {
				want = append(want, rest[i].ID)
			}
			require.Equal(t, want, cursorIDs(marks), "marks after %s, step %d", since, step)
			for i, m := range marks {
				assert.True(t, m.UpdatedAt.Equal(rest[(i+1)*step-1].UpdatedAt), "mark %d's time", i)
			}
			for _, limit := range []int{1, 2, 100} {
				var got []connectors.Record
				from := since
				for _, m := range marks {
					for pages := 0; ; pages++ {
						require.Less(t, pages, 1000, "ChangesBetween never said More=false")
						page, err := rr.ChangesBetween(ctx, s.d.Object, from, m, limit)
						require.NoError(t, err, "changes between %s and %s, limit %d", from, m, limit)
						require.LessOrEqual(t, len(page.Records), limit)
						got = append(got, page.Records...)
						if !page.More {
							break
						}
						require.NotEmpty(t, page.Records, "empty page with More=true")
						from = connectors.CursorOf(page.Records[len(page.Records)-1])
					}
					from = m
				}
				got = append(got, s.changes(t, ctx, c, from, limit)...)
				require.Equal(t, ids(rest), ids(got), "spans after %s, step %d, limit %d", since, step, limit)
			}
		}
	}
}

func cursorIDs(cs []connectors.Cursor) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}
