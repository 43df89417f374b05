package cli_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"tandem/connectors/standardwebhooks"
	"tandem/internal/cli"
	"tandem/internal/testenv"
	"tandem/workflows"
)

const webhookDefs = `
connections:
  crm: {type: memory, webhook_secret: "${CRM_WEBHOOK_SECRET}"}
  erp: {type: memory}
syncs:
  - name: companies
    a: {connection: crm, object: companies, key: domain}
    b: {connection: erp, object: accounts,  key: domain}
    fields: [{a: name, b: name}]
    webhooks: true
`

// syncBuffer is an io.Writer the command and the test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "syncs.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// webhooksVerb is the verb registered as the lead's starter will register it.
func webhooksVerb(out *syncBuffer, dial cli.Dialer, args ...string) *cobra.Command {
	root := cli.Starter(out, dial)
	root.AddCommand(cli.WebhooksCommand(dial, out))
	root.SetArgs(append([]string{"webhooks"}, args...))
	return root
}

func TestWebhooksServesUntilCancelled(t *testing.T) {
	t.Setenv("CRM_WEBHOOK_SECRET", "s3cret")
	// A server of the test's own, with no worker: the signal stays in the history as sent.
	server := testenv.ClientWith(t, nil)
	dial := func(context.Context) (client.Client, error) {
		return client.NewClientFromExisting(server, client.Options{})
	}

	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cmd := webhooksVerb(&out, dial, "--config", writeFile(t, webhookDefs), "--listen", "127.0.0.1:0", "--log-level", "error")
	go func() { done <- cmd.ExecuteContext(ctx) }()

	listening := regexp.MustCompile(`webhook ingress listening on (http://\S+)\n  POST (\S+)\n`)
	var m []string
	require.Eventually(t, func() bool {
		m = listening.FindStringSubmatch(out.String())
		return m != nil
	}, 10*time.Second, 5*time.Millisecond, "output: %s", out.String())
	assert.Equal(t, m[1]+"/webhooks/companies/a", m[2])

	body := `{"type":"record.created","data":{"object":"companies","id":"m-000001"}}`
	req, err := http.NewRequest(http.MethodPost, m[2], strings.NewReader(body))
	require.NoError(t, err)
	standardwebhooks.SetHeaders(req.Header, "s3cret", "msg_1", time.Now(), []byte(body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the ingress did not stop when its context ended")
	}
	assert.Contains(t, out.String(), "webhook ingress stopped\n")

	var got []workflows.ChangeSignal
	iter := server.GetWorkflowHistory(context.Background(), workflows.WorkflowID("companies"), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		if a := e.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
			var sig workflows.ChangeSignal
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &sig))
			got = append(got, sig)
		}
	}
	assert.Equal(t, []workflows.ChangeSignal{{Side: "a", Events: []workflows.ChangeEvent{{ID: "msg_1", RecordID: "m-000001", Kind: "created"}}}}, got)
}

func TestWebhooksConfigErrors(t *testing.T) {
	noDial := func(context.Context) (client.Client, error) {
		return nil, errors.New("Temporal must not be dialled when the definitions are wrong")
	}
	for _, tc := range []struct {
		name, defs string
		env        map[string]string
		want       string
	}{
		{
			name: "secret not in the environment",
			defs: webhookDefs,
			want: "environment variable CRM_WEBHOOK_SECRET is not set",
		},
		{
			name: "connection without a webhook secret",
			defs: strings.Replace(webhookDefs, `webhook_secret: "${CRM_WEBHOOK_SECRET}"`, "seed: 3", 1),
			want: `sync "companies" side a: connection "crm" (memory) webhooks: setting webhook_secret: missing`,
		},
		{
			name: "no sync with webhooks",
			defs: strings.Replace(webhookDefs, "webhooks: true", "webhooks: false", 1),
			env:  map[string]string{"CRM_WEBHOOK_SECRET": "s3cret"},
			want: "no sync has webhooks: true, so there is nothing to serve",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out syncBuffer
			err := webhooksVerb(&out, noDial, "--config", writeFile(t, tc.defs), "--listen", "127.0.0.1:0").Execute()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "syncs.yaml")
		})
	}

	var out syncBuffer
	err := webhooksVerb(&out, noDial).Execute()
	assert.EqualError(t, err, `required flag(s) "config" not set`)
}
