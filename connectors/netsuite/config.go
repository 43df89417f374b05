package netsuite

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"tandem/connectors/settings"
)

// Auth methods (the auth setting).
const (
	// AuthTBA is token-based authentication: OAuth 1.0a with HMAC-SHA256.
	AuthTBA = "tba"
	// AuthM2M is OAuth 2.0 machine-to-machine: client credentials with a signed JWT
	// assertion, exchanged for a bearer token.
	AuthM2M = "m2m"
)

// Defaults of the settings that have one.
const (
	DefaultConcurrency    = 5
	DefaultModifiedField  = "lastmodifieddate"
	DefaultModifiedFormat = "YYYY-MM-DD HH24:MI:SS"
	DefaultPageSize       = 1000
	DefaultMaxBatch       = 100
	DefaultRetryAfter     = 2 * time.Second
	DefaultRateRetries    = 3
	DefaultRequestTimeout = 2 * time.Minute
	DefaultScope          = "rest_webservices"
)

// DefaultFields are the customer columns read when the fields setting is not given.
var DefaultFields = []string{"id", "entityid", "companyname", "email", "phone", "externalid", "lastmodifieddate"}

// TBACredentials are the four secrets of token-based authentication.
type TBACredentials struct {
	ConsumerKey, ConsumerSecret, TokenID, TokenSecret string
}

// M2MCredentials identify an OAuth 2.0 machine-to-machine client.
type M2MCredentials struct {
	ClientID      string
	CertificateID string
	// PrivateKey is an *rsa.PrivateKey (signs PS256) or an *ecdsa.PrivateKey (signs
	// ES256, ES384 or ES512 by its curve).
	PrivateKey crypto.Signer
	// Scopes default to rest_webservices.
	Scopes []string
}

