package workflows

import (
	"fmt"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/connectors"
	"tandem/definition"
)

// Control: the signals that steer a sync, and waiting for them or for the next run.

// wait sleeps until the next run is due or a signal arrives.
func (s *syncer) wait(ctx workflow.Context) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	if !s.st.Paused && s.st.Current == nil {
		next := s.st.NextRunAt
		if !s.st.HeldNext.IsZero() && s.st.HeldNext.Before(next) {
			next = s.st.HeldNext
		}
		d := next.Sub(workflow.Now(ctx))
		if d <= 0 {
			return
		}
		if workflow.GetVersion(ctx, "lasting-timer", workflow.DefaultVersion, 1) == 1 {
			// One timer per next run, kept while signals wake the workflow: a new timer
			// on every wake was two history events (started, then cancelled) for each
			// webhook micro-batch.
			if s.next == nil || !s.nextAt.Equal(next) {
				if s.nextCancel != nil {
					s.nextCancel()
				}
				var nctx workflow.Context
				nctx, s.nextCancel = workflow.WithCancel(ctx)
				s.next, s.nextAt = workflow.NewTimer(nctx, d), next
			}
			sel.AddFuture(s.next, func(workflow.Future) { s.next, s.nextCancel = nil, nil })
		} else {
			sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) {})
		}
	}
	s.addSignals(ctx, sel)
	sel.AddReceive(s.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sel.Select(ctx)
}

func (s *syncer) addSignals(ctx workflow.Context, sel workflow.Selector) {
	sel.AddReceive(s.syncNow, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		s.onSyncNow(ctx)
	})
	sel.AddReceive(s.pause, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		s.onPause()
	})
	sel.AddReceive(s.resume, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		s.onResume()
	})
	sel.AddReceive(s.resync, func(c workflow.ReceiveChannel, _ bool) {
		var sig ResyncSignal
		if s.receive(ctx, c, SignalResync, &sig) {
			s.onResync(ctx, sig)
		}
	})
	sel.AddReceive(s.verified, func(c workflow.ReceiveChannel, _ bool) {
		var v Verified
		if s.receive(ctx, c, SignalVerified, &v) {
			s.onVerified(ctx, v)
		}
	})
	sel.AddReceive(s.change, func(c workflow.ReceiveChannel, _ bool) {
		var sig ChangeSignal
		if s.receive(ctx, c, SignalChange, &sig) {
			s.onChange(ctx, sig)
		}
	})
}

// drainSignals applies every signal already received, without blocking.
func (s *syncer) drainSignals(ctx workflow.Context) {
	for {
		sel := workflow.NewSelector(ctx)
		s.addSignals(ctx, sel)
		if !sel.HasPending() {
			return
		}
		sel.Select(ctx)
	}
}

func (s *syncer) onSyncNow(ctx workflow.Context) {
	s.logger.Info("Signal sync-now")
	if s.st.Current != nil {
		s.st.SyncNowPending = true
		return
	}
	s.trigger = "sync-now"
	s.st.NextRunAt = workflow.Now(ctx)
}

func (s *syncer) onPause() {
	s.logger.Info("Signal pause")
	s.st.Paused = true
}

func (s *syncer) onResume() {
	s.logger.Info("Signal resume")
	if s.st.PausedFor != "" {
		// The sync paused itself (its mapping): the operator who resumes it has mended
		// the cause, and the run it stopped goes again now, checking afresh.
		s.st.SyncNowPending = true
	}
	s.st.Paused, s.st.PausedFor = false, ""
}

func (s *syncer) onResync(ctx workflow.Context, sig ResyncSignal) {
	if err := s.checkResync(ctx, sig); err != nil {
		s.reject(SignalResync, err.Error())
		return
	}
	sides := []string{sig.Side}
	if sig.Side == "" { // checkResync let only a, b or "" through
		// Every side the sync reads: both of a two-way sync.
		sides = []string{activities.SideA}
		if _, ok := s.st.Cursors[activities.SideB]; ok || s.plan != nil && s.plan.Mode == definition.TwoWay {
			sides = append(sides, activities.SideB)
		}
	}
	s.logger.Info("Signal resync", "sides", sides, "from", sig.From)
	for _, side := range sides {
		s.st.Cursors[side] = connectors.Cursor{UpdatedAt: sig.From}
	}
	if s.st.Current != nil {
		s.rewound = true
		return
	}
	s.trigger = "resync"
	s.st.NextRunAt = workflow.Now(ctx)
}

// receive takes a signal's payload as it came and decodes it into out. A payload that
// does not decode is rejected (counted, and shown in status) and false returned: the
// SDK's own Receive would drop it and wait for the next value inside the handler,
// stalling the whole workflow.
func (s *syncer) receive(ctx workflow.Context, c workflow.ReceiveChannel, name string, out any) bool {
	var raw converter.RawValue
	c.Receive(ctx, &raw)
	if raw.Payload() == nil {
		s.reject(name, "no payload")
		return false
	}
	if err := converter.GetDefaultDataConverter().FromPayload(raw.Payload(), out); err != nil {
		s.reject(name, fmt.Sprintf("payload does not decode as %T: %v", out, err))
		return false
	}
	return true
}

// reject counts a signal that cannot be applied and keeps why for status.
func (s *syncer) reject(name, why string) {
	s.logger.Warn("Signal rejected", "signal", name, "reason", why)
	s.st.RejectedSignals++
	s.st.LastRejectedSignal = name + ": " + why
}
