package salesloft_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/salesloft"
	"tandem/connectors/salesloft/salesloftfake"
)

// The documented table agrees with the fake (written from the same reference): every
// attribute an account is read with is listed, and every string attribute listed as
// writable is written.
func TestDescribe(t *testing.T) {
	c, fake, _ := open(t, salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited}, salesloft.Options{})
	ctx := t.Context()
	fields, err := c.Describe(ctx, accounts)
	require.NoError(t, err)
	byName := map[string]connectors.Field{}
	for _, f := range fields {
		byName[f.Name] = f
	}
	assert.Equal(t, connectors.Field{Name: "domain", Label: "Domain", Type: "string", Writable: true, Unique: true}, byName["domain"])
	assert.Equal(t, connectors.Field{Name: "updated_at", Label: "Updated at", Type: "datetime"}, byName["updated_at"])

	res, err := c.Create(ctx, accounts, []connectors.Record{{Fields: sampleAccount(1)}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	id := res[0].ID

	update := map[string]any{}
	for _, f := range fields {
		if f.Writable && f.Type == "string" && f.Name != "domain" {
			update[f.Name] = "value of " + f.Name
		}
	}
	res, err = c.Update(ctx, accounts, []connectors.Record{{ID: id, Fields: update}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	got, err := c.Get(ctx, accounts, []string{id})
	require.NoError(t, err)
	require.Len(t, got, 1)
	for name := range got[0].Fields {
		assert.Contains(t, byName, name, "an account is read with %q; the table does not list it", name)
	}
	for name, v := range update {
		assert.Equal(t, v, got[0].Fields[name], "%s is listed as writable", name)
	}

	total := func() (n int) {
		for _, v := range fake.Stats().Requests {
			n += v
		}
		return n
	}
	before := total()
	fields[0].Name = "changed"
	again, err := c.Describe(ctx, accounts)
	require.NoError(t, err)
	assert.Equal(t, "id", again[0].Name, "a caller cannot change the table")
	assert.Equal(t, before, total(), "Describe asks Salesloft nothing")

	_, err = c.Describe(ctx, "people")
	assert.ErrorIs(t, err, connectors.ErrNotFound)
	assert.ErrorContains(t, err, `object "people" is not supported`)
}
