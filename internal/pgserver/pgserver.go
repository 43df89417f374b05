// Package pgserver starts a throwaway PostgreSQL server from the machine's PostgreSQL
// binaries (Debian's postgresql package: /usr/lib/postgresql/<version>/bin), in a
// temporary directory, on a free loopback port, with trust authentication and fsync off.
// Benchmarks start one directly; tests through connectortest.PostgresDSN.
package pgserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// User is the superuser the server is initialised with (no password: trust on loopback).
const User = "tandem"

// Server is a running throwaway PostgreSQL. Stop it when done.
type Server struct {
	dir    string
	data   string
	port   int
	run    func(name string, args ...string) error
	once   sync.Once
	stopEr error
}

// ErrNoBinaries is returned by Start when the machine has no PostgreSQL binaries.
var ErrNoBinaries = errors.New("no PostgreSQL binaries (/usr/lib/postgresql/*/bin/initdb)")

// Start initialises a cluster in a new temporary directory and starts it. Extra server
// settings (name=value, e.g. "max_connections=300") are passed with -c.
func Start(settings ...string) (*Server, error) {
	initdbs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(initdbs) == 0 {
		return nil, ErrNoBinaries
	}
	bin := filepath.Dir(initdbs[len(initdbs)-1])
	dir, err := os.MkdirTemp("", "tandem-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	fail := func(err error) (*Server, error) {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// PostgreSQL refuses to run as root: run it as the postgres user then.
	var prefix []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("running as root and no postgres user: %w", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
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
		return fail(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	data := filepath.Join(dir, "data")
	if err := run("initdb", "-D", data, "-U", User, "--auth=trust", "--no-sync"); err != nil {
		return fail(err)
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir)
	for _, s := range settings {
		opts += " -c " + s
	}
	if err := run("pg_ctl", "-D", data, "-w", "-l", filepath.Join(dir, "log"), "-o", opts, "start"); err != nil {
		return fail(err)
	}
	return &Server{dir: dir, data: data, port: port, run: run}, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is a postgres:// URL of database db on the server, as User.
func (s *Server) URL(db string) string {
	return "postgres://" + User + "@" + s.Addr() + "/" + db + "?sslmode=disable"
}

// Pid is the process id of the server's postmaster, or 0 when it cannot be read.
func (s *Server) Pid() int {
	b, err := os.ReadFile(filepath.Join(s.data, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// LogFile is the server's log.
func (s *Server) LogFile() string { return filepath.Join(s.dir, "log") }

// Stop stops the server at once (no checkpoint: the data is thrown away) and removes its
// directory. It is safe to call more than once.
func (s *Server) Stop() error {
	s.once.Do(func() {
		s.stopEr = s.run("pg_ctl", "-D", s.data, "-m", "immediate", "stop")
		if err := os.RemoveAll(s.dir); err != nil && s.stopEr == nil {
			s.stopEr = err
		}
	})
	return s.stopEr
}
