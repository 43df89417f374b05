package pairs

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/connectors/connectortest"
)

// BenchmarkSave saves the links of a two-way first run of 100,000 pairs (20,000 before
// wave 2, session 6), in batches of 500 as a run's pages save them, and reads each
// batch's links back by side a's ids as the next run's look-up does: in a SQLite store on disk (the worker's default) and in a
// PostgreSQL store on a throwaway server (skipped without PostgreSQL binaries):
//
//	go test ./pairs -run '^$' -bench Save -benchtime 2x
func BenchmarkSave(b *testing.B) {
	const n, batch = 100_000, 500
	links, ids := benchLinks(n)
	stores := []struct {
		name string
		open func(b *testing.B, i int) (Store, string)
	}{
		{"sqlite", func(b *testing.B, _ int) (Store, string) {
			s, err := OpenSQLite(filepath.Join(b.TempDir(), "links.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s, "bench"
		}},
		{"postgres", func(b *testing.B, i int) (Store, string) {
			s, err := Open(connectortest.PostgresDSN(b))
			if err != nil {
				b.Fatal(err)
			}
			return s, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i) // a sync of its own
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				b.StopTimer()
				s, sync := st.open(b, i)
				i++
				b.StartTimer()
				for i := 0; i < n; i += batch {
					if err := s.Save(b.Context(), sync, links[i:i+batch]); err != nil {
						b.Fatal(err)
					}
					got, err := s.Get(b.Context(), sync, "a", ids[i:i+batch])
					if err != nil || len(got) != batch {
						b.Fatalf("get: %d links, %v", len(got), err)
					}
				}
				b.StopTimer()
				_ = s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "links/s")
		})
	}
}

