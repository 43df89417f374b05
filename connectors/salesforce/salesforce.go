// Package salesforce is Tandem's connector for the Salesforce REST API, a thin hand-written
// client over net/http:
//
//   - OAuth 2.0 tokens from {login_url}/services/oauth2/token, by the client credentials
//     grant or the JWT bearer grant, with one refresh and one retry when Salesforce answers
//     401 INVALID_SESSION_ID;
//   - changes through SOQL on SystemModstamp, with Id as the tie-break, following
//     nextRecordsUrl;
//   - lookups through SOQL IN lists (Get by Id, Find by any field);
//   - writes through sObject Collections, 200 records a call, per-record results in request
//     order, upsert by external id; conditional updates (UpdateIfUnchanged) through one
//     PATCH of the record with If-Unmodified-Since each;
//   - deletions read from the delete log (sObject Get Deleted), every live id listed through
//     SOQL for a full diff, and records deleted through sObject Collections (deletes.go);
//   - the Sforce-Limit-Info usage of every answer (Usage), and REQUEST_LIMIT_EXCEEDED as a
//     rate limit that pauses the sync instead of failing it;
//   - ParseOutboundMessage for the SOAP bodies of Outbound Messages (real-time changes).
//
// The API facts come from shared/api-notes.md, section 3. Where the notes mark a behaviour
// as inferred and unverified ([INF]) the code says so, and the behaviour is a setting.
// salesforcefake beside this package is a local server that speaks the same wire format.
package salesforce

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"tandem/connectors"
	"tandem/connectors/httpx"
	"tandem/connectors/settings"
)

// Type is the connection type the lead registers Factory under.
const Type = "salesforce"

// Settings a salesforce connection accepts.
const (
	SettingLoginURL        = "login_url"
	SettingGrant           = "grant"
	SettingClientID        = "client_id"
	SettingClientSecret    = "client_secret"
	SettingUsername        = "username"
	SettingPrivateKey      = "private_key"
	SettingJWTAudience     = "jwt_audience"
	SettingAPIVersion      = "api_version"
	SettingInstanceURL     = "instance_url"
	SettingModstampField   = "modstamp_field"
	SettingFields          = "fields"
	SettingLimitRetryAfter = "limit_retry_after"
	SettingQueryBatchSize  = "query_batch_size"
	// SettingHoldBackOpenSecond ("true" by default) leaves out of Changes the records of
	// the second the org's clock is still in; see connectors.HoldBackOpenSecond.
	SettingHoldBackOpenSecond = "hold_back_open_second"
	// SettingOrganizationID is read by ParseOutboundMessage's caller (the webhook ingress,
	// through Webhooks), not by the connector: Outbound Messages carry no signature, so the
	// organization id is what they are checked against.
	SettingOrganizationID = "organization_id"
)

// Grants.
const (
	GrantClientCredentials = "client_credentials"
	GrantJWT               = "jwt"
)

// Defaults.
const (
	DefaultLoginURL      = "https://login.salesforce.com"
	DefaultAPIVersion    = "v62.0"
	DefaultModstampField = "SystemModstamp"
	// DefaultLimitRetryAfter is how long a sync pauses after REQUEST_LIMIT_EXCEEDED. [INF]:
	// Salesforce's daily allocation is a rolling 24-hour window and the answer does not say
	// when calls free up, so this is a guess; limit_retry_after overrides it.
	DefaultLimitRetryAfter = time.Hour
	// MaxBatch is the most records one sObject Collections call takes [doc].
	MaxBatch = 200
)

// defaultFields are the fields read from well-known objects besides the `fields` setting.
// Any other object reads Id and the modstamp field plus the setting's fields.
var defaultFields = map[string][]string{
	"Account":     {"Id", "Name", "Website", "Phone", "Industry", "BillingCity"},
	"Contact":     {"Id", "FirstName", "LastName", "Email", "Phone", "AccountId"},
	"Lead":        {"Id", "FirstName", "LastName", "Company", "Email", "Phone", "Website"},
	"Opportunity": {"Id", "Name", "StageName", "CloseDate", "Amount", "AccountId"},
}

