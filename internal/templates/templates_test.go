// Package templates_test runs the article's two templates, the sync definitions in
// examples/, end to end on the embedded Temporal server: the files are parsed as a user's
// worker would parse them, with their variables pointed at fake Salesforce and NetSuite
// orgs and an in-process S3.
package templates_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/connectors/netsuite"
	"tandem/connectors/netsuite/netsuitefake"
	"tandem/connectors/s3"
	"tandem/connectors/salesforce"
	"tandem/connectors/salesforce/salesforcefake"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/workflows"
)

const (
	accountsToCustomersFile = "salesforce-accounts-to-netsuite-customers.yaml"
	dailyExportFile         = "salesforce-daily-export-to-s3.yaml"

	accountsToCustomers = "salesforce-accounts-to-netsuite-customers"
	dailyExport         = "salesforce-accounts-daily-export"
)

// readExample returns the bytes of a file of examples/.
func readExample(t *testing.T, name string) (path string, data []byte) {
	t.Helper()
	path = filepath.Join("..", "..", "examples", name)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return path, data
}

// parseExample parses an example with vars as its environment. A variable the file uses
// and vars lacks fails the parse with its name, so the test's environment stays complete.
func parseExample(t *testing.T, name string, vars map[string]string) *config.File {
	t.Helper()
	path, data := readExample(t, name)
	f, err := config.Parse(path, data, builtin.Registry().Types(), func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	})
	require.NoError(t, err)
	return f
}

// TestExamplesParse: both examples load with every variable set, so a change to the
// config format or the connector types that breaks one fails here.
func TestExamplesParse(t *testing.T) {
	for _, tc := range []struct {
		file, sync string
		a, b       config.Side
		every      time.Duration
	}{
		{accountsToCustomersFile, accountsToCustomers,
			config.Side{Connection: "salesforce", Object: "Account", Key: "Id"},
			config.Side{Connection: "netsuite", Object: "customer", Key: "custentity_sfdc_id"}, 15 * time.Minute},
		{dailyExportFile, dailyExport,
			config.Side{Connection: "salesforce", Object: "Account", Key: "Id"},
			config.Side{Connection: "s3", Object: "accounts", Key: "Id"}, 24 * time.Hour},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path, data := readExample(t, tc.file)
			var used []string
			f, err := config.Parse(path, data, builtin.Registry().Types(), func(k string) (string, bool) {
				used = append(used, k)
				return "placeholder-" + k, true
			})
			require.NoError(t, err)
			require.Len(t, f.Syncs, 1)
			s := f.Syncs[0]
			assert.Equal(t, tc.sync, s.Name)
			assert.Equal(t, config.OneWay, s.Mode)
			assert.Equal(t, tc.a, s.A)
			assert.Equal(t, tc.b, s.B)
			assert.Equal(t, tc.every, s.Schedule.Every)
			assert.Equal(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), s.Schedule.StartFrom, "the first run is backdated")
			assert.Contains(t, used, "SF_CLIENT_SECRET", "secrets come from the environment")
		})
	}
}

// TestExamplesOpenForProduction: with real-looking values, and the optional variables set
// empty as the comments say, every connection of both examples opens: the settings are
// ones the connectors accept, and an empty base_url means the account's own host.
func TestExamplesOpenForProduction(t *testing.T) {
	vars := map[string]string{
		"SF_LOGIN_URL":     "https://yourcompany.my.salesforce.com",
		"SF_CLIENT_ID":     "3MVG9-consumer-key",
		"SF_CLIENT_SECRET": "consumer-secret",

		"NETSUITE_ACCOUNT_ID":      "123456_SB1",
		"NETSUITE_CONSUMER_KEY":    "ck",
		"NETSUITE_CONSUMER_SECRET": "cs",
		"NETSUITE_TOKEN_ID":        "tid",
		"NETSUITE_TOKEN_SECRET":    "ts",
		"NETSUITE_BASE_URL":        "",
		"NETSUITE_SUBSIDIARY_ID":   "1",

		"EXPORT_BUCKET": "acme-exports",
		"AWS_REGION":    "eu-west-1",
		"S3_ENDPOINT":   "",
		"S3_PATH_STYLE": "",
	}
	for _, file := range []string{accountsToCustomersFile, dailyExportFile} {
		t.Run(file, func(t *testing.T) {
			f := parseExample(t, file, vars)
			conns, err := app.OpenConnections(f, builtin.Registry())
			require.NoError(t, err)
			if ns, ok := conns["netsuite"].(*netsuite.Connector); ok {
				t.Cleanup(ns.CloseIdleConnections)
				cfg := ns.Config()
				assert.Equal(t, "https://123456-sb1.suitetalk.api.netsuite.com", cfg.BaseURL)
				assert.Subset(t, cfg.Fields, []string{"companyname", "phone", "url", "custentity_sfdc_id"}, "the mapped columns are read back")
				assert.Equal(t, map[string]any{"subsidiary": map[string]any{"id": "1"}}, cfg.CreateDefaults)
			}
		})
	}
}

