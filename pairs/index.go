package pairs

import (
	"iter"

	"tandem/definition"
)

// Index holds an item for each linked pair by both of its records' ids, and replaces as
// a store's Save does: putting a pair removes the items that hold either of its records.
// The SQLite store's cache keeps its entries in one (linkcache.go). Not safe for
// concurrent use.
//
// The items are kept in blocks of indexBlock, and each id maps to its item's place: a map
// of places grows (and is marked by the collector) at a fifth of the cost of a map of the
// items themselves, and a block, once made, is not copied again.
type Index[T any] struct {
	blocks [][]Indexed[T]
	// free are the places of removed items, taken again first; used how many places
	// were ever taken.
	free []int32
	used int32
	byA  map[string]int32
	byB  map[string]int32
}

// indexBlock is how many items a block of an Index holds.
const indexBlock = 1024

// Indexed is an item of an Index and its pair's ids.
type Indexed[T any] struct {
	A, B string
	Item T
}

// NewIndex returns an empty Index.
func NewIndex[T any]() *Index[T] {
	return &Index[T]{byA: map[string]int32{}, byB: map[string]int32{}}
}

func (x *Index[T]) at(i int32) *Indexed[T] { return &x.blocks[i/indexBlock][i%indexBlock] }

// Put indexes item under the pair of records a and b, and removes the items that held
// either of them; it returns how many it removed.
func (x *Index[T]) Put(a, b string, item T) (removed int) {
	if x.Remove(definition.A, a) {
		removed++
	}
	if x.Remove(definition.B, b) {
		removed++
	}
	var i int32
	if n := len(x.free); n > 0 {
		i, x.free = x.free[n-1], x.free[:n-1]
	} else {
		i = x.used
		x.used++
		if int(i/indexBlock) == len(x.blocks) {
			x.blocks = append(x.blocks, make([]Indexed[T], indexBlock))
		}
	}
	*x.at(i) = Indexed[T]{A: a, B: b, Item: item}
	x.byA[a], x.byB[b] = i, i
	return removed
}

// Get returns the item of the pair whose record on side is id.
func (x *Index[T]) Get(side Side, id string) (Indexed[T], bool) {
	m := x.byA
	if side == definition.B {
		m = x.byB
	}
	i, ok := m[id]
	if !ok {
		return Indexed[T]{}, false
	}
	return *x.at(i), true
}

// Remove removes the item of the pair whose record on side is id, and says whether there
// was one.
func (x *Index[T]) Remove(side Side, id string) bool {
	m := x.byA
	if side == definition.B {
		m = x.byB
	}
	i, ok := m[id]
	if !ok {
		return false
	}
	it := x.at(i)
	delete(x.byA, it.A)
	delete(x.byB, it.B)
	*it = Indexed[T]{}
	x.free = append(x.free, i)
	return true
}

// Len is how many pairs x holds.
func (x *Index[T]) Len() int { return len(x.byA) }

// All yields every item, in no order.
func (x *Index[T]) All() iter.Seq[Indexed[T]] {
	return func(yield func(Indexed[T]) bool) {
		for _, i := range x.byA {
			if !yield(*x.at(i)) {
				return
			}
		}
	}
}
