package workflows_test

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspotfake"
	"tandem/connectors/memory"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// TestOneWayToALaggingSearchGoesInChunks: a one-way backfill into HubSpot, whose search
// trails its writes (30 s here), went page by page through history (issue 17: 761 bytes a
// record in the salesloft-to-hubspot bench, and a continue-as-new every 5,000 records)
// because the workflow read what it had just written by id. Its chunks do that now and
// hand their recent writes back: the run goes in chunks with every company once, and a
// record edited right after it (its company not searchable yet) is read by id from the
// writes the chunk handed back, and updated rather than created again.
func TestOneWayToALaggingSearchGoesInChunks(t *testing.T) {
	fake, hs := laggingHubSpot(t)
	source := memory.New(memory.Options{IDPrefix: "s-"})
	recs := source.Seed("companies", 1500, memory.SampleCompany)

	s := intoHubSpot(t, "lagged-chunks", 100, source, hs)
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	require.Empty(t, st.LastRun.Error)
	assert.Equal(t, 1500, st.LastRun.Created)
	assert.Positive(t, st.LastRun.Chunks, "the run went in chunks")
	assert.Len(t, fake.Records("companies"), 1500)
	assert.Equal(t, map[string]int{"b": 1500}, st.RecentlyWritten, "the chunks' writes, within the lag")

	edit(t, source, recs[1499].ID, map[string]any{"name": "Renamed"})
	s.Signal(workflows.SignalSyncNow, nil)
	st = s.WaitRuns(2, time.Minute)
	require.Empty(t, st.LastRun.Error)
	assert.Equal(t, 1, st.LastRun.Updated)
	assert.Zero(t, st.LastRun.Created)
	domain := connectors.KeyString(recs[1499].Fields["domain"])
	var names []string
	for _, r := range fake.Records("companies") {
		if r.Properties["domain"] == domain {
			names = append(names, r.Properties["name"])
		}
	}
	assert.Equal(t, []string{"Renamed"}, names, fmt.Sprintf("one company for %s, updated", domain))
}

// laggingHubSpot is a HubSpot fake whose search trails its writes by 30 s, and a client
// told of a longer lag, so that a slow machine does not see a company show up in the
// search in the middle of a test.
func laggingHubSpot(t *testing.T) (*hubspotfake.Server, *hubspot.Client) {
	t.Helper()
	fake := hubspotfake.New(hubspotfake.Options{RatePer10s: hubspotfake.Unlimited, SearchPerSecond: hubspotfake.Unlimited, IndexLag: 30 * time.Second})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(func() { srv.Close(); fake.Close() })
	cfg, err := hubspot.ParseSettings(connectors.Settings{"token": "demo-token", "base_url": srv.URL, "search_lag": "1m"})
	require.NoError(t, err)
	hs, err := hubspot.New(cfg)
	require.NoError(t, err)
	return fake, hs
}

// intoHubSpot prepares a one-way sync of companies (name and domain: the fake defines no
// phone) from source to hs, not started.
func intoHubSpot(t *testing.T, name string, pageSize int, source *memory.Connector, hs *hubspot.Client) *testenv.Sync {
	t.Helper()
	def := testenv.Def(name)
	def.Fields = def.Fields[:2]
	def.PageSize = pageSize
	return testenv.NewFileSync(t, testenv.Client(t), &config.File{Path: "test", Syncs: []config.Sync{def}},
		map[string]connectors.Connector{"source": source, "target": hs}, def.Name)
}
