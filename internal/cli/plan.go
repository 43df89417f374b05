package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"tandem/activities"
	"tandem/connectors"
	"tandem/workflows"
)

// planTimeout bounds a plan or a verify: it reads whole tables.
const planTimeout = 2 * time.Hour

// planInput is what a plan or verify of sync starts from: the sync's cursors and inline
// definition when its workflow runs; a sync that never ran starts from nothing (its
// definition from the workers' files).
func planInput(ctx context.Context, c client.Client, sync string) (workflows.PlanInput, error) {
	in := workflows.PlanInput{Sync: sync}
	v, err := c.QueryWorkflow(ctx, workflows.WorkflowID(sync), "", workflows.QueryPlanInput)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return in, nil
	case err != nil:
		return in, fmt.Errorf("read the cursors of sync %q: %w", sync, err)
	}
	if err := v.Get(&in); err != nil {
		return in, fmt.Errorf("read the cursors of sync %q: %w", sync, err)
	}
	return in, nil
}

// runShort starts a plan's or a verify's workflow and waits for its result.
func runShort(ctx context.Context, c client.Client, id string, wf any, in workflows.PlanInput, out any) error {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: workflows.TaskQueue, WorkflowExecutionTimeout: planTimeout,
	}, wf, in)
	if err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	if err := run.Get(ctx, out); err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	return nil
}

// Plan runs a plan of sync (at most limit changed records read per side) and returns it
// with its workflow's id.
func Plan(ctx context.Context, c client.Client, sync string, limit int) (activities.PlanResult, string, error) {
	in, err := planInput(ctx, c, sync)
	if err != nil {
		return activities.PlanResult{}, "", err
	}
	in.Limit = limit
	id := workflows.PlanWorkflowID(sync, time.Now())
	var res activities.PlanResult
	err = runShort(ctx, c, id, workflows.PlanWorkflow, in, &res)
	return res, id, err
}

// Verify runs a verify of sync (listing at most limit problems; repair: sending what
// differs to the sync) and returns it with its workflow's id.
func Verify(ctx context.Context, c client.Client, sync string, limit int, repair bool) (workflows.VerifyReport, string, error) {
	in, err := planInput(ctx, c, sync)
	if err != nil {
		return workflows.VerifyReport{}, "", err
	}
	in.Limit, in.Repair = limit, repair
	id := workflows.VerifyWorkflowID(sync, time.Now())
	var res workflows.VerifyReport
	err = runShort(ctx, c, id, workflows.VerifyWorkflow, in, &res)
	return res, id, err
}

func planCommand(s *starter, out io.Writer) *cobra.Command {
	var sync string
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Say what the sync's next run would do, record by record, without writing anything",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return s.withClientFor(cmd.Context(), planTimeout, func(ctx context.Context, c client.Client) error {
				if _, err := s.targets(ctx, c, sync, false); err != nil {
					return err
				}
				res, id, err := Plan(ctx, c, sync, limit)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(out, res)
				}
				writePlan(out, sync, id, res)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&sync, "sync", "", "name of the sync")
	_ = cmd.MarkFlagRequired("sync")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().IntVar(&limit, "limit", activities.DefaultPlanLimit, "read at most this many changed records per side")
	return cmd
}

// writePlan prints a plan: totals, then a line per record with its fields.
func writePlan(w io.Writer, sync, id string, res activities.PlanResult) {
	t := res.Totals
	fmt.Fprintf(w, "plan of sync %s (workflow %s): create %d, update %d, delete %d, skip %d, conflict %d, fail %d\n",
		sync, id, t.Create, t.Update, t.Delete, t.Skip, t.Conflict, t.Fail)
	if res.Truncated {
		fmt.Fprintf(w, "  (more changes than --limit: the totals cover the records read)\n")
	}
	for _, r := range res.Records {
		if r.Action == activities.PlanSkip {
			continue
		}
		id := ""
		if r.ID != "" {
			id = " (" + r.ID + ")"
		}
		fmt.Fprintf(w, "  %-8s %s %s%s: %s\n", r.Action, r.Side, r.Key, id, fieldChanges(r.Fields))
		if r.Action == activities.PlanFail || r.Action == activities.PlanConflict || r.Action == activities.PlanDelete {
			fmt.Fprintf(w, "           %s\n", r.Reason)
		}
	}
}

// fieldChanges prints field changes as `name: "from" -> "to"`, sorted by field.
func fieldChanges(f map[string]activities.FieldChange) string {
	if len(f) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %s -> %s", k, shown(f[k].From), shown(f[k].To))
	}
	return strings.Join(parts, "; ")
}

func shown(v any) string {
	if v == nil {
		return "(none)"
	}
	return fmt.Sprintf("%q", connectors.KeyString(v))
}

func verifyCommand(s *starter, out io.Writer) *cobra.Command {
	var sync string
	var asJSON, repair bool
	var limit int
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare both sides of a sync in full: missing, different, orphaned and duplicate records (--repair syncs them)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return s.withClientFor(cmd.Context(), planTimeout, func(ctx context.Context, c client.Client) error {
				if _, err := s.targets(ctx, c, sync, false); err != nil {
					return err
				}
				res, id, err := Verify(ctx, c, sync, limit, repair)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(out, res)
				}
				writeVerify(out, sync, id, res)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&sync, "sync", "", "name of the sync")
	_ = cmd.MarkFlagRequired("sync")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the findings as JSON")
	cmd.Flags().BoolVar(&repair, "repair", false, "send what differs through the sync's pipeline (deletes through its delete policy and breaker)")
	cmd.Flags().IntVar(&limit, "limit", 100, "list at most this many problems (all are counted)")
	return cmd
}

// writeVerify prints a verify's findings.
func writeVerify(w io.Writer, sync, id string, res workflows.VerifyReport) {
	fmt.Fprintf(w, "verify of sync %s (workflow %s): checked a %d, b %d: %s\n", sync, id, res.Checked["a"], res.Checked["b"], verifyTotals(res.Totals))
	for _, r := range res.Records {
		fmt.Fprintf(w, "  %-13s %s (side %s record %s): %s", r.Problem, r.Key, r.Side, r.ID, r.Reason)
		if len(r.Fields) > 0 {
			fmt.Fprintf(w, ": %s", fieldChanges(r.Fields))
		}
		fmt.Fprintln(w)
	}
	if n := res.Totals.Drift(); n > len(res.Records) {
		fmt.Fprintf(w, "  (%d more not listed: --limit)\n", n-len(res.Records))
	}
	if res.Repaired > 0 {
		fmt.Fprintf(w, "repair: %d record(s) sent to the sync's workflow; it syncs them in its next micro-batch (`starter status --sync %s`)\n", res.Repaired, sync)
	}
	if res.Capped {
		fmt.Fprintf(w, "repair: more records differ than one repair sends; run verify --repair again once these are synced\n")
	}
}

func verifyTotals(t activities.VerifyTotals) string {
	return fmt.Sprintf("missing_a %d, missing_b %d, different %d, orphaned %d, duplicate_keys %d",
		t.MissingA, t.MissingB, t.Different, t.Orphaned, t.DuplicateKeys)
}

// writeJSON prints v as indented JSON (the verbs' --json).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
