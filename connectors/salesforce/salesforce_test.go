package salesforce_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
	"tandem/connectors/memory"
	"tandem/connectors/salesforce"
	"tandem/connectors/salesforce/salesforcefake"
)

const account = "Account"

// env is a client connected to a fake org.
type env struct {
	fake   *salesforcefake.Server
	client *salesforce.Client
}

// start runs a fake org with opts and opens a client on it with the base settings
// overridden by settings (an empty value removes a setting).
func start(t *testing.T, opts salesforcefake.Options, settings connectors.Settings) env {
	t.Helper()
	return startWrapped(t, opts, nil, settings)
}

// startWrapped is start with the fake behind wrap (when not nil), so a test can see the
// requests as they arrive.
func startWrapped(t *testing.T, opts salesforcefake.Options, wrap func(http.Handler) http.Handler, settings connectors.Settings) env {
	t.Helper()
	fake := salesforcefake.New(opts)
	var h http.Handler = fake
	if wrap != nil {
		h = wrap(fake)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s := connectors.Settings{
		salesforce.SettingLoginURL:     srv.URL,
		salesforce.SettingClientID:     salesforcefake.DefaultClientID,
		salesforce.SettingClientSecret: salesforcefake.DefaultClientSecret,
		salesforce.SettingFields:       "Ext__c, NumberOfEmployees",
		// The suite writes and reads at once; holding back the open second has its own test.
		salesforce.SettingHoldBackOpenSecond: "false",
	}
	for k, v := range settings {
		if v == "" {
			delete(s, k)
		} else {
			s[k] = v
		}
	}
	cfg, err := salesforce.ParseSettings(s)
	require.NoError(t, err)
	cfg.HTTPClient = srv.Client() // closed idle connections with srv, so nothing leaks
	c, err := salesforce.New(cfg)
	require.NoError(t, err)
	return env{fake: fake, client: c}
}

// sampleAccount returns Account fields for record number i, with a unique Ext__c.
func sampleAccount(i int) map[string]any {
	c := memory.SampleCompany(i)
	return map[string]any{
		"Name":              c["name"],
		"Website":           "https://www." + c["domain"].(string),
		"Phone":             c["phone"],
		"Industry":          c["industry"],
		"NumberOfEmployees": c["employees"],
		"Ext__c":            fmt.Sprintf("TND-%06d", i),
	}
}

// fixedClock is a fake time source that moves only when told.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name      string
		precision time.Duration
		batchSize int
	}{
		// Salesforce keeps datetimes to the second: whole batches share a stamp and
		// order by Id alone.
		{"SecondStamps", time.Second, 0},
		// Finer stamps and tiny query batches, so every read follows nextRecordsUrl.
		{"MillisecondStampsSmallBatches", time.Millisecond, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			fakes := map[connectors.Connector]*salesforcefake.Server{}
			clocks := map[connectors.Connector]*connectortest.Clock{}
			connectortest.Run(t, connectortest.Driver{
				New: func(t *testing.T) connectors.Connector {
					// start, with one clock for the fake and the client (the end of a
					// delete log read), which the suite can move forward.
					clock := &connectortest.Clock{}
					fake := salesforcefake.New(salesforcefake.Options{Precision: tc.precision, BatchSize: tc.batchSize, Now: clock.Now})
					srv := httptest.NewServer(fake)
					t.Cleanup(srv.Close)
					cfg, err := salesforce.ParseSettings(connectors.Settings{
						salesforce.SettingLoginURL:     srv.URL,
						salesforce.SettingClientID:     salesforcefake.DefaultClientID,
						salesforce.SettingClientSecret: salesforcefake.DefaultClientSecret,
						salesforce.SettingFields:       "Ext__c, NumberOfEmployees",
						// The suite writes and reads at once; holding back the open second has its own test.
						salesforce.SettingHoldBackOpenSecond: "false",
					})
					require.NoError(t, err)
					cfg.HTTPClient = srv.Client() // closed idle connections with srv, so nothing leaks
					cfg.Now = clock.Now
					client, err := salesforce.New(cfg)
					require.NoError(t, err)
					mu.Lock()
					fakes[client] = fake
					clocks[client] = clock
					mu.Unlock()
					return client
				},
				Object:    account,
				KeyField:  "Ext__c",
				NewFields: sampleAccount,
				Mutate: func(f map[string]any) map[string]any {
					f["Name"] = f["Name"].(string) + " (renamed)"
					f["NumberOfEmployees"] = f["NumberOfEmployees"].(float64) + 1
					return f
				},
				Invalid: func() map[string]any { return map[string]any{"Name": "", "Ext__c": "TND-nameless"} },
				SetUpdatedAt: func(t *testing.T, c connectors.Connector, object, id string, at time.Time) {
					mu.Lock()
					fake := fakes[c]
					mu.Unlock()
					require.NoError(t, fake.SetModstamp(object, id, at))
				},
				MissingID:  salesforcefake.MakeID("001", 999_999_999),
				Resolution: tc.precision,
				// If-Unmodified-Since has whole seconds, whatever the stamps keep.
				ConditionalResolution: time.Second,
				Advance: func(t *testing.T, c connectors.Connector, d time.Duration) {
					mu.Lock()
					clock := clocks[c]
					mu.Unlock()
					clock.Advance(d)
				},
				// Get Deleted reads whole minutes, from the cursor's to the current one,
				// at least two apart, and leaves the current minute for later.
				DeleteLag: 3 * time.Minute,
			})
		})
	}
}

