package activities

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/pairs"
)

// linkSaves keeps one save in flight and gathers the links added meanwhile for the next:
// what comes after links waits for their save, in order, and does not happen if it
// fails; holds names the records of links not yet saved.
func TestLinkSavesGatherBehindTheSaveInFlight(t *testing.T) {
	release := make(chan error, 1)
	started := make(chan []string, 10) // each save's side a ids, as it starts
	l := linkSaves{save: func(links []pairs.Link) error {
		var ids []string
		for _, k := range links {
			ids = append(ids, k.A.ID)
		}
		started <- ids
		return <-release
	}}
	link := func(i int) pairs.Link {
		return pairs.Link{A: pairs.Half{ID: fmt.Sprintf("a%d", i)}, B: pairs.Half{ID: fmt.Sprintf("b%d", i)}}
	}
	var done []string
	l.after(func() { done = append(done, "nothing unsaved: at once") })
	assert.Equal(t, []string{"nothing unsaved: at once"}, done)

	require.NoError(t, l.add([]pairs.Link{link(1)}))
	l.after(func() { done = append(done, "after 1") })
	require.NoError(t, l.add([]pairs.Link{link(2)}))
	require.NoError(t, l.add([]pairs.Link{link(3)}))
	l.after(func() { done = append(done, "after 3") })
	assert.True(t, l.holds(SideA, "x", "a1"), "in flight")
	assert.True(t, l.holds(SideB, "b3"), "gathered")
	assert.False(t, l.holds(SideA, "b1"), "by side")
	assert.Len(t, done, 1, "not before the saves end")

	release <- nil
	release <- nil // the gathered links' save, once the first ends
	require.NoError(t, l.wait())
	assert.Equal(t, []string{"a1"}, <-started)
	assert.Equal(t, []string{"a2", "a3"}, <-started, "the links added during a save are saved together after it")
	assert.Equal(t, []string{"nothing unsaved: at once", "after 1", "after 3"}, done)
	assert.False(t, l.holds(SideA, "a1", "a3"), "all saved")

	// Gathering up to maxGatheredLinks: the add that reaches it waits for the save in
	// flight and starts the next.
	require.NoError(t, l.add([]pairs.Link{link(0)}))
	assert.Equal(t, []string{"a0"}, <-started)
	many := make([]pairs.Link, maxGatheredLinks)
	for i := range many {
		many[i] = link(i + 1)
	}
	release <- nil
	require.NoError(t, l.add(many))
	assert.Nil(t, l.next, "nothing gathers: the add waited for the save in flight")
	assert.Len(t, <-started, maxGatheredLinks, "and started the gathered links' save")
	release <- nil
	require.NoError(t, l.wait())

	// A failed save fails what comes after it, and the links gathered behind it are dropped.
	require.NoError(t, l.add([]pairs.Link{link(1)}))
	require.NoError(t, l.add([]pairs.Link{link(2)}))
	l.after(func() { done = append(done, "after a failed save") })
	release <- errors.New("disk full")
	require.ErrorContains(t, l.wait(), "disk full")
	assert.Equal(t, []string{"a1"}, <-started)
	assert.Empty(t, started, "the gathered links were not saved")
	assert.Len(t, done, 3, "what follows a failed save does not happen")
	assert.False(t, l.holds(SideA, "a2"))
	require.NoError(t, l.wait(), "nothing unsaved")
	l.abandon()
}
