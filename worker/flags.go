package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"tandem/internal/logging"
)

// options are the worker's flags.
type options struct {
	dev        bool
	configPath string
	dataDir    string
	port       int
	uiPort     int
	webhooks   string
	metrics    string
	logLevel   string
}

// command returns the worker's command: it parses the flags args, checks them, and calls
// run with them and the command's context.
func command(args []string, run func(ctx context.Context, o options) error) *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run Tandem's workflows and activities",
		Long: `worker runs Tandem's workflows and activities.

With --dev it also embeds a Temporal server (SQLite under --data-dir) and its Web UI, serves
the webhook ingress, and starts the syncs of --config itself; without --config it runs the
built-in demo sync. Otherwise it connects to the cluster the environment names:

  TEMPORAL_ADDRESS    the Temporal frontend, host:port (default 127.0.0.1:7233)
  TEMPORAL_NAMESPACE  the namespace (default "default")
  TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE  and the rest of Temporal's
                      standard client environment, for Temporal Cloud
  TANDEM_LINKS_DSN    a PostgreSQL database for the link store of two-way syncs
                      (default: links.db under --data-dir)`,
		Example: `  worker --dev                                   # the demo, on an embedded Temporal server
  worker --dev --config syncs.yaml               # your syncs, on an embedded Temporal server
  worker --config syncs.yaml --metrics 0.0.0.0:9090`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(cmd); err != nil {
				return err
			}
			return run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.BoolVar(&o.dev, "dev", false, "embed a Temporal server and Web UI, and start the syncs (demo sync without --config)")
	f.StringVar(&o.configPath, "config", "", "sync definitions file (syncs.yaml)")
	f.StringVar(&o.dataDir, "data-dir", ".tandem", "directory of the link store (links.db, unless "+linksEnv+" names a PostgreSQL database) and, in dev mode, of the embedded server's database")
	f.IntVar(&o.port, "port", 7233, "dev mode: Temporal frontend port on 127.0.0.1")
	f.IntVar(&o.uiPort, "ui-port", 0, "dev mode: Temporal Web UI port on 127.0.0.1 (default: --port + 1000, so 8233; 0: no UI)")
	f.StringVar(&o.webhooks, "webhooks", "", `address of the webhook ingress to run in this process (dev mode default 127.0.0.1:8080; "off" for none)`)
	f.StringVar(&o.metrics, "metrics", "", "address to serve Prometheus metrics on (GET /metrics), e.g. 0.0.0.0:9090; empty: none")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	cmd.SetArgs(longFlags(cmd, args))
	return cmd
}

// check validates the flags and fills the defaults that depend on others.
func (o *options) check(cmd *cobra.Command) error {
	if o.port < 1 || o.port > 65535 {
		return fmt.Errorf("--port %d: not a port (1 to 65535)", o.port)
	}
	if !cmd.Flags().Changed("ui-port") {
		// Temporal's own dev server puts its UI 1000 above the frontend; explain's links
		// assume the same.
		o.uiPort = o.port + 1000
	}
	if o.uiPort < 0 || o.uiPort > 65535 {
		return fmt.Errorf("--ui-port %d: not a port (1 to 65535, or 0 for no UI)", o.uiPort)
	}
	if _, err := logging.ParseLevel(o.logLevel); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if o.webhooks == "" && o.dev {
		o.webhooks = "127.0.0.1:8080"
	}
	if o.webhooks == "off" {
		o.webhooks = ""
	}
	return nil
}

// longFlags returns args with each long flag written with one dash (-config x,
// -dev=true), as the standard library's flag package took them before the worker moved
// to cobra, written with two; everything after "--" is left as it is.
func longFlags(cmd *cobra.Command, args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		out[i] = a
		if name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "="); len(a) > 2 && a[0] == '-' && a[1] != '-' && cmd.Flags().Lookup(name) != nil {
			out[i] = "-" + a
		}
	}
	return out
}