func TestChangesFollowsNextRecordsURL(t *testing.T) {
	ctx := context.Background()
	clock := &fixedClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	e := start(t, salesforcefake.Options{BatchSize: 4, Now: clock.Now}, nil)
	var seeded []string
	for i := range 30 {
		seeded = append(seeded, e.fake.Seed(account, sampleAccount(i)))
		if i%10 == 9 {
			clock.Add(time.Second) // three stamps, ten records each
		}
	}

	page, err := e.client.Changes(ctx, account, connectors.Cursor{}, 25)
	require.NoError(t, err)
	require.Len(t, page.Records, 25)
	assert.True(t, page.More)
	assert.Equal(t, seeded[:25], ids(page.Records), "stamp order, then Id order within a stamp")
	// LIMIT 26 in batches of 4: one query and six nextRecordsUrl reads.
	assert.Equal(t, 7, e.fake.Stats().Queries)

	last := page.Records[24]
	assert.Equal(t, "Northwind Analytics Inc", page.Records[0].Fields["Name"])
	assert.NotContains(t, page.Records[0].Fields, "attributes")
	assert.Equal(t, clock.Now().Add(-time.Second), last.UpdatedAt, "UpdatedAt is SystemModstamp")

	page, err = e.client.Changes(ctx, account, connectors.CursorOf(last), 25)
	require.NoError(t, err)
	assert.Equal(t, seeded[25:], ids(page.Records))
	assert.False(t, page.More)

	// The resume query: datetime literals unquoted, the tie broken by Id.
	queries := e.fake.Queries()
	q := queries[len(queries)-1]
	assert.Contains(t, q, fmt.Sprintf("WHERE (SystemModstamp > 2025-03-01T09:00:02Z OR (SystemModstamp = 2025-03-01T09:00:02Z AND Id > '%s'))", last.ID))
	assert.Contains(t, q, "ORDER BY SystemModstamp, Id LIMIT 26")
	assert.Regexp(t, regexp.MustCompile(`^SELECT Id, SystemModstamp, Name, Website, Phone, Industry, BillingCity, Ext__c, NumberOfEmployees FROM Account `), q)
}

func TestChangesByAnotherModstampField(t *testing.T) {
	e := start(t, salesforcefake.Options{}, connectors.Settings{salesforce.SettingModstampField: "LastModifiedDate"})
	id := e.fake.Seed(account, sampleAccount(0))
	page, err := e.client.Changes(context.Background(), account, connectors.Cursor{UpdatedAt: time.Date(2020, 1, 1, 0, 0, 0, 500_000_000, time.UTC)}, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{id}, ids(page.Records))
	queries := e.fake.Queries()
	assert.Contains(t, queries[0], "WHERE LastModifiedDate >= 2020-01-01T00:00:00.500Z ORDER BY LastModifiedDate, Id")
}

