package sqldb

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
)

// TestPostgresConformance runs the conformance suite against a live PostgreSQL: the one
// TANDEM_POSTGRES_DSN names (a database the test may create and drop a companies table
// in), or else a throwaway server it starts from the machine's PostgreSQL binaries
// (Debian's postgresql package). With neither it is skipped.
func TestPostgresConformance(t *testing.T) {
	dsn := os.Getenv("TANDEM_POSTGRES_DSN")
	if dsn == "" {
		dsn = startPostgres(t)
	}
	openPG := func(t *testing.T) *Conn {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		defer db.Close()
		_, err = db.Exec(`DROP TABLE IF EXISTS companies`)
		require.NoError(t, err)
		_, err = db.Exec(`CREATE TABLE companies (
			id BIGSERIAL PRIMARY KEY,
			name TEXT NOT NULL CHECK (name <> ''),
			domain TEXT UNIQUE,
			phone TEXT,
			employees INTEGER,
			updated_at TIMESTAMPTZ NOT NULL)`)
		require.NoError(t, err)
		c, err := Factory("db", connectors.Settings{"driver": "postgres", "dsn": dsn, "key_columns": "domain"})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.(*Conn).Close() })
		return c.(*Conn)
	}
	connectortest.Run(t, connectortest.Driver{
		New:      func(t *testing.T) connectors.Connector { return openPG(t) },
		Object:   "companies",
		KeyField: "domain",
		NewFields: func(i int) map[string]any {
			return map[string]any{
				"name":      fmt.Sprintf("Company %d", i),
				"domain":    fmt.Sprintf("company-%d.example.com", i),
				"phone":     fmt.Sprintf("+1 555 %04d", i),
				"employees": float64(10 + i),
			}
		},
		Mutate: func(f map[string]any) map[string]any {
			f["name"] = fmt.Sprint(f["name"], " (renamed)")
			f["employees"] = f["employees"].(float64) + 1
			return f
		},
		Invalid: func() map[string]any { return map[string]any{"name": "", "domain": "invalid.example.com"} },
		SetUpdatedAt: func(t *testing.T, c connectors.Connector, object, id string, at time.Time) {
			_, err := c.(*Conn).db.Exec(`UPDATE companies SET updated_at = $1 WHERE id = $2`, stampArg(at), id)
			require.NoError(t, err)
		},
		MissingID: "999999",
	})
	t.Run("UpdateIfUnchangedRows", func(t *testing.T) { testUpdateIfUnchanged(t, openPG(t)) })
}

// startPostgres starts a PostgreSQL server in a temporary directory, on a free loopback
// port, for the test's duration, and returns its DSN. It skips the test when the machine
// has no PostgreSQL binaries or the server cannot be started (never fails it: a machine
// without PostgreSQL is not a broken build).
func startPostgres(t *testing.T) string {
	t.Helper()
	initdbs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(initdbs) == 0 {
		t.Skip("no PostgreSQL binaries (/usr/lib/postgresql/*/bin) and TANDEM_POSTGRES_DSN is not set")
	}
	bin := filepath.Dir(initdbs[len(initdbs)-1])
	dir, err := os.MkdirTemp("", "tandem-pg-")
	if err != nil {
		t.Skipf("PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// PostgreSQL refuses to run as root: run it as the postgres user then.
	var prefix []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("PostgreSQL: running as root and no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Skipf("PostgreSQL: %v", err)
		}
		prefix = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(name string, args ...string) error {
		argv := append(append(append([]string{}, prefix...), filepath.Join(bin, name)), args...)
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", name, err, out)
		}
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("PostgreSQL: %v", err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	data := filepath.Join(dir, "data")
	if err := run("initdb", "-D", data, "-U", "tandem", "--auth=trust", "--no-sync"); err != nil {
		t.Skipf("PostgreSQL: %v", err)
	}
	if err := run("pg_ctl", "-D", data, "-w", "-l", filepath.Join(dir, "log"),
		"-o", "-p "+port+" -k "+dir+" -c listen_addresses=127.0.0.1 -c fsync=off", "start"); err != nil {
		t.Skipf("PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = run("pg_ctl", "-D", data, "-m", "immediate", "stop") })
	return "postgres://tandem@127.0.0.1:" + port + "/postgres"
}