// clock is a settable clock for the Salesforce fake. SystemModstamp keeps whole seconds,
// so an edit in the second of the previous run's last record, on an account with a
// smaller Id, would sort before that run's cursor; moving the clock on before editing
// keeps the tests about what they test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startSalesforce runs a fake org on its clock.
func startSalesforce(t *testing.T, clk *clock) (*salesforcefake.Server, string) {
	t.Helper()
	sf := salesforcefake.New(salesforcefake.Options{Now: clk.Now})
	srv := httptest.NewServer(sf)
	t.Cleanup(srv.Close)
	return sf, srv.URL
}

func salesforceVars(url string) map[string]string {
	return map[string]string{
		"SF_LOGIN_URL":     url,
		"SF_CLIENT_ID":     salesforcefake.DefaultClientID,
		"SF_CLIENT_SECRET": salesforcefake.DefaultClientSecret,
	}
}

// account is the i'th seeded Account; every seventh has no website.
func account(i int) map[string]any {
	f := map[string]any{
		"Name":        fmt.Sprintf("Account %03d", i),
		"Phone":       fmt.Sprintf("+1 555 %04d", i),
		"Industry":    []string{"Technology", "Retail", "Logistics"}[i%3],
		"BillingCity": []string{"Berlin", "Austin", "Lyon", "Osaka"}[i%4],
	}
	if i%7 != 0 {
		f["Website"] = fmt.Sprintf("account%03d.example.com", i)
	}
	return f
}

// seedAccounts stores Accounts from..to-1 and returns their ids in order.
func seedAccounts(sf *salesforcefake.Server, from, to int) []string {
	ids := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		ids = append(ids, sf.Seed("Account", account(i)))
	}
	return ids
}

// syncRun is a sync of an example file running on the embedded server with its own
// worker. The workflow is terminated and the worker stopped when the test ends.
type syncRun struct {
	*testenv.Sync
	conns map[string]connectors.Connector
}

func startSync(t *testing.T, f *config.File) *syncRun {
	t.Helper()
	require.Len(t, f.Syncs, 1)
	conns, err := app.OpenConnections(f, builtin.Registry())
	require.NoError(t, err)
	if ns, ok := conns["netsuite"].(*netsuite.Connector); ok {
		t.Cleanup(ns.CloseIdleConnections)
	}
	s := &syncRun{Sync: testenv.NewFileSync(t, testenv.Client(t), f, conns, f.Syncs[0].Name), conns: conns}
	s.Start()
	return s
}

// waitRun waits until run n has finished and returns it; it fails the test if the run
// stopped on an error.
func (s *syncRun) waitRun(n int) workflows.RunSummary {
	s.T.Helper()
	st := s.WaitRuns(n, time.Minute)
	require.Equal(s.T, n, st.LastRun.Number, "runs")
	require.Empty(s.T, st.LastRun.Error, "run %d stopped on an error", n)
	require.Zero(s.T, st.LastRun.Failed, "failed records: %+v", st.Failures)
	return *st.LastRun
}

// timeoutAfterWrite sits in front of the NetSuite fake. While armed, it passes a create
// (POST /record/v1/...) to the fake, so the record is written, throws the fake's answer
// away and answers 504 instead: a create that timed out after NetSuite did it.
type timeoutAfterWrite struct {
	next http.Handler

	mu      sync.Mutex
	armed   int
	dropped []int // the statuses of the answers thrown away
}

func (h *timeoutAfterWrite) arm(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed = n
}

func (h *timeoutAfterWrite) droppedAnswers() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.dropped...)
}