func TestUpsertByExternalID(t *testing.T) {
	ctx := context.Background()
	e := start(t, salesforcefake.Options{}, nil)
	existing := e.fake.Seed(account, map[string]any{"Name": "Acme", "Ext__c": "EXT-1", "Phone": "1"})

	// A batch goes through PATCH /composite/sobjects/Account/Ext__c.
	res, err := e.client.Upsert(ctx, account, "Ext__c", []connectors.Record{
		{Fields: map[string]any{"Name": "Acme Corp", "Ext__c": "EXT-1"}},
		{Fields: map[string]any{"Name": "Beta", "Ext__c": "EXT-2"}},
		{Fields: map[string]any{"Name": "Gamma", "Ext__c": "gamma@example.inc"}},
	})
	require.NoError(t, err)
	require.Len(t, res, 3)
	assert.Equal(t, connectors.WriteResult{ID: existing, Created: false}, res[0])
	require.NoError(t, res[1].Err)
	assert.True(t, res[1].Created)
	assert.True(t, salesforce.IsID(res[1].ID))
	require.NoError(t, res[2].Err)
	assert.True(t, res[2].Created)

	// One record with a path-safe value goes through PATCH /sobjects/Account/Ext__c/EXT-3:
	// 201 created, then 200 updated.
	res, err = e.client.Upsert(ctx, account, "Ext__c", []connectors.Record{{Fields: map[string]any{"Name": "Delta", "Ext__c": "EXT-3"}}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	assert.True(t, res[0].Created)
	delta := res[0].ID
	res, err = e.client.Upsert(ctx, account, "Ext__c", []connectors.Record{{Fields: map[string]any{"Name": "Delta 2", "Ext__c": "EXT-3"}}})
	require.NoError(t, err)
	assert.Equal(t, connectors.WriteResult{ID: delta}, res[0])

	byExt := map[string]connectors.Record{}
	for _, r := range e.fake.Records(account) {
		byExt[r.Fields["Ext__c"].(string)] = r
	}
	assert.Len(t, byExt, 4, "no duplicates")
	assert.Equal(t, map[string]any{"Name": "Acme Corp", "Ext__c": "EXT-1", "Phone": "1"}, byExt["EXT-1"].Fields,
		"an update keeps the fields it does not name, and the stored key")
	assert.Equal(t, "Delta 2", byExt["EXT-3"].Fields["Name"])
	assert.Equal(t, delta, byExt["EXT-3"].ID)
}

func TestUpsertByIDUpdatesOrCreates(t *testing.T) {
	ctx := context.Background()
	e := start(t, salesforcefake.Options{}, nil)
	id := e.fake.Seed(account, map[string]any{"Name": "Acme"})
	res, err := e.client.Upsert(ctx, account, "Id", []connectors.Record{
		{Fields: map[string]any{"Id": id, "Name": "Acme 2"}},
		{Fields: map[string]any{"Name": "New"}},
	})
	require.NoError(t, err)
	assert.Equal(t, connectors.WriteResult{ID: id}, res[0])
	assert.True(t, res[1].Created)
	assert.Len(t, e.fake.Records(account), 2)
}

func TestUpsertMultipleMatchIsAmbiguous(t *testing.T) {
	ctx := context.Background()
	e := start(t, salesforcefake.Options{}, nil)
	a := e.fake.Seed(account, map[string]any{"Name": "Dup A", "Ext__c": "DUP-1"})
	b := e.fake.Seed(account, map[string]any{"Name": "Dup B", "Ext__c": "DUP-1"})
	one := e.fake.Seed(account, map[string]any{"Name": "One", "Ext__c": "ONE-1"})
	before := e.fake.Records(account)

	// Single record: Salesforce answers 300 with the matching records.
	res, err := e.client.Upsert(ctx, account, "Ext__c", []connectors.Record{{Fields: map[string]any{"Name": "X", "Ext__c": "DUP-1"}}})
	require.NoError(t, err, "a multiple match fails the record, not the call")
	var ambiguous *connectors.AmbiguousMatchError
	require.ErrorAs(t, res[0].Err, &ambiguous)
	assert.Equal(t, "Ext__c", ambiguous.Field)
	assert.Equal(t, "DUP-1", ambiguous.Value)
	assert.ElementsMatch(t, []string{a, b}, ambiguous.IDs)
	assert.Empty(t, res[0].ID)
	assert.Equal(t, before, e.fake.Records(account), "nothing written")

	// In a collection: DUPLICATE_EXTERNAL_ID for that record, the rest written.
	res, err = e.client.Upsert(ctx, account, "Ext__c", []connectors.Record{
		{Fields: map[string]any{"Name": "X", "Ext__c": "DUP-1"}},
		{Fields: map[string]any{"Name": "One renamed", "Ext__c": "ONE-1"}},
	})
	require.NoError(t, err)
	require.ErrorAs(t, res[0].Err, &ambiguous)
	assert.ElementsMatch(t, []string{a, b}, ambiguous.IDs)
	assert.Contains(t, res[0].Err.Error(), `Ext__c="DUP-1" matches 2 records`)
	assert.Equal(t, connectors.WriteResult{ID: one}, res[1])
	for _, r := range e.fake.Records(account) {
		assert.NotEqual(t, "X", r.Fields["Name"], "no record took the ambiguous write")
	}
}

func TestExpiredSessionRefreshesOnce(t *testing.T) {
	ctx := context.Background()
	e := start(t, salesforcefake.Options{}, nil)
	e.fake.Seed(account, sampleAccount(0))

	_, err := e.client.Changes(ctx, account, connectors.Cursor{}, 10)
	require.NoError(t, err)
	require.Equal(t, 1, e.fake.Stats().TokenRequests)

	e.fake.ExpireTokens()
	page, err := e.client.Changes(ctx, account, connectors.Cursor{}, 10)
	require.NoError(t, err, "401 INVALID_SESSION_ID, a new token, the same call again")
	assert.Len(t, page.Records, 1)
	stats := e.fake.Stats()
	assert.Equal(t, 2, stats.TokenRequests, "exactly one token request more")
	assert.Equal(t, 1, stats.Unauthorized)

	// Concurrent calls that all meet the expired session share one refresh.
	e.fake.ExpireTokens()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = e.client.Get(ctx, account, []string{page.Records[0].ID}) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 3, e.fake.Stats().TokenRequests)

	// A session refused again after the refresh is an auth error, not a retry loop.
	e.fake.FailNext(2, 401)
	_, err = e.client.Changes(ctx, account, connectors.Cursor{}, 10)
	var auth *connectors.AuthError
	require.ErrorAs(t, err, &auth)
	assert.Contains(t, err.Error(), "INVALID_SESSION_ID")
	assert.Equal(t, 4, e.fake.Stats().TokenRequests)
}

func TestRefusedCredentialsAreAuthErrors(t *testing.T) {
	e := start(t, salesforcefake.Options{}, connectors.Settings{salesforce.SettingClientSecret: "wrong"})
	_, err := e.client.Get(context.Background(), account, []string{salesforcefake.MakeID("001", 1)})
	var auth *connectors.AuthError
	require.ErrorAs(t, err, &auth)
	assert.Contains(t, err.Error(), "invalid_client")
	assert.Contains(t, err.Error(), "client_id and client_secret")
}

func TestJWTBearerGrant(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	// As an environment variable often carries it: line breaks written as \n.
	pemText := strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "\n", `\n`)
	settings := connectors.Settings{
		salesforce.SettingGrant:        salesforce.GrantJWT,
		salesforce.SettingClientSecret: "",
		salesforce.SettingUsername:     salesforcefake.DefaultUsername,
		salesforce.SettingPrivateKey:   pemText,
		salesforce.SettingJWTAudience:  "https://login.salesforce.com",
	}
	opts := salesforcefake.Options{JWTPublicKey: &key.PublicKey, Audience: "https://login.salesforce.com"}

	e := start(t, opts, settings)
	res, err := e.client.Create(context.Background(), account, []connectors.Record{{Fields: sampleAccount(0)}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	assert.Equal(t, 1, e.fake.Stats().TokenRequests)

	settings[salesforce.SettingUsername] = "someone.else@tandem.example"
	e = start(t, opts, settings)
	_, err = e.client.Create(context.Background(), account, []connectors.Record{{Fields: sampleAccount(0)}})
	var auth *connectors.AuthError
	require.ErrorAs(t, err, &auth)
	assert.Contains(t, err.Error(), "invalid_grant")
	assert.Empty(t, e.fake.Records(account))

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	opts.JWTPublicKey = &other.PublicKey
	settings[salesforce.SettingUsername] = salesforcefake.DefaultUsername
	e = start(t, opts, settings)
	_, err = e.client.Create(context.Background(), account, []connectors.Record{{Fields: sampleAccount(0)}})
	require.ErrorAs(t, err, &auth)
	assert.Contains(t, err.Error(), "signature")
}

func TestRequestLimitExceededPauses(t *testing.T) {
	ctx := context.Background()
	e := start(t, salesforcefake.Options{DailyLimit: 3}, connectors.Settings{salesforce.SettingLimitRetryAfter: "90m"})
	_, _, ok := e.client.APIUsage()
	assert.False(t, ok, "no usage before the first answer")

	for range 3 {
		_, err := e.client.Changes(ctx, account, connectors.Cursor{}, 10)
		require.NoError(t, err)
	}
	used, limit, ok := e.client.APIUsage()
	require.True(t, ok)
	assert.Equal(t, 3, used)
	assert.Equal(t, 3, limit)

	_, err := e.client.Changes(ctx, account, connectors.Cursor{}, 10)
	var limited *connectors.RateLimitedError
	require.ErrorAs(t, err, &limited)
	assert.Equal(t, 90*time.Minute, limited.RetryAfter)
	assert.Contains(t, err.Error(), "REQUEST_LIMIT_EXCEEDED")
	assert.Contains(t, err.Error(), "api-usage 3/3")
	assert.Equal(t, map[string]string{"api-usage": "3/3"}, e.client.Usage())
	assert.Equal(t, 1, e.fake.Stats().LimitExceeded)

	// The default pause.
	e = start(t, salesforcefake.Options{DailyLimit: 1}, nil)
	e.fake.SetAPIUsage(1)
	_, err = e.client.Get(ctx, account, []string{salesforcefake.MakeID("001", 1)})
	require.ErrorAs(t, err, &limited)
	assert.Equal(t, salesforce.DefaultLimitRetryAfter, limited.RetryAfter)
}

func TestUsageForStatus(t *testing.T) {
	e := start(t, salesforcefake.Options{}, nil)
	var status interface{ Usage() map[string]string } = e.client // the optional interface the engine asks for
	assert.Empty(t, status.Usage())
	_, err := e.client.Changes(context.Background(), account, connectors.Cursor{}, 1)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"api-usage": "1/100000"}, status.Usage())
}

