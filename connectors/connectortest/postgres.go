package connectortest

import (
	"errors"
	"os"
	"testing"

	"tandem/internal/pgserver"
)

// PostgresDSN returns the DSN of a live PostgreSQL for a test: the one TANDEM_POSTGRES_DSN
// names, or else a throwaway server (internal/pgserver) started from the machine's
// PostgreSQL binaries for the test's duration. It skips the test when there is neither
// (never fails it: a machine without PostgreSQL is not a broken build).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv("TANDEM_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	srv, err := pgserver.Start()
	if errors.Is(err, pgserver.ErrNoBinaries) {
		t.Skip("no PostgreSQL binaries (/usr/lib/postgresql/*/bin) and TANDEM_POSTGRES_DSN is not set")
	}
	if err != nil {
		t.Skipf("PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv.URL("postgres")
}
