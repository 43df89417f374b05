package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"tandem/connectors"
	"tandem/workflows"
)

// WriteStatus prints a sync's status as plain lines.
func WriteStatus(w io.Writer, st workflows.Status, now time.Time) {
	fmt.Fprintf(w, "sync %s (workflow %s): %s\n", st.Sync, st.WorkflowID, stateLine(st))
	sides := make([]string, 0, len(st.Cursors))
	for side := range st.Cursors {
		sides = append(sides, side)
	}
	sort.Strings(sides)
	for _, side := range sides {
		fmt.Fprintf(w, "  cursor %s:   %s\n", side, st.Cursors[side])
	}
	if !st.Paused && st.Current == nil && st.Closed == "" {
		fmt.Fprintf(w, "  next run:   %s (%s)\n", st.NextRunAt.UTC().Format(time.RFC3339), relative(st.NextRunAt, now))
	}
	if !st.LastSuccess.IsZero() {
		fmt.Fprintf(w, "  succeeded:  %s (%s ago)\n", st.LastSuccess.UTC().Format(time.RFC3339), now.Sub(st.LastSuccess).Round(time.Second))
	}
	if st.Definition != "" {
		fmt.Fprintf(w, "  definition: %s\n", st.Definition)
	}
	if r := st.Current; r != nil {
		fmt.Fprintf(w, "  this run:   #%d (%s) since %s: %s\n", r.Number, r.Trigger, r.StartedAt.UTC().Format(time.RFC3339), counts(r.Counts))
	}
	if r := st.LastRun; r != nil {
		fmt.Fprintf(w, "  last run:   #%d (%s) %s, took %s: %s\n", r.Number, r.Trigger,
			r.FinishedAt.UTC().Format(time.RFC3339), r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond), counts(r.Counts))
		if r.Error != "" {
			fmt.Fprintf(w, "  last error: %s\n", r.Error)
		}
	}
	for _, r := range st.Retrying {
		next := "running again now"
		if !r.NextAttempt.IsZero() {
			next = "next at " + r.NextAttempt.UTC().Format(time.RFC3339) + " (" + relative(r.NextAttempt, now) + ")"
		}
		fmt.Fprintf(w, "  retrying:   %s, attempt %d, %s: %s\n", r.Activity, r.Attempt, next, r.Error)
	}
	fmt.Fprintf(w, "  totals:     %s over %d runs\n", counts(st.Totals), st.Runs)
	for _, side := range []string{"a", "b"} {
		if u := st.Usage[side]; len(u) > 0 {
			fmt.Fprintf(w, "  usage %s:    %s\n", side, plain(u))
		}
	}
	if e := st.Events; e.Received > 0 {
		fmt.Fprintf(w, "  webhooks:   %d events (%d duplicates) in %d batches, %d records pending: %s\n",
			e.Received, e.Duplicates, e.Batches, st.Pending, counts(st.Realtime))
		if e.LastError != "" {
			fmt.Fprintf(w, "  webhook error: %s\n", e.LastError)
		}
	}
	if n := len(st.Decisions); n > 0 {
		show := st.Decisions
		if n > 10 {
			show = show[n-10:]
		}
		fmt.Fprintf(w, "  decisions (latest %d of %d kept):\n", len(show), n)
		for _, d := range show {
			switch d.Kind {
			case "conflict":
				fmt.Fprintf(w, "    run #%d %s: both sides changed; %s won; overwritten: %s\n", d.Run, d.Key, d.Winner, values(d.Lost))
				for _, f := range d.Fields {
					fmt.Fprintf(w, "      %s: a %q, b %q -> %s (%s)\n", f.Field, connectors.KeyString(f.A), connectors.KeyString(f.B), f.Winner, f.Why)
				}
			case "held":
				fmt.Fprintf(w, "    run #%d %s: held: %s\n", d.Run, d.Key, d.Reason)
			case "delete-conflict":
				fmt.Fprintf(w, "    run #%d %s: %s won; %s\n", d.Run, d.Key, d.Winner, d.Reason)
			default:
				fmt.Fprintf(w, "    run #%d %s: %s: %s; a: %s; b: %s\n", d.Run, d.Key, d.Kind, d.Reason, values(d.A), values(d.B))
			}
		}
	}
	writeDeletes(w, st)
	if v := st.LastVerify; v != nil {
		how := "starter verify"
		if v.Scheduled {
			how = "scheduled"
		}
		fmt.Fprintf(w, "  verified:   %s (%s): drift %d (%s)\n", v.At.UTC().Format(time.RFC3339), how, v.Totals.Drift(), verifyTotals(v.Totals))
	}
	if st.HeldCount > 0 || len(st.Held) > 0 {
		fmt.Fprintf(w, "  held pairs: %d (nothing is written to them until their cool-down ends):\n", st.HeldCount)
		for _, h := range st.Held {
			fmt.Fprintf(w, "    %s (side %s record %s) until %s: %s\n", h.Key, h.Side, h.RecordID, h.Until.UTC().Format(time.RFC3339), h.Reason)
		}
	}
	if st.RejectedSignals > 0 {
		fmt.Fprintf(w, "  rejected:   %d signal(s) could not be applied; last: %s\n", st.RejectedSignals, st.LastRejectedSignal)
	}
	if st.Overflowed > 0 {
		fmt.Fprintf(w, "  overflow:   %d webhook events dropped while too many were pending; runs read their records\n", st.Overflowed)
	}
	if f := st.Failing; f != nil && f.Count > 0 {
		fmt.Fprintf(w, "  still failing: %d record(s) a service rejected, retried at the start of every run until written (latest %d):\n", f.Count, len(f.Latest))
		for _, r := range f.Latest {
			key := ""
			if r.Key != "" {
				key = " key " + r.Key
			}
			fmt.Fprintf(w, "    side %s record %s%s: %s (%d attempts, last %s)\n", r.Side, r.ID, key, r.Reason, r.Attempts, r.LastAt.UTC().Format(time.RFC3339))
		}
	}
	if n := len(st.Failures); n > 0 {
		show := st.Failures
		if n > 10 {
			show = show[n-10:]
		}
		fmt.Fprintf(w, "  failed records (latest %d of %d kept):\n", len(show), n)
		for _, f := range show {
			key := ""
			if f.Key != "" {
				key = " key " + f.Key
			}
			fmt.Fprintf(w, "    run #%d side %s record %s%s: %s\n", f.Run, f.Side, f.RecordID, key, f.Reason)
		}
	}
}

