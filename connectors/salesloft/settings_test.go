package salesloft_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/salesloft"
)

func TestFactorySettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings connectors.Settings
		names    string // the setting the error names; "" for no error
	}{
		{"Minimal", connectors.Settings{"token": "t"}, ""},
		{"All", connectors.Settings{"token": "t", "base_url": "https://api.salesloft.com/v2/", "cost_per_minute": "300",
			"domain_filter": "array", "rate_limit_reset": "45s", "webhook_secret": "s", "webhook_secret_previous": "p"}, ""},
		{"ResetMinute", connectors.Settings{"token": "t", "rate_limit_reset": "minute"}, ""},
		{"NoToken", connectors.Settings{"base_url": "https://api.salesloft.com"}, "token"},
		{"BadBaseURL", connectors.Settings{"token": "t", "base_url": "api.salesloft.com"}, "base_url"},
		{"BadCost", connectors.Settings{"token": "t", "cost_per_minute": "lots"}, "cost_per_minute"},
		{"ZeroCost", connectors.Settings{"token": "t", "cost_per_minute": "0"}, "cost_per_minute"},
		{"BadDomainFilter", connectors.Settings{"token": "t", "domain_filter": "many"}, "domain_filter"},
		{"BadReset", connectors.Settings{"token": "t", "rate_limit_reset": "soon"}, "rate_limit_reset"},
		{"Unknown", connectors.Settings{"token": "t", "api_key": "k"}, "api_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := salesloft.Factory("sl", tc.settings)
			if tc.names == "" {
				require.NoError(t, err)
				assert.Equal(t, connectors.Info{Type: "salesloft", MaxBatch: 100, NativeUpsert: false}, c.Info())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.names)
		})
	}
}