// Config configures a Client. ParseSettings builds one from a connection's settings;
// programs and tests may fill it directly.
type Config struct {
	LoginURL     string
	Grant        string // GrantClientCredentials or GrantJWT
	ClientID     string
	ClientSecret string
	Username     string
	PrivateKey   *rsa.PrivateKey
	// JWTAudience is the assertion's aud; empty means LoginURL. Salesforce documents
	// https://login.salesforce.com or https://test.salesforce.com here even for orgs that
	// log in through a My Domain, hence the separate setting.
	JWTAudience string
	APIVersion  string // "v62.0"
	// InstanceURL, when set, is used instead of the instance_url of the token answer.
	InstanceURL   string
	ModstampField string
	// Fields are extra fields to read, by object; the key "" holds fields for every object.
	Fields map[string][]string
	// LimitRetryAfter is the RetryAfter of the RateLimitedError for REQUEST_LIMIT_EXCEEDED.
	LimitRetryAfter time.Duration
	// QueryBatchSize, when non-zero, is sent as Sforce-Query-Options: batchSize=N.
	QueryBatchSize int
	// ReadOpenSecond turns holding back the org's current second off (it is on by
	// default; see SettingHoldBackOpenSecond).
	ReadOpenSecond bool
	// HTTPClient sends every request; default a client with a 2-minute timeout.
	HTTPClient *http.Client
	// Now is the clock for JWT assertions and for the end of a delete log read; default
	// time.Now.
	Now func() time.Time
}

var (
	identRE      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	fieldPathRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$`)
	apiVersionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)$`)
)

// Spec declares every setting a salesforce connection accepts; unknown settings are
// refused.
var Spec = &settings.Spec[Config]{Type: Type, Check: (*Config).check, Settings: []settings.Setting[Config]{
	{Name: SettingLoginURL, Default: DefaultLoginURL, Doc: "OAuth server (https://test.salesforce.com for sandboxes, or a My Domain)",
		Set: settings.String(func(c *Config) *string { return &c.LoginURL })},
	{Name: SettingGrant, Default: GrantClientCredentials, Doc: "`client_credentials` or `jwt` (the JWT bearer grant)",
		Set: settings.OneOf([]string{GrantClientCredentials, GrantJWT}, func(c *Config) *string { return &c.Grant })},
	{Name: SettingClientID, Doc: "connected app's consumer key (required)",
		Set: settings.String(func(c *Config) *string { return &c.ClientID })},
	{Name: SettingClientSecret, Secret: true, Doc: "connected app's consumer secret (client_credentials)",
		Set: settings.String(func(c *Config) *string { return &c.ClientSecret })},
	{Name: SettingUsername, Doc: "user the JWT bearer grant logs in as (jwt)",
		Set: settings.String(func(c *Config) *string { return &c.Username })},
	{Name: SettingPrivateKey, Secret: true, Doc: "PEM RSA private key that signs the JWT assertion (jwt); `\\n` escapes allowed",
		Set: func(c *Config, v string) error {
			key, err := ParsePrivateKey(v)
			if err != nil {
				return err
			}
			c.PrivateKey = key
			return nil
		}},
	{Name: SettingJWTAudience, Doc: "aud claim of the JWT assertion (default login_url)",
		Set: settings.String(func(c *Config) *string { return &c.JWTAudience })},
	{Name: SettingAPIVersion, Default: DefaultAPIVersion, Doc: "REST API version, v46.0 or later",
		Set: settings.String(func(c *Config) *string { return &c.APIVersion })},
	{Name: SettingInstanceURL, Doc: "API base URL (default the instance_url of the token answer)",
		Set: settings.String(func(c *Config) *string { return &c.InstanceURL })},
	{Name: SettingModstampField, Default: DefaultModstampField, Doc: "field changes are read by",
		Set: settings.String(func(c *Config) *string { return &c.ModstampField })},
	{Name: SettingFields, Doc: "extra fields to read, comma separated; `Object:Field` for one object only",
		Set: func(c *Config, v string) error {
			fields, err := parseFieldsSetting(v)
			if err != nil {
				return fmt.Errorf("has %w", err)
			}
			c.Fields = fields
			return nil
		}},
	{Name: SettingLimitRetryAfter, Default: settings.DurationText(DefaultLimitRetryAfter), Doc: "pause after REQUEST_LIMIT_EXCEEDED (the daily allocation is a rolling 24 hours) [INF]",
		Set: settings.Duration(time.Nanosecond, func(c *Config) *time.Duration { return &c.LimitRetryAfter })},
	{Name: SettingQueryBatchSize, Doc: "Sforce-Query-Options batchSize, 200 to 2000 (default: not sent)",
		Set: settings.Int(200, 2000, func(c *Config) *int { return &c.QueryBatchSize })},
	{Name: SettingHoldBackOpenSecond, Default: "true", Doc: "read the records of the current second only once it is over, so a record saved later in that second is not missed",
		Set: settings.NotBool(func(c *Config) *bool { return &c.ReadOpenSecond })},
	{Name: SettingOrganizationID, Doc: "18-character org id Outbound Messages must carry (they have no signature); read by the webhook ingress"},
}}

