package salesloft_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/salesloft"
	"tandem/connectors/salesloft/salesloftfake"
)

// manualClock is a test's time, moved by Add only.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *manualClock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func TestListIDsPagesByCreatedAt(t *testing.T) {
	clk := &manualClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	c, fake, _ := open(t, salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited, Now: clk.Now}, salesloft.Options{})
	var all []string
	for i := range 90 {
		all = append(all, fake.Seed(sampleAccount(i)))
		clk.Add(time.Millisecond)
	}
	// 120 accounts created in one microsecond (a bulk import): more than a page of 100.
	for i := range 120 {
		all = append(all, fake.Seed(sampleAccount(100+i)))
	}
	for i := range 30 {
		clk.Add(time.Millisecond)
		all = append(all, fake.Seed(sampleAccount(300+i)))
	}
	// Updated since, in reverse: an updated_at order would differ from created_at's.
	for i := len(all) - 1; i >= 0; i -= 7 {
		clk.Add(time.Millisecond)
		require.NoError(t, fake.Set(all[i], map[string]any{"phone": "+1 212-555-0199"}))
	}
	require.NoError(t, fake.Set(all[5], map[string]any{"archived": true}))

	fake.ResetStats()
	seen := map[string]int{}
	var deleted []string
	pages := 0
	for token := ""; ; pages++ {
		require.Less(t, pages, 20)
		got, next, err := c.ListIDs(t.Context(), accounts, token, 70)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(got), 70)
		for _, id := range got {
			seen[id]++
		}
		if pages == 0 {
			// Deleted between pages: one already listed, one not yet. Neither shifts
			// another account out of the listing.
			for _, id := range []string{all[3], all[200]} {
				require.True(t, fake.Delete(id))
				deleted = append(deleted, id)
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	for _, id := range all {
		if id == all[200] {
			assert.Zero(t, seen[id], "deleted before it was listed")
			continue
		}
		assert.Equal(t, 1, seen[id], "account %s listed once", id)
	}
	assert.Len(t, seen, len(all)-1)
	assert.Contains(t, seen, all[5], "archived accounts still exist")
	assert.Equal(t, 4, pages+1)
	assert.LessOrEqual(t, fake.Stats().MaxPage, 2, "page 1 of a window, page 2 only inside the tie")

	_, _, err := c.ListIDs(t.Context(), accounts, "not a token", 10)
	assert.ErrorContains(t, err, "page token")
}

func TestListIDsLimitOverAPage(t *testing.T) {
	clk := &manualClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	c, fake, _ := open(t, salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited, Now: clk.Now}, salesloft.Options{})
	for i := range 250 {
		fake.Seed(sampleAccount(i))
		clk.Add(time.Second)
	}
	got, next, err := c.ListIDs(t.Context(), accounts, "", 1000)
	require.NoError(t, err)
	assert.Len(t, got, 250)
	assert.Empty(t, next)
	assert.Equal(t, ids(fake.Records()), got, "created_at order, here id order")

	got, next, err = c.ListIDs(t.Context(), accounts, "", 150)
	require.NoError(t, err)
	assert.Len(t, got, 150)
	require.NotEmpty(t, next)
	rest, next, err := c.ListIDs(t.Context(), accounts, next, 150)
	require.NoError(t, err)
	assert.Len(t, rest, 100)
	assert.Empty(t, next)
}

func TestDelete(t *testing.T) {
	c, fake, _ := open(t, salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited}, salesloft.Options{})
	a := fake.Seed(sampleAccount(0))
	b := fake.Seed(sampleAccount(1))
	gone := fake.Seed(sampleAccount(2))
	refused := fake.Seed(sampleAccount(3))
	kept := fake.Seed(sampleAccount(4))
	require.True(t, fake.Delete(gone))
	fake.RefuseDelete(refused, "Account has open opportunities")
	never := "999999999"

	fake.ResetStats()
	res, err := c.Delete(t.Context(), accounts, []string{a, gone, refused, b, "x1", never, a})
	require.NoError(t, err)
	require.Len(t, res, 7)
	for _, i := range []int{0, 1, 3, 5, 6} {
		assert.NoError(t, res[i].Err, "result %d", i)
	}
	assert.Equal(t, []string{a, gone, b, never, a}, []string{res[0].ID, res[1].ID, res[3].ID, res[5].ID, res[6].ID})

	var invalid *connectors.InvalidRecordError
	require.ErrorAs(t, res[2].Err, &invalid)
	assert.Equal(t, "account "+refused, invalid.Record)
	assert.Equal(t, "base", invalid.Field)
	assert.Contains(t, invalid.Reason, "Account has open opportunities", "Salesloft's reason")
	require.ErrorAs(t, res[4].Err, &invalid)
	assert.Equal(t, "id", invalid.Field)

	assert.ElementsMatch(t, []string{refused, kept}, ids(fake.Records()), "the rest of the batch went through")
	assert.Equal(t, 5, fake.Stats().Requests["DELETE /v2/accounts/{id}"], "one request per account, each id once")

	// An error that is not about one account stops the call.
	fake.FailNext(1, http.StatusForbidden)
	_, err = c.Delete(t.Context(), accounts, []string{kept})
	var auth *connectors.AuthError
	require.ErrorAs(t, err, &auth)
	res, err = c.Delete(t.Context(), accounts, []string{kept})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	assert.ElementsMatch(t, []string{refused}, ids(fake.Records()))
}
