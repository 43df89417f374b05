// Package cli holds the starter command's verbs: start, status, pause, resume, sync-now
// and resync. They talk to a sync's workflow through the Temporal client, print plain
// lines, and fail with one line that says what went wrong.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"tandem/connectors/builtin"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/workflows"
)

// starter holds what every verb shares.
type starter struct {
	configPath string
	out        io.Writer
	dial       Dialer
}

// Dialer connects to Temporal.
type Dialer func(ctx context.Context) (client.Client, error)

// Starter returns the starter command. A nil dial reaches Temporal through the standard
// environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE).
func Starter(out io.Writer, dial Dialer) *cobra.Command {
	s := &starter{out: out, dial: dial}
	if s.dial == nil {
		s.dial = func(ctx context.Context) (client.Client, error) {
			return app.DialEnv(ctx, nil)
		}
	}
	root := &cobra.Command{
		Use:           "starter",
		Short:         "Start, inspect and drive Tandem syncs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.PersistentFlags().StringVar(&s.configPath, "config", "", "sync definitions file (syncs.yaml); names are checked against it")

	var syncName string
	addSync := func(c *cobra.Command, required bool) {
		c.Flags().StringVar(&syncName, "sync", "", "name of the sync")
		if required {
			_ = c.MarkFlagRequired("sync")
		}
	}

	start := &cobra.Command{
		Use:   "start",
		Short: "Start a sync's workflow (every sync of --config when --sync is not given)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return s.withClient(cmd.Context(), func(ctx context.Context, c client.Client) error {
				names, err := s.targets(ctx, c, syncName, false)
				if err != nil {
					return err
				}
				for _, n := range names {
					run, started, err := app.StartSync(ctx, c, n)
					if err != nil {
						return err
					}
					verb := "started"
					if !started {
						verb = "already running"
					}
					fmt.Fprintf(s.out, "sync %s: %s (workflow %s, run %s)\n", n, verb, run.GetID(), run.GetRunID())
				}
				return nil
			})
		},
	}
	addSync(start, false)

	var asJSON, watch bool
	var interval time.Duration
	var watchCount int
	status := &cobra.Command{
		Use:   "status",
		Short: "Show a sync's state: cursor, next run, last run, totals, failed records",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return s.withClient(cmd.Context(), func(ctx context.Context, c client.Client) error {
				names, err := s.targets(ctx, c, syncName, true)
				if err != nil {
					return err
				}
				if watch {
					return s.watch(cmd.Context(), c, names, interval, watchCount)
				}
				var all []workflows.Status
				for _, n := range names {
					st, err := app.Status(ctx, c, n)
					if err != nil {
						return explainMissing(ctx, c, err, n)
					}
					all = append(all, st)
				}
				if asJSON {
					enc := json.NewEncoder(s.out)
					enc.SetIndent("", "  ")
					if syncName != "" {
						return enc.Encode(all[0])
					}
					return enc.Encode(all)
				}
				if len(all) == 0 {
					fmt.Fprintln(s.out, "no syncs are running (start one with `starter start`)")
				}
				now := time.Now()
				for i, st := range all {
					if i > 0 {
						fmt.Fprintln(s.out)
					}
					WriteStatus(s.out, st, now)
				}
				return nil
			})
		},
	}
	addSync(status, false)
	status.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	status.Flags().BoolVar(&watch, "watch", false, "follow the sync live: a progress bar while a run reads (plain lines when not a terminal)")
	status.Flags().DurationVar(&interval, "interval", time.Second, "with --watch: time between refreshes")
	status.Flags().IntVar(&watchCount, "count", 0, "with --watch: stop after this many refreshes (0: until Ctrl-C)")

	signalVerb := func(use, short, signal string, arg func() (any, error)) *cobra.Command {
		c := &cobra.Command{
			Use:   use,
			Short: short,
			RunE: func(cmd *cobra.Command, _ []string) error {
				var payload any
				if arg != nil {
					var err error
					if payload, err = arg(); err != nil {
						return err
					}
				}
				return s.withClient(cmd.Context(), func(ctx context.Context, c client.Client) error {
					if _, err := s.targets(ctx, c, syncName, false); err != nil {
						return err
					}
					if err := app.Signal(ctx, c, syncName, signal, payload); err != nil {
						return explainMissing(ctx, c, err, syncName)
					}
					fmt.Fprintf(s.out, "sync %s: %s sent\n", syncName, signal)
					return nil
				})
			},
		}
		addSync(c, true)
		return c
	}
	var from, side string
	resync := signalVerb("resync", "Rewind a sync's cursor to --from and read every change since again", workflows.SignalResync, func() (any, error) {
		t, err := parseTime(from)
		if err != nil {
			return nil, fmt.Errorf("--from: %w", err)
		}
		if side != "" && side != "a" && side != "b" {
			return nil, fmt.Errorf("--side: %q is not a side (want a or b, or none for every side)", side)
		}
		return workflows.ResyncSignal{Side: side, From: t}, nil
	})
	resync.Flags().StringVar(&from, "from", "", "time to rewind to (RFC 3339, or YYYY-MM-DD)")
	resync.Flags().StringVar(&side, "side", "", "side whose cursor to rewind (a or b); default: every side the sync reads (both of a two-way sync)")
	_ = resync.MarkFlagRequired("from")

	root.AddCommand(start, status,
		signalVerb("pause", "Pause a sync: no run starts until resume", workflows.SignalPause, nil),
		signalVerb("resume", "Resume a paused sync", workflows.SignalResume, nil),
		signalVerb("sync-now", "Run a sync now instead of waiting for its schedule", workflows.SignalSyncNow, nil),
		resync,
		WebhooksCommand(dial, out),
		replayCommand(s, out),
		explainCommand(s, out),
		setupCommand(s, out),
	)
	return root
}

