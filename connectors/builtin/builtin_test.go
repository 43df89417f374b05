package builtin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/connectors/standardwebhooks"
)

func TestRegistryTypes(t *testing.T) {
	assert.Equal(t, []string{"hubspot", "memory", "netsuite", "s3", "salesforce", "salesloft", "sql"}, builtin.Registry().Types())
}

func TestOpenMemory(t *testing.T) {
	ctx := context.Background()
	reg := builtin.Registry()

	c, err := reg.Open("crm", "memory", connectors.Settings{"seed": "12", "seed_object": "accounts", "id_prefix": "crm-"})
	require.NoError(t, err)
	assert.Equal(t, "memory", c.Info().Type)
	page, err := c.Changes(ctx, "accounts", connectors.Cursor{}, 100)
	require.NoError(t, err)
	require.Len(t, page.Records, 12)
	assert.Equal(t, "crm-000001", page.Records[0].ID)
	assert.NotEmpty(t, page.Records[0].Fields["domain"])

	// Default object, and every open is a separate connector.
	a, err := reg.Open("a", "memory", connectors.Settings{"seed": "3"})
	require.NoError(t, err)
	b, err := reg.Open("a", "memory", nil)
	require.NoError(t, err)
	pa, err := a.Changes(ctx, "companies", connectors.Cursor{}, 100)
	require.NoError(t, err)
	assert.Len(t, pa.Records, 3)
	pb, err := b.Changes(ctx, "companies", connectors.Cursor{}, 100)
	require.NoError(t, err)
	assert.Empty(t, pb.Records)
}

func TestOpenMemoryBadSettings(t *testing.T) {
	for _, tc := range []struct {
		settings connectors.Settings
		want     string
	}{
		{connectors.Settings{"seed": "many"}, `setting seed: "many"`},
		{connectors.Settings{"seed": "-1"}, `setting seed: "-1"`},
		{connectors.Settings{"seed_object": ""}, "setting seed_object"},
		{connectors.Settings{"sede": "3"}, `unknown setting "sede" (memory accepts id_prefix, seed, seed_object, webhook_secret, webhook_secret_previous)`},
	} {
		_, err := builtin.Registry().Open("demo", "memory", tc.settings)
		require.Error(t, err, "%v", tc.settings)
		assert.Contains(t, err.Error(), `connection "demo" (memory)`)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestMemoryWebhooks(t *testing.T) {
	reg := builtin.Registry()
	settings := connectors.Settings{"seed": "1", "webhook_secret": "s3cret", "webhook_secret_previous": "old"}

	// The connector itself accepts (and ignores) the webhook settings.
	_, err := reg.Open("crm", "memory", settings)
	require.NoError(t, err)

	v, err := reg.Webhooks("crm", "memory", settings)
	require.NoError(t, err)
	body := []byte(`{"type":"record.created","data":{"object":"companies","id":"m-000001"}}`)
	for _, secret := range []string{"s3cret", "old"} {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/s/a", nil)
		standardwebhooks.SetHeaders(r.Header, secret, "msg_1", time.Now(), body)
		events, err := v.Verify(r, body)
		require.NoError(t, err, secret)
		assert.Equal(t, []string{"m-000001"}, []string{events[0].RecordID})
	}

	_, err = reg.Webhooks("crm", "memory", connectors.Settings{"seed": "1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `connection "crm" (memory) webhooks: setting webhook_secret: missing`)
}