// Config is a parsed connection. ParseSettings builds one from settings; New fills the
// defaults of the zero fields.
type Config struct {
	// AccountID as NetSuite shows it, e.g. 123456_SB1.
	AccountID string
	// BaseURL is what /services/rest/... is appended to; default https://<account host>.
	BaseURL string
	// Auth is AuthTBA or AuthM2M.
	Auth string
	TBA  TBACredentials
	M2M  M2MCredentials
	// Concurrency is the most requests in flight at once; default 5.
	Concurrency int
	// Fields are the columns read; id and ModifiedField are added when missing.
	Fields         []string
	ModifiedField  string
	ModifiedFormat string
	// Location is the time zone SuiteQL datetimes are in; default UTC.
	Location *time.Location
	PageSize int
	MaxBatch int
	// UpsertKey, when "externalid", makes Info report NativeUpsert.
	UpsertKey      string
	CreateDefaults map[string]any
	// RetryAfter is the wait after a 429 without Retry-After (times the attempt);
	// RateRetries how many times it is sent again within a call (0: never).
	RetryAfter time.Duration
	// ReadOpenSecond turns holding back the account's current second off (on by default).
	ReadOpenSecond bool
	RateRetries    int
	// DeletedRetention is how long the deleted-record log keeps a deletion (0: not known);
	// see Deletes.
	DeletedRetention time.Duration
	// DeletedTypes maps a record type (the object name) to its type in the DeletedRecord
	// table; a type not in it is its own name.
	DeletedTypes map[string]string
	// HTTPClient sends the requests; default a client of its own with RequestTimeout.
	HTTPClient     *http.Client
	RequestTimeout time.Duration
	// Now is the connector's clock (OAuth timestamps, token refresh, Retry-After dates);
	// default time.Now. Tests pass the fake's clock.
	Now func() time.Time
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Spec declares every setting a netsuite connection accepts. An unknown setting is an
// error, so a typo never silently falls back to a default.
var Spec = &settings.Spec[Config]{Type: Type, Settings: []settings.Setting[Config]{
	{Name: "account_id", Required: true, Doc: "NetSuite account id, e.g. 123456_SB1 (the OAuth realm; the host is 123456-sb1.suitetalk.api.netsuite.com)",
		Set: settings.String(func(c *Config) *string { return &c.AccountID })},
	{Name: "base_url", Doc: "scheme and host the /services/rest paths go under (default `https://<account host>`); for fakes and proxies",
		Set: settings.String(func(c *Config) *string { return &c.BaseURL })},
	{Name: "auth", Doc: "`tba` or `m2m` (default: the one whose credentials are given)",
		Set: func(c *Config, v string) error { c.Auth = strings.ToLower(v); return nil }},
	{Name: "consumer_key", Secret: true, Doc: "tba: integration record's consumer key",
		Set: settings.String(func(c *Config) *string { return &c.TBA.ConsumerKey })},
	{Name: "consumer_secret", Secret: true, Doc: "tba: integration record's consumer secret",
		Set: settings.String(func(c *Config) *string { return &c.TBA.ConsumerSecret })},
	{Name: "token_id", Secret: true, Doc: "tba: access token id",
		Set: settings.String(func(c *Config) *string { return &c.TBA.TokenID })},
	{Name: "token_secret", Secret: true, Doc: "tba: access token secret",
		Set: settings.String(func(c *Config) *string { return &c.TBA.TokenSecret })},
	{Name: "client_id", Doc: "m2m: integration record's client id (the JWT iss)",
		Set: settings.String(func(c *Config) *string { return &c.M2M.ClientID })},
	{Name: "certificate_id", Doc: "m2m: id NetSuite gave the uploaded certificate (the JWT kid)",
		Set: settings.String(func(c *Config) *string { return &c.M2M.CertificateID })},
	{Name: "private_key", Secret: true, Doc: "m2m: PEM private key of that certificate (RSA signs PS256, EC signs ES256/384/512); `\\n` escapes allowed",
		Set: func(c *Config, v string) error {
			key, err := ParsePrivateKey(v)
			if err != nil {
				return err
			}
			c.M2M.PrivateKey = key
			return nil
		}},
	{Name: "scope", Default: DefaultScope, Doc: "m2m: token scopes, comma separated",
		Set: settings.List(func(c *Config) *[]string { return &c.M2M.Scopes })},
	{Name: "concurrency", Default: strconv.Itoa(DefaultConcurrency), Doc: "requests in flight at once, shared by every call on the connection",
		Set: settings.Int(1, 1000, func(c *Config) *int { return &c.Concurrency })},
	{Name: "fields", Default: strings.Join(DefaultFields, ","), Doc: "columns read, comma separated; id and modified_field are always read",
		Set: func(c *Config, v string) error { c.Fields = lowerAll(settings.SplitList(v)); return nil }},
	{Name: "custom_fields", Doc: "columns added to fields, comma separated, e.g. custentity_sfdc_id",
		Set: func(c *Config, v string) error {
			c.Fields = append(c.Fields, lowerAll(settings.SplitList(v))...)
			return nil
		}},
	{Name: "modified_field", Default: DefaultModifiedField, Doc: "column changes are read by",
		Set: func(c *Config, v string) error { c.ModifiedField = strings.ToLower(v); return nil }},
	{Name: "modified_format", Default: DefaultModifiedFormat, Doc: "SuiteQL format model the modified column is read and compared in (`.FF3` etc. for fractions)",
		Set: settings.String(func(c *Config) *string { return &c.ModifiedFormat })},
	{Name: "timezone", Default: "UTC", Doc: "IANA time zone SuiteQL datetimes are in: the integration user's time zone preference",
		Set: func(c *Config, v string) error {
			loc, err := time.LoadLocation(v)
			if err != nil {
				return fmt.Errorf("is not an IANA time zone: %w", err)
			}
			c.Location = loc
			return nil
		}},
	{Name: "page_size", Default: strconv.Itoa(DefaultPageSize), Doc: "SuiteQL rows per request, 1 to 1000",
		Set: settings.Int(1, 1000, func(c *Config) *int { return &c.PageSize })},
	{Name: "max_batch", Default: strconv.Itoa(DefaultMaxBatch), Doc: "most records one write call accepts; each is one request",
		Set: settings.Int(1, 100000, func(c *Config) *int { return &c.MaxBatch })},
	{Name: "upsert_key", Doc: "key field the syncs on this connection upsert by; `externalid` makes upserts native (PUT .../eid:VALUE)",
		Set: func(c *Config, v string) error { c.UpsertKey = strings.ToLower(v); return nil }},
	{Name: "create_defaults", Doc: `JSON object of values every created record gets unless it sets them, e.g. {"subsidiary":{"id":"1"}}`,
		Set: settings.JSONObject(func(c *Config) *map[string]any { return &c.CreateDefaults })},
	{Name: "retry_after", Default: settings.DurationText(DefaultRetryAfter), Doc: "wait before retrying a 429 that carries no Retry-After (times the attempt)",
		Set: settings.Duration(time.Nanosecond, func(c *Config) *time.Duration { return &c.RetryAfter })},
	{Name: "rate_retries", Default: strconv.Itoa(DefaultRateRetries), Doc: "times a 429 or SSS_REQUEST_LIMIT_EXCEEDED is sent again within a call before it fails with a rate-limit error (0: never)",
		Set: settings.Int(0, 100, func(c *Config) *int { return &c.RateRetries })},
	{Name: "hold_back_open_second", Default: "true", Doc: "read the records of the current second only once it is over, so a record saved later in that second is not missed",
		Set: settings.NotBool(func(c *Config) *bool { return &c.ReadOpenSecond })},
	{Name: "request_timeout", Default: settings.DurationText(DefaultRequestTimeout), Doc: "timeout of one HTTP request",
		Set: settings.Duration(time.Nanosecond, func(c *Config) *time.Duration { return &c.RequestTimeout })},
	{Name: "deleted_retention", Doc: "how long the account's deleted-record log keeps a deletion, e.g. 2160h; an older delete cursor is expired and the engine diffs ids instead (default: not known, only a zero cursor is expired)",
		Set: settings.Duration(time.Nanosecond, func(c *Config) *time.Duration { return &c.DeletedRetention })},
	{Name: "deleted_types", Doc: "the DeletedRecord type of each record type read for deletes, object=type comma separated, e.g. customer=customer (default: the record type's own name, compared without case)",
		Set: func(c *Config, v string) error {
			for _, pair := range settings.SplitList(v) {
				object, typ, ok := strings.Cut(pair, "=")
				object, typ = strings.ToLower(strings.TrimSpace(object)), strings.TrimSpace(typ)
				if !ok || !identRE.MatchString(object) || !identRE.MatchString(typ) {
					return fmt.Errorf("has %q, which is not object=type, e.g. customer=customer", pair)
				}
				if c.DeletedTypes == nil {
					c.DeletedTypes = map[string]string{}
				}
				c.DeletedTypes[object] = typ
			}
			return nil
		}},
}}

// ParseSettings reads a connection's settings. Each error names the setting.
func ParseSettings(s map[string]string) (Config, error) {
	var cfg Config
	if err := Spec.Parse(s, &cfg); err != nil {
		return Config{}, err
	}
	if cfg.Auth == "" {
		switch {
		case cfg.TBA.ConsumerKey != "" || cfg.TBA.TokenID != "":
			cfg.Auth = AuthTBA
		case cfg.M2M.ClientID != "":
			cfg.Auth = AuthM2M
		default:
			return Config{}, fmt.Errorf("setting auth: missing, and neither consumer_key/token_id (tba) nor client_id (m2m) is given")
		}
	}
	if cfg.Auth != AuthM2M {
		cfg.M2M = M2MCredentials{}
	}
	return cfg, nil
}

// validate checks cfg and fills the defaults of zero fields.
func (cfg *Config) validate() error {
	if cfg.AccountID == "" {
		return fmt.Errorf("setting account_id: missing")
	}
	switch cfg.Auth {
	case AuthTBA:
		for _, f := range []struct{ name, v string }{
			{"consumer_key", cfg.TBA.ConsumerKey}, {"consumer_secret", cfg.TBA.ConsumerSecret},
			{"token_id", cfg.TBA.TokenID}, {"token_secret", cfg.TBA.TokenSecret},
		} {
			if f.v == "" {
				return fmt.Errorf("setting %s: missing (auth tba needs consumer_key, consumer_secret, token_id and token_secret)", f.name)
			}
		}
	case AuthM2M:
		if cfg.M2M.ClientID == "" {
			return fmt.Errorf("setting client_id: missing (auth m2m needs client_id, certificate_id and private_key)")
		}
		if cfg.M2M.CertificateID == "" {
			return fmt.Errorf("setting certificate_id: missing (auth m2m needs client_id, certificate_id and private_key)")
		}
		if cfg.M2M.PrivateKey == nil {
			return fmt.Errorf("setting private_key: missing (auth m2m needs client_id, certificate_id and private_key)")
		}
		if _, err := jwtMethod(cfg.M2M.PrivateKey); err != nil {
			return fmt.Errorf("setting private_key: %w", err)
		}
		if len(cfg.M2M.Scopes) == 0 {
			cfg.M2M.Scopes = []string{DefaultScope}
		}
	default:
		return fmt.Errorf("setting auth: %q is not tba or m2m", cfg.Auth)
	}

	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://" + accountHost(cfg.AccountID)
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("setting base_url: %q is not an http(s) URL", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimSuffix(strings.TrimSuffix(cfg.BaseURL, "/"), "/services/rest")

	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency < 0 {
		return fmt.Errorf("setting concurrency: %d is not a positive number", cfg.Concurrency)
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.PageSize < 0 || cfg.PageSize > 1000 {
		// NetSuite pages hold at most 1000 rows [doc: section_156414087576].
		return fmt.Errorf("setting page_size: %d is not between 1 and 1000", cfg.PageSize)
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxBatch < 0 {
		return fmt.Errorf("setting max_batch: %d is not a positive number", cfg.MaxBatch)
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.RateRetries < 0 {
		return fmt.Errorf("setting rate_retries: %d is negative", cfg.RateRetries)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.ModifiedField == "" {
		cfg.ModifiedField = DefaultModifiedField
	}
	if !identRE.MatchString(cfg.ModifiedField) {
		return fmt.Errorf("setting modified_field: %q is not a column name", cfg.ModifiedField)
	}
	if cfg.ModifiedFormat == "" {
		cfg.ModifiedFormat = DefaultModifiedFormat
	}
	if _, err := goLayout(cfg.ModifiedFormat); err != nil {
		return fmt.Errorf("setting modified_format: %w", err)
	}
	if cfg.Fields == nil {
		cfg.Fields = DefaultFields
	}
	fields := []string{"id"}
	seen := map[string]bool{"id": true}
	for _, f := range append(append([]string(nil), cfg.Fields...), cfg.ModifiedField) {
		f = strings.ToLower(f)
		if !identRE.MatchString(f) {
			return fmt.Errorf("setting fields: %q is not a column name", f)
		}
		if !seen[f] {
			seen[f] = true
			fields = append(fields, f)
		}
	}
	cfg.Fields = fields
	if cfg.UpsertKey != "" && !identRE.MatchString(cfg.UpsertKey) {
		return fmt.Errorf("setting upsert_key: %q is not a field name", cfg.UpsertKey)
	}
	return nil
}

// accountHost is the REST host of an account: lower case, "_" becomes "-"
// (123456_SB1 -> 123456-sb1.suitetalk.api.netsuite.com).
func accountHost(account string) string {
	return strings.ReplaceAll(strings.ToLower(account), "_", "-") + ".suitetalk.api.netsuite.com"
}

// realm is the OAuth 1.0a realm of an account: its id in upper case with "_"
// (123456-sb1 -> 123456_SB1).
func realm(account string) string {
	return strings.ReplaceAll(strings.ToUpper(account), "-", "_")
}

// ParsePrivateKey reads a PEM private key (PKCS #8, PKCS #1 RSA or SEC 1 EC). Literal
// "\n" sequences are read as line breaks, so a key can sit in one environment variable.
func ParsePrivateKey(pemText string) (crypto.Signer, error) {
	if !strings.Contains(pemText, "\n") {
		pemText = strings.ReplaceAll(pemText, `\n`, "\n")
	}
	block, _ := pem.Decode([]byte(strings.TrimSpace(pemText)))
	if block == nil {
		return nil, fmt.Errorf("no PEM block found (want -----BEGIN PRIVATE KEY-----)")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("a %T key cannot sign NetSuite's PS256 or ES256 assertions (want RSA or EC)", key)
	}
}

func lowerAll(in []string) []string {
	for i := range in {
		in[i] = strings.ToLower(in[i])
	}
	return in
}
