package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
)

// Control as Updates: the starter drives a sync through Updates, so it learns the sync's
// new state or why the request was refused. A validator refuses a request before it is
// written to history; a refused request changes nothing. The signals of the same names
// stay for the Temporal CLI and for senders that cannot wait (see control.go).

// Update names; the Temporal CLI can send them too, e.g.
// `temporal workflow update execute -w tandem/sync/companies --name sync-now`.
const (
	UpdatePause   = "pause"
	UpdateResume  = "resume"
	UpdateSyncNow = "sync-now"
	UpdateResync  = "resync"
	UpdateDefine  = "define"
)

// DefineRequest changes a sync's definition: Definition is the sync's entry of a
// definitions file as JSON (its connections by name), checked by a worker before it is
// taken; empty goes back to the workers' files. It applies from the next run.
type DefineRequest struct {
	Definition json.RawMessage `json:"definition,omitempty"`
}

func (s *syncer) setUpdates(ctx workflow.Context) error {
	for _, u := range []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdatePause, func(ctx workflow.Context) (Status, error) {
			s.onPause()
			return s.updated()
		}, nil},
		{UpdateResume, func(ctx workflow.Context) (Status, error) {
			s.onResume()
			return s.updated()
		}, nil},
		{UpdateSyncNow, func(ctx workflow.Context) (Status, error) {
			s.onSyncNow(ctx)
			return s.updated()
		}, func(ctx workflow.Context) error {
			if s.st.Paused {
				return fmt.Errorf("sync %q is paused: resume it first", s.name)
			}
			return nil
		}},
		{UpdateResync, func(ctx workflow.Context, r ResyncSignal) (Status, error) {
			s.onResync(ctx, r)
			return s.updated()
		}, func(ctx workflow.Context, r ResyncSignal) error {
			return s.checkResync(ctx, r)
		}},
		{UpdateDefine, s.onDefine, func(ctx workflow.Context, r DefineRequest) error {
			return s.checkDefine(r)
		}},
		{UpdateDeletesApprove, func(ctx workflow.Context) (Status, error) {
			return s.onDeletesControl(ctx, false)
		}, func(ctx workflow.Context) error {
			return s.checkDeletesControl("approve")
		}},
		{UpdateDeletesDiscard, func(ctx workflow.Context) (Status, error) {
			return s.onDeletesControl(ctx, true)
		}, func(ctx workflow.Context) error {
			return s.checkDeletesControl("discard")
		}},
	} {
		opts := workflow.UpdateHandlerOptions{}
		if u.validator != nil {
			opts.Validator = u.validator
		}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handler, opts); err != nil {
			return err
		}
	}
	return nil
}

// updated wakes the run loop to act on what an update changed, and answers the status.
func (s *syncer) updated() (Status, error) {
	s.wake.SendAsync(true)
	return s.status()
}

func (s *syncer) checkResync(ctx workflow.Context, r ResyncSignal) error {
	switch r.Side {
	case "", activities.SideA, activities.SideB:
	default:
		return fmt.Errorf("unknown side %q (want a or b, or none for every side the sync reads)", r.Side)
	}
	if now := workflow.Now(ctx); r.From.After(now) {
		return fmt.Errorf("from %s is in the future (now %s): nothing would be read", r.From.UTC().Format("2006-01-02T15:04:05Z"), now.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return nil
}

func (s *syncer) checkDefine(r DefineRequest) error {
	def := bytes.TrimSpace(r.Definition)
	if len(def) == 0 || bytes.Equal(def, []byte("null")) {
		return nil
	}
	// Only the shape is checked here (validators run no activity): a worker parses it, and
	// checks its name, in onDefine.
	if def[0] != '{' {
		return fmt.Errorf("definition is not a JSON object (a sync's entry of a definitions file, as JSON)")
	}
	return nil
}

// onDefine has a worker check the new definition (it parses and its connections are
// open), then keeps it for the next run.
func (s *syncer) onDefine(ctx workflow.Context, r DefineRequest) (Status, error) {
	def := json.RawMessage(bytes.TrimSpace(r.Definition))
	if bytes.Equal(def, []byte("null")) {
		def = nil
	}
	var plan activities.SyncPlan
	err := workflow.ExecuteLocalActivity(localOptions(ctx), a.LoadSync, activities.LoadSyncInput{
		Sync: s.name, Definition: def,
	}).Get(ctx, &plan)
	if err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) {
			return Status{}, errors.New(app.Message())
		}
		return Status{}, err
	}
	s.logger.Info("Definition changed", "source", plan.Source)
	s.st.Definition = def
	if s.st.Current == nil {
		// Between runs: the next one loads it. A run in progress keeps its own.
		s.plan = nil
	}
	return s.updated()
}
