package builtin_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/builtin"
)

func TestRegistryTypes(t *testing.T) {
	assert.Equal(t, []string{"memory"}, builtin.Registry().Types())
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
		{connectors.Settings{"sede": "3"}, `unknown setting "sede" (memory accepts id_prefix, seed, seed_object)`},
	} {
		_, err := builtin.Registry().Open("demo", "memory", tc.settings)
		require.Error(t, err, "%v", tc.settings)
		assert.Contains(t, err.Error(), `connection "demo" (memory)`)
		assert.Contains(t, err.Error(), tc.want)
	}
}