// TestErrorMessages: Salesforce's error bodies become typed errors whose messages name the
// object, the record and the field.
func TestErrorMessages(t *testing.T) {
	ctx := context.Background()
	e := start(t, salesforcefake.Options{Schema: map[string][]string{
		"Contact": {"FirstName", "LastName", "Email", "Phone", "AccountId", "Ext__c"},
	}}, connectors.Settings{salesforce.SettingFields: "Ext__c, Contact:Nickname__c"})
	acme := e.fake.Seed(account, map[string]any{"Name": "Acme", "Ext__c": "ACME"})

	t.Run("per record", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			write      func() ([]connectors.WriteResult, error)
			record     string
			field      string
			inMessages []string
		}{
			{
				name: "create without a required field",
				write: func() ([]connectors.WriteResult, error) {
					return e.client.Create(ctx, account, []connectors.Record{{Fields: map[string]any{"Phone": "1"}}})
				},
				record: "new Account #1 of the batch", field: "Name",
				inMessages: []string{"REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]"},
			},
			{
				name: "update of a read-only field",
				write: func() ([]connectors.WriteResult, error) {
					return e.client.Update(ctx, account, []connectors.Record{{ID: acme, Fields: map[string]any{"SystemModstamp": "2020-01-01T00:00:00Z"}}})
				},
				record: "Account " + acme, field: "SystemModstamp",
				inMessages: []string{"INVALID_FIELD_FOR_INSERT_UPDATE"},
			},
			{
				name: "single upsert clearing a required field",
				write: func() ([]connectors.WriteResult, error) {
					return e.client.Upsert(ctx, account, "Ext__c", []connectors.Record{{Fields: map[string]any{"Name": "", "Ext__c": "ACME"}}})
				},
				record: "Account Ext__c=ACME", field: "Name",
				inMessages: []string{"REQUIRED_FIELD_MISSING"},
			},
			{
				name: "collection upsert without a key value",
				write: func() ([]connectors.WriteResult, error) {
					return e.client.Upsert(ctx, account, "Ext__c", []connectors.Record{
						{Fields: map[string]any{"Name": "Keyless"}}, {Fields: map[string]any{"Name": "B", "Ext__c": "B"}},
					})
				},
				record: "Account #1 of the batch", field: "Ext__c",
				inMessages: []string{"no value for the upsert key Ext__c"},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, err := tc.write()
				require.NoError(t, err)
				var invalid *connectors.InvalidRecordError
				require.ErrorAs(t, res[0].Err, &invalid)
				assert.Equal(t, tc.record, invalid.Record)
				assert.Equal(t, tc.field, invalid.Field)
				msg := res[0].Err.Error()
				assert.Contains(t, msg, tc.record)
				assert.Contains(t, msg, "(field "+tc.field+")")
				for _, s := range tc.inMessages {
					assert.Contains(t, msg, s)
				}
			})
		}
	})

	t.Run("whole call", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			call       func() error
			is         func(error) bool
			inMessages []string
		}{
			{
				name: "unknown object",
				call: func() error {
					_, err := e.client.Changes(ctx, "Acount", connectors.Cursor{}, 10)
					return err
				},
				is:         func(err error) bool { return errors.Is(err, connectors.ErrNotFound) },
				inMessages: []string{"Acount", "INVALID_TYPE"},
			},
			{
				name: "field the object does not have",
				call: func() error {
					_, err := e.client.Changes(ctx, "Contact", connectors.Cursor{}, 10)
					return err
				},
				is:         func(err error) bool { return errors.Is(err, connectors.ErrNotFound) },
				inMessages: []string{"Contact", "Nickname__c", "INVALID_FIELD"},
			},
			{
				name: "upsert key that is not an external id (single)",
				call: func() error {
					_, err := e.client.Upsert(ctx, account, "Phone", []connectors.Record{{Fields: map[string]any{"Name": "A", "Phone": "5550100"}}})
					return err
				},
				is:         func(err error) bool { return errors.Is(err, connectors.ErrNotFound) },
				inMessages: []string{"Account Phone=5550100", "Phone"},
			},
			{
				name: "upsert key that is not an external id (collection)",
				call: func() error {
					_, err := e.client.Upsert(ctx, account, "Phone", []connectors.Record{
						{Fields: map[string]any{"Name": "A", "Phone": "1"}}, {Fields: map[string]any{"Name": "B", "Phone": "2"}},
					})
					return err
				},
				is:         func(err error) bool { return errors.Is(err, connectors.ErrNotFound) },
				inMessages: []string{"upsert 2 Account records by Phone", "not an External ID"},
			},
			{
				name: "server error",
				call: func() error {
					e.fake.FailNext(1, 503)
					_, err := e.client.Get(ctx, account, []string{acme})
					return err
				},
				is: func(err error) bool {
					var nf *connectors.NotFoundError
					var inv *connectors.InvalidRecordError
					var auth *connectors.AuthError
					var rl *connectors.RateLimitedError
					return !errors.As(err, &nf) && !errors.As(err, &inv) && !errors.As(err, &auth) && !errors.As(err, &rl)
				},
				inMessages: []string{"503", "SERVER_UNAVAILABLE", "get 1 Account records"},
			},
			{
				name: "batch over the limit",
				call: func() error {
					_, err := e.client.Create(ctx, account, make([]connectors.Record, 201))
					return err
				},
				is: func(err error) bool {
					var inv *connectors.InvalidRecordError
					return errors.As(err, &inv)
				},
				inMessages: []string{"201", "limit of 200"},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				require.Error(t, err)
				assert.True(t, tc.is(err), "error of the wrong type: %T %v", err, err)
				for _, s := range tc.inMessages {
					assert.Contains(t, err.Error(), s)
				}
			})
		}
	})
}

