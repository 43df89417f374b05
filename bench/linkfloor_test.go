package main

import (
	"maps"
	"slices"
	"testing"
	"time"

	"tandem/pairs"
)

// The map behind -links map keeps links as the store does: a link replaces those that
// hold either of its records, in order; look-ups by either side; held, scan, key and count.
func TestMapLinks(t *testing.T) {
	ctx := t.Context()
	rest, err := pairs.OpenSQLite(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rest.Close() }()
	m := newMapLinks(rest)
	link := func(a, b, key string) pairs.Link {
		return pairs.Link{Key: key, A: pairs.Half{ID: a}, B: pairs.Half{ID: b}}
	}
	// a1-b1, a2-b1, a2-b2 leaves a2-b2 alone, as one Save and as Saves in a row.
	if err := m.Save(ctx, "s", []pairs.Link{link("a1", "b1", "k1"), link("a2", "b1", "k2"), link("a2", "b2", "k2")}); err != nil {
		t.Fatal(err)
	}
	held := link("a3", "b3", "k3")
	held.HeldUntil = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	if err := m.Save(ctx, "s", []pairs.Link{held, link("a4", "b4", "k2")}); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(ctx, "other", []pairs.Link{link("a1", "b1", "k1")}); err != nil {
		t.Fatal(err)
	}
	byB := map[string]pairs.Link{}
	if err := m.Glance(ctx, "s", "b", []string{"b1", "b2", "b3"}, func(i int, l *pairs.Link) { byB[[]string{"b1", "b2", "b3"}[i]] = *l }); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(byB)); !slices.Equal(got, []string{"b2", "b3"}) || byB["b2"].A.ID != "a2" || byB["b3"].B.ID != "b3" {
		t.Errorf("glance by b: %v", byB)
	}
	byA, err := m.Get(ctx, "s", "a", []string{"a1", "a2", "a4"})
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(byA)); !slices.Equal(got, []string{"a2", "a4"}) {
		t.Errorf("get by a: %v", byA)
	}
	if n, err := m.Count(ctx, "s"); err != nil || n != 3 {
		t.Errorf("count: %d, %v; want 3", n, err)
	}
	if h, err := m.Held(ctx, "s", 10); err != nil || len(h) != 1 || h[0].A.ID != "a3" {
		t.Errorf("held: %v, %v", h, err)
	}
	if s, err := m.Scan(ctx, "s", "a2", 1); err != nil || len(s) != 1 || s[0].A.ID != "a3" {
		t.Errorf("scan after a2: %v, %v", s, err)
	}
	if k, err := m.ByKey(ctx, "s", "k2"); err != nil || len(k) != 2 || k[0].A.ID != "a2" || k[1].A.ID != "a4" {
		t.Errorf("by key k2: %v, %v", k, err)
	}
	if err := m.Delete(ctx, "s", "b", []string{"b2"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Count(ctx, "s"); n != 2 {
		t.Errorf("count after deleting b2's link: %d, want 2", n)
	}
	if n, _ := m.Count(ctx, "other"); n != 1 {
		t.Errorf("the other sync's links: %d, want 1", n)
	}
}
