package pairs

import (
	"iter"

	"tandem/definition"
)

// Index holds an item for each linked pair by both of its records' ids, and replaces as
// a store's Save does: putting a pair removes the items that hold either of its records.
// The SQLite store's cache keeps its entries in one (linkcache.go). Not safe for
// concurrent use.
type Index[T any] struct {
	byA map[string]Indexed[T]
	// aOf maps a side b id to its pair's side a id.
	aOf map[string]string
}

// Indexed is an item of an Index and its pair's ids.
type Indexed[T any] struct {
	A, B string
	Item T
}

// NewIndex returns an empty Index.
func NewIndex[T any]() *Index[T] {
	return &Index[T]{byA: map[string]Indexed[T]{}, aOf: map[string]string{}}
}

// Put indexes item under the pair of records a and b, and removes the items that held
// either of them; it returns how many it removed.
func (x *Index[T]) Put(a, b string, item T) (removed int) {
	if x.Remove(definition.A, a) {
		removed++
	}
	if x.Remove(definition.B, b) {
		removed++
	}
	x.byA[a], x.aOf[b] = Indexed[T]{A: a, B: b, Item: item}, a
	return removed
}

// Get returns the item of the pair whose record on side is id.
func (x *Index[T]) Get(side Side, id string) (Indexed[T], bool) {
	if side == definition.B {
		a, ok := x.aOf[id]
		if !ok {
			return Indexed[T]{}, false
		}
		id = a
	}
	it, ok := x.byA[id]
	return it, ok
}

// Remove removes the item of the pair whose record on side is id, and says whether there
// was one.
func (x *Index[T]) Remove(side Side, id string) bool {
	it, ok := x.Get(side, id)
	if ok {
		delete(x.aOf, it.B)
		delete(x.byA, it.A)
	}
	return ok
}

// Len is how many pairs x holds.
func (x *Index[T]) Len() int { return len(x.byA) }

// All yields every item, in no order.
func (x *Index[T]) All() iter.Seq[Indexed[T]] {
	return func(yield func(Indexed[T]) bool) {
		for _, it := range x.byA {
			if !yield(it) {
				return
			}
		}
	}
}
