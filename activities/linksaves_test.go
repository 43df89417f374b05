package activities

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/pairs"
)

// add gathers a copy of links (the caller may reuse the slice), as a chunk's pages do.
func (l *linkSaves) add(links []pairs.Link) error {
	return l.gather(func(dst []pairs.Link) []pairs.Link { return append(dst, links...) })
}

// linkSaves keeps two batches in flight, one saving and the next reading back beside it,
// and gathers the links added meanwhile for the batch after them: saves run one at a time
// and in order, what comes after links waits for their save and does not happen if it
// fails; holds names the records of links not yet saved.
func TestLinkSavesGatherBehindTheSaveInFlight(t *testing.T) {
	release := make(chan error, 2)
	prepared := make(chan []string, 10) // each batch's side a ids, as its read-back starts
	started := make(chan []string, 10)  // and as its save starts
	ids := func(links []pairs.Link) []string {
		var ids []string
		for _, k := range links {
			ids = append(ids, k.A.ID)
		}
		return ids
	}
	l := linkSaves{
		prepare: func(links []pairs.Link) []pairs.Link {
			prepared <- ids(links)
			return links
		},
		save: func(links []pairs.Link) error {
			started <- ids(links)
			return <-release
		},
	}
	link := func(i int) pairs.Link {
		return pairs.Link{A: pairs.Half{ID: fmt.Sprintf("a%d", i)}, B: pairs.Half{ID: fmt.Sprintf("b%d", i)}}
	}
	var done []string
	l.after(func() { done = append(done, "nothing unsaved: at once") })
	assert.Equal(t, []string{"nothing unsaved: at once"}, done)

	require.NoError(t, l.add([]pairs.Link{link(1)}))
	l.after(func() { done = append(done, "after 1") })
	assert.Equal(t, []string{"a1"}, <-started)
	require.NoError(t, l.add([]pairs.Link{link(2)}))
	assert.Equal(t, []string{"a1"}, <-prepared)
	assert.Equal(t, []string{"a2"}, <-prepared, "the second batch reads back while the first saves")
	assert.Empty(t, started, "but saves only once the first has")
	require.NoError(t, l.add([]pairs.Link{link(3)}))
	require.NoError(t, l.add([]pairs.Link{link(4)}))
	l.after(func() { done = append(done, "after 4") })
	assert.Len(t, l.flight, maxFlights)
	assert.True(t, l.holds(SideA, "x", "a1"), "saving")
	assert.True(t, l.holds(SideA, "a2"), "reading back")
	assert.True(t, l.holds(SideB, "b4"), "gathered")
	assert.False(t, l.holds(SideA, "b1"), "by side")
	assert.Len(t, done, 1, "not before the saves end")

	release <- nil
	assert.Equal(t, []string{"a2"}, <-started)
	release <- nil
	release <- nil
	require.NoError(t, l.wait())
	assert.Equal(t, []string{"a3", "a4"}, <-started, "the links added while two batches were in flight are saved together after them")
	assert.Equal(t, []string{"a3", "a4"}, <-prepared)
	assert.Equal(t, []string{"nothing unsaved: at once", "after 1", "after 4"}, done)
	assert.False(t, l.holds(SideA, "a1", "a2", "a4"), "all saved")

	// Gathering up to maxGatheredLinks: the add that reaches it waits for the oldest batch
	// and starts the next.
	require.NoError(t, l.add([]pairs.Link{link(0)}))
	require.NoError(t, l.add([]pairs.Link{link(1)}))
	assert.Equal(t, []string{"a0"}, <-started)
	many := make([]pairs.Link, maxGatheredLinks)
	for i := range many {
		many[i] = link(i + 2)
	}
	release <- nil
	require.NoError(t, l.add(many))
	assert.Nil(t, l.next, "nothing gathers: the add waited for the oldest batch")
	assert.Len(t, l.flight, maxFlights, "and started the gathered links' batch")
	assert.Equal(t, []string{"a1"}, <-started)
	release <- nil
	assert.Len(t, <-started, maxGatheredLinks)
	release <- nil
	require.NoError(t, l.wait())
	for len(prepared) > 0 {
		<-prepared
	}

	// A failed save fails what comes after it: the batch behind it is not saved, and the
	// links gathered behind both are dropped.
	require.NoError(t, l.add([]pairs.Link{link(1)}))
	require.NoError(t, l.add([]pairs.Link{link(2)}))
	require.NoError(t, l.add([]pairs.Link{link(3)}))
	l.after(func() { done = append(done, "after a failed save") })
	release <- errors.New("disk full")
	require.ErrorContains(t, l.wait(), "disk full")
	assert.Equal(t, []string{"a1"}, <-started)
	assert.Empty(t, started, "neither the batch behind it nor the gathered links were saved")
	assert.Len(t, done, 3, "what follows a failed save does not happen")
	assert.False(t, l.holds(SideA, "a2"))
	assert.False(t, l.holds(SideA, "a3"))
	require.NoError(t, l.wait(), "nothing unsaved")
	// Nor are links added after it (a page that lands as the chunk ends on that error).
	require.ErrorIs(t, l.add([]pairs.Link{link(5)}), errEarlierSave)
	assert.False(t, l.holds(SideA, "a5"))
	assert.Empty(t, started)
	l.abandon()
}

