package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"tandem/activities"
	"tandem/connectors/memory"
	"tandem/definition"
	"tandem/internal/cli"
	"tandem/internal/testenv"
	"tandem/pairs"
	"tandem/workflows"
)

// run runs the starter with args against the embedded server and returns its output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	dial := func(ctx context.Context) (client.Client, error) {
		return testenv.Server(t).NewClient(ctx, client.Options{})
	}
	cmd := cli.Starter(&out, dial)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func writeConfig(t *testing.T, names ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("connections:\n  source: {type: memory}\n  target: {type: memory}\nsyncs:\n")
	for _, n := range names {
		b.WriteString("  - name: " + n + "\n    a: {connection: source, object: companies, key: domain}\n    b: {connection: target, object: companies, key: domain}\n    fields:\n      - {a: name, b: name}\n")
	}
	path := filepath.Join(t.TempDir(), "syncs.yaml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func TestVerbsDriveARunningSync(t *testing.T) {
	source := memory.New(memory.Options{})
	target := memory.New(memory.Options{})
	source.Seed("companies", 30, memory.SampleCompany)
	s := testenv.NewSync(t, testenv.Def("cli"), source, target)

	out, err := run(t, "start", "--sync", "cli")
	require.NoError(t, err)
	assert.Contains(t, out, "sync cli: started (workflow tandem/sync/cli")
	out, err = run(t, "start", "--sync", "cli")
	require.NoError(t, err)
	assert.Contains(t, out, "sync cli: already running")
	s.WaitRuns(1, time.Minute)

	out, err = run(t, "status", "--sync", "cli")
	require.NoError(t, err)
	assert.Contains(t, out, "sync cli (workflow tandem/sync/cli): idle")
	assert.Contains(t, out, "last run:   #1 (schedule)")
	assert.Contains(t, out, "fetched 30, created 30, updated 0, skipped 0, failed 0")
	assert.Contains(t, out, "next run:")

	out, err = run(t, "status", "--sync", "cli", "--json")
	require.NoError(t, err)
	var st workflows.Status
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, 30, st.Totals.Created)

	out, err = run(t, "pause", "--sync", "cli")
	require.NoError(t, err)
	assert.Equal(t, "sync cli: pause done; now paused\n", out, "the update answers with the new state")
	out, err = run(t, "status", "--sync", "cli")
	require.NoError(t, err)
	assert.Contains(t, out, "): paused")

	_, err = run(t, "sync-now", "--sync", "cli")
	require.Error(t, err)
	assert.Equal(t, `sync "cli" refused sync-now: sync "cli" is paused: resume it first`, err.Error())

	out, err = run(t, "resume", "--sync", "cli")
	require.NoError(t, err)
	assert.Contains(t, out, "sync cli: resume done; now ")
	assert.NotContains(t, out, "paused")

	_, err = run(t, "resync", "--sync", "cli", "--from", "2000-01-01")
	require.NoError(t, err)
	st2 := s.WaitRuns(2, time.Minute)
	assert.Equal(t, "resync", st2.LastRun.Trigger)
	assert.Equal(t, workflows.Counts{Fetched: 30, Skipped: 30}, st2.LastRun.Counts)

	_, err = run(t, "sync-now", "--sync", "cli")
	require.NoError(t, err)
	s.WaitRuns(3, time.Minute)
}

