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

	"tandem/activities"
	"tandem/connectors/builtin"
	"tandem/internal/app"
	"tandem/internal/cli"
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
	in, err := ingress.New(d.Syncs, reg, ingress.NewTemporalSignaler(c, ""), ingress.Options{Logger: zap.NewNop()})
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

// runQuietDemo is runDemo without webhooks: changes wait for the next run.
func runQuietDemo(t *testing.T) (*demo.Demo, *testenv.Sync) {
	t.Helper()
	d, err := demo.Start(demo.Options{SalesloftAddr: "127.0.0.1:0", HubSpotAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	conns, err := app.OpenConnections(d.Syncs, builtin.Registry())
	require.NoError(t, err)
	s := testenv.NewFileSync(t, testenv.Client(t), d.Syncs, conns, demo.Sync)
	s.Start()
	s.WaitRuns(1, time.Minute)
	return d, s
}

// Issue 16: a plan of the demo's sync after edits on both sides lists exactly the pending
// creates, updates and conflicts with their fields, the fakes record no write, and the
// next real run does what it said.
func TestPlanOnTheDemoListsThePendingWritesAndWritesNothing(t *testing.T) {
	d, s := runQuietDemo(t)
	accountOf := func(domain string) string {
		for _, a := range d.Salesloft.Records() {
			if normalize(a.Fields["domain"].(string)) == domain {
				return a.ID
			}
		}
		t.Fatalf("no Salesloft account for %s", domain)
		return ""
	}
	hs := d.HubSpot.Records("companies")
	x, y, z := hs[0], hs[1], hs[2]
	// A phone edited in HubSpot (read once older than the connection's 5 s search lag).
	require.NoError(t, d.HubSpot.Set("companies", x.ID, map[string]string{"phone": "+1 555 0101"}))
	require.NoError(t, d.HubSpot.SetModified("companies", x.ID, time.Now().Add(-10*time.Second)))
	// A name edited in Salesloft.
	require.NoError(t, d.Salesloft.Set(accountOf(normalize(y.Properties["domain"])), map[string]any{"name": "Renamed in Salesloft"}))
	// Both sides of one pair edited: Salesloft's edit is the newer one.
	require.NoError(t, d.HubSpot.Set("companies", z.ID, map[string]string{"phone": "+1 555 0303"}))
	require.NoError(t, d.HubSpot.SetModified("companies", z.ID, time.Now().Add(-10*time.Second)))
	require.NoError(t, d.Salesloft.Set(accountOf(normalize(z.Properties["domain"])), map[string]any{"phone": "+1 555 0304"}))
	// A new account in Salesloft.
	d.Salesloft.Seed(map[string]any{"name": "Brand New Inc", "domain": "brandnew.example.com", "phone": "+1 555 0404"})

	slWrites, hsWrites := d.Salesloft.Stats().Writes, d.HubSpot.Stats().Writes
	plan, _, err := cli.Plan(context.Background(), s.Client, demo.Sync, 0)
	require.NoError(t, err)
	assert.Equal(t, slWrites, d.Salesloft.Stats().Writes, "the plan wrote nothing to Salesloft")
	assert.Equal(t, hsWrites, d.HubSpot.Stats().Writes, "the plan wrote nothing to HubSpot")
	assert.Equal(t, 1, s.Status().Runs, "the plan is not a run")

	byKey := map[string]activities.PlanRecord{}
	for _, r := range plan.Records {
		if r.Action != activities.PlanSkip {
			require.NotContains(t, byKey, r.Key, "one record per pair: %+v", plan.Records)
			byKey[r.Key] = r
		}
	}
	assert.Equal(t, 1, plan.Totals.Create)
	assert.Equal(t, 2, plan.Totals.Update)
	assert.Equal(t, 1, plan.Totals.Conflict)
	assert.Zero(t, plan.Totals.Fail+plan.Totals.Delete)
	require.Len(t, byKey, 4, "%+v", plan.Records)

	assert.Equal(t, activities.PlanRecord{Side: "b", Key: "brandnew.example.com", Action: "create", Reason: "no record on side b has this key",
		Fields: map[string]activities.FieldChange{"name": {To: "Brand New Inc"}, "domain": {To: "brandnew.example.com"}, "phone": {To: "+1 555 0404"}}},
		byKey["brandnew.example.com"])
	rx := byKey[normalize(x.Properties["domain"])]
	assert.Equal(t, "update", rx.Action)
	assert.Equal(t, "a", rx.Side, "HubSpot's edit goes to Salesloft")
	assert.Equal(t, map[string]activities.FieldChange{"phone": {From: x.Properties["phone"], To: "+1 555 0101"}}, rx.Fields)
	ry := byKey[normalize(y.Properties["domain"])]
	assert.Equal(t, "update", ry.Action)
	assert.Equal(t, "b", ry.Side)
	assert.Equal(t, map[string]activities.FieldChange{"name": {From: y.Properties["name"], To: "Renamed in Salesloft"}}, ry.Fields)
	rz := byKey[normalize(z.Properties["domain"])]
	assert.Equal(t, "conflict", rz.Action)
	assert.Equal(t, "b", rz.Side, "Salesloft's newer edit wins")
	assert.Equal(t, activities.FieldChange{From: "+1 555 0303", To: "+1 555 0304"}, rz.Fields["phone"])

	// The run does what the plan said.
	s.Signal(workflows.SignalSyncNow, nil)
	st := s.WaitRuns(2, time.Minute)
	require.Empty(t, st.LastRun.Error)
	assert.Equal(t, plan.Totals.Create, st.LastRun.Created)
	assert.Equal(t, plan.Totals.Update+plan.Totals.Conflict, st.LastRun.Updated)
	assert.Equal(t, plan.Totals.Conflict, st.LastRun.Conflicts)
	assert.Zero(t, st.LastRun.Failed)
}
