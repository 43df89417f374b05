package pairs

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSQLiteSave saves the links of a two-way first run of 20,000 pairs into a
// SQLite store on disk, in batches of 500 as a run's pages save them, and reads each
// batch's links back by side a's ids as the next run's look-up does:
//
//	go test ./pairs -run '^$' -bench SQLite -benchtime 3x
func BenchmarkSQLiteSave(b *testing.B) {
	const n, batch = 20_000, 500
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	links := make([]Link, n)
	ids := make([]string, n)
	for i := range links {
		l := Link{Key: fmt.Sprintf("c%06d.example", i), Decision: "create", SyncedAt: at,
			A: Half{ID: fmt.Sprintf("a-%06d", i), FP: "0123456789abcdef", Values: map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%06d.example", i)}},
			B: Half{ID: fmt.Sprintf("b-%06d", i), FP: "fedcba9876543210", WroteAt: at, Values: map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%06d.example", i)}}}
		links[i], ids[i] = l, l.A.ID
	}
	for b.Loop() {
		b.StopTimer()
		s, err := OpenSQLite(filepath.Join(b.TempDir(), "links.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < n; i += batch {
			if err := s.Save(b.Context(), "bench", links[i:i+batch]); err != nil {
				b.Fatal(err)
			}
			got, err := s.Get(b.Context(), "bench", "a", ids[i:i+batch])
			if err != nil || len(got) != batch {
				b.Fatalf("get: %d links, %v", len(got), err)
			}
		}
		b.StopTimer()
		_ = s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "links/s")
}
