package workflows_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// editFirst is a memory connector whose next conditional update is preceded by a user's
// edit of the record: an edit that lands between Tandem's read and its write.
type editFirst struct {
	*memory.Connector
	edit atomic.Pointer[func()]
}

func (e *editFirst) UpdateIfUnchanged(ctx context.Context, object string, recs []connectors.Record) ([]connectors.WriteResult, error) {
	if f := e.edit.Swap(nil); f != nil {
		(*f)()
	}
	return e.Connector.UpdateIfUnchanged(ctx, object, recs)
}

// A conditional write refused by a newer edit: the edit is not overwritten; the pair is
// read again and planned afresh, and the newer edit wins.
func TestTwoWayConditionalWriteRefusedByANewerEdit(t *testing.T) {
	a := memory.New(memory.Options{IDPrefix: "a-"})
	b := &editFirst{Connector: memory.New(memory.Options{IDPrefix: "b-"})}
	rec := a.Put("companies", connectors.Record{Fields: map[string]any{"name": "Acme", "domain": "acme.com", "phone": "+1"}})
	def := twoWay("conditional", config.NewestWins)
	s := testenv.NewFileSync(t, testenv.Client(t), &config.File{Path: "test", Syncs: []config.Sync{def}},
		map[string]connectors.Connector{"source": a, "target": b}, def.Name)
	s.Start()
	s.WaitRuns(1, time.Minute)
	other := b.All("companies")[0]

	edit(t, a, rec.ID, map[string]any{"phone": "+2"})
	userEdit := func() { edit(t, b.Connector, other.ID, map[string]any{"name": "Acme B", "phone": "+3"}) }
	b.edit.Store(&userEdit)
	announce(s, "a", rec.ID)
	st := s.WaitFor("the refused write planned again", time.Minute, func(st workflows.Status) bool {
		return st.Events.Received >= 1 && st.Pending == 0 && st.Current == nil && st.Totals.Stale >= 1 &&
			a.All("companies")[0].Fields["phone"] == "+3"
	})
	assert.Equal(t, 1, st.Totals.Stale, "one write refused")
	assert.Zero(t, st.Totals.Failed)
	for _, r := range []connectors.Record{a.All("companies")[0], b.All("companies")[0]} {
		assert.Equal(t, "Acme B", r.Fields["name"], "b's newer edit kept")
		assert.Equal(t, "+3", r.Fields["phone"], "b's newer edit kept")
	}
}
