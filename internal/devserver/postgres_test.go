package devserver

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"tandem/connectors/connectortest"
)

// TestPostgresSetsUpAndKeepsWorkflows runs the server on PostgreSQL (a throwaway server,
// or TANDEM_POSTGRES_DSN's; skipped with neither): the first start creates both databases
// and their schemas, a workflow runs with a search attribute, and a second start on the
// same databases finds it and its visibility record.
func TestPostgresSetsUpAndKeepsWorkflows(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two servers")
	}
	u, err := url.Parse(connectortest.PostgresDSN(t))
	require.NoError(t, err)
	u.Path = "/tandem_devserver_test"
	attrs := map[string]enums.IndexedValueType{"TandemSync": enums.INDEXED_VALUE_TYPE_KEYWORD}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	first := start(t, Options{Postgres: u.String(), HistoryShards: 4, SearchAttributes: attrs})
	c1 := dial(t, first)
	w := runWorker(t, c1)
	run, err := c1.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    "greet-pg",
		TaskQueue:             taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(syncKey.ValueSet("pg")),
	}, greet, "postgres")
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	assert.Equal(t, "hello postgres", got)
	w.Stop() // Stop is safe twice; the cleanup's call then returns at once
	c1.Close()
	first.Stop()

	second := start(t, Options{Postgres: u.String(), HistoryShards: 4, SearchAttributes: attrs})
	c2 := dial(t, second)
	desc, err := c2.DescribeWorkflowExecution(ctx, "greet-pg", run.GetRunID())
	require.NoError(t, err)
	assert.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())
	assert.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := c2.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `TandemSync = "pg"`})
		require.NoError(ct, err)
		assert.Len(ct, resp.GetExecutions(), 1)
	}, visibleWithin, 100*time.Millisecond)
}

func TestPostgresConfigRefusesBadURLs(t *testing.T) {
	for _, raw := range []string{"", "mysql://x@h/db", "postgres:///db", "postgres://u:secret@h:5432/bad-name"} {
		_, err := postgresConfig(raw)
		if assert.Error(t, err, raw) {
			assert.NotContains(t, err.Error(), "secret")
		}
	}
	conf, err := postgresConfig("postgres://u:pw@db.internal/temporal?sslmode=disable")
	require.NoError(t, err)
	assert.Equal(t, "db.internal:5432", conf.ConnectAddr)
	assert.Equal(t, "temporal", conf.DatabaseName)
	assert.Equal(t, "pw", conf.Password)
	assert.Equal(t, map[string]string{"sslmode": "disable"}, conf.ConnectAttributes)
}