func counts(c workflows.Counts) string {
	s := fmt.Sprintf("fetched %d, created %d, updated %d, skipped %d, failed %d",
		c.Fetched, c.Created, c.Updated, c.Skipped, c.Failed)
	if c.Conflicts > 0 {
		s += fmt.Sprintf(", conflicts %d", c.Conflicts)
	}
	if c.Held > 0 {
		s += fmt.Sprintf(", held %d", c.Held)
	}
	if c.Deleted > 0 {
		s += fmt.Sprintf(", deleted %d", c.Deleted)
	}
	if c.Archived > 0 {
		s += fmt.Sprintf(", archived %d", c.Archived)
	}
	if c.Stale > 0 {
		s += fmt.Sprintf(", stale %d (changed after they were read; planned again)", c.Stale)
	}
	return s
}

// plain prints a string map as sorted key=value pairs.
func plain(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ", ")
}

// values prints a payload as sorted field=value pairs.
func values(p map[string]any) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, fmt.Sprint(p[k]))
	}
	return "{" + b.String() + "}"
}

func relative(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	if d <= 0 {
		return "due now"
	}
	return "in " + d.String()
}

func listRequest(token []byte) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{
		Query:         `WorkflowType = "SyncWorkflow" AND ExecutionStatus = "Running"`,
		NextPageToken: token,
	}
}

func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sync definitions: %w", err)
	}
	return data, nil
}

// stateLine is a sync's state in a few words: idle, running, paused or failing, whether
// activities are being retried, or that its workflow is not running.
func stateLine(st workflows.Status) string {
	if st.Closed != "" {
		return "stopped: workflow " + st.Closed + " at " + st.ClosedAt.UTC().Format(time.RFC3339) + "; `starter start` runs it again"
	}
	state := st.State
	if state == "" {
		// A workflow from before the state was reported.
		switch {
		case st.Paused:
			state = workflows.StatePaused
		case st.Running:
			state = workflows.StateRunning
		default:
			state = workflows.StateIdle
		}
	}
	if st.Paused && st.PausedFor != "" {
		state += ": " + st.PausedFor
	}
	if len(st.Retrying) > 0 {
		state += ", retrying after errors"
	}
	if d := st.Deletes; d != nil && d.Held != nil {
		state += ", deletes held: " + d.Held.String()
	}
	return state
}

// writeDeletes prints what a sync does about deletes: held deletes and how to release
// them, how each side's deletes are found when not from its log, the latest outcomes.
func writeDeletes(w io.Writer, st workflows.Status) {
	d := st.Deletes
	if d == nil {
		return
	}
	line := "mode " + d.Mode
	if d.Pending > 0 && d.Held == nil {
		line += fmt.Sprintf(", %d pending", d.Pending)
	}
	if d.Discarded > 0 {
		line += fmt.Sprintf(", %d discarded by an operator", d.Discarded)
	}
	fmt.Fprintf(w, "  deletes:    %s\n", line)
	if h := d.Held; h != nil {
		fmt.Fprintf(w, "  deletes held: %s of %d pairs since %s: the breaker (max %d and %s%%) holds them; `starter deletes approve --sync %s` does them, `starter deletes discard --sync %s` drops them\n",
			h.String(), h.Linked, h.Since.UTC().Format(time.RFC3339), h.Max, workflows.Percent(h.MaxPercent), st.Sync, st.Sync)
	}
	for _, side := range []string{"a", "b"} {
		if n := d.Notes[side]; n != "" {
			fmt.Fprintf(w, "  deletes %s:  %s\n", side, n)
		}
	}
	if n := len(d.Recent); n > 0 {
		fmt.Fprintf(w, "  latest deletes (%d):\n", n)
		for _, o := range d.Recent {
			key := ""
			if o.Key != "" {
				key = " key " + o.Key
			}
			fmt.Fprintf(w, "    %s record %s%s -> %s %s: %s\n", o.Side, o.ID, key, o.PartnerSide, o.PartnerID, o.Action+": "+o.Reason)
		}
	}
}