func TestUpdateOfMissingRecord(t *testing.T) {
	for _, code := range []string{"INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED"} {
		t.Run(code, func(t *testing.T) {
			e := start(t, salesforcefake.Options{MissingIDCode: code}, nil)
			missing := salesforcefake.MakeID("001", 77)
			res, err := e.client.Update(context.Background(), account, []connectors.Record{
				{ID: missing, Fields: map[string]any{"Name": "X"}},
				{ID: "not-an-id", Fields: map[string]any{"Name": "X"}},
			})
			require.NoError(t, err)
			for _, r := range res {
				assert.ErrorIs(t, r.Err, connectors.ErrNotFound)
			}
			assert.Contains(t, res[0].Err.Error(), "Account "+missing)
		})
	}
}

func TestGetSkipsMalformedIDs(t *testing.T) {
	e := start(t, salesforcefake.Options{}, nil)
	id := e.fake.Seed(account, sampleAccount(0))
	// The fake, like Salesforce, refuses a query naming a malformed id; the client never
	// sends one. The 15-character form of an id finds the record too.
	got, err := e.client.Get(context.Background(), account, []string{"tandem-missing-id", id[:15], id})
	require.NoError(t, err)
	assert.Equal(t, []string{id}, ids(got))
}

func TestFindEscapesAndChunks(t *testing.T) {
	ctx := context.Background()
	e := start(t, salesforcefake.Options{}, nil)
	quote := e.fake.Seed(account, map[string]any{"Name": `O'Brien "Ltd" \ Sons`, "Ext__c": "Q"})
	plain := e.fake.Seed(account, map[string]any{"Name": "Plain", "Ext__c": "P"})

	found, err := e.client.Find(ctx, account, "Name", []string{`O'Brien "Ltd" \ Sons`, "plain", `' OR Name != '`})
	require.NoError(t, err)
	assert.Equal(t, []string{quote}, ids(found[`O'Brien "Ltd" \ Sons`]))
	assert.Equal(t, []string{plain}, ids(found["plain"]), "SOQL compares strings without case")
	assert.Len(t, found, 2, "an injected condition is a value like any other")

	// 2,000 values of 40 characters cannot share one URL.
	values := make([]string, 2000)
	for i := range values {
		values[i] = fmt.Sprintf("EXT-%036d", i)
	}
	values[1500] = "P"
	before := e.fake.Stats().Queries
	found, err = e.client.Find(ctx, account, "Ext__c", values)
	require.NoError(t, err)
	assert.Equal(t, []string{plain}, ids(found["P"]))
	assert.Len(t, found, 1)
	assert.Greater(t, e.fake.Stats().Queries-before, 4)
	assert.Less(t, e.fake.Stats().LongestURL, 16384)

	// Find by "id" is by the record's Id.
	found, err = e.client.Find(ctx, account, "id", []string{plain[:15], "nope"})
	require.NoError(t, err)
	assert.Equal(t, []string{plain}, ids(found[plain[:15]]))
}

