package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/definition"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// TestRecordFixtures runs the scenarios whose histories are committed under testdata/ and
// replayed by TestReplayFixtures. It records only when asked:
//
//	TANDEM_RECORD_FIXTURES=1 go test ./workflows -run TestRecordFixtures
//
// or one scenario, leaving the others' files as they were recorded (older files cover the
// paths older versions of the workflow took, which a new recording would not):
//
//	TANDEM_RECORD_FIXTURES=1 go test ./workflows -run 'TestRecordFixtures/close_after_wake'
func TestRecordFixtures(t *testing.T) {
	if os.Getenv("TANDEM_RECORD_FIXTURES") == "" {
		t.Skip("set TANDEM_RECORD_FIXTURES=1 to record the histories under testdata/")
	}
	ctx := context.Background()
	write := func(name string, h *historypb.History) {
		b, err := protojson.MarshalOptions{Indent: " "}.Marshal(h)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join("testdata", name+".json"), b, 0o644))
		t.Logf("testdata/%s.json: %d events", name, len(h.Events))
	}
	histories := func(s *testenv.Sync) []*historypb.History {
		hs, err := s.Histories(ctx)
		require.NoError(t, err)
		return hs
	}
	// Since "run-in-place" a sync's runs share an execution until its history is long.
	// The scenarios that record an execution per run use a server of their own that
	// suggests continuing as new once a history holds 8,000 bytes: the suggestion is in
	// the history, so the recording replays (SetRunInPlaceEvents, a knob of this process,
	// would not be: the replay would take the other branch).
	var short client.Client
	outer := t
	shortSync := func(t *testing.T, def config.Sync, a, b *memory.Connector) *testenv.Sync {
		if short == nil { // started once, for the whole test
			short = testenv.ClientWith(outer, map[string]any{"limit.historySize.suggestContinueAsNew": 8_000})
		}
		return testenv.NewSyncWith(t, short, def, a, b)
	}

	t.Run("one-way backfill and continue-as-new", func(t *testing.T) {
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-"})
		source.Seed("companies", 300, memory.SampleCompany)
		def := testenv.Def("fixture-backfill")
		def.PageSize = 100
		s := shortSync(t, def, source, target)
		s.Start()
		s.WaitRuns(1, time.Minute)
		edit(t, source, source.All("companies")[5].ID, map[string]any{"phone": "+1 555 0000"})
		s.Signal(workflows.SignalSyncNow, nil)
		s.WaitRuns(2, time.Minute)
		hs := histories(s)
		require.GreaterOrEqual(t, len(hs), 3)
		write("one-way-backfill", hs[0])
		write("continued-as-new", hs[1]) // starts from the carried state, woken by sync-now
	})

	t.Run("look-ahead", func(t *testing.T) {
		// Pages looked up while the page before is written, and a key on two pages
		// looked up again.
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-", NoNativeUpsert: true})
		source.Seed("companies", 30, memory.SampleCompany)
		source.Put("companies", connectors.Record{Fields: map[string]any{"name": "Again", "domain": source.All("companies")[29].Fields["domain"]}})
		target.FailNext(memory.MethodCreate, 1, errors.New("connection reset"))
		def := testenv.Def("fixture-look-ahead")
		def.PageSize = 10
		s := testenv.NewSync(t, def, source, target)
		s.Start()
		s.WaitRuns(1, time.Minute)
		write("look-ahead", histories(s)[0])
	})

	t.Run("webhook micro-batches", func(t *testing.T) {
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-"})
		recs := source.Seed("companies", 50, memory.SampleCompany)
		def := testenv.Def("fixture-webhooks")
		def.Webhooks = true
		s := shortSync(t, def, source, target)
		s.Start()
		s.WaitRuns(1, time.Minute)
		for i := range 5 {
			edit(t, source, recs[i].ID, map[string]any{"phone": fmt.Sprintf("+1 555 %04d", i)})
			announce(s, "a", recs[i].ID, recs[i].ID)
		}
		settle(s, 10)
		s.Signal(workflows.SignalSyncNow, nil)
		s.WaitRuns(2, time.Minute)
		write("webhook-micro-batches", histories(s)[1])
	})

	t.Run("webhook local batches", func(t *testing.T) {
		// Since "local-microbatches": each batch's steps are local activities, and a
		// stream of events (each announced as soon as the batch before is written)
		// makes small batches wait for more (Gather).
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-"})
		recs := source.Seed("companies", 50, memory.SampleCompany)
		def := testenv.Def("fixture-local-batches")
		def.Webhooks = true
		s := shortSync(t, def, source, target)
		s.Start()
		s.WaitRuns(1, time.Minute)
		for i := range 6 {
			edit(t, source, recs[i].ID, map[string]any{"phone": fmt.Sprintf("+1 555 %04d", i)})
			announce(s, "a", recs[i].ID)
			s.WaitFor(fmt.Sprintf("batch %d", i+1), time.Minute, func(st workflows.Status) bool { return st.Events.Batches == i+1 })
		}
		settle(s, 6)
		s.Signal(workflows.SignalSyncNow, nil)
		s.WaitRuns(2, time.Minute)
		h := histories(s)[1]
		gathered := false
		for _, e := range h.Events {
			gathered = gathered || localActivity(e) == "Gather"
		}
		require.True(t, gathered, "no micro-batch waited for more events")
		write("webhook-local-batches", h)
	})

	t.Run("pause resume resync", func(t *testing.T) {
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-"})
		source.Seed("companies", 20, memory.SampleCompany)
		s := shortSync(t, testenv.Def("fixture-signals"), source, target)
		s.Start()
		s.WaitRuns(1, time.Minute)
		s.Signal(workflows.SignalPause, nil)
		s.WaitFor("paused", time.Minute, func(st workflows.Status) bool { return st.Paused })
		s.Signal(workflows.SignalSyncNow, nil)
		s.Signal(workflows.SignalResume, nil)
		s.WaitRuns(2, time.Minute)
		s.Signal(workflows.SignalResync, workflows.ResyncSignal{From: time.Time{}})
		s.WaitRuns(3, time.Minute)
		hs := histories(s)
		write("pause-resume", hs[1])
		write("resync", hs[2])
	})

	t.Run("two-way conflict", func(t *testing.T) {
		a := memory.New(memory.Options{IDPrefix: "a-"})
		b := memory.New(memory.Options{IDPrefix: "b-"})
		rec := a.Put("companies", connectors.Record{Fields: map[string]any{"name": "Acme", "domain": "acme.com", "phone": "+1"}})
		s := shortSync(t, twoWay("fixture-two-way", config.NewestWins), a, b)
		s.Start()
		s.WaitRuns(1, time.Minute)
		edit(t, a, rec.ID, map[string]any{"phone": "+2"})
		time.Sleep(5 * time.Millisecond)
		edit(t, b, b.All("companies")[0].ID, map[string]any{"phone": "+3"})
		s.Signal(workflows.SignalSyncNow, nil)
		st := s.WaitRuns(2, time.Minute)
		require.NotEmpty(t, st.Decisions)
		write("two-way-conflict", histories(s)[1])
	})

	t.Run("two-way with links", func(t *testing.T) {
		// The link-store path: a first run that creates, matches and links pairs, then a
		// run with a key change followed by id, a field-merge conflict, and echoes.
		a := memory.New(memory.Options{IDPrefix: "a-"})
		b := memory.New(memory.Options{IDPrefix: "b-"})
		acme := a.Put("companies", connectors.Record{Fields: map[string]any{"name": "Acme", "domain": "acme.com", "phone": "+1"}})
		globex := a.Put("companies", connectors.Record{Fields: map[string]any{"name": "Globex", "domain": "globex.com", "phone": "+2"}})
		b.Put("companies", connectors.Record{Fields: map[string]any{"name": "Initech", "domain": "initech.com", "phone": "+3"}})
		s := shortSync(t, twoWay("fixture-links", config.FieldMerge), a, b)
		s.Start()
		s.WaitRuns(1, time.Minute)
		edit(t, a, acme.ID, map[string]any{"domain": "acme.io"})
		edit(t, a, globex.ID, map[string]any{"phone": "+22"})
		for _, r := range b.All("companies") {
			if r.Fields["domain"] == "globex.com" {
				edit(t, b, r.ID, map[string]any{"name": "Globex Corp"})
			}
		}
		s.Signal(workflows.SignalSyncNow, nil)
		st := s.WaitRuns(2, time.Minute)
		require.NotEmpty(t, st.Decisions)
		hs := histories(s)
		write("two-way-links-first-run", hs[0])
		write("two-way-links", hs[1])
	})

	t.Run("updates and an inline definition", func(t *testing.T) {
		// Started with its definition inline; pause, a refused sync-now, resume, define,
		// a resync and a sync-now through Updates; the state search attributes.
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-"})
		source.Seed("companies", 20, memory.SampleCompany)
		s := shortSync(t, testenv.Def("not-this-one"), source, target)
		s.Name = "fixture-updates"
		def := func(fields string) json.RawMessage {
			return json.RawMessage(`{"name":"fixture-updates","a":{"connection":"source","object":"companies","key":"domain"},` +
				`"b":{"connection":"target","object":"companies","key":"domain"},"schedule":{"every":"1h"},"fields":[` + fields + `]}`)
		}
		run, _, err := app.StartSync(ctx, s.Client, s.Name, def(`{"a":"domain","b":"domain","normalize":"domain"},{"a":"name","b":"name"}`))
		require.NoError(t, err)
		s.FirstRunID = run.GetRunID()
		s.WaitRuns(1, time.Minute)
		upd := func(name string, arg any) error {
			_, err := app.Update(ctx, s.Client, s.Name, name, arg)
			return err
		}
		require.NoError(t, upd(workflows.UpdatePause, nil))
		require.Error(t, upd(workflows.UpdateSyncNow, nil))
		require.NoError(t, upd(workflows.UpdateResume, nil))
		require.NoError(t, upd(workflows.UpdateDefine, workflows.DefineRequest{Definition: def(`{"a":"domain","b":"domain","normalize":"domain"},{"a":"name","b":"name"},{"a":"phone","b":"phone"}`)}))
		require.NoError(t, upd(workflows.UpdateResync, workflows.ResyncSignal{}))
		s.WaitRuns(2, time.Minute)
		hs := histories(s)
		require.GreaterOrEqual(t, len(hs), 2)
		write("updates-inline-definition", hs[0])
		write("updates-define-resync", hs[1])
	})

	t.Run("deletes", func(t *testing.T) {
		// Deletes from the log held by the breaker and approved, then a webhook delete in
		// a micro-batch (two-way, archive).
		a := memory.New(memory.Options{IDPrefix: "a-"})
		b := memory.New(memory.Options{IDPrefix: "b-"})
		recs := a.Seed("companies", 20, memory.SampleCompany)
		def := withDeletes(twoWay("fixture-deletes", config.NewestWins), definition.DeleteArchive)
		def.Deletes.Max = 2
		s := shortSync(t, def, a, b)
		s.Start()
		s.WaitRuns(1, time.Minute)
		for _, r := range recs[:5] {
			a.Remove("companies", r.ID)
		}
		s.Signal(workflows.SignalSyncNow, nil)
		s.WaitRuns(2, time.Minute)
		_, err := app.Update(ctx, s.Client, s.Name, workflows.UpdateDeletesApprove, nil)
		require.NoError(t, err)
		a.Remove("companies", recs[5].ID)
		s.Signal(workflows.SignalChange, workflows.ChangeSignal{Side: "a", Events: []workflows.ChangeEvent{{ID: "fixture-del", RecordID: recs[5].ID, Kind: "deleted"}}})
		s.WaitFor("six archived", time.Minute, func(st workflows.Status) bool { return st.Totals.Archived == 6 })
		s.Signal(workflows.SignalSyncNow, nil)
		s.WaitRuns(3, time.Minute)
		hs := histories(s)
		require.GreaterOrEqual(t, len(hs), 3)
		write("deletes-held", hs[1])             // the breaker holds the deletes
		write("deletes-approved-webhook", hs[2]) // approved, then a webhook delete
	})

	t.Run("drain ahead", func(t *testing.T) {
		// Since "drain-ahead": a run told to continue as new while a page is read ahead
		// writes that page first. A server of its own suggests it after a few pages.
		c := testenv.ClientWith(t, map[string]any{"limit.historySize.suggestContinueAsNew": 40_000})
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-"})
		source.Seed("companies", 300, memory.SampleCompany)
		def := testenv.Def("fixture-drain-ahead")
		def.PageSize = 50
		s := testenv.NewSyncWith(t, c, def, source, target)
		s.Start()
		s.WaitRuns(1, time.Minute)
		hs := histories(s)
		require.Greater(t, len(hs), 1)
		write("drain-ahead", hs[0])
	})

	t.Run("bulk chunks", func(t *testing.T) {
		// A backlog the source can count goes in chunks from its first record; then a
		// small run goes per step.
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-"})
		source.Seed("companies", 2500, memory.SampleCompany)
		def := testenv.Def("fixture-bulk")
		def.PageSize = 200
		s := shortSync(t, def, source, target)
		s.Start()
		s.WaitRuns(1, time.Minute)
		edit(t, source, source.All("companies")[5].ID, map[string]any{"phone": "+1 555 0000"})
		s.Signal(workflows.SignalSyncNow, nil)
		s.WaitRuns(2, time.Minute)
		hs := histories(s)
		require.GreaterOrEqual(t, len(hs), 2)
		write("bulk-chunks", hs[0])
		write("bulk-then-small-run", hs[1])
	})

	t.Run("retry rejected", func(t *testing.T) {
		// Since "retry-failed": a record the target rejects is remembered, and the next
		// run (nothing changed in the source) retries it and writes it.
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-"})
		source.Seed("companies", 5, memory.SampleCompany)
		source.Put("companies", connectors.Record{Fields: map[string]any{"name": "Bad", "domain": "bad.example"}})
		target.RejectRecords(func(r connectors.Record) string {
			if r.Fields["domain"] == "bad.example" {
				return "rejected"
			}
			return ""
		})
		s := testenv.NewSync(t, testenv.Def("fixture-retry-rejected"), source, target)
		s.Start()
		s.WaitRuns(1, time.Minute)
		target.RejectRecords(nil)
		s.Signal(workflows.SignalSyncNow, nil)
		st := s.WaitRuns(2, time.Minute)
		require.Equal(t, 1, st.LastRun.Created)
		hs := histories(s)
		write("retry-rejected", hs[len(hs)-1]) // both runs share an execution (run-in-place)
	})

	t.Run("close after wake", func(t *testing.T) {
		// Since "close-after-wake": a run that ends its execution while webhook events
		// stream in waits for the next change signal (here the wait runs out: no more
		// events) and continues as new in a workflow task of its own.
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-"})
		recs := source.Seed("companies", 20, memory.SampleCompany)
		def := testenv.Def("fixture-close-after-wake")
		def.Webhooks = true
		s := shortSync(t, def, source, target)
		s.Start()
		s.WaitRuns(1, time.Minute)
		edit(t, source, recs[0].ID, map[string]any{"phone": "+1 555 0100"})
		announce(s, "a", recs[0].ID)
		settle(s, 1)
		s.Signal(workflows.SignalSyncNow, nil) // a run, which continues as new when it ends
		s.WaitRuns(2, time.Minute)
		// The close that waited is in the execution that ran it, which the next one
		// follows.
		var closed *historypb.History
		require.Eventually(t, func() bool {
			hs, err := s.Histories(ctx)
			if err != nil {
				return false
			}
			for _, h := range hs {
				if waitedAtClose(h) {
					closed = h
					return true
				}
			}
			return false
		}, time.Minute, 20*time.Millisecond, "a close under the stream waited for the next signal")
		require.True(t, assertClosedInFreshTask(t, closed))
		write("close-after-wake", closed)
	})

	t.Run("lagged chunks", func(t *testing.T) {
		// Since "lagged-chunks": a one-way backfill into HubSpot, whose search trails its
		// writes, goes in chunks that are given and hand back the recent writes.
		_, hs := laggingHubSpot(t)
		source := memory.New(memory.Options{IDPrefix: "s-"})
		source.Seed("companies", 1500, memory.SampleCompany)
		s := intoHubSpot(t, "fixture-lagged-chunks", 500, source, hs)
		s.Start()
		st := s.WaitRuns(1, time.Minute)
		require.Positive(t, st.LastRun.Chunks)
		write("lagged-chunks", histories(s)[0])
	})

	t.Run("two-way lagged chunks", func(t *testing.T) {
		// Since "lagged-chunks" version 2: a two-way sync with HubSpot, whose search
		// trails its writes, goes in chunks too.
		_, hs := laggingHubSpot(t)
		source := memory.New(memory.Options{IDPrefix: "s-"})
		source.Seed("companies", 1500, memory.SampleCompany)
		s := withHubSpot(t, "fixture-two-way-lagged-chunks", config.TwoWay, 500, source, hs)
		s.Start()
		st := s.WaitRuns(1, time.Minute)
		require.Positive(t, st.LastRun.Chunks)
		write("two-way-lagged-chunks", histories(s)[0])
	})

	t.Run("lagging source past its count", func(t *testing.T) {
		// Since "lagged-chunks" version 3: a side whose search trails its writes, counted
		// under the bulk minimum, goes on in chunks after a full page.
		fake, hs := laggingHubSpot(t)
		for i := range 600 {
			f := memory.SampleCompany(i)
			fake.SeedAt("companies", map[string]string{"name": fmt.Sprint(f["name"]), "domain": fmt.Sprint(f["domain"])}, time.Now().Add(-time.Hour))
		}
		s := withHubSpot(t, "fixture-lagging-source", config.TwoWay, 100, memory.New(memory.Options{IDPrefix: "s-"}), hs)
		s.Start()
		st := s.WaitRuns(1, time.Minute)
		require.Positive(t, st.LastRun.Chunks)
		write("lagging-source-chunks", histories(s)[0])
	})

	t.Run("deliberately changed workflow", func(t *testing.T) {
		// A build of SyncWorkflow that sleeps before it starts: its history must not
		// replay on the real one, which is what the replay test exists to catch.
		source := memory.New(memory.Options{IDPrefix: "s-"})
		target := memory.New(memory.Options{IDPrefix: "t-"})
		source.Seed("companies", 10, memory.SampleCompany)
		s := testenv.NewSync(t, testenv.Def("fixture-changed"), source, target)
		s.StopWorker()
		w := worker.New(s.Client, workflows.TaskQueue, worker.Options{})
		w.RegisterWorkflowWithOptions(func(ctx workflow.Context, in workflows.SyncInput) error {
			if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
				return err
			}
			return workflows.SyncWorkflow(ctx, in)
		}, workflow.RegisterOptions{Name: "SyncWorkflow"})
		w.RegisterActivity(s.Acts)
		require.NoError(t, w.Start())
		defer w.Stop()
		s.Start()
		s.WaitRuns(1, time.Minute)
		write("bad-changed-workflow", histories(s)[0])
	})
}
