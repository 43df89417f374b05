package workflows_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/activities"
	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/definition"
	"tandem/internal/cli"
	"tandem/internal/config"
	"tandem/internal/explain"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// Write modes (write: upsert | update-only | create-only, by side written) and blank
// values (on_empty: keep | clear) through the engine: memory connectors "source" (side a)
// and "target" (side b), companies keyed by domain, mapping name, domain and phone.

// company puts a company on c as a user of the service would, and returns it.
func company(c *memory.Connector, domain, name, phone string) connectors.Record {
	return c.Put("companies", connectors.Record{Fields: map[string]any{"domain": domain, "name": name, "phone": phone}})
}

// change edits a stored record as a user would (a new UpdatedAt).
func change(t *testing.T, c *memory.Connector, id string, fields map[string]any) {
	t.Helper()
	got, err := c.Get(context.Background(), "companies", []string{id})
	require.NoError(t, err)
	require.Len(t, got, 1)
	r := got[0]
	for k, v := range fields {
		r.Fields[k] = v
	}
	r.UpdatedAt = time.Time{}
	c.Put("companies", r)
}

// held returns c's company of domain, which must be the only one.
func held(t *testing.T, c *memory.Connector, domain string) connectors.Record {
	t.Helper()
	var out []connectors.Record
	for _, r := range c.All("companies") {
		if r.Fields["domain"] == domain {
			out = append(out, r)
		}
	}
	require.Len(t, out, 1, "companies of %s", domain)
	return out[0]
}

// syncNow runs the sync again and waits for run n to end.
func syncNow(s *testenv.Sync, n int) workflows.Status {
	s.Signal(workflows.SignalSyncNow, nil)
	return s.WaitRuns(n, time.Minute)
}

func withWrite(def config.Sync, side definition.Side, mode definition.WriteMode) config.Sync {
	def.Write = map[definition.Side]definition.WriteMode{side: mode}
	return def
}

func TestWriteModeUpdateOnlySkipsMissingRecordsAndUpdatesExistingOnes(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	company(source, "acme.com", "Acme", "+1 100")
	company(source, "new.com", "New", "+1 200")
	company(target, "acme.com", "Acme", "+1 999")
	s := testenv.NewSync(t, withWrite(testenv.Def("update-only"), definition.B, definition.UpdateOnly), source, target)

	// The plan says what the run will do, and why new.com is skipped.
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	assert.Equal(t, workflows.Counts{Fetched: 2, Updated: 1, Skipped: 1}, st.LastRun.Counts)
	assert.Equal(t, "+1 100", held(t, target, "acme.com").Fields["phone"], "the existing record is updated")
	assert.Equal(t, 1, target.Len("companies"), "nothing is created")

	f, err := explain.Explain(context.Background(), s.Client, s.Name, "new.com", 10)
	require.NoError(t, err)
	assert.Equal(t, "skipped", f.Action)
	assert.Equal(t, "side b is update-only: no record on side b has this key, and none is created", f.Reason)

	// Changed again, it is still not created; starter plan says so beforehand.
	change(t, source, held(t, source, "new.com").ID, map[string]any{"name": "New Co"})
	plan, _, err := cli.Plan(context.Background(), s.Client, s.Name, 0)
	require.NoError(t, err)
	assert.Equal(t, activities.PlanTotals{Skip: 1}, plan.Totals)
	require.Len(t, plan.Records, 1)
	assert.Equal(t, "new.com", plan.Records[0].Key)
	assert.Contains(t, plan.Records[0].Reason, "update-only")
	st = syncNow(s, 2)
	assert.Equal(t, workflows.Counts{Fetched: 1, Skipped: 1}, st.LastRun.Counts)
	assert.Equal(t, 1, target.Len("companies"))
}

