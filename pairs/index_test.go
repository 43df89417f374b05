package pairs

import (
	"fmt"
	"math/rand/v2"
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

// An Index over many puts and removes (more than a block's items, places freed and taken
// again) holds what a plain model of it holds.
func TestIndexAgreesWithAModel(t *testing.T) {
	x := NewIndex[int]()
	model := map[string]Indexed[int]{} // by a id
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 20_000 {
		a, b := fmt.Sprintf("a%d", rng.IntN(3000)), fmt.Sprintf("b%d", rng.IntN(3000))
		if rng.IntN(4) == 0 {
			side, id := "a", a
			if rng.IntN(2) == 0 {
				side, id = "b", b
			}
			_, had := x.Get(side, id)
			require.Equal(t, had, x.Remove(side, id))
			for k, it := range model {
				if side == "a" && it.A == id || side == "b" && it.B == id {
					delete(model, k)
				}
			}
			continue
		}
		removed := 0
		for k, it := range model {
			if it.A == a || it.B == b {
				delete(model, k)
				removed++
			}
		}
		require.Equal(t, removed, x.Put(a, b, step), "step %d", step)
		model[a] = Indexed[int]{A: a, B: b, Item: step}
	}
	require.Equal(t, len(model), x.Len())
	all := map[string]Indexed[int]{}
	for it := range x.All() {
		all[it.A] = it
	}
	require.Equal(t, model, all)
	for _, it := range model {
		got, ok := x.Get("b", it.B)
		require.True(t, ok)
		require.Equal(t, it, got)
	}
}

// BenchmarkIndexPut: a two-way first run's cache, 100,000 links put and each looked up
// once by its b id (the pass over the side Tandem wrote).
func BenchmarkIndexPut(b *testing.B) {
	links, _ := benchLinks(100_000)
	items := make([]cachedLink, len(links))
	for i, l := range links {
		items[i] = glanced(l)
	}
	b.ReportAllocs()
	for b.Loop() {
		x := NewIndex[cachedLink]()
		for i, l := range links {
			x.Put(l.A.ID, l.B.ID, items[i])
		}
		for _, l := range links {
			if _, ok := x.Get("b", l.B.ID); !ok {
				b.Fatal("lost", l.B.ID)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(links))/b.Elapsed().Seconds(), "links/s")
}