func TestFailuresSayWhatWasWrong(t *testing.T) {
	cfg := writeConfig(t, "alpha", "beta")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown sync with config", []string{"status", "--config", cfg, "--sync", "gamma"}, `unknown sync "gamma": ` + cfg + ` defines alpha, beta`},
		{"misspelt sync", []string{"sync-now", "--config", cfg, "--sync", "alpah"}, `did you mean "alpha"?`},
		{"sync not running", []string{"pause", "--sync", "never-started"}, `sync "never-started" is not running`},
		{"bad resync time", []string{"resync", "--sync", "alpha", "--from", "yesterday"}, `--from: "yesterday" is not a time`},
		{"bad side", []string{"resync", "--sync", "alpha", "--from", "2024-01-01", "--side", "c"}, `--side: "c" is not a side`},
		{"missing sync flag", []string{"pause"}, `required flag(s) "sync" not set`},
		{"bad config", []string{"start", "--config", filepath.Join(t.TempDir(), "missing.yaml")}, "read sync definitions"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := run(t, c.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

// Finding 10: `starter --config F` dialled Temporal before reading F, so a bad file behind
// a down server showed only the server's error.
func TestABadFileIsReportedBeforeDialing(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "syncs.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("connections:\n  source: {type: memory}\nsyncs:\n  - name: x\n    a: {connection: nowhere, object: o, key: k}\n"), 0o600))
	dialed := false
	cmd := cli.Starter(&bytes.Buffer{}, func(context.Context) (client.Client, error) {
		dialed = true
		return nil, errors.New("cannot reach Temporal at 127.0.0.1:1")
	})
	cmd.SetArgs([]string{"status", "--config", bad})
	err := cmd.ExecuteContext(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad)
	assert.Contains(t, err.Error(), `unknown connection "nowhere"`)
	assert.False(t, dialed, "the file is read first")
}

// `start --inline` sends the file's definition with the start; `define` replaces it on a
// running sync, and the worker's own file need not have the sync.
func TestStartInlineAndDefine(t *testing.T) {
	source := memory.New(memory.Options{})
	target := memory.New(memory.Options{})
	source.Seed("companies", 7, memory.SampleCompany)
	// The worker knows another sync only, over the same connections.
	testenv.NewSync(t, testenv.Def("worker-only"), source, target)
	t.Cleanup(func() {
		_ = testenv.Client(t).TerminateWorkflow(context.Background(), workflows.WorkflowID("inline-cli"), "", "test over")
	})
	cfg := writeConfig(t, "inline-cli")
	out, err := run(t, "start", "--config", cfg, "--sync", "inline-cli", "--inline")
	require.NoError(t, err)
	assert.Contains(t, out, "sync inline-cli: started")
	require.Eventually(t, func() bool {
		out, err = run(t, "status", "--sync", "inline-cli")
		return err == nil && strings.Contains(out, "last run:   #1")
	}, time.Minute, 50*time.Millisecond)
	assert.Contains(t, out, "definition: inline")
	assert.Contains(t, out, "created 7")

	out, err = run(t, "define", "--config", cfg, "--sync", "inline-cli")
	require.NoError(t, err)
	assert.Contains(t, out, "sync inline-cli: define done")
	// Back to the workers' files: refused, as the worker's file does not define it.
	_, err = run(t, "define", "--sync", "inline-cli", "--by-name")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `refused define: sync "inline-cli" is not defined in test`)
	out, err = run(t, "status", "--sync", "inline-cli")
	require.NoError(t, err)
	assert.Contains(t, out, "definition: inline", "a refused definition changes nothing")
}

func TestUnreachableTemporalNamesTheAddress(t *testing.T) {
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
	var out bytes.Buffer
	cmd := cli.Starter(&out, nil)
	cmd.SetArgs([]string{"status"})
	err := cmd.ExecuteContext(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot reach Temporal at 127.0.0.1:1")
}

func TestStatusOutputWithFailures(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var out bytes.Buffer
	cli.WriteStatus(&out, workflows.Status{
		Sync: "x", WorkflowID: "tandem/sync/x", NextRunAt: now.Add(90 * time.Second), Runs: 2,
		Totals:   workflows.Counts{Fetched: 3, Created: 2, Failed: 1, Conflicts: 1},
		Failures: []workflows.FailedRecord{{Run: 2, Side: "a", RecordID: "r1", Key: "acme.com", Reason: "phone: not a phone number"}},
		Decisions: []workflows.DecisionRecord{{Run: 2, Key: "initech.com", Kind: "conflict", Winner: "b",
			Lost: map[string]any{"a.phone": "+1 555 0001"}}},
	}, now)
	assert.Equal(t, `sync x (workflow tandem/sync/x): idle
  next run:   2026-01-02T03:05:35Z (in 1m30s)
  totals:     fetched 3, created 2, updated 0, skipped 0, failed 1, conflicts 1 over 2 runs
  decisions (latest 1 of 1 kept):
    run #2 initech.com: both sides changed; b won; overwritten: {a.phone="+1 555 0001"}
  failed records (latest 1 of 1 kept):
    run #2 side a record r1 key acme.com: phone: not a phone number
`, out.String())
}

func TestStatusOutputWithHeldPairsAndMergedFields(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var out bytes.Buffer
	cli.WriteStatus(&out, workflows.Status{
		Sync: "x", WorkflowID: "tandem/sync/x", NextRunAt: now.Add(time.Minute), Runs: 3,
		Totals: workflows.Counts{Fetched: 4, Updated: 2, Skipped: 2, Conflicts: 1, Held: 1, Stale: 1},
		Decisions: []workflows.DecisionRecord{{Run: 3, Key: "acme.com", Kind: "conflict", Winner: "a",
			Fields: []pairs.FieldDecision{{Field: "name", A: "Acme", B: "Acme Corp", Winner: "b", Why: "b changed"}, {Field: "phone", A: "+2", B: "+1", Winner: "a", Why: "a changed"}}}},
		HeldCount: 1,
		Held: []workflows.HeldPair{{Key: "initech.com", Side: "b", RecordID: "b7", Until: now.Add(5 * time.Minute),
			Reason: `loop guard: a.name was written as "initech" and reads back as "INITECH"`}},
	}, now)
	assert.Equal(t, `sync x (workflow tandem/sync/x): idle
  next run:   2026-01-02T03:05:05Z (in 1m0s)
  totals:     fetched 4, created 0, updated 2, skipped 2, failed 0, conflicts 1, held 1, stale 1 (changed after they were read; planned again) over 3 runs
  decisions (latest 1 of 1 kept):
    run #3 acme.com: both sides changed; a won; overwritten: {}
      name: a "Acme", b "Acme Corp" -> b (b changed)
      phone: a "+2", b "+1" -> a (a changed)
  held pairs: 1 (nothing is written to them until their cool-down ends):
    initech.com (side b record b7) until 2026-01-02T03:09:05Z: loop guard: a.name was written as "initech" and reads back as "INITECH"
`, out.String())
}

// A service that fails: while its activity is retried, status says so, with the attempt,
// when the next one is due and the service's error (wave 1 showed "running" with frozen
// counters until the retries were spent, about four minutes).
func TestStatusShowsAnActivityWhileItRetries(t *testing.T) {
	source := memory.New(memory.Options{})
	target := memory.New(memory.Options{NoNativeUpsert: true})
	source.Seed("companies", 5, memory.SampleCompany)
	target.FailNext(memory.MethodCreate, 3, errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"))
	s := testenv.NewSync(t, testenv.Def("retrying"), source, target)
	s.Start()
	var out string
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out, "retrying:") {
		require.True(t, time.Now().Before(deadline), "status never showed the retries; last:\n%s", out)
		var err error
		out, err = run(t, "status", "--sync", "retrying")
		require.NoError(t, err)
	}
	assert.Regexp(t, `retrying:   Upsert, attempt [234], (next at .*|running again now): .*connection refused`, out)
	assert.Contains(t, out, "retrying after errors")
	st := s.WaitRuns(1, time.Minute)
	assert.Equal(t, 5, st.LastRun.Created, "the retries end in the writes")
	assert.Empty(t, s.Status().Retrying)
}

// A sync whose workflow was terminated: status says so instead of answering from its last
// state ("idle, next run due now", for ever).
func TestStatusOfATerminatedSync(t *testing.T) {
	source := memory.New(memory.Options{})
	source.Seed("companies", 3, memory.SampleCompany)
	s := testenv.NewSync(t, testenv.Def("terminated"), source, memory.New(memory.Options{}))
	s.Start()
	s.WaitRuns(1, time.Minute)
	require.NoError(t, s.Client.TerminateWorkflow(context.Background(), workflows.WorkflowID("terminated"), "", "by hand"))
	out, err := run(t, "status", "--sync", "terminated")
	require.NoError(t, err)
	assert.Contains(t, out, "sync terminated (workflow tandem/sync/terminated): stopped: workflow terminated at ")
	assert.NotContains(t, out, "next run")
}

func TestStatusOutputWithHeldDeletes(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var out bytes.Buffer
	cli.WriteStatus(&out, workflows.Status{
		Sync: "x", WorkflowID: "tandem/sync/x", NextRunAt: now.Add(time.Minute), Runs: 3, State: workflows.StateIdle,
		Totals: workflows.Counts{Fetched: 4, Deleted: 2, Archived: 1},
		Deletes: &workflows.DeletesStatus{Mode: "delete", Held: &workflows.HeldDeletes{Count: 600, Linked: 1000, Percent: 60, Max: 100, MaxPercent: 10, Since: now.Add(-time.Hour)},
			Notes:  map[string]string{"a": "no delete log: every id is diffed against the pairs every run"},
			Recent: []activities.DeleteOutcome{{Side: "a", ID: "a1", Key: "acme.com", PartnerSide: "b", PartnerID: "b1", Action: "deleted", Reason: "deleted on a (found by log); the partner was deleted on b"}}},
	}, now)
	assert.Equal(t, `sync x (workflow tandem/sync/x): idle, deletes held: 600 (60% > 10%)
  next run:   2026-01-02T03:05:05Z (in 1m0s)
  totals:     fetched 4, created 0, updated 0, skipped 0, failed 0, deleted 2, archived 1 over 3 runs
  deletes:    mode delete
  deletes held: 600 (60% > 10%) of 1000 pairs since 2026-01-02T02:04:05Z: the breaker (max 100 and 10%) holds them; `+"`starter deletes approve --sync x`"+` does them, `+"`starter deletes discard --sync x`"+` drops them
  deletes a:  no delete log: every id is diffed against the pairs every run
  latest deletes (1):
    a record a1 key acme.com -> b b1: deleted: deleted on a (found by log); the partner was deleted on b
`, out.String())
}

// The breaker from the starter: status shows the held deletes, `deletes approve` does them.
func TestDeletesApprovedFromTheStarter(t *testing.T) {
	source := memory.New(memory.Options{})
	target := memory.New(memory.Options{})
	recs := source.Seed("companies", 150, memory.SampleCompany)
	def := testenv.Def("cli-deletes")
	def.Deletes = definition.Deletes{Mode: definition.DeleteDelete, Max: definition.DefaultDeleteMax, MaxPercent: definition.DefaultDeleteMaxPercent}
	s := testenv.NewSync(t, def, source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)

	_, err := run(t, "deletes", "approve", "--sync", "cli-deletes")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `sync "cli-deletes" holds no deletes: nothing to approve`)

	for _, r := range recs[:120] {
		source.Remove("companies", r.ID)
	}
	s.Signal(workflows.SignalSyncNow, nil)
	s.WaitRuns(2, time.Minute)
	out, err := run(t, "status", "--sync", "cli-deletes")
	require.NoError(t, err)
	assert.Contains(t, out, "): idle, deletes held: 120 (80% > 10%)")
	assert.Contains(t, out, "`starter deletes approve --sync cli-deletes` does them")
	assert.Equal(t, 150, target.Len("companies"))

	out, err = run(t, "deletes", "approve", "--sync", "cli-deletes")
	require.NoError(t, err)
	assert.Contains(t, out, "sync cli-deletes: deletes-approve done; now idle\n")
	assert.Contains(t, out, "  deletes:    mode delete\n")
	assert.Equal(t, 30, target.Len("companies"))
}
