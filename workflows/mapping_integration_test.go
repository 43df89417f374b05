package workflows_test

import (
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

// TestADeletedHubSpotPropertyPausesTheNextRun (issue 18): a custom HubSpot property the
// mapping writes is deleted in HubSpot; the next run stops before it reads or writes
// anything, paused with the connection, object and field named. With the property back, a
// resume syncs again.
func TestADeletedHubSpotPropertyPausesTheNextRun(t *testing.T) {
	fake := hubspotfake.New(hubspotfake.Options{RatePer10s: hubspotfake.Unlimited, SearchPerSecond: hubspotfake.Unlimited})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(func() { srv.Close(); fake.Close() })
	vat := hubspotfake.Property{Name: "vat_id", Label: "VAT id", Type: "string", FieldType: "text", GroupName: "companyinformation"}
	require.NoError(t, fake.DefineProperty("companies", vat))
	cfg, err := hubspot.ParseSettings(connectors.Settings{"token": "demo-token", "base_url": srv.URL})
	require.NoError(t, err)
	hs, err := hubspot.New(cfg)
	require.NoError(t, err)

	source := memory.New(memory.Options{IDPrefix: "s-"})
	recs := source.Seed("companies", 5, func(i int) map[string]any {
		f := memory.SampleCompany(i)
		f["vat_id"] = "GB" + f["domain"].(string)[:3]
		return f
	})
	file := &config.File{Path: "mapping.yaml", Syncs: []config.Sync{{
		Name: "vat", Mode: config.OneWay,
		A: config.Side{Connection: "src", Object: "companies", Key: "domain"},
		B: config.Side{Connection: "hs", Object: "companies", Key: "domain"},
		Fields: []config.Field{
			{A: "name", B: "name", Direction: config.Both},
			{A: "domain", B: "domain", Normalize: []string{"domain"}, Direction: config.Both},
			{A: "vat_id", B: "vat_id", Direction: config.Both},
		},
		Schedule: config.Schedule{Every: time.Hour},
		PageSize: 50,
	}}}
	s := testenv.NewFileSync(t, testenv.Client(t), file, map[string]connectors.Connector{"src": source, "hs": hs}, "vat")
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	require.Empty(t, st.LastRun.Error)
	require.Equal(t, 5, st.LastRun.Created)

	require.NoError(t, fake.DeleteProperty("companies", "vat_id"))
	edit(t, source, recs[0].ID, map[string]any{"vat_id": "GB123"})
	writes := fake.Stats().Writes
	s.Signal(workflows.SignalSyncNow, nil)
	st = s.WaitFor("the sync to pause", time.Minute, func(st workflows.Status) bool { return st.Paused })
	assert.Equal(t, "mapping invalid (hs.companies.vat_id missing)", st.PausedFor)
	assert.Equal(t, st.PausedFor, st.LastRun.Error)
	assert.Zero(t, st.LastRun.Fetched, "nothing read")
	assert.Equal(t, writes, fake.Stats().Writes, "nothing written to HubSpot")
	assert.Equal(t, workflows.StatePaused, st.State)

	require.NoError(t, fake.DefineProperty("companies", vat))
	s.Signal(workflows.SignalResume, nil)
	st = s.WaitRuns(3, time.Minute)
	assert.False(t, st.Paused)
	assert.Empty(t, st.PausedFor)
	assert.Empty(t, st.LastRun.Error)
	assert.Equal(t, 1, st.LastRun.Updated, "the edited VAT id")
}