// ParseSettings turns a connection's settings into a Config. Every error names the setting.
func ParseSettings(given connectors.Settings) (Config, error) { return Spec.Config(given) }

// check fills defaults and validates cfg; errors name the setting.
func (cfg *Config) check() error {
	if cfg.LoginURL == "" {
		cfg.LoginURL = DefaultLoginURL
	}
	cfg.LoginURL = strings.TrimRight(cfg.LoginURL, "/")
	if err := checkURL(cfg.LoginURL); err != nil {
		return fmt.Errorf("setting %s: %w", SettingLoginURL, err)
	}
	if cfg.InstanceURL != "" {
		cfg.InstanceURL = strings.TrimRight(cfg.InstanceURL, "/")
		if err := checkURL(cfg.InstanceURL); err != nil {
			return fmt.Errorf("setting %s: %w", SettingInstanceURL, err)
		}
	}
	if cfg.Grant == "" {
		cfg.Grant = GrantClientCredentials
	}
	if cfg.ClientID == "" {
		return fmt.Errorf("setting %s: required (the connected app's consumer key)", SettingClientID)
	}
	switch cfg.Grant {
	case GrantClientCredentials:
		if cfg.ClientSecret == "" {
			return fmt.Errorf("setting %s: required when %s is %s", SettingClientSecret, SettingGrant, GrantClientCredentials)
		}
	case GrantJWT:
		if cfg.Username == "" {
			return fmt.Errorf("setting %s: required when %s is %s", SettingUsername, SettingGrant, GrantJWT)
		}
		if cfg.PrivateKey == nil {
			return fmt.Errorf("setting %s: required when %s is %s (PEM RSA private key)", SettingPrivateKey, SettingGrant, GrantJWT)
		}
	default:
		return fmt.Errorf("setting %s: %q is not %s or %s", SettingGrant, cfg.Grant, GrantClientCredentials, GrantJWT)
	}
	if cfg.JWTAudience == "" {
		cfg.JWTAudience = cfg.LoginURL
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	m := apiVersionRE.FindStringSubmatch(cfg.APIVersion)
	if m == nil {
		return fmt.Errorf("setting %s: %q is not a version like %s", SettingAPIVersion, cfg.APIVersion, DefaultAPIVersion)
	}
	// Collections upsert exists from v46.0 on, and single-record upserts answer updates
	// with a body (not 204) from v46.0 on [doc; api-notes 3(e)].
	if major, _ := strconv.Atoi(m[1]); major < 46 {
		return fmt.Errorf("setting %s: %s is too old; sObject Collections upsert needs v46.0 or later", SettingAPIVersion, cfg.APIVersion)
	}
	cfg.APIVersion = "v" + m[1] + "." + m[2]
	if cfg.ModstampField == "" {
		cfg.ModstampField = DefaultModstampField
	}
	if !identRE.MatchString(cfg.ModstampField) {
		return fmt.Errorf("setting %s: %q is not a field name", SettingModstampField, cfg.ModstampField)
	}
	if cfg.LimitRetryAfter <= 0 {
		cfg.LimitRetryAfter = DefaultLimitRetryAfter
	}
	if cfg.QueryBatchSize != 0 && (cfg.QueryBatchSize < 200 || cfg.QueryBatchSize > 2000) {
		return fmt.Errorf("setting %s: %d is outside 200-2000", SettingQueryBatchSize, cfg.QueryBatchSize)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// parseFieldsSetting reads "Ext__c, Account:Region__c": a plain name is read from every
// object, Object:Field from that object only.
func parseFieldsSetting(v string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		object, field, scoped := strings.Cut(item, ":")
		if !scoped {
			object, field = "", item
		}
		object, field = strings.TrimSpace(object), strings.TrimSpace(field)
		if scoped && !identRE.MatchString(object) {
			return nil, fmt.Errorf("%q: %q is not an object name", item, object)
		}
		if !fieldPathRE.MatchString(field) {
			return nil, fmt.Errorf("%q: %q is not a field name", item, field)
		}
		out[object] = append(out[object], field)
	}
	return out, nil
}

// ParsePrivateKey reads a PEM RSA private key (PKCS#1 or PKCS#8). A key whose line breaks
// were written as the two characters \n (as environment variables often carry them) is
// accepted too.
func ParsePrivateKey(pemText string) (*rsa.PrivateKey, error) {
	if !strings.Contains(pemText, "\n") {
		pemText = strings.ReplaceAll(pemText, `\n`, "\n")
	}
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("no PEM block (want -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)")
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an RSA private key: %v", err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is a %T; the JWT bearer grant signs with RS256 and needs an RSA key", parsed)
	}
	return key, nil
}