func (s *starter) withClient(ctx context.Context, f func(context.Context, client.Client) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return f(ctx, c)
}

// targets resolves the syncs a verb acts on: the one named, checked against --config when
// given, or every sync (of --config, or, for status, every running one).
func (s *starter) targets(ctx context.Context, c client.Client, name string, running bool) ([]string, error) {
	var defined []string
	if s.configPath != "" {
		f, err := s.loadConfig()
		if err != nil {
			return nil, err
		}
		defined = f.SyncNames()
	}
	if name != "" {
		if defined != nil && !slices.Contains(defined, name) {
			return nil, fmt.Errorf("unknown sync %q: %s defines %s", name, s.configPath, strings.Join(defined, ", "))
		}
		return []string{name}, nil
	}
	if defined != nil {
		return defined, nil
	}
	if !running {
		return nil, errors.New("name a sync with --sync, or give --config to act on every sync it defines")
	}
	return runningSyncs(ctx, c)
}

// loadConfig reads the definitions only for their names and shape: the starter needs no
// secrets, so ${VAR}s are not required to be set here.
func (s *starter) loadConfig() (*config.File, error) {
	data, err := readFile(s.configPath)
	if err != nil {
		return nil, err
	}
	return config.Parse(s.configPath, data, builtin.Registry().Types(), func(string) (string, bool) { return "", true })
}

func runningSyncs(ctx context.Context, c client.Client) ([]string, error) {
	var names []string
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, listRequest(token))
		if err != nil {
			return nil, fmt.Errorf("list running syncs: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			if n, ok := workflows.SyncFromWorkflowID(e.GetExecution().GetWorkflowId()); ok {
				names = append(names, n)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	sort.Strings(names)
	return names, nil
}

// explainMissing turns "workflow not found" into which sync is not running and which are.
func explainMissing(ctx context.Context, c client.Client, err error, sync string) error {
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		return err
	}
	running := "none"
	if names, lerr := runningSyncs(ctx, c); lerr == nil && len(names) > 0 {
		running = strings.Join(names, ", ")
	}
	return fmt.Errorf("sync %q is not running (running syncs: %s; start it with `starter start --sync %s`)", sync, running, sync)
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (want RFC 3339 like 2024-01-01T00:00:00Z, or 2024-01-01)", s)
}
