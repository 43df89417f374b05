// Package cli holds the starter command's verbs: start, status, pause, resume, sync-now,
// resync, define, deletes approve|discard, plan, verify, explain, replay, webhooks and
// setup. They talk to a sync's workflow (or start a short one beside it: plan, verify)
// through the Temporal client, print plain lines, and fail with one line that says what
// went wrong.
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
	"tandem/definition"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/workflows"
)

// starter holds what every verb shares.
type starter struct {
	configPath string
	out        io.Writer
	dial       Dialer
	// file is --config, read before Temporal is dialled (a bad file is reported as
	// such even when the server is down).
	file *config.File
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

	var inline bool
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
					var def json.RawMessage
					if inline {
						if def, err = s.inlineDefinition(n); err != nil {
							return err
						}
					}
					run, started, err := app.StartSync(ctx, c, n, def)
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
	start.Flags().BoolVar(&inline, "inline", false, "send each sync's definition from --config with it: workers then need only its connections, not the same file")

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

	updateVerb := func(use, short, update string, arg func() (any, error)) *cobra.Command {
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
					st, err := app.Update(ctx, c, syncName, update, payload)
					if err != nil {
						return explainMissing(ctx, c, err, syncName)
					}
					fmt.Fprintf(s.out, "sync %s: %s done; now %s\n", syncName, update, stateLine(st))
					if update == workflows.UpdateDeletesApprove || update == workflows.UpdateDeletesDiscard {
						writeDeletes(s.out, st)
					}
					return nil
				})
			},
		}
		addSync(c, true)
		return c
	}
	var from, side string
	resync := updateVerb("resync", "Rewind a sync's cursor to --from and read every change since again", workflows.UpdateResync, func() (any, error) {
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

	var byName bool
	define := updateVerb("define", "Give a running sync the definition --config has for it now (it applies from the next run), or --by-name to go back to the workers' files", workflows.UpdateDefine, func() (any, error) {
		if byName {
			return workflows.DefineRequest{}, nil
		}
		if s.configPath == "" {
			return nil, errors.New("--config: required (the file whose definition of the sync to send), or --by-name")
		}
		def, err := s.inlineDefinition(syncName)
		if err != nil {
			return nil, err
		}
		return workflows.DefineRequest{Definition: def}, nil
	})
	define.Flags().BoolVar(&byName, "by-name", false, "drop the sync's inline definition: each run uses the definition in the file of the worker that runs it")

	deletes := &cobra.Command{
		Use:   "deletes",
		Short: "Release or drop the deletes a sync's mass-delete breaker holds",
	}
	deletes.AddCommand(
		updateVerb("approve", "Do the deletes the breaker holds (the partners of the deleted records are deleted or archived, by the sync's policy)", workflows.UpdateDeletesApprove, nil),
		updateVerb("discard", "Drop the deletes the breaker holds: nothing is deleted, and the pairs are unlinked", workflows.UpdateDeletesDiscard, nil),
	)

	root.AddCommand(start, status, deletes,
		updateVerb("pause", "Pause a sync: no run starts until resume (a run in progress stops after its page)", workflows.UpdatePause, nil),
		updateVerb("resume", "Resume a paused sync", workflows.UpdateResume, nil),
		updateVerb("sync-now", "Run a sync now instead of waiting for its schedule", workflows.UpdateSyncNow, nil),
		resync,
		define,
		WebhooksCommand(dial, out),
		replayCommand(s, out),
		explainCommand(s, out),
		planCommand(s, out),
		verifyCommand(s, out),
		setupCommand(s, out),
		fieldsCommand(s, out),
	)
	return root
}

func (s *starter) withClient(ctx context.Context, f func(context.Context, client.Client) error) error {
	return s.withClientFor(ctx, 30*time.Second, f)
}

// withClientFor is withClient with a time limit of d.
func (s *starter) withClientFor(ctx context.Context, d time.Duration, f func(context.Context, client.Client) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if s.configPath != "" {
		if _, err := s.loadConfig(); err != nil {
			return err
		}
	}
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, d)
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
			return nil, fmt.Errorf("unknown sync %q: %s defines %s%s", name, s.configPath, strings.Join(defined, ", "), didYouMean(name, defined))
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
	if s.file != nil {
		return s.file, nil
	}
	data, err := readFile(s.configPath)
	if err != nil {
		return nil, err
	}
	f, err := config.Parse(s.configPath, data, builtin.Registry().Types(), func(string) (string, bool) { return "", true })
	if err != nil {
		return nil, err
	}
	s.file = f
	return f, nil
}

// inlineDefinition is sync name's entry of --config, as JSON: what `start --inline` and
// `define` send.
func (s *starter) inlineDefinition(name string) (json.RawMessage, error) {
	if _, err := s.loadConfig(); err != nil {
		return nil, err
	}
	data, err := readFile(s.configPath)
	if err != nil {
		return nil, err
	}
	def, err := config.SyncEntry(data, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.configPath, err)
	}
	return def, nil
}

// didYouMean is "; did you mean X?" for the name in names closest to name, if any is close.
func didYouMean(name string, names []string) string {
	if near := definition.Nearest(name, names); near != "" {
		return fmt.Sprintf("; did you mean %q?", near)
	}
	return ""
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
	names, lerr := runningSyncs(ctx, c)
	if lerr == nil && len(names) > 0 {
		running = strings.Join(names, ", ")
	}
	if hint := didYouMean(sync, names); hint != "" {
		return fmt.Errorf("sync %q is not running (running syncs: %s)%s", sync, running, hint)
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