func (h *timeoutAfterWrite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "/record/v1/") || !h.take() {
		h.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r)
	h.mu.Lock()
	h.dropped = append(h.dropped, rec.Code)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusGatewayTimeout)
	_, _ = fmt.Fprint(w, "<html><body><h1>504 Gateway Time-out</h1></body></html>")
}

func (h *timeoutAfterWrite) take() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.armed == 0 {
		return false
	}
	h.armed--
	return true
}

// customersBySFDCID returns NetSuite's customers by custentity_sfdc_id, all of them for
// each id.
func customersBySFDCID(ns *netsuitefake.Server) map[string][]netsuitefake.Record {
	out := map[string][]netsuitefake.Record{}
	for _, r := range ns.Records("customer") {
		id := connectors.KeyString(r.Fields["custentity_sfdc_id"])
		out[id] = append(out[id], r)
	}
	return out
}

// assertOneCustomerEach checks that each Account has exactly one customer, holding its
// mapped fields, and that there are no other customers.
func assertOneCustomerEach(t *testing.T, ns *netsuitefake.Server, sf *salesforcefake.Server) {
	t.Helper()
	accounts := sf.Records("Account")
	byID := customersBySFDCID(ns)
	assert.Len(t, ns.Records("customer"), len(accounts), "one customer per Account, no others")
	for _, a := range accounts {
		got := byID[a.ID]
		if !assert.Len(t, got, 1, "customers with custentity_sfdc_id %s", a.ID) {
			continue
		}
		c := got[0].Fields
		assert.Equal(t, a.Fields["Name"], c["companyname"], "companyname of %s", a.ID)
		assert.Equal(t, a.Fields["Phone"], c["phone"], "phone of %s", a.ID)
		assert.Equal(t, connectors.KeyString(a.Fields["Website"]), connectors.KeyString(c["url"]), "url of %s", a.ID)
		assert.Equal(t, map[string]any{"id": "1"}, c["subsidiary"], "create_defaults of %s", a.ID)
	}
}

func recordWrites(st netsuitefake.Stats) map[string]int {
	return map[string]int{
		"POST":  st.ByRoute["POST record"],
		"PATCH": st.ByRoute["PATCH record"],
		"PUT":   st.ByRoute["PUT record"],
	}
}

