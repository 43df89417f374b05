package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"tandem/activities"
	"tandem/connectors"
	"tandem/internal/app"
	"tandem/internal/explain"
	"tandem/pairs"
	"tandem/workflows"
)

// explainCommand is `starter explain`: what Tandem last did with one record, and why.
func explainCommand(s *starter, out io.Writer) *cobra.Command {
	var sync, key, ui string
	var asJSON bool
	var runs int
	cmd := &cobra.Command{
		Use:   "explain",
		Short: "Say what Tandem last did with a record (by its key) and why, from the sync's workflow history",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return s.withClient(cmd.Context(), func(ctx context.Context, c client.Client) error {
				if _, err := s.targets(ctx, c, sync, false); err != nil {
					return err
				}
				f, err := explain.Explain(ctx, c, sync, key, runs)
				if errors.Is(err, explain.ErrNotInHistory) {
					// Synced in bulk (or long ago): the workers' link store knows the pair.
					if links, lerr := linksOf(ctx, c, sync, key); lerr == nil && len(links) > 0 {
						f, err = explain.FromLinks(sync, key, links), nil
					} else if o, berr := bulkOutcomeOf(ctx, c, sync, key); berr == nil && o != nil {
						// A one-way sync's chunk, which keeps no link: its bulk log.
						f, err = explain.FromBulkLog(sync, key, o), nil
					}
				} else if err == nil {
					// A bulk run (its records out of history) may have handled the key
					// since the step found in history.
					if o, berr := bulkOutcomeOf(ctx, c, sync, key); berr == nil && o != nil && o.At.After(f.At) {
						f = explain.FromBulkLog(sync, key, o)
					}
				}
				if err != nil {
					return err
				}
				// A pair stopped for looping is decided in the workflow, not in a recorded
				// step: the status has it.
				if st, err := app.Status(ctx, c, sync); err == nil {
					for _, d := range st.Decisions {
						if d.Key == key && d.Kind == "loop" && !d.At.Before(f.At) {
							f.Action, f.Reason, f.At, f.Run = "stopped", d.Reason, d.At, d.Run
						}
					}
				}
				if asJSON {
					return writeJSON(out, f)
				}
				namespace := app.DefaultNamespace
				if opts, err := app.ClientOptions(nil); err == nil {
					namespace = opts.Namespace
					if ui == "" {
						ui = uiFor(opts.HostPort)
					}
				}
				if ui == "" {
					ui = uiFor(app.DefaultAddress)
				}
				writeFinding(out, f, ui, namespace)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&sync, "sync", "", "name of the sync")
	cmd.Flags().StringVar(&key, "key", "", "the record's key, as the sync compares it (e.g. acme.com)")
	cmd.Flags().StringVar(&ui, "ui", "", "base URL of the Temporal Web UI, for the link (default: the frontend's host, its port + 1000, as `worker --dev` and Temporal's dev server serve it)")
	cmd.Flags().IntVar(&runs, "runs", 100, "how many of the sync's latest workflow runs to search")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the finding as JSON")
	_ = cmd.MarkFlagRequired("sync")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func writeFinding(w io.Writer, f *explain.Finding, ui, namespace string) {
	fmt.Fprintf(w, "sync %s, key %s: %s\n", f.Sync, f.Key, f.Action)
	what := fmt.Sprintf("side %s record %s", f.Side, f.RecordID)
	if f.TargetID != "" {
		side := f.TargetSide
		if side == "" {
			side = "other side"
		} else {
			side = "side " + side
		}
		what += fmt.Sprintf(" -> %s record %s", side, f.TargetID)
	}
	fmt.Fprintf(w, "  record:  %s\n", what)
	if len(f.Fields) > 0 {
		fmt.Fprintf(w, "  written: %s\n", values(f.Fields))
	}
	if f.Winner != "" {
		fmt.Fprintf(w, "  winner:  side %s; overwritten: %s\n", f.Winner, values(f.Lost))
	}
	for _, m := range f.Merge {
		fmt.Fprintf(w, "  field:   %s: a %q, b %q -> side %s (%s)\n", m.Field,
			connectors.KeyString(m.A), connectors.KeyString(m.B), m.Winner, m.Why)
	}
	fmt.Fprintf(w, "  why:     %s\n", f.Reason)
	if f.ThenSkipped > 0 {
		fmt.Fprintf(w, "  then:    compared %d more time(s) in that run and found both sides in step\n", f.ThenSkipped)
	}
	if f.RunID == "" {
		if f.Run > 0 { // the bulk log: a chunk's page
			fmt.Fprintf(w, "  when:    %s, run #%d, in a chunk (its records out of history)\n", f.At.UTC().Format("2006-01-02T15:04:05Z"), f.Run)
			return
		}
		fmt.Fprintf(w, "  when:    %s, the link's last save\n", f.At.UTC().Format("2006-01-02T15:04:05Z"))
		return
	}
	when := fmt.Sprintf("run #%d", f.Run)
	if f.Run == 0 {
		when = "a webhook micro-batch"
	}
	fmt.Fprintf(w, "  when:    %s, %s\n", f.At.UTC().Format("2006-01-02T15:04:05Z"), when)
	fmt.Fprintf(w, "  where:   workflow %s, run %s, event %d\n", f.WorkflowID, f.RunID, f.EventID)
	fmt.Fprintf(w, "  open:    %s\n", f.UIURL(ui, namespace))
}

// uiFor is the Web UI's address beside a frontend at hostPort, by the dev servers'
// convention (the UI listens 1000 above the frontend: 7233 and 8233).
func uiFor(hostPort string) string {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "http://127.0.0.1:8233"
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "http://127.0.0.1:8233"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(p+1000))
}

// linksOf reads a key's links from the workers' link store, through a short workflow.
func linksOf(ctx context.Context, c client.Client, sync, key string) ([]pairs.Link, error) {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: fmt.Sprintf("tandem/explain/%s/%d", sync, time.Now().UnixNano()), TaskQueue: workflows.TaskQueue,
		WorkflowExecutionTimeout: time.Minute,
	}, workflows.LinksWorkflow, activities.LinksByKeyInput{Sync: sync, Key: key})
	if err != nil {
		return nil, err
	}
	var links []pairs.Link
	err = run.Get(ctx, &links)
	return links, err
}

// bulkOutcomeOf asks a worker for the bulk log's latest outcome of a sync's key. It gives
// up after 20 s: explain asks even when a history step answered, and a worker built
// before the bulk log does not know the workflow (its task would fail until the timeout).
func bulkOutcomeOf(ctx context.Context, c client.Client, sync, key string) (*pairs.LoggedOutcome, error) {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: fmt.Sprintf("tandem/explain/%s/bulk/%d", sync, time.Now().UnixNano()), TaskQueue: workflows.TaskQueue,
		WorkflowExecutionTimeout: 20 * time.Second,
	}, workflows.BulkOutcomeWorkflow, activities.LinksByKeyInput{Sync: sync, Key: key})
	if err != nil {
		return nil, err
	}
	var o *pairs.LoggedOutcome
	err = run.Get(ctx, &o)
	return o, err
}