// Client is a connection to one Salesforce org. It implements connectors.Connector,
// connectors.NormalizingFinder, connectors.ConditionalUpdater, connectors.DeleteReader,
// connectors.IDLister and connectors.Deleter, and is safe for concurrent use.
type Client struct {
	cfg    Config
	http   *http.Client
	tokens *httpx.Tokens
	api    *httpx.Client

	usageMu sync.Mutex
	usage   map[string]string
	// server is the org's clock as its last answer's Date header gave it.
	server httpx.ServerClock

	// selected are the fields the syncs map, by lower-cased object (ReadFields).
	selectedMu sync.Mutex
	selected   map[string][]string
}

// ReadFields implements connectors.FieldSelector: the fields are read from object too.
func (c *Client) ReadFields(object string, fields []string) {
	c.selectedMu.Lock()
	defer c.selectedMu.Unlock()
	if c.selected == nil {
		c.selected = map[string][]string{}
	}
	k := strings.ToLower(object)
	c.selected[k] = append(c.selected[k], fields...)
}

var (
	_ connectors.Connector                   = (*Client)(nil)
	_ connectors.NormalizingFinder           = (*Client)(nil)
	_ connectors.ConditionalUpdater          = (*Client)(nil)
	_ connectors.DeleteReader                = (*Client)(nil)
	_ connectors.IDLister                    = (*Client)(nil)
	_ connectors.Deleter                     = (*Client)(nil)
	_ interface{ Usage() map[string]string } = (*Client)(nil)
)

// Factory opens a salesforce connection from its settings; the lead registers it under
// Type. No request is made until the first call.
var Factory = connectors.Opener(ParseSettings, New)

