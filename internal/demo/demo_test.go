package demo_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"tandem/connectors/builtin"
	"tandem/internal/app"
	"tandem/internal/demo"
	"tandem/internal/ingress"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// TestDemoConvergesAndSyncsChangesThroughWebhooks runs the dev mode's demo end to end on
// the embedded server: real connectors against the fake Salesloft and HubSpot, webhooks
// from both fakes through the real ingress.
func TestDemoConvergesAndSyncsChangesThroughWebhooks(t *testing.T) {
	d, s := runDemo(t, demo.Options{})
	// Converged: 50 companies on each side, one per domain, equal on the mapped fields.
	sl, hs := d.Salesloft.Records(), d.HubSpot.Records("companies")
	require.Len(t, sl, 50)
	require.Len(t, hs, 50)
	byDomain := map[string]map[string]string{}
	for _, r := range hs {
		key := normalize(r.Properties["domain"])
		require.NotContains(t, byDomain, key, "one HubSpot company per domain")
		byDomain[key] = r.Properties
	}
	for _, a := range sl {
		h, ok := byDomain[normalize(a.Fields["domain"].(string))]
		require.True(t, ok, "HubSpot has %s", a.Fields["domain"])
		assert.Equal(t, a.Fields["name"], h["name"])
		assert.Equal(t, a.Fields["phone"], h["phone"])
	}
	st := s.Status()
	assert.Equal(t, workflows.Counts{Fetched: st.LastRun.Fetched, Created: 40, Skipped: st.LastRun.Skipped}, st.LastRun.Counts)

	// Wait for the webhooks of the first run's own writes to be handled (they write
	// nothing: both sides are equal), then count writes from here.
	quiet := func() {
		var last int
		require.Eventually(t, func() bool {
			st := s.Status()
			n := st.Events.Received
			settled := n == last && st.Pending == 0
			last = n
			return settled
		}, 30*time.Second, 300*time.Millisecond)
	}
	quiet()
	slWrites, hsWrites := d.Salesloft.Stats().Writes, d.HubSpot.Stats().Writes

	// A user changes a company's phone in HubSpot: it reaches Salesloft through HubSpot's
	// webhook, with no scheduled run, and Salesloft's own webhook writes nothing back.
	target := hs[0]
	require.NoError(t, d.HubSpot.Set("companies", target.ID, map[string]string{"phone": "+1 555 0123"}))
	domain := normalize(target.Properties["domain"])
	require.Eventually(t, func() bool {
		for _, a := range d.Salesloft.Records() {
			if normalize(a.Fields["domain"].(string)) == domain {
				return a.Fields["phone"] == "+1 555 0123"
			}
		}
		return false
	}, time.Minute, 50*time.Millisecond, "the change reaches Salesloft")
	quiet()
	assert.Equal(t, slWrites+1, d.Salesloft.Stats().Writes, "one write to Salesloft")
	// The fake counts the user's own edit as a write; Tandem wrote nothing back.
	assert.Equal(t, hsWrites+1, d.HubSpot.Stats().Writes, "writes to HubSpot: the user's edit only")
	assert.Equal(t, 1, s.Status().Runs, "no scheduled run was needed")
}

