package salesloft_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
	"tandem/connectors/salesloft"
	"tandem/connectors/salesloft/salesloftfake"
)

const accounts = salesloft.Object

// open starts a fake behind an httptest server and a connector to it; both stop with t.
func open(t testing.TB, fo salesloftfake.Options, co salesloft.Options) (*salesloft.Connector, *salesloftfake.Server, string) {
	t.Helper()
	fake := salesloftfake.New(fo)
	srv := httptest.NewServer(fake)
	if co.Token == "" {
		co.Token = salesloftfake.DefaultToken
	}
	co.BaseURL = srv.URL
	c, err := salesloft.New(co)
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		fake.Close()
	})
	return c, fake, srv.URL
}

// another opens a second connector to the same fake, as another integration of the team.
func another(t testing.TB, url string, co salesloft.Options) *salesloft.Connector {
	t.Helper()
	co.Token, co.BaseURL = salesloftfake.DefaultToken, url
	c, err := salesloft.New(co)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

var (
	adjectives = []string{"Northwind", "Blue", "Summit", "Bright", "Granite", "Silver", "Cedar", "Harbor"}
	nouns      = []string{"Analytics", "Logistics", "Foods", "Robotics", "Health", "Energy", "Capital", "Media"}
	industries = []string{"Software", "Manufacturing", "Retail", "Healthcare", "Logistics"}
)

// sampleAccount returns valid account fields for number i, with a unique domain and
// crm_id.
func sampleAccount(i int) map[string]any {
	adj, noun := adjectives[i%len(adjectives)], nouns[(i/len(adjectives))%len(nouns)]
	return map[string]any{
		"name":     fmt.Sprintf("%s %s %d", adj, noun, i),
		"domain":   fmt.Sprintf("%s%s%d.example.com", strings.ToLower(adj), strings.ToLower(noun), i),
		"phone":    fmt.Sprintf("+1 415-555-%04d", i%10000),
		"industry": industries[i%len(industries)],
		"crm_id":   fmt.Sprintf("001A%08d", i),
	}
}

func TestConformance(t *testing.T) {
	eastern := time.FixedZone("EST", -5*3600)
	for _, tc := range []struct {
		name string
		fake salesloftfake.Options
		conn salesloft.Options
	}{
		{"Unlimited", salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited}, salesloft.Options{}},
		// Salesloft's own budget, timestamps in a team's zone, domains looked up in bulk.
		{"Budget", salesloftfake.Options{Location: eastern}, salesloft.Options{DomainFilter: salesloft.DomainFilterArray}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fakes sync.Map // connector -> its fake
			connectortest.Run(t, connectortest.Driver{
				New: func(t *testing.T) connectors.Connector {
					c, fake, _ := open(t, tc.fake, tc.conn)
					fakes.Store(c, fake)
					return c
				},
				Object:    accounts,
				KeyField:  "domain",
				NewFields: sampleAccount,
				Mutate: func(f map[string]any) map[string]any {
					f["name"] = f["name"].(string) + " (renamed)"
					f["phone"] = "+1 212-555-0100"
					return f
				},
				Invalid: func() map[string]any { return map[string]any{"name": "", "domain": "nameless.example.com"} },
				SetUpdatedAt: func(t *testing.T, c connectors.Connector, object, id string, at time.Time) {
					fake, ok := fakes.Load(c)
					require.True(t, ok)
					require.True(t, fake.(*salesloftfake.Server).SetUpdatedAt(id, at), "account %s", id)
				},
				MissingID: "999999999",
			})
		})
	}
}