// A record whose link is in two batches (saved, then replaced in a later page) stays held
// until the later batch has saved, not only the first.
func TestLinkSavesHoldARecordUntilItsLastBatchSaves(t *testing.T) {
	release := make(chan error, 3)
	started := make(chan int, 3)
	l := linkSaves{save: func(links []pairs.Link) error {
		started <- len(links)
		return <-release
	}}
	link := func(a, b string) pairs.Link { return pairs.Link{A: pairs.Half{ID: a}, B: pairs.Half{ID: b}} }
	require.NoError(t, l.add([]pairs.Link{link("a1", "b1")}))
	assert.Equal(t, 1, <-started)
	require.NoError(t, l.add([]pairs.Link{link("a1", "b2"), link("a3", "b3")}), "a1 paired again, with b2")
	release <- nil
	require.NoError(t, l.step(false))
	for len(l.flight) == 2 { // the first batch's end is found by a step after it
		require.NoError(t, l.step(true))
	}
	assert.Equal(t, 2, <-started)
	assert.True(t, l.holds(SideA, "a1"), "the second batch holds a1 too")
	assert.False(t, l.holds(SideB, "b1"), "b1 was only in the first, saved")
	assert.True(t, l.holds(SideB, "b2"))
	release <- nil
	require.NoError(t, l.wait())
	assert.False(t, l.holds(SideA, "a1", "a3"))
	assert.False(t, l.holds(SideB, "b2", "b3"))
}

// Records whose ids hash alike are one to holds: a look-up of a record that has no link in
// flight may wait for a save it did not need, but one that has is never missed.
func TestLinkSavesHoldsIdsThatHashAlike(t *testing.T) {
	release := make(chan error, 1)
	l := linkSaves{
		save: func([]pairs.Link) error { return <-release },
		hash: func(string) uint64 { return 7 },
	}
	require.NoError(t, l.add([]pairs.Link{{A: pairs.Half{ID: "a1"}, B: pairs.Half{ID: "b1"}}}))
	assert.True(t, l.holds(SideA, "a1"), "its own")
	assert.True(t, l.holds(SideA, "a2"), "another id of the same hash: a wait, not a miss")
	assert.True(t, l.holds(SideB, "b9"))
	release <- nil
	require.NoError(t, l.wait())
	assert.False(t, l.holds(SideA, "a1", "a2"), "saved")
}

// Links gather into one slice a batch, recycled once the batch has saved: add copies the
// caller's links, a fill that appends nothing starts no batch, and a recycled slice keeps
// no link of the batch before.
func TestLinkSavesGatherIntoRecycledSlices(t *testing.T) {
	release := make(chan error, 1)
	saved := make(chan []string, 4)
	l := linkSaves{save: func(links []pairs.Link) error {
		var ids []string
		for _, k := range links {
			ids = append(ids, k.A.ID)
		}
		saved <- ids
		return <-release
	}}
	page := []pairs.Link{{A: pairs.Half{ID: "a1"}, B: pairs.Half{ID: "b1"}}, {A: pairs.Half{ID: "a2"}, B: pairs.Half{ID: "b2"}}}
	require.NoError(t, l.add(page))
	page[0].A.ID = "changed by the caller"
	release <- nil
	require.NoError(t, l.wait())
	assert.Equal(t, []string{"a1", "a2"}, <-saved, "add copies the links")
	require.Len(t, l.spare, 1)
	assert.Empty(t, l.spare[0])
	assert.Equal(t, pairs.Link{}, l.spare[0][:2][0], "emptied: the slice keeps no link alive")

	require.NoError(t, l.gather(func(dst []pairs.Link) []pairs.Link { return dst }))
	assert.Nil(t, l.next, "nothing gathered, no batch")
	assert.Len(t, l.spare, 1, "and the slice is kept")

	require.NoError(t, l.gather(func(dst []pairs.Link) []pairs.Link {
		assert.Equal(t, 2, cap(dst), "the recycled slice")
		return append(dst, pairs.Link{A: pairs.Half{ID: "a3"}, B: pairs.Half{ID: "b3"}})
	}))
	assert.Empty(t, l.spare)
	assert.True(t, l.holds(SideB, "b3"))
	release <- nil
	require.NoError(t, l.wait())
	assert.Equal(t, []string{"a3"}, <-saved)
}