func TestWriteModeCreateOnlyCreatesAndNeverUpdates(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	company(source, "acme.com", "Acme", "+1 100")
	created := company(source, "new.com", "New", "+1 200")
	company(target, "acme.com", "Acme Old", "+1 999")
	s := testenv.NewSync(t, withWrite(testenv.Def("create-only"), definition.B, definition.CreateOnly), source, target)

	s.Start()
	st := s.WaitRuns(1, time.Minute)
	assert.Equal(t, workflows.Counts{Fetched: 2, Created: 1, Skipped: 1}, st.LastRun.Counts)
	assert.Equal(t, map[string]any{"domain": "new.com", "name": "New", "phone": "+1 200"}, held(t, target, "new.com").Fields, "the missing record is created")
	assert.Equal(t, "Acme Old", held(t, target, "acme.com").Fields["name"], "the existing record is not updated")

	// A change of the record it created is not written either.
	writes := target.Writes()
	change(t, source, created.ID, map[string]any{"phone": "+1 201"})
	st = syncNow(s, 2)
	assert.Equal(t, workflows.Counts{Fetched: 1, Skipped: 1}, st.LastRun.Counts)
	assert.Equal(t, "+1 200", held(t, target, "new.com").Fields["phone"])
	assert.Equal(t, writes, target.Writes())

	f, err := explain.Explain(context.Background(), s.Client, s.Name, "new.com", 10)
	require.NoError(t, err)
	assert.Equal(t, "skipped", f.Action)
	assert.Equal(t, "side b is create-only: its record exists and is not updated", f.Reason)
}

func TestOnEmptyKeepLeavesTheTargetsValueAndClearBlanksIt(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	r := company(source, "acme.com", "Acme", "+1 100")
	def := testenv.Def("on-empty")
	for i, f := range def.Fields {
		if f.A == "name" {
			def.Fields[i].OnEmpty = definition.Clear // phone keeps (the default)
		}
	}
	s := testenv.NewSync(t, def, source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)
	assert.Equal(t, map[string]any{"domain": "acme.com", "name": "Acme", "phone": "+1 100"}, held(t, target, "acme.com").Fields)

	// Both blanked on the source: the phone is kept, the name cleared.
	change(t, source, r.ID, map[string]any{"name": "", "phone": "  "})
	st := syncNow(s, 2)
	assert.Equal(t, workflows.Counts{Fetched: 1, Updated: 1}, st.LastRun.Counts)
	got := held(t, target, "acme.com").Fields
	assert.Equal(t, "+1 100", got["phone"], "keep: the blank does not overwrite the value")
	assert.Equal(t, "", got["name"], "clear: the blank is written")

	// Read again, the pair is in step: the kept blank is not a difference to write.
	writes := target.Writes()
	s.Signal(workflows.SignalResync, workflows.ResyncSignal{From: time.Time{}})
	st = s.WaitRuns(3, time.Minute)
	assert.Equal(t, workflows.Counts{Fetched: 1, Skipped: 1}, st.LastRun.Counts)
	assert.Equal(t, writes, target.Writes())

	// A record created with a blank it keeps has no such field written.
	company(source, "blank.com", "Blank", "")
	syncNow(s, 4)
	assert.Equal(t, map[string]any{"domain": "blank.com", "name": "Blank"}, held(t, target, "blank.com").Fields)
}

