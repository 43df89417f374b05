package sqldb

import (
	"fmt"
	"testing"

	"tandem/connectors"
	"tandem/connectors/connectortest"
)

// BenchmarkUpsert1000 upserts batches of 1,000 records by a unique key (the connector's
// default max_batch of 500, so two transactions a call), as a backfill's writes into an
// empty table do (Create: every key new) and as a rerun's do (Update: every key there),
// on SQLite and, when the machine has it, on a throwaway PostgreSQL. rows/s is the
// records written per second.
//
//	go test ./connectors/sqldb -run '^$' -bench Upsert1000 -benchtime 20x
func BenchmarkUpsert1000(b *testing.B) {
	const n = 1000
	run := func(b *testing.B, c *Conn) {
		// batch is the i-th batch of records whose domains start with prefix.
		batch := func(prefix string, i int, name string) []connectors.Record {
			recs := make([]connectors.Record, n)
			for j := range recs {
				k := i*n + j
				recs[j].Fields = map[string]any{"name": fmt.Sprint(name, " ", k), "domain": fmt.Sprintf("%s%d.example.com", prefix, k),
					"phone": fmt.Sprint("+1 555 ", k), "employees": float64(k)}
			}
			return recs
		}
		upsert := func(b *testing.B, recs []connectors.Record, created bool) {
			res, err := c.Upsert(b.Context(), "companies", "domain", recs)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range res {
				if r.Err != nil || r.Created != created {
					b.Fatalf("result %+v, want Created %v", r, created)
				}
			}
		}
		// The sub-benchmarks run more than once on the same table (-count, and b.N
		// found by trial): each run writes keys of its own.
		runs := 0
		b.Run("Create", func(b *testing.B) {
			runs++
			prefix := fmt.Sprint("create", runs, "-")
			i := 0
			for b.Loop() {
				upsert(b, batch(prefix, i, "Company"), true)
				i++
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run("Update", func(b *testing.B) {
			runs++
			prefix := fmt.Sprint("update", runs, "-")
			upsert(b, batch(prefix, 0, "Company"), true)
			i := 0
			for b.Loop() {
				upsert(b, batch(prefix, 0, fmt.Sprint("Renamed ", i)), false)
				i++
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	b.Run("SQLite", func(b *testing.B) {
		run(b, openSQLite(b, nil, companiesTable))
	})
	b.Run("PostgreSQL", func(b *testing.B) {
		run(b, openPostgres(b, connectortest.PostgresDSN(b), nil, pgCompaniesTable))
	})
}