// TestAccountsToCustomers runs examples/salesforce-accounts-to-netsuite-customers.yaml:
// every Account becomes exactly one customer keyed by its Id, a run with nothing new
// writes nothing, and a create that times out after NetSuite made the customer is retried
// without making a second one.
func TestAccountsToCustomers(t *testing.T) {
	clk := newClock()
	sf, sfURL := startSalesforce(t, clk)
	ns := netsuitefake.New(netsuitefake.Options{
		AccountID: "123456_SB1",
		// The custom field an administrator creates for the integration (the article's
		// set-up): the mapping check finds it in the metadata catalog.
		CustomFields: map[string][]string{"customer": {"custentity_sfdc_id"}},
		TBA: &netsuitefake.TBACredentials{
			ConsumerKey: "consumer-key", ConsumerSecret: "consumer-secret", TokenID: "token-id", TokenSecret: "token-secret",
		},
	})
	front := &timeoutAfterWrite{next: ns}
	nsSrv := httptest.NewServer(front)
	t.Cleanup(nsSrv.Close)

	vars := salesforceVars(sfURL)
	for k, v := range map[string]string{
		"NETSUITE_ACCOUNT_ID":      "123456_SB1",
		"NETSUITE_CONSUMER_KEY":    "consumer-key",
		"NETSUITE_CONSUMER_SECRET": "consumer-secret",
		"NETSUITE_TOKEN_ID":        "token-id",
		"NETSUITE_TOKEN_SECRET":    "token-secret",
		"NETSUITE_BASE_URL":        nsSrv.URL,
		"NETSUITE_SUBSIDIARY_ID":   "1",
	} {
		vars[k] = v
	}
	seedAccounts(sf, 0, 50)
	clk.Advance(time.Second) // the org's clock leaves the second the records were saved in
	s := startSync(t, parseExample(t, accountsToCustomersFile, vars))

	// Run 1, due at once: the backfill since start_from.
	run := s.waitRun(1)
	assert.Equal(t, workflows.Counts{Fetched: 50, Created: 50}, run.Counts)
	assertOneCustomerEach(t, ns, sf)

	// Run 2 (sync-now): nothing changed since run 1, nothing is written.
	ns.ResetStats()
	s.Signal(workflows.SignalSyncNow, nil)
	run = s.waitRun(2)
	assert.Equal(t, workflows.Counts{}, run.Counts)
	assert.Equal(t, map[string]int{"POST": 0, "PATCH": 0, "PUT": 0}, recordWrites(ns.Stats()))

	// Run 3: every Account read again from start_from; each customer already holds what
	// its Account asks for (a missing website included), so all compare equal.
	s.Signal(workflows.SignalResync, workflows.ResyncSignal{Side: "a", From: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
	run = s.waitRun(3)
	assert.Equal(t, workflows.Counts{Fetched: 50, Skipped: 50}, run.Counts)
	assert.Equal(t, map[string]int{"POST": 0, "PATCH": 0, "PUT": 0}, recordWrites(ns.Stats()))
	assertOneCustomerEach(t, ns, sf)

	// Run 4: ten new Accounts; NetSuite makes the first customer, but the answer to that
	// create is lost (504). The Upsert activity fails and is retried; the retry finds the
	// customer by custentity_sfdc_id and updates it instead of creating it again.
	clk.Advance(time.Minute)
	newIDs := seedAccounts(sf, 50, 60)
	clk.Advance(time.Second) // the org's clock leaves the second the records were saved in
	front.arm(1)
	ns.ResetStats()
	s.Signal(workflows.SignalSyncNow, nil)
	run = s.waitRun(4)
	assert.Equal(t, []int{http.StatusNoContent}, front.droppedAnswers(), "NetSuite created the customer whose answer was lost")
	assert.Equal(t, 10, run.Fetched)
	assert.Equal(t, 10, run.Created+run.Updated, "each new Account written: %+v", run.Counts)
	assert.GreaterOrEqual(t, run.Updated, 1, "the customer made before the timeout is updated, not created again")
	assert.GreaterOrEqual(t, ns.Stats().ByRoute["PATCH record"], 1)
	byID := customersBySFDCID(ns)
	for _, id := range newIDs {
		assert.Len(t, byID[id], 1, "customers of new Account %s", id)
	}
	assertOneCustomerEach(t, ns, sf)
}

// exported returns the lines of the objects under keys, by Account Id; an Id exported
// twice fails the test.
func exported(t *testing.T, export *s3.Connector, keys []string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, k := range keys {
		lines, err := export.Read(context.Background(), k)
		require.NoError(t, err)
		for _, l := range lines {
			id, _ := l["Id"].(string)
			require.NotEmpty(t, id, "line of %s without Id: %v", k, l)
			require.NotContains(t, out, id, "Account %s exported twice (again in %s)", id, k)
			out[id] = l
		}
	}
	return out
}

// wantLine is the export line of a Salesforce Account: the mapped fields, nothing else.
func wantLine(a connectors.Record) map[string]any {
	line := map[string]any{"Id": a.ID}
	for _, f := range []string{"Name", "Phone", "Website", "Industry", "BillingCity"} {
		line[f] = a.Fields[f] // nil for a field the Account lacks (JSON null)
	}
	return line
}

// assertLines compares exported lines with the Accounts they came from; SystemModstamp
// is compared as a time, whatever its spelling.
func assertLines(t *testing.T, accounts []connectors.Record, lines map[string]map[string]any) {
	t.Helper()
	require.Len(t, lines, len(accounts))
	for _, a := range accounts {
		line, ok := lines[a.ID]
		if !assert.True(t, ok, "Account %s exported", a.ID) {
			continue
		}
		got := map[string]any{}
		for k, v := range line {
			got[k] = v
		}
		stamp, _ := got["SystemModstamp"].(string)
		delete(got, "SystemModstamp")
		at, err := salesforce.ParseDatetime(stamp)
		if assert.NoError(t, err, "SystemModstamp of %s", a.ID) {
			assert.True(t, a.UpdatedAt.Equal(at), "SystemModstamp of %s: %s, want %s", a.ID, at, a.UpdatedAt)
		}
		assert.Equal(t, wantLine(a), got, "line of %s", a.ID)
	}
}

func pick(records []connectors.Record, ids ...string) []connectors.Record {
	var out []connectors.Record
	for _, r := range records {
		for _, id := range ids {
			if r.ID == id {
				out = append(out, r)
			}
		}
	}
	return out
}

func without(keys, old []string) []string {
	seen := map[string]bool{}
	for _, k := range old {
		seen[k] = true
	}
	var out []string
	for _, k := range keys {
		if !seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// assertKeys checks that keys are run's objects under the date of the run's start.
func assertKeys(t *testing.T, keys []string, run workflows.RunSummary) {
	t.Helper()
	prefix := fmt.Sprintf("exports/%s/dt=%s/%d-", dailyExport, run.StartedAt.UTC().Format(time.DateOnly), run.Number)
	for _, k := range keys {
		assert.True(t, strings.HasPrefix(k, prefix) && strings.HasSuffix(k, ".ndjson.gz"),
			"object %s of run %d: want %s<batch>.ndjson.gz", k, run.Number, prefix)
	}
}

// TestDailyExport runs examples/salesforce-daily-export-to-s3.yaml: the backdated first
// run exports every Account once under the run's date; the next run exports, as objects
// of its own, only the Accounts changed since; a run with no change writes no object.
//
// The date in a key is the run's start on the Temporal server's clock, which a test
// cannot move to the next day: the second run's objects are told apart from the first's
// by their run number, and both runs' keys are checked against their own start dates.
func TestDailyExport(t *testing.T) {
	// The example takes credentials from the AWS SDK's default chain.
	t.Setenv("AWS_ACCESS_KEY_ID", "test-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	const bucket = "tandem-exports"
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(bucket))
	s3Srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3Srv.Close)

	clk := newClock()
	sf, sfURL := startSalesforce(t, clk)
	vars := salesforceVars(sfURL)
	for k, v := range map[string]string{
		"EXPORT_BUCKET": bucket,
		"AWS_REGION":    "us-east-1",
		"S3_ENDPOINT":   s3Srv.URL,
		"S3_PATH_STYLE": "true",
	} {
		vars[k] = v
	}
	ids := seedAccounts(sf, 0, 50)
	clk.Advance(time.Second) // the org's clock leaves the second the records were saved in
	s := startSync(t, parseExample(t, dailyExportFile, vars))
	export, ok := s.conns["s3"].(*s3.Connector)
	require.True(t, ok, "the s3 connection is an *s3.Connector")
	ctx := context.Background()
	root := "exports/" + dailyExport + "/"

	// Run 1: every Account, each exactly once, in objects of run 1 under its date.
	run1 := s.waitRun(1)
	assert.Equal(t, workflows.Counts{Fetched: 50, Created: 50}, run1.Counts)
	keys1, err := export.List(ctx, root)
	require.NoError(t, err)
	require.NotEmpty(t, keys1)
	assertKeys(t, keys1, run1)
	assertLines(t, sf.Records("Account"), exported(t, export, keys1))

	// Three Accounts change; run 2 exports those three only, in new objects.
	clk.Advance(time.Minute)
	changed := []string{ids[3], ids[17], ids[42]}
	for i, id := range changed {
		require.NoError(t, sf.Set("Account", id, map[string]any{"Phone": fmt.Sprintf("+44 20 7946 %04d", i), "BillingCity": "Leeds"}))
	}
	clk.Advance(time.Second)
	s.Signal(workflows.SignalSyncNow, nil)
	run2 := s.waitRun(2)
	assert.Equal(t, workflows.Counts{Fetched: 3, Created: 3}, run2.Counts)
	all, err := export.List(ctx, root)
	require.NoError(t, err)
	assert.Subset(t, all, keys1, "run 1's objects stay")
	keys2 := without(all, keys1)
	require.NotEmpty(t, keys2, "run 2 wrote objects of its own")
	assertKeys(t, keys2, run2)
	lines2 := exported(t, export, keys2)
	assertLines(t, pick(sf.Records("Account"), changed...), lines2)
	assert.Equal(t, "Leeds", lines2[ids[17]]["BillingCity"])

	// Run 1's objects were not rewritten: they still hold the old values.
	again := exported(t, export, keys1)
	assert.Equal(t, account(17)["BillingCity"], again[ids[17]]["BillingCity"], "run 1's object keeps what run 1 exported")

	// Run 3: nothing changed, nothing is written.
	s.Signal(workflows.SignalSyncNow, nil)
	run3 := s.waitRun(3)
	assert.Equal(t, workflows.Counts{}, run3.Counts)
	final, err := export.List(ctx, root)
	require.NoError(t, err)
	sort.Strings(all)
	assert.Equal(t, all, final, "a run with no changes writes no object")
}