func TestFindNormalizedDomains(t *testing.T) {
	e := start(t, salesforcefake.Options{}, nil)
	acme := e.fake.Seed(account, map[string]any{"Name": "Acme", "Website": "https://www.Acme.com/"})
	beta := e.fake.Seed(account, map[string]any{"Name": "Beta", "Website": "beta.example"})
	e.fake.Seed(account, map[string]any{"Name": "Evil", "Website": "https://acme.com.evil.example"})
	normalize := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
		return strings.TrimSuffix(strings.TrimPrefix(s, "www."), "/")
	}
	found, err := e.client.FindNormalized(context.Background(), account, "Website", []string{"acme.com", "beta.example", "gamma.example"}, connectors.KeyNormalizer{Name: "domain", Apply: normalize})
	require.NoError(t, err)
	assert.Equal(t, []string{acme}, ids(found["acme.com"]))
	assert.Equal(t, []string{beta}, ids(found["beta.example"]))
	assert.Len(t, found, 2)
}

func TestSettings(t *testing.T) {
	base := func() connectors.Settings {
		return connectors.Settings{salesforce.SettingClientID: "id", salesforce.SettingClientSecret: "secret"}
	}
	c, err := salesforce.Factory("crm", base())
	require.NoError(t, err)
	assert.Equal(t, connectors.Info{Type: "salesforce", MaxBatch: 200, NativeUpsert: true}, c.Info())

	cfg, err := salesforce.ParseSettings(base())
	require.NoError(t, err)
	assert.Equal(t, "https://login.salesforce.com", cfg.LoginURL)
	assert.Equal(t, "v62.0", cfg.APIVersion)
	assert.Equal(t, "SystemModstamp", cfg.ModstampField)
	assert.Equal(t, time.Hour, cfg.LimitRetryAfter)
	assert.Equal(t, salesforce.GrantClientCredentials, cfg.Grant)

	cfg, err = salesforce.ParseSettings(connectors.Settings{
		salesforce.SettingClientID: "id", salesforce.SettingClientSecret: "s", salesforce.SettingAPIVersion: "61.0",
		salesforce.SettingFields: "Ext__c, Account:Region__c, Owner.Name",
	})
	require.NoError(t, err)
	assert.Equal(t, "v61.0", cfg.APIVersion)
	assert.Equal(t, map[string][]string{"": {"Ext__c", "Owner.Name"}, "Account": {"Region__c"}}, cfg.Fields)

	for _, tc := range []struct {
		change connectors.Settings
		want   string
	}{
		{connectors.Settings{salesforce.SettingClientID: ""}, "setting client_id: required"},
		{connectors.Settings{salesforce.SettingClientSecret: ""}, "setting client_secret: required"},
		{connectors.Settings{salesforce.SettingGrant: "password"}, "setting grant"},
		{connectors.Settings{salesforce.SettingGrant: "jwt"}, "setting username: required"},
		{connectors.Settings{salesforce.SettingGrant: "jwt", salesforce.SettingUsername: "u"}, "setting private_key: required"},
		{connectors.Settings{salesforce.SettingPrivateKey: "not a key"}, "setting private_key: no PEM block"},
		{connectors.Settings{salesforce.SettingAPIVersion: "v40.0"}, "setting api_version: v40.0 is too old"},
		{connectors.Settings{salesforce.SettingAPIVersion: "latest"}, "setting api_version"},
		{connectors.Settings{salesforce.SettingLoginURL: "login.salesforce.com"}, "setting login_url"},
		{connectors.Settings{salesforce.SettingInstanceURL: "ftp://x"}, "setting instance_url"},
		{connectors.Settings{salesforce.SettingLimitRetryAfter: "soon"}, "setting limit_retry_after"},
		{connectors.Settings{salesforce.SettingQueryBatchSize: "50"}, "setting query_batch_size"},
		{connectors.Settings{salesforce.SettingFields: "Name; DROP"}, "setting fields"},
		{connectors.Settings{salesforce.SettingFields: "1Account:Name"}, "setting fields"},
		{connectors.Settings{salesforce.SettingModstampField: "System Modstamp"}, "setting modstamp_field"},
		{connectors.Settings{"token": "x"}, `unknown setting "token"`},
	} {
		s := base()
		for k, v := range tc.change {
			if v == "" {
				delete(s, k)
			} else {
				s[k] = v
			}
		}
		_, err := salesforce.Factory("crm", s)
		if assert.Error(t, err, "%v", tc.change) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
}

func TestInstanceURLOverride(t *testing.T) {
	fake := salesforcefake.New(salesforcefake.Options{InstanceURL: "http://127.0.0.1:1"}) // nothing listens there
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := salesforce.New(salesforce.Config{
		LoginURL: srv.URL, ClientID: salesforcefake.DefaultClientID, ClientSecret: salesforcefake.DefaultClientSecret,
		InstanceURL: srv.URL, HTTPClient: srv.Client(),
	})
	require.NoError(t, err)
	_, err = c.Changes(context.Background(), account, connectors.Cursor{}, 1)
	require.NoError(t, err, "the setting wins over the token answer's instance_url")
}

func TestQueryBatchSizeHeader(t *testing.T) {
	e := start(t, salesforcefake.Options{}, connectors.Settings{salesforce.SettingQueryBatchSize: "200"})
	for i := range 450 {
		e.fake.Seed(account, sampleAccount(i))
	}
	page, err := e.client.Changes(context.Background(), account, connectors.Cursor{}, 1000)
	require.NoError(t, err)
	assert.Len(t, page.Records, 450)
	assert.Equal(t, 3, e.fake.Stats().Queries, "batches of 200")
}

func TestLatencyHonoursContext(t *testing.T) {
	e := start(t, salesforcefake.Options{}, nil)
	e.fake.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := e.client.Changes(ctx, account, connectors.Cursor{}, 1)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func ids(recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// An Account saved in the same second as the last one read, with a smaller Id, would sort
// before a cursor placed on that record: the open second is held back until it is over.
func TestChangesHoldsBackTheOpenSecond(t *testing.T) {
	ctx := context.Background()
	clock := &fixedClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	e := start(t, salesforcefake.Options{Now: clock.Now}, connectors.Settings{salesforce.SettingHoldBackOpenSecond: ""})
	early := e.fake.Seed(account, sampleAccount(0))
	clock.Add(time.Second)
	first := e.fake.Seed(account, sampleAccount(1))
	second := e.fake.Seed(account, sampleAccount(2))

	// 09:00:01 is still the org's current second: only the 09:00:00 record is read.
	page, err := e.client.Changes(ctx, account, connectors.Cursor{}, 100)
	require.NoError(t, err)
	require.Equal(t, []string{early}, ids(page.Records))
	cursor := connectors.CursorOf(page.Records[0])

	// Later in the same second, an Account with an Id before the others is saved.
	require.NoError(t, e.fake.Set(account, first, map[string]any{"Phone": "+1 555 0100"}))
	clock.Add(time.Second)
	page, err = e.client.Changes(ctx, account, cursor, 100)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{first, second}, ids(page.Records), "every record of the second, once it is over")
}

func TestReadFieldsAddsMappedFieldsToTheQuery(t *testing.T) {
	ctx := context.Background()
	e := start(t, salesforcefake.Options{}, nil)
	f := sampleAccount(0)
	f["Rating"] = "Hot"
	e.fake.Seed(account, f)

	page, err := e.client.Changes(ctx, account, connectors.Cursor{}, 10)
	require.NoError(t, err)
	require.Len(t, page.Records, 1)
	assert.NotContains(t, page.Records[0].Fields, "Rating", "not in the default set")

	e.client.ReadFields(account, []string{"Id", "Rating"})
	page, err = e.client.Changes(ctx, account, connectors.Cursor{}, 10)
	require.NoError(t, err)
	assert.Equal(t, "Hot", page.Records[0].Fields["Rating"], "a mapped field is read")
}
