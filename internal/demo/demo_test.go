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
	"tandem/internal/demo"
	"tandem/internal/ingress"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// TestDemoConvergesAndSyncsChangesThroughWebhooks runs the dev mode's demo end to end on
// the embedded server: real connectors against the fake Salesloft and HubSpot, webhooks
// from both fakes through the real ingress.
func TestDemoConvergesAndSyncsChangesThroughWebhooks(t *testing.T) {
	c := testenv.Client(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	d, err := demo.Start(demo.Options{SalesloftAddr: "127.0.0.1:0", HubSpotAddr: "127.0.0.1:0", Ingress: "http://" + ln.Addr().String()})
	require.NoError(t, err)
	defer d.Close()
	reg := builtin.Registry()
	conns, err := app.OpenConnections(d.Syncs, reg)
	require.NoError(t, err)
	in, err := ingress.New(d.Syncs, reg, ingress.NewTemporalSignaler(c), ingress.Options{Logger: zap.NewNop()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = in.Serve(ctx, ln) }()
	w := app.NewWorker(c, &activities.Activities{Syncs: d.Syncs, Connections: conns})
	require.NoError(t, w.Start())
	defer w.Stop()
	defer func() {
		_ = c.TerminateWorkflow(context.Background(), workflows.WorkflowID(demo.Sync), "", "test over")
	}()

	_, _, err = app.StartSync(ctx, c, demo.Sync)
	require.NoError(t, err)
	status := func() workflows.Status {
		st, err := app.Status(ctx, c, demo.Sync)
		require.NoError(t, err)
		return st
	}
	require.Eventually(t, func() bool { st := status(); return st.LastRun != nil && st.Current == nil }, time.Minute, 50*time.Millisecond)

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
	st := status()
	assert.Equal(t, workflows.Counts{Fetched: st.LastRun.Fetched, Created: 40, Skipped: st.LastRun.Skipped}, st.LastRun.Counts)

	// Wait for the webhooks of the first run's own writes to be handled (they write
	// nothing: both sides are equal), then count writes from here.
	quiet := func() {
		var last int
		require.Eventually(t, func() bool {
			st := status()
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
	}, 20*time.Second, 50*time.Millisecond, "the change reaches Salesloft")
	quiet()
	assert.Equal(t, slWrites+1, d.Salesloft.Stats().Writes, "one write to Salesloft")
	// The fake counts the user's own edit as a write; Tandem wrote nothing back.
	assert.Equal(t, hsWrites+1, d.HubSpot.Stats().Writes, "writes to HubSpot: the user's edit only")
	assert.Equal(t, 1, status().Runs, "no scheduled run was needed")
}

func normalize(d string) string {
	d = strings.ToLower(d)
	d = strings.TrimPrefix(strings.TrimPrefix(d, "https://"), "http://")
	return strings.TrimPrefix(d, "www.")
}
