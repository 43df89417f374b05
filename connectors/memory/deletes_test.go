package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
)

func TestDeletesAreLoggedAndReadAfterACursor(t *testing.T) {
	clk := newClock(time.Second)
	c := memory.New(memory.Options{Now: clk.Now})
	ctx := context.Background()
	res := create(t, c, map[string]any{"n": 1}, map[string]any{"n": 2}, map[string]any{"n": 3}, map[string]any{"n": 4})

	c.Remove(companies, res[2].ID)
	got, err := c.Delete(ctx, companies, []string{res[0].ID, "no-such-id", res[3].ID})
	require.NoError(t, err)
	require.Len(t, got, 3)
	for _, r := range got {
		assert.NoError(t, r.Err, "an id that does not exist counts as deleted")
	}
	assert.Equal(t, 1, c.Len(companies))

	var all []connectors.Tombstone
	cur := connectors.Cursor{}
	for {
		page, err := c.Deletes(ctx, companies, cur, 2)
		require.NoError(t, err)
		all = append(all, page.Tombstones...)
		if !page.More {
			break
		}
		cur = connectors.CursorOfTombstone(page.Tombstones[len(page.Tombstones)-1])
	}
	require.Len(t, all, 3)
	assert.Equal(t, []string{res[2].ID, res[0].ID, res[3].ID}, []string{all[0].ID, all[1].ID, all[2].ID}, "in the order they were deleted")
	assert.True(t, all[0].DeletedAt.Before(all[1].DeletedAt))

	page, err := c.Deletes(ctx, companies, connectors.CursorOfTombstone(all[2]), 10)
	require.NoError(t, err)
	assert.Empty(t, page.Tombstones, "nothing after the last")
	assert.False(t, page.More)
}

func TestDeleteLogExpires(t *testing.T) {
	clk := newClock(time.Hour)
	c := memory.New(memory.Options{Now: clk.Now, DeleteLogRetention: 24 * time.Hour})
	ctx := context.Background()
	res := create(t, c, map[string]any{"n": 1}, map[string]any{"n": 2})
	start := clk.Now()
	c.Remove(companies, res[0].ID)
	for range 30 {
		clk.Now() // 30 hours pass
	}
	c.Remove(companies, res[1].ID)

	_, err := c.Deletes(ctx, companies, connectors.Cursor{UpdatedAt: start}, 10)
	var expired *connectors.DeleteLogExpiredError
	require.True(t, errors.As(err, &expired), "%v", err)
	assert.True(t, expired.Earliest.After(start))
	assert.Contains(t, err.Error(), "the delete log of companies starts at")

	// (The clock moves an hour at each reading, and the log's start with it.)
	page, err := c.Deletes(ctx, companies, connectors.Cursor{UpdatedAt: expired.Earliest.Add(2 * time.Hour)}, 10)
	require.NoError(t, err)
	require.Len(t, page.Tombstones, 1, "the purged deletion is gone, the recent one is there")
	assert.Equal(t, res[1].ID, page.Tombstones[0].ID)
}

func TestListIDsPagesThroughEveryLiveRecord(t *testing.T) {
	c := memory.New(memory.Options{})
	ctx := context.Background()
	c.Seed(companies, 25, memory.SampleCompany)
	c.Remove(companies, c.All(companies)[0].ID)
	var ids []string
	token := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, next, err := c.ListIDs(ctx, companies, token, 10)
		require.NoError(t, err)
		ids = append(ids, page...)
		if next == "" {
			break
		}
		token = next
	}
	assert.Len(t, ids, 24)
	assert.IsIncreasing(t, ids)
}

func TestDeleteReportsARefusedRecordAndDeletesTheRest(t *testing.T) {
	c := memory.New(memory.Options{})
	res := create(t, c, map[string]any{"n": 1, "locked": true}, map[string]any{"n": 2})
	c.RejectRecords(func(r connectors.Record) string {
		if r.Fields["locked"] == true {
			return "record is locked"
		}
		return ""
	})
	got, err := c.Delete(context.Background(), companies, []string{res[0].ID, res[1].ID})
	require.NoError(t, err)
	var inv *connectors.InvalidRecordError
	require.True(t, errors.As(got[0].Err, &inv))
	assert.Equal(t, "record is locked", inv.Reason)
	assert.NoError(t, got[1].Err)
	assert.Equal(t, 1, c.Len(companies))
}
