package salesloft_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/salesloft"
	"tandem/connectors/salesloft/salesloftfake"
)

// normalizeDomain is the sync's domain normalizer in short: lowercase, no scheme, no
// "www.", no path.
func normalizeDomain(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimPrefix(s, "www.")
}

func TestFindNormalizedMatchesDomainsAsTheSyncCompares(t *testing.T) {
	for _, mode := range []string{salesloft.DomainFilterSingle, salesloft.DomainFilterArray} {
		t.Run(mode, func(t *testing.T) {
			c, fake, _ := open(t, salesloftfake.Options{}, salesloft.Options{DomainFilter: mode})
			acme := fake.Seed(map[string]any{"name": "Acme", "domain": "WWW.Acme.com"})
			globex := fake.Seed(map[string]any{"name": "Globex", "domain": "globex.com"})
			fake.Seed(map[string]any{"name": "Acme Labs", "domain": "labs.acme.com"})

			found, err := c.FindNormalized(context.Background(), accounts, "domain",
				[]string{"acme.com", "globex.com", "initech.com"}, connectors.KeyNormalizer{Name: "domain", Apply: normalizeDomain})
			require.NoError(t, err)
			assert.Len(t, found, 2)
			require.Len(t, found["acme.com"], 1)
			assert.Equal(t, acme, found["acme.com"][0].ID)
			assert.Equal(t, "www.acme.com", found["acme.com"][0].Fields["domain"], "Salesloft keeps domains lowercase")
			require.Len(t, found["globex.com"], 1)
			assert.Equal(t, globex, found["globex.com"][0].ID)

			// Exact Find does not see through "www.".
			exact, err := c.Find(context.Background(), accounts, "domain", []string{"acme.com", "Globex.com"})
			require.NoError(t, err)
			assert.NotContains(t, exact, "acme.com")
			assert.Len(t, exact["Globex.com"], 1, "domains match without regard to case")
		})
	}
}

func TestFindRequestsPerMode(t *testing.T) {
	values := make([]string, 150)
	for i := range values {
		values[i] = fmt.Sprintf("acct%d.example.com", i)
	}
	for _, tc := range []struct {
		mode     string
		requests int
	}{
		{salesloft.DomainFilterSingle, 150}, // domain takes one value [3p]
		{salesloft.DomainFilterArray, 2},    // domain[]: 100 per request
	} {
		t.Run(tc.mode, func(t *testing.T) {
			c, fake, _ := open(t, salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited}, salesloft.Options{DomainFilter: tc.mode})
			for i := range 150 {
				fake.Seed(map[string]any{"name": fmt.Sprint(i), "domain": values[i], "crm_id": fmt.Sprintf("crm-%d", i)})
			}
			found, err := c.Find(context.Background(), accounts, "domain", values)
			require.NoError(t, err)
			assert.Len(t, found, 150)
			assert.Equal(t, tc.requests, fake.Stats().Requests["GET /v2/accounts"])

			fake.ResetStats()
			crm := make([]string, 150)
			for i := range crm {
				crm[i] = fmt.Sprintf("crm-%d", i)
			}
			found, err = c.Find(context.Background(), accounts, "crm_id", crm)
			require.NoError(t, err)
			assert.Len(t, found, 150)
			assert.Equal(t, 2, fake.Stats().Requests["GET /v2/accounts"], "crm_id[] takes 100 values per request")
		})
	}
}

func TestFindByOtherFieldsIsAnError(t *testing.T) {
	c, _, _ := open(t, salesloftfake.Options{}, salesloft.Options{})
	_, err := c.Find(context.Background(), accounts, "name", []string{"Acme"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"name"`)
	_, err = c.Upsert(context.Background(), accounts, "website", []connectors.Record{{Fields: sampleAccount(0)}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"website"`)
}

func TestUpsertWithinABatchCreatesOnceThenUpdates(t *testing.T) {
	c, fake, _ := open(t, salesloftfake.Options{}, salesloft.Options{})
	first := sampleAccount(0)
	again := sampleAccount(0)
	again["name"] = "Renamed"
	again["domain"] = strings.ToUpper(first["domain"].(string))

	res, err := c.Upsert(context.Background(), accounts, "domain", []connectors.Record{{Fields: first}, {Fields: again}, {Fields: map[string]any{"name": "No key"}}})
	require.NoError(t, err)
	require.Len(t, res, 3)
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)
	assert.True(t, res[0].Created)
	assert.False(t, res[1].Created)
	assert.Equal(t, res[0].ID, res[1].ID)
	var inv *connectors.InvalidRecordError
	require.ErrorAs(t, res[2].Err, &inv)
	assert.Equal(t, "domain", inv.Field)

	require.Equal(t, 1, fake.Len())
	got, _ := fake.Record(res[0].ID)
	assert.Equal(t, "Renamed", got.Fields["name"])
}

func TestRecordFieldsAreTheAccountAsReturned(t *testing.T) {
	c, fake, _ := open(t, salesloftfake.Options{}, salesloft.Options{})
	id := fake.Seed(map[string]any{"name": "Acme", "domain": "acme.com", "crm_id": "001A", "owner_id": 7.0,
		"custom_fields": map[string]any{"tier": "gold"}, "tags": []any{"vip"}})
	got, err := c.Get(context.Background(), accounts, []string{id, id, "not-a-number"})
	require.NoError(t, err)
	require.Len(t, got, 1)
	r := got[0]
	assert.Equal(t, id, r.ID)
	assert.Equal(t, "acme.com", r.Fields["domain"])
	assert.Equal(t, "001A", r.Fields["crm_id"])
	assert.Nil(t, r.Fields["website"])
	assert.Equal(t, map[string]any{"tier": "gold"}, r.Fields["custom_fields"])
	assert.Equal(t, []any{"vip"}, r.Fields["tags"])
	assert.Equal(t, 7.0, r.Fields["owner"].(map[string]any)["id"], "numbers are float64")
	v, ok := r.Value("id")
	require.True(t, ok)
	assert.Equal(t, id, connectors.KeyString(v))
	assert.Equal(t, time.UTC, r.UpdatedAt.Location())
}
