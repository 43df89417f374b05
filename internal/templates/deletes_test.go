package templates_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/connectors/netsuite/netsuitefake"
	"tandem/connectors/salesforce"
	"tandem/definition"
	"tandem/internal/app"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// The accounts-to-customers sync, acting on deletes, paused for 16 days: Salesforce's
// delete log keeps 15, so on resuming the sync says the log expired, diffs every Account
// Id against its pairs, and deletes exactly the customers of the Accounts deleted during
// the pause.
func TestAccountsToCustomersDeletesAfterASixteenDayPause(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	sf, sfURL := startSalesforce(t, clk)
	ns := netsuitefake.New(netsuitefake.Options{
		AccountID: "123456_SB1",
		// The custom field an administrator creates for the integration (the article's
		// set-up): the mapping check finds it in the metadata catalog.
		CustomFields: map[string][]string{"customer": {"custentity_sfdc_id"}},
		TBA: &netsuitefake.TBACredentials{
			ConsumerKey: "consumer-key", ConsumerSecret: "consumer-secret", TokenID: "token-id", TokenSecret: "token-secret",
		},
	})
	nsSrv := httptest.NewServer(ns)
	t.Cleanup(nsSrv.Close)
	vars := salesforceVars(sfURL)
	for k, v := range map[string]string{
		"NETSUITE_ACCOUNT_ID": "123456_SB1", "NETSUITE_CONSUMER_KEY": "consumer-key", "NETSUITE_CONSUMER_SECRET": "consumer-secret",
		"NETSUITE_TOKEN_ID": "token-id", "NETSUITE_TOKEN_SECRET": "token-secret", "NETSUITE_BASE_URL": nsSrv.URL, "NETSUITE_SUBSIDIARY_ID": "1",
	} {
		vars[k] = v
	}
	ids := seedAccounts(sf, 0, 20)
	clk.Advance(time.Second)
	f := parseExample(t, accountsToCustomersFile, vars)
	f.Syncs[0].Deletes = definition.Deletes{Mode: definition.DeleteDelete, Max: definition.DefaultDeleteMax, MaxPercent: definition.DefaultDeleteMaxPercent}
	// The client reads the delete log up to its own clock: the org's, here.
	conns, err := app.OpenConnections(f, builtin.Registry())
	require.NoError(t, err)
	cfg, err := salesforce.ParseSettings(connectors.Settings(f.Connections["salesforce"].Settings))
	require.NoError(t, err)
	cfg.Now = clk.Now
	conns["salesforce"], err = salesforce.New(cfg)
	require.NoError(t, err)
	s := &syncRun{Sync: testenv.NewFileSync(t, testenv.Client(t), f, conns, f.Syncs[0].Name), conns: conns}
	s.Start()
	s.waitRun(1)
	require.Len(t, customersBySFDCID(ns), 20)

	_, err = app.Update(ctx, s.Client, s.Name, workflows.UpdatePause, nil)
	require.NoError(t, err)
	// Two Accounts deleted early in the pause; their deletions leave the log after 15 days.
	clk.Advance(24 * time.Hour)
	require.NoError(t, sf.Delete("Account", ids[3]))
	require.NoError(t, sf.Delete("Account", ids[7]))
	clk.Advance(15 * 24 * time.Hour)
	_, err = app.Update(ctx, s.Client, s.Name, workflows.UpdateResume, nil)
	require.NoError(t, err)
	s.Signal(workflows.SignalSyncNow, nil)
	run := s.waitRun(2)
	assert.Equal(t, 2, run.Deleted)

	st := s.Status()
	require.NotNil(t, st.Deletes)
	assert.Contains(t, st.Deletes.Notes["a"], "delete log expired: the delete log of Account starts at")
	assert.Contains(t, st.Deletes.Notes["a"], "every id was diffed against the pairs instead")
	byID := customersBySFDCID(ns)
	assert.Len(t, byID, 18)
	for i, id := range ids {
		if i == 3 || i == 7 {
			assert.Empty(t, byID[id], "the customer of deleted Account %d is deleted", i)
		} else {
			assert.Len(t, byID[id], 1, "the customer of Account %d stays", i)
		}
	}
	assert.Len(t, ns.Deleted("customer"), 2)
}
