package cli_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/internal/config"
	"tandem/internal/explain"
	"tandem/internal/testenv"
	"tandem/pairs"
	"tandem/workflows"
)

func explainKey(t *testing.T, sync, key string) explain.Finding {
	t.Helper()
	out, err := run(t, "explain", "--sync", sync, "--key", key, "--json")
	require.NoError(t, err)
	var f explain.Finding
	require.NoError(t, json.Unmarshal([]byte(out), &f))
	return f
}

func TestExplain(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	recs := source.Seed("companies", 5, memory.SampleCompany)
	domain := func(i int) string { return connectors.KeyString(recs[i].Fields["domain"]) }
	target.RejectRecords(func(r connectors.Record) string {
		if r.Fields["domain"] == domain(3) {
			return "phone: INVALID_PHONE"
		}
		return ""
	})
	s := testenv.NewSync(t, testenv.Def("explained"), source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)

	created := explainKey(t, "explained", domain(0))
	assert.Equal(t, "created", created.Action)
	assert.Equal(t, recs[0].ID, created.RecordID)
	assert.Equal(t, "a", created.Side)
	assert.Equal(t, "b", created.TargetSide)
	assert.NotEmpty(t, created.TargetID)
	assert.Equal(t, 1, created.Run)
	assert.Equal(t, workflows.WorkflowID("explained"), created.WorkflowID)
	assert.Equal(t, s.FirstRunID, created.RunID)

	failed := explainKey(t, "explained", domain(3))
	assert.Equal(t, "failed", failed.Action)
	assert.Contains(t, failed.Reason, "phone: INVALID_PHONE")

	// Read everything again: the record compares equal and is skipped, in run 2.
	s.Signal(workflows.SignalResync, workflows.ResyncSignal{From: time.Time{}})
	s.WaitRuns(2, time.Minute)
	skipped := explainKey(t, "explained", domain(0))
	assert.Equal(t, "skipped", skipped.Action)
	assert.Equal(t, 2, skipped.Run)
	assert.Contains(t, skipped.Reason, "same values")

	out, err := run(t, "explain", "--sync", "explained", "--key", domain(0))
	require.NoError(t, err)
	assert.Contains(t, out, "sync explained, key "+domain(0)+": skipped\n")
	assert.Contains(t, out, "  open:    http://127.0.0.1:8233/namespaces/default/workflows/tandem%2Fsync%2Fexplained/")

	_, err = run(t, "explain", "--sync", "explained", "--key", "nobody.example")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `handled key "nobody.example"`)
}

func TestExplainConflict(t *testing.T) {
	a := memory.New(memory.Options{IDPrefix: "a-"})
	b := memory.New(memory.Options{IDPrefix: "b-"})
	rec := a.Put("companies", connectors.Record{Fields: map[string]any{"name": "Acme", "domain": "acme.com", "phone": "+1"}})
	def := testenv.Def("explained-conflict")
	def.Mode, def.Conflict = config.TwoWay, config.BWins
	s := testenv.NewSync(t, def, a, b)
	s.Start()
	s.WaitRuns(1, time.Minute)
	rec.Fields["phone"] = "+2"
	rec.UpdatedAt = time.Time{}
	a.Put("companies", rec)
	other := b.All("companies")[0]
	other.Fields["phone"] = "+3"
	other.UpdatedAt = time.Time{}
	b.Put("companies", other)
	s.Signal(workflows.SignalSyncNow, nil)
	s.WaitRuns(2, time.Minute)

	f := explainKey(t, "explained-conflict", "acme.com")
	assert.Equal(t, "conflict", f.Action)
	assert.Equal(t, "b", f.Winner)
	assert.Equal(t, "+2", f.Lost["a.phone"])
	assert.Equal(t, "+3", f.Fields["phone"])
	assert.Equal(t, 2, f.Run)
	assert.Equal(t, 1, f.ThenSkipped, "side b's pass found the pair in step after the write")
	assert.Equal(t, []pairs.FieldDecision{{Field: "phone", A: "+2", B: "+3", Winner: "b", Why: "b-wins"}}, f.Merge)
	out, err := run(t, "explain", "--sync", "explained-conflict", "--key", "acme.com")
	require.NoError(t, err)
	assert.Contains(t, out, `field:   phone: a "+2", b "+3" -> side b (b-wins)`)
}

func TestExplainAKeyWhoseCounterpartWasReadByID(t *testing.T) {
	// Two source records share a key on consecutive pages; the second page's counterpart
	// is read again by id (GetRecords on side b). That read is a look-up: explain still
	// tells of the second source record, from side a, updating the target.
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-", NoNativeUpsert: true})
	source.Put("companies", connectors.Record{Fields: map[string]any{"name": "Acme", "domain": "acme.com", "phone": "+1"}})
	time.Sleep(2 * time.Millisecond)
	second := source.Put("companies", connectors.Record{Fields: map[string]any{"name": "Acme Inc", "domain": "acme.com", "phone": "+2"}})
	target.FailNext(memory.MethodCreate, 1, errors.New("connection reset"))
	def := testenv.Def("explained-reread")
	def.PageSize = 1
	s := testenv.NewSync(t, def, source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)

	f := explainKey(t, "explained-reread", "acme.com")
	assert.Equal(t, "updated", f.Action)
	assert.Equal(t, second.ID, f.RecordID)
	assert.Equal(t, "a", f.Side)
	assert.Equal(t, "b", f.TargetSide)
	assert.Equal(t, 1, f.Run, "a run, not a webhook batch")
}

func TestExplainAWebhookMicroBatch(t *testing.T) {
	// A micro-batch's steps are local activities: their markers keep results, not inputs.
	// explain still tells which side announced the record and what was written where.
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	recs := source.Seed("companies", 3, memory.SampleCompany)
	def := testenv.Def("explained-webhook")
	def.Webhooks = true
	s := testenv.NewSync(t, def, source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)

	rec := recs[1]
	rec.Fields["phone"] = "+1 555 0199"
	rec.UpdatedAt = time.Time{}
	source.Put("companies", rec)
	s.Signal(workflows.SignalChange, workflows.ChangeSignal{Side: "a", Events: []workflows.ChangeEvent{{ID: "evt-1", RecordID: rec.ID}}})
	s.WaitFor("the webhook's batch", time.Minute, func(st workflows.Status) bool { return st.Events.Batches == 1 && st.Pending == 0 })

	f := explainKey(t, "explained-webhook", rec.Fields["domain"].(string))
	assert.Equal(t, "updated", f.Action)
	assert.Equal(t, 0, f.Run, "a webhook batch, not a run")
	assert.Equal(t, "a", f.Side)
	assert.Equal(t, rec.ID, f.RecordID)
	assert.Equal(t, "b", f.TargetSide)
	var partner string
	for _, r := range target.All("companies") {
		if r.Fields["domain"] == rec.Fields["domain"] {
			partner = r.ID
		}
	}
	assert.Equal(t, partner, f.TargetID)
	assert.Equal(t, "+1 555 0199", f.Fields["phone"])
	assert.Len(t, f.Fields, 1)
}
