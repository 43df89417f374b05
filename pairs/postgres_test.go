package pairs

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"sync"
	"tandem/connectors/connectortest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPostgresStore runs the Store behaviour against a live PostgreSQL: the one
// TANDEM_POSTGRES_DSN names (a throwaway database: the test drops and recreates the schema
// tandem_links in it, and a table public.links), or else a throwaway server it starts from
// the machine's PostgreSQL binaries (Debian's postgresql package). With neither it is
// skipped.
func TestPostgresStore(t *testing.T) {
	t.Parallel()
	dsn := connectortest.PostgresDSN(t)
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	ctx := context.Background()
	// fresh drops the link store's schema, so a test sees no other test's rows.
	fresh := func(t *testing.T) {
		t.Helper()
		_, err := admin.ExecContext(ctx, `DROP SCHEMA IF EXISTS tandem_links CASCADE`)
		require.NoError(t, err)
	}
	open := func(t *testing.T) Store {
		t.Helper()
		s, err := Open(dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	testStore(t, func(t *testing.T) Store {
		fresh(t)
		return open(t)
	})

	// An id PostgreSQL's text cannot hold (not UTF-8, or a NUL byte) failed the whole call
	// with `invalid byte sequence for encoding "UTF8"`, naming no record: such a record
	// has no link to find, and saving one says which.
	t.Run("IDsTextCannotHold", func(t *testing.T) {
		fresh(t)
		s := open(t)
		require.NoError(t, s.Save(ctx, "s", []Link{testLink("a1", "b1")}))
		for _, bad := range []string{"a-\xff1", "a-\x001"} {
			got, err := s.Get(ctx, "s", "a", []string{bad, "a1"})
			require.NoError(t, err)
			assert.Equal(t, []string{"a1"}, slices.Collect(maps.Keys(got)))
			glanced, err := glance(ctx, t, s, "s", "a", []string{"a1", bad})
			require.NoError(t, err)
			assert.Len(t, glanced, 1)
			require.NoError(t, s.Delete(ctx, "s", "a", []string{bad}))
			_, err = s.DropFailures(ctx, "s", "a", []string{bad})
			require.NoError(t, err)
			require.NoError(t, s.DropDeletes(ctx, "s", "a", []string{bad}))

			err = s.Save(ctx, "s", []Link{testLink("a2", "b2"), testLink(bad, "b3")})
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", bad))
			assert.Contains(t, err.Error(), "PostgreSQL")
			err = s.AddFailures(ctx, "s", []Failure{{Side: "a", ID: bad, Reason: "x", LastAt: at(0)}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", bad))
			err = s.AddDeletes(ctx, "s", []PendingDelete{{Side: "b", ID: "b1", PartnerID: bad, How: "diff", DetectedAt: at(0)}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", bad))
		}
		n, err := s.Count(ctx, "s")
		require.NoError(t, err)
		assert.Equal(t, 1, n, "the refused saves wrote nothing")
	})

	t.Run("Schema", func(t *testing.T) {
		fresh(t)
		// A table of the user's named links, in the default schema: the store leaves it be.
		_, err := admin.ExecContext(ctx, `DROP TABLE IF EXISTS public.links`)
		require.NoError(t, err)
		_, err = admin.ExecContext(ctx, `CREATE TABLE public.links (id INTEGER PRIMARY KEY, sync TEXT)`)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = admin.ExecContext(ctx, `DROP TABLE IF EXISTS public.links`) })
		_, err = admin.ExecContext(ctx, `INSERT INTO public.links VALUES (1, 's')`)
		require.NoError(t, err)

		s := open(t)
		require.NoError(t, s.Save(ctx, "s", []Link{testLink("a1", "b1")}))
		var schemas []string
		rows, err := admin.QueryContext(ctx, `SELECT table_schema FROM information_schema.tables
			WHERE table_name = 'links' ORDER BY table_schema`)
		require.NoError(t, err)
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			schemas = append(schemas, s)
		}
		require.NoError(t, rows.Err())
		_ = rows.Close()
		assert.Equal(t, []string{"public", "tandem_links"}, schemas)
		var n int
		require.NoError(t, admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM tandem_links.links WHERE a_id = 'a1'`).Scan(&n))
		assert.Equal(t, 1, n)
		require.NoError(t, admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM public.links`).Scan(&n))
		assert.Equal(t, 1, n, "the user's table is untouched")
	})

	t.Run("ConcurrentOpenAndReopen", func(t *testing.T) {
		fresh(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		stores := make([]Store, 4)
		for i := range stores {
			wg.Go(func() { stores[i], errs[i] = Open(dsn) })
		}
		wg.Wait()
		for i, s := range stores {
			require.NoError(t, errs[i], "the first opens race to create the schema")
			t.Cleanup(func() { _ = s.Close() })
		}
		want := fullLink("a1", "b1")
		require.NoError(t, stores[0].Save(ctx, "s", []Link{want}))
		require.NoError(t, stores[0].Close())

		s := open(t)
		got, err := s.Get(ctx, "s", "b", []string{"b1"})
		require.NoError(t, err)
		requireSameLink(t, want, got["b1"])
	})
}

// TestPostgresErrorsHideDSN checks that a DSN's password never reaches an error, whether
// the DSN does not parse or the server is unreachable. It needs no server.
func TestPostgresErrorsHideDSN(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:s3cr%zzet@127.0.0.1:1/db",
		"postgresql://u:s3cret@127.0.0.1:1/db?sslmode=bogus",
		"postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=5&sslmode=disable",
		"host=127.0.0.1 port=1 user=u password=s3cret dbname=db connect_timeout=5 sslmode=disable",
		"host=127.0.0.1 port=x password='s3cret'",
	} {
		s, err := Open(dsn)
		if !assert.Error(t, err, dsn) {
			_ = s.Close()
			continue
		}
		assert.NotContains(t, err.Error(), "s3cr", dsn)
		assert.Contains(t, err.Error(), "link store (postgres): ", dsn)
	}
}
