package activities

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"tandem/connectors"
	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspotfake"
	"tandem/connectors/memory"
	"tandem/internal/config"
)

// timesOutOnce is a HubSpot client whose first Create writes and then reports a timeout,
// as a call whose answer was lost.
type timesOutOnce struct {
	*hubspot.Client
	mu     sync.Mutex
	failed bool
}

func (c *timesOutOnce) Create(ctx context.Context, object string, recs []connectors.Record) ([]connectors.WriteResult, error) {
	res, err := c.Client.Create(ctx, object, recs)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && !c.failed {
		c.failed = true
		return nil, errors.New("read tcp 127.0.0.1:443: i/o timeout")
	}
	return res, err
}

// A create retried after a lost answer, against a HubSpot whose search trails its writes
// by 3 s (the test environment runs the retry at once): the retry waits out the
// connection's search_lag before it looks the keys up, finds what the first attempt
// created and updates it. Told there is no lag, it looks too soon and creates everything
// twice.
func TestUpsertRetryWaitsForALaggingSearch(t *testing.T) {
	for _, tc := range []struct {
		searchLag string
		want      int
	}{{"4s", 3}, {"0s", 6}} {
		t.Run("search_lag "+tc.searchLag, func(t *testing.T) {
			opts := hubspotfake.Options{RatePer10s: hubspotfake.Unlimited, SearchPerSecond: hubspotfake.Unlimited, ScrambleTies: true, IndexLag: 3 * time.Second}
			fake := hubspotfake.New(opts)
			srv := httptest.NewServer(fake.Handler())
			t.Cleanup(func() { srv.Close(); fake.Close() })
			cfg, err := hubspot.ParseSettings(connectors.Settings{"token": "demo-token", "base_url": srv.URL, "search_lag": tc.searchLag})
			require.NoError(t, err)
			client, err := hubspot.New(cfg)
			require.NoError(t, err)
			acts := &Activities{
				Syncs: &config.File{Path: "test.yaml", Syncs: []config.Sync{{
					Name: "companies", Mode: config.OneWay,
					A: config.Side{Connection: "src", Object: "companies", Key: "domain"},
					B: config.Side{Connection: "hs", Object: "companies", Key: "domain"},
					Fields: []config.Field{
						{A: "name", B: "name", Direction: config.Both},
						{A: "domain", B: "domain", Normalize: []string{"domain"}, Direction: config.Both},
					},
					PageSize: 50,
				}}},
				Connections: map[string]connectors.Connector{"src": memory.New(memory.Options{}), "hs": &timesOutOnce{Client: client}},
			}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetTestTimeout(time.Minute) // the retry waits out the 4 s search lag for real
			env.RegisterWorkflow(upsertWorkflow)
			env.RegisterActivity(acts)
			var ops []WriteOp
			for _, d := range []string{"acme.com", "globex.com", "initech.com"} {
				ops = append(ops, WriteOp{Action: ActionCreate, SourceID: "s-" + d, Key: d, Fields: Payload{"name": d, "domain": d}})
			}

			env.ExecuteWorkflow(upsertWorkflow, UpsertInput{Ref: Ref{Sync: "companies"}, Side: SideB, Ops: ops})

			require.NoError(t, env.GetWorkflowError())
			assert.Len(t, fake.Records("companies"), tc.want)
		})
	}
}
