package connectortest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// PostgresDSN returns the DSN of a live PostgreSQL for a test: the one TANDEM_POSTGRES_DSN
// names, or else a throwaway server it starts from the machine's PostgreSQL binaries
// (Debian's postgresql package) in a temporary directory, on a free loopback port, for the
// test's duration. It skips the test when there is neither (never fails it: a machine
// without PostgreSQL is not a broken build).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv("TANDEM_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return startPostgres(t)
}

func startPostgres(t testing.TB) string {
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
