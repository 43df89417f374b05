package netsuite

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
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

// settingDocs lists every setting a netsuite connection accepts, with what it does. An
// unknown setting is an error, so a typo never silently falls back to a default.
var settingDocs = map[string]string{
	"account_id":            "NetSuite account id, e.g. 123456_SB1 (the OAuth realm; the host is 123456-sb1.suitetalk.api.netsuite.com)",
	"base_url":              "scheme and host the /services/rest paths go under (default https://<account host>); for fakes and proxies",
	"auth":                  "tba or m2m (default: the one whose credentials are given)",
	"consumer_key":          "tba: integration record's consumer key",
	"consumer_secret":       "tba: integration record's consumer secret",
	"token_id":              "tba: access token id",
	"token_secret":          "tba: access token secret",
	"client_id":             "m2m: integration record's client id (the JWT iss)",
	"certificate_id":        "m2m: id NetSuite gave the uploaded certificate (the JWT kid)",
	"private_key":           "m2m: PEM private key of that certificate (RSA signs PS256, EC signs ES256/384/512); \\n escapes allowed",
	"scope":                 "m2m: token scopes, comma separated (default rest_webservices)",
	"concurrency":           "requests in flight at once, shared by every call on the connection (default 5)",
	"fields":                "columns read, comma separated (default id, entityid, companyname, email, phone, externalid, lastmodifieddate); id and modified_field are always read",
	"custom_fields":         "columns added to fields, comma separated, e.g. custentity_sfdc_id",
	"modified_field":        "column changes are read by (default lastmodifieddate)",
	"modified_format":       "SuiteQL format model the modified column is read and compared in (default YYYY-MM-DD HH24:MI:SS; .FF3 etc. for fractions)",
	"timezone":              "IANA time zone SuiteQL datetimes are in: the integration user's time zone preference (default UTC)",
	"page_size":             "SuiteQL rows per request, 1 to 1000 (default 1000)",
	"max_batch":             "most records one write call accepts; each is one request (default 100)",
	"upsert_key":            "key field the syncs on this connection upsert by; externalid makes upserts native (PUT .../eid:VALUE)",
	"create_defaults":       `JSON object of values every created record gets unless it sets them, e.g. {"subsidiary":{"id":"1"}}`,
	"retry_after":           "wait before retrying a 429 that carries no Retry-After (default 2s)",
	"hold_back_open_second": "true (default) or false: read the records of the current second only once it is over, so a record saved later in that second is not missed",
	"rate_retries":          "times a 429 or SSS_REQUEST_LIMIT_EXCEEDED is retried before the call fails with a rate-limit error (default 3)",
	"request_timeout":       "timeout of one HTTP request (default 2m)",
	"deleted_retention":     "how long the account's deleted-record log keeps a deletion, e.g. 2160h; an older delete cursor is expired and the engine diffs ids instead (default: not known, only a zero cursor is expired)",
	"deleted_types":         "the DeletedRecord type of each record type read for deletes, object=type comma separated, e.g. customer=customer (default: the record type's own name, compared without case)",
}

