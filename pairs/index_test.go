package pairs

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// An Index replaces as Save does: a pair removes the items holding either of its records,
// and Put says how many.
func TestIndexReplacesThePairsOfEitherRecord(t *testing.T) {
	x := NewIndex[int]()
	require.Zero(t, x.Put("a1", "b1", 1))
	require.Zero(t, x.Put("a2", "b2", 2))
	require.Equal(t, 2, x.Put("a1", "b2", 3), "a1-b1 and a2-b2 both go")
	require.Equal(t, 1, x.Len())
	got, ok := x.Get("b", "b2")
	require.True(t, ok)
	require.Equal(t, Indexed[int]{A: "a1", B: "b2", Item: 3}, got)
	_, ok = x.Get("b", "b1")
	require.False(t, ok)
	require.True(t, x.Remove("a", "a1"))
	require.False(t, x.Remove("b", "b2"))
	require.Zero(t, x.Len())
}