// Two-way: side b is create-only, the phone keeps blanks. a's blank does not wipe b's
// phone, a's edits never update b, b's edits still come to a, and nothing goes back and
// forth afterwards.
func TestWriteModesAndOnEmptyTwoWay(t *testing.T) {
	a := memory.New(memory.Options{IDPrefix: "a-"})
	b := memory.New(memory.Options{IDPrefix: "b-"})
	ra := company(a, "acme.com", "Acme", "+1 100")
	def := testenv.Def("two-way-modes")
	def.Mode = config.TwoWay
	def = withWrite(def, definition.B, definition.CreateOnly)
	s := testenv.NewSync(t, def, a, b)
	s.Start()
	s.WaitRuns(1, time.Minute)
	rb := held(t, b, "acme.com")
	assert.Equal(t, map[string]any{"domain": "acme.com", "name": "Acme", "phone": "+1 100"}, rb.Fields, "b's missing record is created")

	// a renames and blanks its phone: b is create-only, so it is left as it is.
	change(t, a, ra.ID, map[string]any{"name": "Acme Corp", "phone": ""})
	bWrites := b.Writes()
	st := syncNow(s, 2)
	assert.Equal(t, bWrites, b.Writes(), "nothing is written to b")
	assert.Equal(t, map[string]any{"domain": "acme.com", "name": "Acme", "phone": "+1 100"}, held(t, b, "acme.com").Fields)
	assert.Equal(t, 0, st.LastRun.Counts.Updated+st.LastRun.Counts.Created)

	// b's own edit still goes to a (side a upserts); b is not written.
	change(t, b, rb.ID, map[string]any{"phone": "+1 300"})
	syncNow(s, 3)
	assert.Equal(t, map[string]any{"domain": "acme.com", "name": "Acme Corp", "phone": "+1 300"}, held(t, a, "acme.com").Fields)
	assert.Equal(t, bWrites, b.Writes())

	// a blanks the phone again: under keep it does not wipe b's, and from then on
	// nothing is written either way, run after run.
	change(t, a, ra.ID, map[string]any{"phone": nil})
	syncNow(s, 4)
	aWrites := a.Writes()
	for n := 5; n <= 6; n++ {
		st = syncNow(s, n)
		assert.Zero(t, st.LastRun.Counts.Updated+st.LastRun.Counts.Created, "run %d", n)
	}
	assert.Equal(t, aWrites, a.Writes(), "no ping-pong on a")
	assert.Equal(t, bWrites, b.Writes(), "no ping-pong on b")
	assert.Equal(t, "+1 300", held(t, b, "acme.com").Fields["phone"])
	assert.Nil(t, held(t, a, "acme.com").Fields["phone"])
}

// The bulk path (SyncChunk, for a backlog over a thousand changes) decides with the same
// functions: update-only and a kept blank hold there too.
func TestWriteModeUpdateOnlyAndOnEmptyInBulk(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	const n = 2400
	for i := range n {
		phone := fmt.Sprintf("+1 %04d", i)
		if i%2 == 1 {
			phone = "" // kept: the target's phone stays
		}
		company(source, fmt.Sprintf("c%04d.example", i), fmt.Sprintf("C%d", i), phone)
		if i < n/2 {
			company(target, fmt.Sprintf("c%04d.example", i), fmt.Sprintf("C%d", i), "+1 999")
		}
	}
	def := withWrite(testenv.Def("update-only-bulk"), definition.B, definition.UpdateOnly)
	def.PageSize = 200
	s := testenv.NewSync(t, def, source, target)
	s.Start()
	st := s.WaitRuns(1, 2*time.Minute)
	assert.Equal(t, workflows.Counts{Fetched: n, Updated: n / 4, Skipped: 3 * n / 4}, st.LastRun.Counts)
	assert.Equal(t, n/2, target.Len("companies"), "nothing is created")
	for _, r := range target.All("companies") {
		var i int
		_, err := fmt.Sscanf(connectors.KeyString(r.Fields["domain"]), "c%04d.example", &i)
		require.NoError(t, err)
		want := "+1 999"
		if i%2 == 0 {
			want = fmt.Sprintf("+1 %04d", i)
		}
		require.Equal(t, want, r.Fields["phone"], "phone of %s", r.Fields["domain"])
	}

	// The run went in chunks.
	hs, err := s.Histories(context.Background())
	require.NoError(t, err)
	chunks := 0
	for _, h := range hs {
		for _, e := range h.GetEvents() {
			if e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == "SyncChunk" {
				chunks++
			}
		}
	}
	assert.Positive(t, chunks, "SyncChunk activities")
}