// SettingNames returns the names of the settings a netsuite connection accepts, sorted.
func SettingNames() []string {
	names := make([]string, 0, len(settingDocs))
	for k := range settingDocs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// SettingDoc returns what a setting does ("" for an unknown one).
func SettingDoc(name string) string { return settingDocs[name] }

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
	// RetryAfter is the wait after a 429 without Retry-After; RateRetries how many
	// times it is retried (0: the default, 3; negative: never).
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

// ParseSettings reads a connection's settings. Each error names the setting.
func ParseSettings(s map[string]string) (Config, error) {
	var unknown []string
	for k := range s {
		if _, ok := settingDocs[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Config{}, fmt.Errorf("unknown setting %s (netsuite accepts %s)", strings.Join(unknown, ", "), strings.Join(SettingNames(), ", "))
	}
	get := func(k string) string { return strings.TrimSpace(s[k]) }

	cfg := Config{
		AccountID: get("account_id"),
		BaseURL:   get("base_url"),
		Auth:      strings.ToLower(get("auth")),
		TBA: TBACredentials{
			ConsumerKey: get("consumer_key"), ConsumerSecret: get("consumer_secret"),
			TokenID: get("token_id"), TokenSecret: get("token_secret"),
		},
		M2M:            M2MCredentials{ClientID: get("client_id"), CertificateID: get("certificate_id")},
		ModifiedField:  strings.ToLower(get("modified_field")),
		ModifiedFormat: get("modified_format"),
		UpsertKey:      strings.ToLower(get("upsert_key")),
	}
	if cfg.AccountID == "" {
		return Config{}, fmt.Errorf("setting account_id: missing (the NetSuite account id, e.g. 123456_SB1)")
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
	if cfg.Auth == AuthM2M {
		pemText := s["private_key"]
		if strings.TrimSpace(pemText) == "" {
			return Config{}, fmt.Errorf("setting private_key: missing (PEM private key of the certificate uploaded for m2m)")
		}
		key, err := ParsePrivateKey(pemText)
		if err != nil {
			return Config{}, fmt.Errorf("setting private_key: %w", err)
		}
		cfg.M2M.PrivateKey = key
		if sc := get("scope"); sc != "" {
			cfg.M2M.Scopes = splitList(sc)
		}
	}

	var err error
	if cfg.Concurrency, err = intSetting(s, "concurrency", 1, 1000); err != nil {
		return Config{}, err
	}
	if cfg.PageSize, err = intSetting(s, "page_size", 1, 1000); err != nil {
		return Config{}, err
	}
	if cfg.MaxBatch, err = intSetting(s, "max_batch", 1, 100000); err != nil {
		return Config{}, err
	}
	if cfg.RateRetries, err = intSetting(s, "rate_retries", 0, 100); err != nil {
		return Config{}, err
	}
	if v, ok := s["rate_retries"]; ok && strings.TrimSpace(v) == "0" {
		cfg.RateRetries = -1 // Config reads 0 as "the default" and a negative count as none
	}
	if v := s["hold_back_open_second"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("setting hold_back_open_second: %q is not true or false", v)
		}
		cfg.ReadOpenSecond = !b
	}
	if cfg.RetryAfter, err = durationSetting(s, "retry_after"); err != nil {
		return Config{}, err
	}
	if cfg.RequestTimeout, err = durationSetting(s, "request_timeout"); err != nil {
		return Config{}, err
	}
	if cfg.DeletedRetention, err = durationSetting(s, "deleted_retention"); err != nil {
		return Config{}, err
	}
	for _, pair := range splitList(get("deleted_types")) {
		object, typ, ok := strings.Cut(pair, "=")
		object, typ = strings.ToLower(strings.TrimSpace(object)), strings.TrimSpace(typ)
		if !ok || !identRE.MatchString(object) || !identRE.MatchString(typ) {
			return Config{}, fmt.Errorf("setting deleted_types: %q is not object=type, e.g. customer=customer", pair)
		}
		if cfg.DeletedTypes == nil {
			cfg.DeletedTypes = map[string]string{}
		}
		cfg.DeletedTypes[object] = typ
	}
	if v := get("fields"); v != "" {
		cfg.Fields = lowerAll(splitList(v))
	}
	if v := get("custom_fields"); v != "" {
		base := cfg.Fields
		if base == nil {
			base = DefaultFields
		}
		cfg.Fields = append(append([]string(nil), base...), lowerAll(splitList(v))...)
	}
	if v := get("timezone"); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil {
			return Config{}, fmt.Errorf("setting timezone: %w", err)
		}
		cfg.Location = loc
	}
	if v := get("create_defaults"); v != "" {
		if err := json.Unmarshal([]byte(v), &cfg.CreateDefaults); err != nil {
			return Config{}, fmt.Errorf("setting create_defaults: not a JSON object: %w", err)
		}
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
	switch {
	case cfg.RateRetries == 0:
		cfg.RateRetries = DefaultRateRetries
	case cfg.RateRetries < 0:
		cfg.RateRetries = 0
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

func intSetting(s map[string]string, name string, lo, hi int) (int, error) {
	v, ok := s[name]
	if !ok || strings.TrimSpace(v) == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("setting %s: %q is not a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

func durationSetting(s map[string]string, name string) (time.Duration, error) {
	v := strings.TrimSpace(s[name])
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("setting %s: %q is not a positive duration such as 2s or 1m", name, v)
	}
	return d, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func lowerAll(in []string) []string {
	for i := range in {
		in[i] = strings.ToLower(in[i])
	}
	return in
}
