package workflows_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/internal/cli"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// statusText is status as `starter status` prints it.
func statusText(st workflows.Status) string {
	var b bytes.Buffer
	cli.WriteStatus(&b, st, time.Now())
	return b.String()
}

// A record the target rejects fails in run 1 and is listed as still failing; while the
// target still rejects it, run 2 retries it (nothing changed in the source) and keeps it
// with the new reason; once the target takes it, run 3 writes it and status no longer
// lists it.
func TestRejectedRecordIsRetriedUntilWritten(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	source.Seed("companies", 5, memory.SampleCompany)
	bad := source.Put("companies", connectors.Record{Fields: map[string]any{"name": "Bad Phone", "domain": "bad.example", "phone": "not a phone"}})
	reason := "phone is not a phone number"
	target.RejectRecords(func(r connectors.Record) string {
		if r.Fields["domain"] == "bad.example" {
			return reason
		}
		return ""
	})
	s := testenv.NewSync(t, testenv.Def("retry-rejected"), source, target)
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	assert.Equal(t, 1, st.LastRun.Failed)
	assert.Equal(t, 5, target.Len("companies"))
	require.NotNil(t, st.Failing, "status lists the rejected record")
	assert.Equal(t, 1, st.Failing.Count)
	require.Len(t, st.Failing.Latest, 1)
	assert.Equal(t, bad.ID, st.Failing.Latest[0].ID)
	assert.Contains(t, st.Failing.Latest[0].Reason, reason)
	assert.Contains(t, statusText(st), "still failing: 1")

	// Still rejected, for another reason: retried, kept with the new reason.
	reason = "phone: the service is picky today"
	st = syncNow(s, 2)
	assert.Equal(t, 1, st.LastRun.Failed, "retried although the source did not change")
	require.NotNil(t, st.Failing)
	require.Len(t, st.Failing.Latest, 1)
	assert.Contains(t, st.Failing.Latest[0].Reason, "picky today")
	assert.Equal(t, 2, st.Failing.Latest[0].Attempts)

	// The target takes it now: run 3 writes it, and it is no longer failing.
	target.RejectRecords(nil)
	st = syncNow(s, 3)
	assert.Equal(t, 1, st.LastRun.Created)
	assert.Zero(t, st.LastRun.Failed)
	assert.Nil(t, st.Failing)
	assert.NotContains(t, statusText(st), "still failing")
	assert.Equal(t, "Bad Phone", held(t, target, "bad.example").Fields["name"])

	// Nothing left to retry: run 4 writes nothing.
	st = syncNow(s, 4)
	assert.Zero(t, st.LastRun.Created+st.LastRun.Updated+st.LastRun.Failed)
}
