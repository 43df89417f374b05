package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// Control through Updates, definitions recorded in the run, and the state search
// attributes, on the embedded server (issue 14, findings 4 to 6).

func update(t *testing.T, s *testenv.Sync, name string, arg any) (workflows.Status, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return app.Update(ctx, s.Client, s.Name, name, arg)
}

func TestUpdatesAnswerWithTheNewStateOrARejection(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	source.Seed("companies", 20, memory.SampleCompany)
	s := testenv.NewSync(t, testenv.Def("ctl-updates"), source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)

	st, err := update(t, s, workflows.UpdatePause, nil)
	require.NoError(t, err)
	assert.True(t, st.Paused, "pause answers with the paused state")
	assert.Equal(t, workflows.StatePaused, st.State)

	_, err = update(t, s, workflows.UpdateSyncNow, nil)
	require.Error(t, err, "sync-now on a paused sync is refused")
	assert.Contains(t, err.Error(), `sync "ctl-updates" refused sync-now`)
	assert.Contains(t, err.Error(), "paused: resume it first")

	_, err = update(t, s, workflows.UpdateResync, workflows.ResyncSignal{Side: "c"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown side "c"`)
	_, err = update(t, s, workflows.UpdateResync, workflows.ResyncSignal{From: time.Now().Add(48 * time.Hour)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is in the future")
	// A payload of the wrong shape is refused by the SDK and reaches no handler.
	_, err = update(t, s, workflows.UpdateResync, "everything")
	require.Error(t, err)

	st, err = update(t, s, workflows.UpdateResume, nil)
	require.NoError(t, err)
	assert.False(t, st.Paused)

	source.Seed("companies", 5, func(i int) map[string]any { return memory.SampleCompany(100 + i) })
	st, err = update(t, s, workflows.UpdateSyncNow, nil)
	require.NoError(t, err)
	assert.NotEqual(t, workflows.StatePaused, st.State)
	st = s.WaitRuns(2, time.Minute)
	assert.Equal(t, "sync-now", st.LastRun.Trigger)
	assert.Equal(t, 5, st.LastRun.Created)

	st, err = update(t, s, workflows.UpdateResync, workflows.ResyncSignal{})
	require.NoError(t, err)
	st = s.WaitRuns(3, time.Minute)
	assert.Equal(t, "resync", st.LastRun.Trigger)
	assert.Equal(t, 25, st.LastRun.Fetched, "a resync from the beginning reads every record again")
	assert.Zero(t, st.RejectedSignals, "refused updates are not rejected signals: they never reached the workflow")
}

// Finding 4: one malformed resync signal froze the sync. Signals stay for the CLI, and a
// bad payload is counted, not fatal.
func TestMalformedSignalsNeverStallASync(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	source.Seed("companies", 3, memory.SampleCompany)
	s := testenv.NewSync(t, testenv.Def("ctl-badsignal"), source, target)
	s.Start()
	s.WaitRuns(1, time.Minute)

	s.Signal(workflows.SignalResync, "everything")
	s.Signal(workflows.SignalResync, workflows.ResyncSignal{Side: "z"})
	s.Signal(workflows.SignalResync, workflows.ResyncSignal{From: time.Now().Add(time.Hour)})
	st := s.WaitFor("three rejected signals", time.Minute, func(st workflows.Status) bool { return st.RejectedSignals == 3 })
	assert.Contains(t, st.LastRejectedSignal, "in the future")

	_, err := update(t, s, workflows.UpdateSyncNow, nil)
	require.NoError(t, err)
	s.WaitRuns(2, time.Minute)
}

// Finding 5: a sync no worker knows ran for ever, failing every five minutes; a misspelt
// name got no hint.
func TestAnUnknownSyncFailsAtOnceWithAHint(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	s := testenv.NewSync(t, testenv.Def("companies"), source, target)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, _, err := app.StartSync(ctx, s.Client, "compnies", nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.Client.TerminateWorkflow(context.Background(), workflows.WorkflowID("compnies"), "", "test over")
	})
	err = run.Get(ctx, nil)
	require.Error(t, err, "the workflow of an unknown sync ends")
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "%v", err)
	assert.Contains(t, app.Message(), `sync "compnies" is not defined in test`)
	assert.Contains(t, app.Message(), `did you mean "companies"?`)
}

// Finding 5: the Temporal CLI's `--input '"people"'` failed the workflow with an unmarshal
// error; a bare name is taken as the sync's name.
func TestStartFromTheCLIWithABareName(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	source.Seed("companies", 4, memory.SampleCompany)
	s := testenv.NewSync(t, testenv.Def("ctl-bare"), source, target)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.WorkflowID("ctl-bare"), TaskQueue: workflows.TaskQueue,
	}, "SyncWorkflow", "ctl-bare")
	require.NoError(t, err)
	st := s.WaitRuns(1, time.Minute)
	assert.Equal(t, 4, st.LastRun.Created)
}

// Finding 6: two workers with different files on one task queue took each other's tasks,
// and activities re-read the mapping on every call. A run now carries its definition to
// every activity: here the second worker's file maps name to another field and lacks the
// sync entirely, and every record still comes out as the run's definition says.
func TestARunUsesItsOwnDefinitionOnEveryWorker(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	source.Seed("companies", 300, memory.SampleCompany)
	def := testenv.Def("ctl-twofiles")
	def.PageSize = 20
	s := testenv.NewSync(t, def, source, target)

	// A second worker, same task queue, same connections, a file that maps the sync
	// otherwise (a rolling deploy of an edit): phone -> name.
	other := def
	other.Fields = []config.Field{{A: "phone", B: "name", Direction: config.Both}, {A: "domain", B: "domain", Normalize: []string{"domain"}, Direction: config.Both}}
	testenv.NewFileSync(t, s.Client, &config.File{Path: "other.yaml", Syncs: []config.Sync{other}},
		map[string]connectors.Connector{"source": source, "target": target}, def.Name)

	s.Start()
	st := s.WaitRuns(1, 2*time.Minute)
	require.Empty(t, st.LastRun.Error)
	require.Equal(t, 300, target.Len("companies"))
	// Every record was written under one of the two definitions, the same for all.
	byName, byPhone := 0, 0
	src := map[any]connectors.Record{}
	for _, r := range source.All("companies") {
		src[connectors.KeyString(r.Fields["domain"])] = r
	}
	for _, r := range target.All("companies") {
		from := src[connectors.KeyString(r.Fields["domain"])]
		switch r.Fields["name"] {
		case from.Fields["name"]:
			byName++
		case from.Fields["phone"]:
			byPhone++
		}
	}
	assert.True(t, byName == 300 || byPhone == 300, "one definition for the whole run: %d records by name, %d by phone", byName, byPhone)
}

// A sync started with its definition inline runs on workers whose file does not have it,
// and `define` changes it from the next run; a bad definition is refused with the field.
func TestInlineDefinitionAndDefine(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	source.Seed("companies", 10, memory.SampleCompany)
	// The worker's file defines another sync only; its connections are the ones used.
	s := testenv.NewSync(t, testenv.Def("not-this-one"), source, target)
	s.Name = "ctl-inline"

	inline := func(fields string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"name":"ctl-inline","a":{"connection":"source","object":"companies","key":"domain"},
			"b":{"connection":"target","object":"companies","key":"domain"},"schedule":{"every":"1h"},
			"fields":[%s]}`, fields))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err := app.StartSync(ctx, s.Client, "ctl-inline", inline(`{"a":"domain","b":"domain","normalize":"domain"},{"a":"name","b":"name"}`))
	require.NoError(t, err)
	st := s.WaitRuns(1, time.Minute)
	require.Empty(t, st.LastRun.Error)
	assert.Equal(t, 10, st.LastRun.Created)
	assert.Equal(t, "inline", st.Definition)
	for _, r := range target.All("companies") {
		assert.Nil(t, r.Fields["phone"], "phone is not mapped inline")
	}

	_, err = update(t, s, workflows.UpdateDefine, workflows.DefineRequest{Definition: inline(`{"a":"domain","b":"domain"},{"a":"nmae","b":"name","normalize":"shout"}`)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "fields[1].normalize")

	other := strings.Replace(string(inline(`{"a":"domain","b":"domain"}`)), `"name":"ctl-inline"`, `"name":"other"`, 1)
	_, err = update(t, s, workflows.UpdateDefine, workflows.DefineRequest{Definition: json.RawMessage(other)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `name: is "other"; it must be the sync's name`)

	_, err = update(t, s, workflows.UpdateDefine, workflows.DefineRequest{Definition: inline(`{"a":"domain","b":"domain","normalize":"domain"},{"a":"name","b":"name"},{"a":"phone","b":"phone"}`)})
	require.NoError(t, err)
	_, err = update(t, s, workflows.UpdateResync, workflows.ResyncSignal{})
	require.NoError(t, err)
	st = s.WaitRuns(2, time.Minute)
	require.Empty(t, st.LastRun.Error)
	assert.Equal(t, 10, st.LastRun.Updated, "the new definition maps phone: every record gains it")
	requireMirrored(t, source, target)
}

// The sync's state is in search attributes, so the UI's list shows failing syncs.
func TestStateSearchAttributes(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	source.Seed("companies", 3, memory.SampleCompany)
	s := testenv.NewSync(t, testenv.Def("ctl-search"), source, target)
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	require.False(t, st.LastSuccess.IsZero())

	listed := func(query string) bool {
		resp, err := s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf(`WorkflowId = %q AND ExecutionStatus = "Running" AND %s`, workflows.WorkflowID(s.Name), query),
		})
		require.NoError(t, err)
		return len(resp.GetExecutions()) == 1 && resp.GetExecutions()[0].GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}
	ok := assert.Eventually(t, func() bool {
		return listed(`TandemState = "idle" AND TandemLastSuccess IS NOT NULL`)
	}, 20*time.Second, 50*time.Millisecond, "an idle sync with a last success is listed so")
	if !ok {
		resp, err := s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf(`WorkflowId = %q`, workflows.WorkflowID(s.Name)),
		})
		require.NoError(t, err)
		for _, e := range resp.GetExecutions() {
			t.Logf("%s %s %v", e.GetExecution().GetRunId(), e.GetStatus(), e.GetSearchAttributes())
		}
		t.FailNow()
	}

	source.FailNext(memory.MethodChanges, 1, &connectors.AuthError{Reason: "token revoked"})
	_, err := update(t, s, workflows.UpdateSyncNow, nil)
	require.NoError(t, err)
	st = s.WaitFor("a failed run", time.Minute, func(st workflows.Status) bool { return st.LastRun.Number == 2 })
	require.Contains(t, st.LastRun.Error, "token revoked")
	assert.Equal(t, workflows.StateFailing, st.State)
	require.Eventually(t, func() bool { return listed(`TandemState = "failing"`) }, time.Minute, 50*time.Millisecond,
		"a sync whose run failed is listed as failing")

	_, err = update(t, s, workflows.UpdatePause, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return listed(`TandemState = "paused"`) }, time.Minute, 50*time.Millisecond)
}
