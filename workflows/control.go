package workflows

import (
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/connectors"
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
		sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) {})
	}
	s.addSignals(ctx, sel)
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
		c.Receive(ctx, &sig)
		s.onResync(ctx, sig)
	})
	sel.AddReceive(s.change, func(c workflow.ReceiveChannel, _ bool) {
		var sig ChangeSignal
		c.Receive(ctx, &sig)
		s.onChange(ctx, sig)
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
	s.st.Paused = false
}

func (s *syncer) onResync(ctx workflow.Context, sig ResyncSignal) {
	side := sig.Side
	if side == "" {
		side = activities.SideA
	}
	if side != activities.SideA && side != activities.SideB {
		s.logger.Warn("Signal resync ignored: unknown side", "side", sig.Side)
		return
	}
	s.logger.Info("Signal resync", "side", side, "from", sig.From)
	s.st.Cursors[side] = connectors.Cursor{UpdatedAt: sig.From}
	if s.st.Current != nil {
		s.rewound = true
		return
	}
	s.trigger = "resync"
	s.st.NextRunAt = workflow.Now(ctx)
}
