package settings_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/settings"
)

type config struct {
	Token   string
	Rate    int
	Lag     time.Duration
	Verbose bool
	Mode    string
	Tags    []string
	Quiet   bool
}

var spec = &settings.Spec[config]{Type: "demo", Settings: []settings.Setting[config]{
	{Name: "token", Required: true, Secret: true, Doc: "access token",
		Set: func(c *config, v string) error {
			if len(v) < 4 {
				return assertErr("too short")
			}
			c.Token = v
			return nil
		}},
	{Name: "rate", Default: "10", Doc: "requests per second", Set: settings.Int(1, 100, func(c *config) *int { return &c.Rate })},
	{Name: "lag", Default: "5s", Doc: "lag; 0s none", Set: settings.Duration(0, func(c *config) *time.Duration { return &c.Lag })},
	{Name: "verbose", Default: "false", Doc: "say more", Set: settings.Bool(func(c *config) *bool { return &c.Verbose })},
	{Name: "mode", Default: "fast", Doc: "fast or slow | careful", Set: settings.OneOf([]string{"fast", "slow"}, func(c *config) *string { return &c.Mode })},
	{Name: "tags", NoBlank: true, Doc: "comma separated", Set: settings.List(func(c *config) *[]string { return &c.Tags })},
	{Name: "webhook_secret", Secret: true, Doc: "read by the verifier"},
	{Name: "loud", Default: "true", Doc: "speak up", Set: settings.NotBool(func(c *config) *bool { return &c.Quiet })},
}}

type assertErr string

func (e assertErr) Error() string { return string(e) }

func TestParse(t *testing.T) {
	var cfg config
	require.NoError(t, spec.Parse(connectors.Settings{"token": "abcd", "tags": " a, b,,a ", "webhook_secret": "x"}, &cfg))
	assert.Equal(t, config{Token: "abcd", Rate: 10, Lag: 5 * time.Second, Mode: "fast", Tags: []string{"a", "b"}}, cfg, "defaults from the declaration")

	cfg = config{}
	require.NoError(t, spec.Parse(connectors.Settings{"token": "abcd", "lag": "0s", "rate": "100", "verbose": "true", "mode": "slow"}, &cfg))
	assert.Equal(t, time.Duration(0), cfg.Lag, "0s means none, not the default")
	assert.Equal(t, 100, cfg.Rate)
	assert.True(t, cfg.Verbose)
	assert.Equal(t, "slow", cfg.Mode)
	assert.False(t, cfg.Quiet, "loud by default")

	cfg = config{}
	require.NoError(t, spec.Parse(connectors.Settings{"token": "abcd", "loud": "false"}, &cfg))
	assert.True(t, cfg.Quiet)

	for _, tc := range []struct {
		name  string
		given connectors.Settings
		want  string
	}{
		{"unknown", connectors.Settings{"token": "abcd", "rte": "5"}, `unknown setting "rte" (demo accepts lag, loud, mode, rate, tags, token, verbose, webhook_secret)`},
		{"missing", connectors.Settings{}, "setting token: missing (access token)"},
		{"blank", connectors.Settings{"token": "  "}, "setting token: missing"},
		{"no blank", connectors.Settings{"token": "abcd", "tags": " "}, "setting tags: empty (leave it out"},
		{"secret not quoted", connectors.Settings{"token": "ab"}, "setting token: too short"},
		{"int", connectors.Settings{"token": "abcd", "rate": "0"}, `setting rate: "0" is not a whole number from 1 to 100`},
		{"duration", connectors.Settings{"token": "abcd", "lag": "-1s"}, `setting lag: "-1s" is not a duration`},
		{"bool", connectors.Settings{"token": "abcd", "verbose": "yes"}, `setting verbose: "yes" is not true or false`},
		{"one of", connectors.Settings{"token": "abcd", "mode": "Fast"}, `setting mode: "Fast" is not fast or slow`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg config
			err := spec.Parse(tc.given, &cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), `"ab"`, "a secret is never quoted")
		})
	}
}

func TestMarkdown(t *testing.T) {
	assert.Equal(t, "| setting | default | what it does |\n|---|---|---|\n"+
		"| `token` | required | access token |\n"+
		"| `rate` | `10` | requests per second |\n"+
		"| `lag` | `5s` | lag; 0s none |\n"+
		"| `verbose` | `false` | say more |\n"+
		"| `mode` | `fast` | fast or slow \\| careful |\n"+
		"| `tags` | — | comma separated |\n"+
		"| `webhook_secret` | — | read by the verifier |\n"+
		"| `loud` | `true` | speak up |\n", spec.Markdown())
}

func TestReplace(t *testing.T) {
	readme := "intro\n<!-- settings:demo -->\nold\n<!-- /settings:demo -->\nrest\n"
	got, err := settings.Replace(readme, "demo", "new\n")
	require.NoError(t, err)
	assert.Equal(t, "intro\n<!-- settings:demo -->\nnew\n<!-- /settings:demo -->\nrest\n", got)
	body, err := settings.Section(got, "demo")
	require.NoError(t, err)
	assert.Equal(t, "new\n", body)

	_, err = settings.Section(readme, "other")
	assert.ErrorContains(t, err, `README has no "<!-- settings:other -->" marker`)
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 2 * time.Minute: "2m", 90 * time.Second: "1m30s", 5 * time.Second: "5s", 90 * time.Minute: "1h30m", 0: "0s"} {
		assert.Equal(t, want, settings.DurationText(d))
		back, err := time.ParseDuration(want)
		require.NoError(t, err)
		assert.Equal(t, d, back)
	}
}