// New returns a client for cfg, filling its defaults.
func New(cfg Config) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	c := &Client{cfg: cfg, http: hc, usage: map[string]string{}}
	c.tokens = c.newTokens()
	c.api = &httpx.Client{
		HTTP: hc,
		Auth: c.tokens,
		// A 429 is returned at once; the activity layer waits out its Retry-After.
		Policy:     httpx.Policy{MaxAttempts: 1},
		OnResponse: c.observe,
		Now:        cfg.Now,
	}
	return c, nil
}

// Info implements connectors.Connector: sObject Collections take 200 records a call, and
// upsert by external id is native.
func (c *Client) Info() connectors.Info {
	return connectors.Info{Type: Type, MaxBatch: MaxBatch, NativeUpsert: true}
}

// Usage returns the counters of the last Sforce-Limit-Info header, e.g.
// {"api-usage": "18/5000", "api-bursts": "1/750"}, for the engine's status. It is empty
// before the first answer.
func (c *Client) Usage() map[string]string {
	c.usageMu.Lock()
	defer c.usageMu.Unlock()
	out := make(map[string]string, len(c.usage))
	for k, v := range c.usage {
		out[k] = v
	}
	return out
}

// APIUsage returns the org's API calls used in the last 24 hours and its allocation, from
// the last Sforce-Limit-Info header; ok is false before any answer carried one.
func (c *Client) APIUsage() (used, limit int, ok bool) {
	c.usageMu.Lock()
	v := c.usage["api-usage"]
	c.usageMu.Unlock()
	u, l, found := strings.Cut(v, "/")
	if !found {
		return 0, 0, false
	}
	used, err1 := strconv.Atoi(u)
	limit, err2 := strconv.Atoi(l)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return used, limit, true
}

// recordUsage keeps the counters of a Sforce-Limit-Info header such as
// "api-usage=18/5000; api-bursts=1/750" [doc: headers_api_usage].
func (c *Client) recordUsage(h string) {
	if h == "" {
		return
	}
	c.usageMu.Lock()
	defer c.usageMu.Unlock()
	for _, part := range strings.FieldsFunc(h, func(r rune) bool { return r == ';' || r == ',' }) {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k != "" {
			c.usage[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
}

// fieldsFor returns the fields read from object: Id, the modstamp field, the object's
// default set and the `fields` setting, without duplicates (SOQL names are
// case-insensitive), plus extra.
func (c *Client) fieldsFor(object string, extra ...string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(names ...string) {
		for _, f := range names {
			if k := strings.ToLower(f); !seen[k] {
				seen[k] = true
				out = append(out, f)
			}
		}
	}
	add("Id", c.cfg.ModstampField)
	for obj, fields := range defaultFields {
		if strings.EqualFold(obj, object) {
			add(fields...)
		}
	}
	add(c.cfg.Fields[""]...)
	for obj, fields := range c.cfg.Fields {
		if obj != "" && strings.EqualFold(obj, object) {
			add(fields...)
		}
	}
	c.selectedMu.Lock()
	add(c.selected[strings.ToLower(object)]...)
	c.selectedMu.Unlock()
	add(extra...)
	return out
}

func (c *Client) dataPath(rest string) string {
	return "/services/data/" + c.cfg.APIVersion + rest
}

func checkObject(object string) error {
	if !identRE.MatchString(object) {
		return &connectors.NotFoundError{What: fmt.Sprintf("Salesforce object %q (not an sObject name)", object)}
	}
	return nil
}

func checkField(object, field string) error {
	if !fieldPathRE.MatchString(field) {
		return &connectors.NotFoundError{What: fmt.Sprintf("Salesforce field %s.%q (not a field name)", object, field)}
	}
	return nil
}

// idRE is the shape of a Salesforce id: 15 case-sensitive or 18 case-insensitive
// alphanumerics.
var idRE = regexp.MustCompile(`^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$`)

// IsID reports whether s has the shape of a Salesforce record id.
func IsID(s string) bool { return idRE.MatchString(s) }
