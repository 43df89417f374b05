package activities

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"tandem/connectors"
	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspotfake"
	"tandem/connectors/memory"
	"tandem/internal/config"
	"tandem/pairs"
)

// lagFixture is a one-way sync from a memory source to a HubSpot fake whose search trails
// its writes by 3 s, the client told searchLag.
func lagFixture(t *testing.T, searchLag string) (*Activities, *memory.Connector, *hubspotfake.Server, *hubspot.Client) {
	t.Helper()
	fake := hubspotfake.New(hubspotfake.Options{RatePer10s: hubspotfake.Unlimited, SearchPerSecond: hubspotfake.Unlimited, ScrambleTies: true, IndexLag: 3 * time.Second})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(func() { srv.Close(); fake.Close() })
	cfg, err := hubspot.ParseSettings(connectors.Settings{"token": "demo-token", "base_url": srv.URL, "search_lag": searchLag})
	require.NoError(t, err)
	client, err := hubspot.New(cfg)
	require.NoError(t, err)
	src := memory.New(memory.Options{IDPrefix: "s-"})
	acts := &Activities{
		Syncs: &config.File{Path: "test.yaml", Syncs: []config.Sync{{
			Name: "companies", Mode: config.OneWay,
			A: config.Side{Connection: "src", Object: "companies", Key: "domain"},
			B: config.Side{Connection: "hs", Object: "companies", Key: "domain"},
			Fields: []config.Field{
				{A: "name", B: "name"},
				{A: "domain", B: "domain", Normalize: []string{"domain"}},
			},
			PageSize: 50,
		}}},
		Connections: map[string]connectors.Connector{"src": src, "hs": client},
	}
	return acts, src, fake, client
}

// TestChunkReadsWhatItJustWroteByID: a one-way chunk to HubSpot, whose search trails its
// writes, meets a key it wrote two pages before (two source records share a domain) and
// a key the run wrote just before the chunk (in its input). Both are read by id and
// updated: one company per domain. The writes go back in the result for what follows.
// Told there is no lag, the chunk looks them up, does not find them, and creates each
// twice: what kept such sides out of chunks (issue 17: salesloft-to-hubspot went per step,
// 761 bytes of history a record and a continue-as-new every 5,000).
func TestChunkReadsWhatItJustWroteByID(t *testing.T) {
	for _, tc := range []struct {
		searchLag string
		want      int
	}{{"4s", 121}, {"0s", 123}} {
		t.Run("search_lag "+tc.searchLag, func(t *testing.T) {
			acts, src, fake, client := lagFixture(t, tc.searchLag)
			// A company the run created a moment ago: the search does not show it yet.
			made, err := client.Create(t.Context(), "companies", []connectors.Record{{Fields: map[string]any{"name": "Before", "domain": "before.example"}}})
			require.NoError(t, err)
			require.Len(t, made, 1)
			require.Empty(t, made[0].Err)
			for i := range 120 {
				src.Put("companies", connectors.Record{Fields: map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%03d.example", i)}})
			}
			// The same domain again, two pages on, and the one written before the chunk.
			src.Put("companies", connectors.Record{Fields: map[string]any{"name": "Company 5 again", "domain": "c005.example"}})
			src.Put("companies", connectors.Record{Fields: map[string]any{"name": "Before, edited", "domain": "before.example"}})

			res, err := acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 50,
				Written: map[string]RecentWrite{"before.example": {IDs: []string{made[0].ID}, At: time.Now()}}})
			require.NoError(t, err)
			assert.Equal(t, 122, res.Counts.Fetched)

			byDomain := map[string][]string{}
			for _, r := range fake.Records("companies") {
				byDomain[r.Properties["domain"]] = append(byDomain[r.Properties["domain"]], r.Properties["name"])
			}
			assert.Len(t, fake.Records("companies"), tc.want)
			if tc.searchLag == "0s" {
				return
			}
			assert.Equal(t, []string{"Company 5 again"}, byDomain["c005.example"], "read by id and updated")
			assert.Equal(t, []string{"Before, edited"}, byDomain["before.example"], "the input's write read by id and updated")
			assert.Len(t, res.Written, 121, "every key written, within the lag")
			assert.Contains(t, res.Written["before.example"].IDs, made[0].ID)
			assert.Len(t, res.Written["c005.example"].IDs, 1)
		})
	}
}

// chunkWorkflow runs one SyncChunk with retries.
func chunkWorkflow(ctx workflow.Context, in SyncChunkInput) (ChunkResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
	var acts *Activities
	var out ChunkResult
	err := workflow.ExecuteActivity(ctx, acts.SyncChunk, in).Get(ctx, &out)
	return out, err
}

// retriedChunk runs one SyncChunk of acts, with retries, in the SDK's test environment
// (for a minute: a retry waits out a search's lag for real), and returns its result.
func retriedChunk(t *testing.T, acts *Activities, in SyncChunkInput) ChunkResult {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(time.Minute)
	env.RegisterWorkflow(chunkWorkflow)
	env.RegisterActivity(acts)
	env.ExecuteWorkflow(chunkWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	var res ChunkResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res
}

// TestChunkRetryWaitsForALaggingSearch: a chunk retried after an attempt that created
// companies and lost the answer (its writes are in no input) waits out the search's lag
// once, before its first look-up, and then finds them: one company per domain. Its
// Upserts, which see the chunk's attempt, do not wait again page after page.
func TestChunkRetryWaitsForALaggingSearch(t *testing.T) {
	acts, src, fake, client := lagFixture(t, "4s")
	acts.Connections["hs"] = &timesOutOnce{Client: client}
	for i := range 120 {
		src.Put("companies", connectors.Record{Fields: map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%03d.example", i)}})
	}
	res := retriedChunk(t, acts, SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 50})
	assert.Equal(t, 120, res.Counts.Fetched)
	assert.Len(t, fake.Records("companies"), 120, "each company once")
}

// TestLinkedChunkRetryWaitsForALaggingSearch: a two-way chunk into HubSpot, retried after
// an attempt that created companies and lost the answer (so it saved no link for them),
// waits out the search's lag before its first look-up, finds them by key and links them:
// one company per domain, one link per pair. Linked chunks go into lagging searches since
// "lagged-chunks" version 2 (they read what they wrote through the links); the lost
// answer's creates have no link, and only the wait keeps them from being made again.
func TestLinkedChunkRetryWaitsForALaggingSearch(t *testing.T) {
	acts, src, fake, client := lagFixture(t, "4s")
	acts.Connections["hs"] = &timesOutOnce{Client: client}
	acts.Syncs.Syncs[0].Mode = config.TwoWay
	store, err := pairs.OpenSQLite(":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	acts.Links = store
	for i := range 120 {
		src.Put("companies", connectors.Record{Fields: map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%03d.example", i)}})
	}
	res := retriedChunk(t, acts, SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 50, Linked: true, Now: time.Now()})
	assert.Equal(t, 120, res.Counts.Fetched)
	assert.Equal(t, 120, len(fake.Records("companies")), "each company once")
	n, err := store.Count(t.Context(), "companies")
	require.NoError(t, err)
	assert.Equal(t, 120, n, "each pair linked")
	linked := map[string]bool{}
	for after := ""; ; {
		links, err := store.Scan(t.Context(), "companies", after, 50)
		require.NoError(t, err)
		if len(links) == 0 {
			break
		}
		for _, l := range links {
			assert.False(t, linked[l.B.ID], "company %s linked twice", l.B.ID)
			linked[l.B.ID] = true
			after = l.A.ID
		}
	}
	assert.Len(t, linked, 120)
}
