package memory

import (
	"tandem/connectors"
	"tandem/connectors/settings"
	"tandem/connectors/standardwebhooks"
)

// Type is the connection type a memory connection is registered under.
const Type = "memory"

// Config is a memory connection's settings, parsed.
type Config struct {
	// Seed is how many sample companies (SampleCompany) the connection starts with.
	Seed int
	// SeedObject is the object they go into.
	SeedObject string
	// IDPrefix starts every id the connector assigns.
	IDPrefix string
}

// Spec declares every setting a memory connection accepts.
var Spec = &settings.Spec[Config]{Type: Type, Settings: []settings.Setting[Config]{
	{Name: "seed", Default: "0", Doc: "number of sample companies to create",
		Set: settings.AtLeast(0, func(c *Config) *int { return &c.Seed })},
	{Name: "seed_object", Default: "companies", NoBlank: true, Doc: "object the sample companies go into",
		Set: settings.String(func(c *Config) *string { return &c.SeedObject })},
	{Name: "id_prefix", Default: "m-", Doc: "prefix of the ids the connector assigns",
		Set: settings.String(func(c *Config) *string { return &c.IDPrefix })},
	// Read by the webhook ingress (standardwebhooks.FromSettings), not by the connector.
	{Name: standardwebhooks.SettingSecret, Secret: true, Doc: "secret the connection's webhooks are signed with (`whsec_<base64>` or plain), Standard Webhooks"},
	{Name: standardwebhooks.SettingPreviousSecret, Secret: true, Doc: "previous webhook secret, also accepted while senders move to the new one"},
}}

// Factory opens a memory connection; it is a connectors.Factory. Every call returns a
// new, separate connector: two connections of type memory never share records, and
// neither do two opens of the same connection (each worker process, and each open within
// it, starts from the seed).
func Factory(_ string, given connectors.Settings) (connectors.Connector, error) {
	var cfg Config
	if err := Spec.Parse(given, &cfg); err != nil {
		return nil, err
	}
	c := New(Options{IDPrefix: cfg.IDPrefix})
	c.Seed(cfg.SeedObject, cfg.Seed, SampleCompany)
	return c, nil
}
