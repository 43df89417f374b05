package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parse runs the worker's command on args with a run that only keeps the options.
func parse(t *testing.T, args ...string) (options, string, error) {
	t.Helper()
	var got options
	var out bytes.Buffer
	cmd := command(args, func(_ context.Context, o options) error {
		got = o
		return nil
	})
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(t.Context())
	return got, out.String(), err
}

func TestFlags(t *testing.T) {
	defaults := options{dataDir: ".tandem", port: 7233, uiPort: 8233, logLevel: "info"}
	for _, tc := range []struct {
		name string
		args []string
		want func(o *options)
	}{
		{"defaults", nil, func(o *options) {}},
		{"dev mode serves webhooks", []string{"--dev"}, func(o *options) { o.dev, o.webhooks = true, "127.0.0.1:8080" }},
		{"every flag", []string{"--dev", "--config", "syncs.yaml", "--data-dir", "/var/lib/tandem", "--port", "7300",
			"--ui-port", "9000", "--webhooks", "0.0.0.0:8081", "--metrics", "0.0.0.0:9090", "--log-level", "debug"}, func(o *options) {
			*o = options{dev: true, configPath: "syncs.yaml", dataDir: "/var/lib/tandem", port: 7300, uiPort: 9000,
				webhooks: "0.0.0.0:8081", metrics: "0.0.0.0:9090", logLevel: "debug"}
		}},
		{"the UI follows the port", []string{"--port=7300"}, func(o *options) { o.port, o.uiPort = 7300, 8300 }},
		{"no UI", []string{"--ui-port", "0"}, func(o *options) { o.uiPort = 0 }},
		{"no webhooks in dev mode", []string{"--dev", "--webhooks", "off"}, func(o *options) { o.dev = true }},
		{"one dash, as the flag package took them", []string{"-dev", "-config", "syncs.yaml", "-port=7300"}, func(o *options) {
			o.dev, o.configPath, o.port, o.uiPort, o.webhooks = true, "syncs.yaml", 7300, 8300, "127.0.0.1:8080"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := defaults
			tc.want(&want)
			got, _, err := parse(t, tc.args...)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"--port", "abc"}, `invalid argument "abc" for "--port" flag`},
		{[]string{"--port", "0"}, "--port 0: not a port (1 to 65535)"},
		{[]string{"--ui-port", "70000"}, "--ui-port 70000: not a port"},
		{[]string{"--log-level", "loud"}, `--log-level: unknown log level "loud": use one of`},
		{[]string{"--config"}, "flag needs an argument: --config"},
		{[]string{"syncs.yaml"}, `unknown command "syncs.yaml" for "worker"`},
	} {
		ran := false
		cmd := command(tc.args, func(context.Context, options) error { ran = true; return nil })
		cmd.SetOut(&bytes.Buffer{})
		err := cmd.ExecuteContext(t.Context())
		if assert.Error(t, err, "%q", tc.args) {
			assert.Contains(t, err.Error(), tc.want, "%q", tc.args)
		}
		assert.False(t, ran, "%q: the worker does not start", tc.args)
	}
}

func TestHelp(t *testing.T) {
	_, out, err := parse(t, "--help")
	require.NoError(t, err)
	for _, want := range []string{"--dev", "--config string", `--data-dir string`, `(default ".tandem")`, "--port int", "(default 7233)",
		"--ui-port", "--webhooks", "--metrics", "--log-level", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TANDEM_LINKS_DSN"} {
		assert.Contains(t, out, want)
	}
}

// Every `go run ./worker` command line of README.md and examples/README.md parses.
func TestREADMECommandLines(t *testing.T) {
	lines := 0
	for _, path := range []string{"../README.md", "../examples/README.md"} {
		f, err := os.Open(path)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			_, cmdline, ok := strings.Cut(sc.Text(), "go run ./worker")
			if !ok || strings.HasPrefix(cmdline, "/") {
				continue
			}
			cmdline, _, _ = strings.Cut(cmdline, "#")
			cmdline, _, _ = strings.Cut(cmdline, "`")
			args := strings.Fields(cmdline)
			_, _, err := parse(t, args...)
			assert.NoError(t, err, "%s: go run ./worker%s", path, cmdline)
			lines++
		}
		require.NoError(t, sc.Err())
		require.NoError(t, f.Close())
	}
	assert.GreaterOrEqual(t, lines, 4, "the READMEs' worker command lines were found")
}