// runDemo starts the demo with o (free ports, an ingress) on the embedded server, starts
// its sync, and waits for the first run to end.
func runDemo(t *testing.T, o demo.Options) (*demo.Demo, *testenv.Sync) {
	t.Helper()
	c := testenv.Client(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o.SalesloftAddr, o.HubSpotAddr, o.Ingress = "127.0.0.1:0", "127.0.0.1:0", "http://"+ln.Addr().String()
	d, err := demo.Start(o)
	require.NoError(t, err)
	t.Cleanup(d.Close)
	reg := builtin.Registry()
	conns, err := app.OpenConnections(d.Syncs, reg)
	require.NoError(t, err)
	in, err := ingress.New(d.Syncs, reg, ingress.NewTemporalSignaler(c), ingress.Options{Logger: zap.NewNop()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = in.Serve(ctx, ln) }()
	s := testenv.NewFileSync(t, c, d.Syncs, conns, demo.Sync)
	s.Start()
	s.WaitRuns(1, time.Minute)
	return d, s
}

// TestDemoWithALaggingSearchIndex runs the demo against a HubSpot whose searches trail
// its writes by 3 s. Right after the first run, a user edits in Salesloft an account
// whose HubSpot company that run created: a search for its domain would not find the
// company yet. The pair is linked since its create, so the company is read by id through
// its link and updated, not created again.
func TestDemoWithALaggingSearchIndex(t *testing.T) {
	d, s := runDemo(t, demo.Options{HubSpotIndexLag: 3 * time.Second})
	st := s.Status()
	require.Empty(t, st.LastRun.Error)

	// An account the first run created in HubSpot (Salesloft-only accounts are the first 30).
	acct := d.Salesloft.Records()[0]
	links, err := s.Acts.Links.Get(context.Background(), demo.Sync, "a", []string{acct.ID})
	require.NoError(t, err)
	require.Contains(t, links, acct.ID, "the first run linked the account to the company it created")
	domain := normalize(acct.Fields["domain"].(string))
	require.NoError(t, d.Salesloft.Set(acct.ID, map[string]any{"phone": "+1 555 0177"}))
	require.Eventually(t, func() bool {
		for _, r := range d.HubSpot.Records("companies") {
			if normalize(r.Properties["domain"]) == domain {
				return r.Properties["phone"] == "+1 555 0177"
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond, "the change reaches HubSpot")
	seen := map[string]bool{}
	for _, r := range d.HubSpot.Records("companies") {
		key := normalize(r.Properties["domain"])
		assert.False(t, seen[key], "one HubSpot company per domain, %s twice", key)
		seen[key] = true
	}
	assert.Len(t, seen, 50)
}

func normalize(d string) string {
	d = strings.ToLower(d)
	d = strings.TrimPrefix(strings.TrimPrefix(d, "https://"), "http://")
	return strings.TrimPrefix(d, "www.")
}

// Deletes in the demo: a company archived in HubSpot (as a user deletes it there) reaches
// Salesloft through HubSpot's deletion webhook, in one micro-batch, and its account is
// deleted; a Salesloft account deleted is found by the next run's id diff and its company
// archived in HubSpot.
func TestDemoDeletesFollowAcrossBothServices(t *testing.T) {
	d, s := runDemo(t, demo.Options{})
	hs := d.HubSpot.Records("companies")
	require.Len(t, hs, 50)
	gone := hs[0]
	domain := normalize(gone.Properties["domain"])
	accountOf := func(domain string) string {
		for _, a := range d.Salesloft.Records() {
			if normalize(a.Fields["domain"].(string)) == domain {
				return a.ID
			}
		}
		return ""
	}
	require.NotEmpty(t, accountOf(domain))

	require.NoError(t, d.HubSpot.Delete("companies", gone.ID))
	st := s.WaitFor("the webhook's delete", time.Minute, func(st workflows.Status) bool { return st.Realtime.Deleted == 1 })
	assert.Empty(t, accountOf(domain), "the Salesloft account is deleted")
	assert.Len(t, d.Salesloft.Records(), 49)
	assert.Equal(t, 1, st.Runs, "in a micro-batch: no run was needed")
	require.NotNil(t, st.Deletes)
	require.NotEmpty(t, st.Deletes.Recent)
	last := st.Deletes.Recent[len(st.Deletes.Recent)-1]
	assert.Equal(t, "webhook", last.How)
	assert.Equal(t, "deleted", last.Action)

	// The other way: an account deleted in Salesloft, announced by its account_deleted
	// webhook.
	acct := d.Salesloft.Records()[0]
	other := normalize(acct.Fields["domain"].(string))
	require.True(t, d.Salesloft.Delete(acct.ID))
	s.WaitFor("the second delete", time.Minute, func(st workflows.Status) bool { return st.Realtime.Deleted == 2 })
	for _, r := range d.HubSpot.Records("companies") {
		assert.NotEqual(t, other, normalize(r.Properties["domain"]), "the HubSpot company is archived")
	}
	assert.Len(t, d.HubSpot.Records("companies"), 48)

	// A run finds nothing more to delete; Salesloft, which keeps no delete log, is diffed.
	s.Signal(workflows.SignalSyncNow, nil)
	st = s.WaitRuns(2, time.Minute)
	assert.Zero(t, st.LastRun.Deleted)
	assert.Empty(t, st.LastRun.Error)
	assert.Equal(t, "no delete log: every id is diffed against the pairs every run", st.Deletes.Notes["a"])
	assert.Len(t, d.Salesloft.Records(), 48)
}
