package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/term"

	"tandem/internal/app"
	"tandem/workflows"
)

// watcher redraws a sync's progress: in a terminal, a block of lines redrawn in place;
// otherwise one plain line per refresh, so logs and pipes read well.
type watcher struct {
	out      io.Writer
	terminal bool
	drawn    int // lines drawn last time (terminal)
	last     map[string]sample
}

// sample is one reading of a sync's progress, for its rate.
type sample struct {
	at      time.Time
	fetched int
	run     int
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// watch polls the status of syncs every interval until ctx ends or count refreshes
// were drawn (count 0: no limit).
func (s *starter) watch(ctx context.Context, c client.Client, names []string, interval time.Duration, count int) error {
	w := &watcher{out: s.out, terminal: isTerminal(s.out), last: map[string]sample{}}
	for i := 0; count == 0 || i < count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(interval):
			}
		}
		var all []workflows.Status
		for _, n := range names {
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			st, err := app.Status(qctx, c, n)
			cancel()
			if err != nil {
				return explainMissing(ctx, c, err, n)
			}
			all = append(all, st)
		}
		w.draw(all, time.Now())
	}
	return nil
}

func (w *watcher) draw(all []workflows.Status, now time.Time) {
	var lines []string
	for _, st := range all {
		lines = append(lines, w.line(st, now))
	}
	if !w.terminal {
		for _, l := range lines {
			fmt.Fprintln(w.out, now.UTC().Format("15:04:05"), l)
		}
		return
	}
	if w.drawn > 0 {
		fmt.Fprintf(w.out, "\x1b[%dA", w.drawn) // back to the first line drawn
	}
	for _, l := range lines {
		fmt.Fprintf(w.out, "\x1b[2K%s\n", l)
	}
	w.drawn = len(lines)
}

// line is one sync's state: a progress bar while a run reads, else when the next run is;
// then, while an activity is retried, its attempt, next try and error.
func (w *watcher) line(st workflows.Status, now time.Time) string {
	l := w.progress(st, now)
	for _, r := range st.Retrying {
		next := "running again now"
		if !r.NextAttempt.IsZero() {
			next = "next try " + relative(r.NextAttempt, now)
		}
		l += fmt.Sprintf("; retrying %s (attempt %d, %s): %s", r.Activity, r.Attempt, next, r.Error)
	}
	return l
}

func (w *watcher) progress(st workflows.Status, now time.Time) string {
	if st.Closed != "" {
		return fmt.Sprintf("%s: %s", st.Sync, stateLine(st))
	}
	r := st.Current
	if st.Paused {
		return fmt.Sprintf("%s: paused", st.Sync)
	}
	if r == nil {
		last := "no run yet"
		if st.LastRun != nil {
			last = fmt.Sprintf("last run #%d: %s", st.LastRun.Number, counts(st.LastRun.Counts))
		}
		return fmt.Sprintf("%s: idle, next run %s; %s", st.Sync, relative(st.NextRunAt, now), last)
	}

	prev, seen := w.last[st.Sync]
	w.last[st.Sync] = sample{at: now, fetched: r.Fetched, run: r.Number}
	rate := 0.0
	if seen && prev.run == r.Number && now.After(prev.at) {
		rate = float64(r.Fetched-prev.fetched) / now.Sub(prev.at).Seconds()
	} else if el := now.Sub(r.StartedAt).Seconds(); el > 0 {
		rate = float64(r.Fetched) / el
	}

	side := ""
	if r.Side != "" {
		side = " side " + r.Side
	}
	head := fmt.Sprintf("%s: run #%d%s", st.Sync, r.Number, side)
	if !r.KnownOK || r.Known <= 0 {
		return fmt.Sprintf("%s: %d records read, %.0f records/s (total unknown)", head, r.Fetched, rate)
	}
	done := min(r.Fetched, r.Known)
	frac := float64(done) / float64(r.Known)
	left := "unknown"
	if rate > 0 {
		left = (time.Duration(float64(r.Known-done)/rate) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("%s %s %3.0f%% %d/%d records, %.0f records/s, %s left",
		head, bar(frac, 30), frac*100, done, r.Known, rate, left)
}

func bar(frac float64, width int) string {
	n := int(frac*float64(width) + 0.5)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}