// benchLinks are n links of a two-way first run, and their side a ids.
func benchLinks(n int) ([]Link, []string) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	links := make([]Link, n)
	ids := make([]string, n)
	for i := range links {
		l := Link{Key: fmt.Sprintf("c%06d.example", i), Decision: "create", SyncedAt: at,
			A: Half{ID: fmt.Sprintf("a-%06d", i), FP: "0123456789abcdef", Values: map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%06d.example", i)}},
			B: Half{ID: fmt.Sprintf("b-%06d", i), FP: "fedcba9876543210", WroteAt: at, Values: map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%06d.example", i)}}}
		links[i], ids[i] = l, l.A.ID
	}
	return links, ids
}

// BenchmarkSaveTransactions saves 100,000 links in a SQLite store on disk, in
// transactions of 100 (a page's links, as a two-way chunk saved them before wave 2,
// session 7), 500 and 1,000 (the most a chunk gathers for one save), and with side a's
// ids in no order in transactions of 500, 1,000 and 4,000:
//
//	go test ./pairs -run '^$' -bench SaveTransactions -benchtime 3x
func BenchmarkSaveTransactions(b *testing.B) {
	const n = 100_000
	links, _ := benchLinks(n)
	for _, batch := range []int{100, 500, 1000} {
		b.Run(fmt.Sprintf("links=%d", batch), saveInBatches(links, batch))
	}
	// A sync named as the examples' are: the store keeps a number for it in each link.
	b.Run("sync salesforce-accounts-to-netsuite-customers, links=1000",
		saveInBatchesOf("salesforce-accounts-to-netsuite-customers", links, 1000))
	// A CRM's records read in the order of their last change: side a's ids in no order
	// (the bench's memory service reads them in id order), side b's in order (the ids the
	// target gave the records Tandem created, one after the other).
	shuffled, _ := benchLinks(n)
	ids := make([]string, n)
	for i, j := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
		ids[i] = shuffled[j].A.ID
	}
	for i := range shuffled {
		shuffled[i].A.ID = ids[i]
	}
	for _, batch := range []int{500, 1000, 4000} {
		b.Run(fmt.Sprintf("side a ids in no order, links=%d", batch), saveInBatches(shuffled, batch))
	}
}

// saveInBatches saves links of sync "companies" in a new SQLite store on disk, batch
// links to a Save, and reports links/s.
func saveInBatches(links []Link, batch int) func(b *testing.B) {
	return saveInBatchesOf("companies", links, batch)
}

// saveInBatchesOf is saveInBatches for the sync named sync.
func saveInBatchesOf(sync string, links []Link, batch int) func(b *testing.B) {
	return func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s, err := OpenSQLite(filepath.Join(b.TempDir(), "links.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			for i := 0; i < len(links); i += batch {
				if err := s.Save(b.Context(), sync, links[i:min(i+batch, len(links))]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			_ = s.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(len(links)*b.N)/b.Elapsed().Seconds(), "links/s")
	}
}

// BenchmarkSaveFloor puts the link store's cost in perspective, 100,000 links in
// transactions of 500 in a SQLite file: the store's Save with the bench's links (two
// fields a side, as the two-way bench's companies) and with twenty fields a side (a CRM
// sync's), and the least a link could cost in this SQLite: a row of the sync and the two
// ids alone, under the same two unique indexes, by the same prepared statement per row.
//
//	go test ./pairs -run '^$' -bench SaveFloor -benchtime 3x
func BenchmarkSaveFloor(b *testing.B) {
	const n, batch = 100_000, 500
	narrow, _ := benchLinks(n)
	wide, _ := benchLinks(n)
	for i := range wide {
		for j := range 20 {
			f, v := fmt.Sprintf("field_%02d", j), fmt.Sprintf("value %d of record %d, some text", j, i)
			wide[i].A.Values[f], wide[i].B.Values[f] = v, v
		}
	}
	b.Run("store, 2 fields a side", saveInBatches(narrow, batch))
	b.Run("store, 20 fields a side", saveInBatches(wide, batch))
	b.Run("ids alone", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			db, err := sql.Open("sqlite3", "file:"+filepath.Join(b.TempDir(), "ids.db")+"?_pragma=journal_mode(WAL)")
			if err != nil {
				b.Fatal(err)
			}
			db.SetMaxOpenConns(1)
			if _, err := db.Exec(`CREATE TABLE links (sync TEXT NOT NULL, a_id TEXT NOT NULL, b_id TEXT NOT NULL, PRIMARY KEY (sync, a_id), UNIQUE (sync, b_id))`); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			for i := 0; i < n; i += batch {
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				st, err := tx.Prepare(`INSERT OR REPLACE INTO links (sync, a_id, b_id) VALUES (?, ?, ?)`)
				if err != nil {
					b.Fatal(err)
				}
				for _, l := range narrow[i : i+batch] {
					if _, err := st.Exec("companies", l.A.ID, l.B.ID); err != nil {
						b.Fatal(err)
					}
				}
				_ = st.Close()
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			_ = db.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "links/s")
	})
}

// BenchmarkGlance looks 100,000 links up in a SQLite store on disk, 500 ids at a time, as
// the pass of a two-way first run over the side Tandem just wrote does (by side b's ids:
// every one linked), and as the pass over the other side does (by side a's ids of another
// sync: none linked): from the store that saved them (its cache answers) and from the file
// (a store without its cache, as after a restart):
//
//	go test ./pairs -run '^$' -bench Glance -benchtime 3x
func BenchmarkGlance(b *testing.B) {
	const n, batch = 100_000, 500
	links, _ := benchLinks(n)
	path := filepath.Join(b.TempDir(), "links.db")
	st, err := OpenSQLite(path)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	cached := st.(*sqlStore)
	if err := cached.Glance(b.Context(), "companies", "b", []string{"b-none"}, func(int, *Link) {}); err != nil {
		b.Fatal(err) // met first by a look-up: complete in the cache
	}
	for i := 0; i < n; i += batch {
		if err := cached.Save(b.Context(), "companies", links[i:i+batch]); err != nil {
			b.Fatal(err)
		}
	}
	st2, err := OpenSQLite(path)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st2.Close() }()
	file := st2.(*sqlStore)
	file.cache = nil
	bIDs := make([]string, n)
	for i, l := range links {
		bIDs[i] = l.B.ID
	}
	for _, c := range []struct {
		name, sync string
		s          *sqlStore
	}{{"linked/cached", "companies", cached}, {"linked/file", "companies", file},
		{"unlinked/cached", "another", cached}, {"unlinked/file", "another", file}} {
		b.Run(c.name, func(b *testing.B) {
			want := batch
			if c.sync != "companies" {
				want = 0
			}
			for b.Loop() {
				for i := 0; i < n; i += batch {
					found := 0
					err := c.s.Glance(b.Context(), c.sync, "b", bIDs[i:i+batch], func(int, *Link) { found++ })
					if err != nil || found != want {
						b.Fatalf("glance: %d links, %v", found, err)
					}
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "ids/s")
		})
	}
}

// BenchmarkDropFailures forgets the failures of 100,000 written records, 500 ids at a
// time, as every page of a sync does: for a sync with no failures remembered (most), and
// for one with a failure among each 500 ids.
//
//	go test ./pairs -run '^$' -bench DropFailures -benchtime 3x
func BenchmarkDropFailures(b *testing.B) {
	const n, batch = 100_000, 500
	s, err := OpenSQLite(filepath.Join(b.TempDir(), "links.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("b-%08d", i)
	}
	for _, c := range []struct {
		name  string
		every int // a failure every this many ids; 0: none
	}{{"none remembered", 0}, {"one in 500", batch}} {
		b.Run(c.name, func(b *testing.B) {
			sync := "sync-" + strings.ReplaceAll(c.name, " ", "-")
			dropped := 0
			for b.Loop() {
				b.StopTimer()
				var fs []Failure
				for i := 0; c.every > 0 && i < n; i += c.every {
					fs = append(fs, Failure{Side: "b", ID: ids[i], Reason: "refused", FirstAt: time.Now(), LastAt: time.Now(), Attempts: 1})
				}
				if err := s.AddFailures(b.Context(), sync, fs); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for i := 0; i < n; i += batch {
					k, err := s.DropFailures(b.Context(), sync, "b", ids[i:i+batch])
					if err != nil {
						b.Fatal(err)
					}
					dropped += k
				}
			}
			want := 0
			if c.every > 0 {
				want = b.N * n / c.every
			}
			if dropped != want {
				b.Fatalf("dropped %d, want %d", dropped, want)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "ids/s")
		})
	}
}
