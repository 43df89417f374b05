package main

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"tandem/pairs"
)

// mapLinks is the two-way scenario's -links map: the links kept in Go maps in place of the
// link store, and everything else (failures, pending deletes, the bulk log) in the SQLite
// store it wraps. It is not a setting of Tandem, whose links must outlive the worker: it
// measures the floor any link store could reach, so that two-way's own cost (reading both
// sides, reading back what it wrote, deciding each pair) is seen apart from the store's.
type mapLinks struct {
	pairs.Store
	mu sync.Mutex
	// bySync holds each sync's links.
	bySync map[string]*pairs.Index[pairs.Link]
}

func newMapLinks(rest pairs.Store) *mapLinks {
	return &mapLinks{Store: rest, bySync: map[string]*pairs.Index[pairs.Link]{}}
}

func (m *mapLinks) of(sync string) *pairs.Index[pairs.Link] {
	s := m.bySync[sync]
	if s == nil {
		s = pairs.NewIndex[pairs.Link]()
		m.bySync[sync] = s
	}
	return s
}

// Save replaces the links that hold either record of each link, in order, as the store's
// Save does.
func (m *mapLinks) Save(ctx context.Context, sync string, links []pairs.Link) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.of(sync)
	for _, l := range links {
		s.Put(l.A.ID, l.B.ID, l)
	}
	return nil
}

// Get returns the links of sync whose record on side has one of ids, by that id.
func (m *mapLinks) Get(ctx context.Context, sync string, side pairs.Side, ids []string) (map[string]pairs.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.of(sync)
	out := make(map[string]pairs.Link, len(ids))
	for _, id := range ids {
		if l, ok := s.Get(side, id); ok {
			out[id] = l.Item
		}
	}
	return out, nil
}

// Glance is Get link by link: a map gives the whole link as cheaply as a part of it.
func (m *mapLinks) Glance(ctx context.Context, sync string, side pairs.Side, ids []string, each func(i int, l *pairs.Link)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var found []pairs.Indexed[pairs.Link]
	var at []int
	m.mu.Lock()
	s := m.of(sync)
	for i, id := range ids {
		if l, ok := s.Get(side, id); ok {
			found, at = append(found, l), append(at, i)
		}
	}
	m.mu.Unlock()
	for j, l := range found {
		each(at[j], &l.Item)
	}
	return nil
}

// Delete removes the links of sync whose record on side has one of ids.
func (m *mapLinks) Delete(ctx context.Context, sync string, side pairs.Side, ids []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.of(sync)
	for _, id := range ids {
		s.Remove(side, id)
	}
	return nil
}

// all returns sync's links that keep, in side a id order.
func (m *mapLinks) all(sync string, keep func(pairs.Link) bool) []pairs.Link {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []pairs.Link
	for l := range m.of(sync).All() {
		if keep(l.Item) {
			out = append(out, l.Item)
		}
	}
	slices.SortFunc(out, func(x, y pairs.Link) int { return cmp.Compare(x.A.ID, y.A.ID) })
	return out
}

// Held returns up to limit held links of sync, soonest HeldUntil first.
func (m *mapLinks) Held(ctx context.Context, sync string, limit int) ([]pairs.Link, error) {
	held := m.all(sync, func(l pairs.Link) bool { return !l.HeldUntil.IsZero() })
	slices.SortStableFunc(held, func(x, y pairs.Link) int { return x.HeldUntil.Compare(y.HeldUntil) })
	return held[:min(limit, len(held))], ctx.Err()
}

// Count is how many live links sync has.
func (m *mapLinks) Count(ctx context.Context, sync string) (int, error) {
	return len(m.all(sync, func(l pairs.Link) bool { return l.Gone == "" })), ctx.Err()
}

// Scan returns up to limit links of sync after afterA in side a id order.
func (m *mapLinks) Scan(ctx context.Context, sync string, afterA string, limit int) ([]pairs.Link, error) {
	after := m.all(sync, func(l pairs.Link) bool { return l.A.ID > afterA })
	return after[:min(limit, len(after))], ctx.Err()
}

// ByKey returns up to 10 links of sync whose key is key.
func (m *mapLinks) ByKey(ctx context.Context, sync, key string) ([]pairs.Link, error) {
	keyed := m.all(sync, func(l pairs.Link) bool { return l.Key == key })
	return keyed[:min(10, len(keyed))], ctx.Err()
}
