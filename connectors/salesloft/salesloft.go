// Package salesloft connects Tandem to Salesloft's API v2 accounts (object "accounts"),
// with a thin hand-written client:
//
//   - Changes polls GET /v2/accounts sorted by updated_at ascending, 100 per page, as
//     Salesloft's cursor-poller guide does, and moves the updated_at window forward rather
//     than paging deep (deep pages cost up to 30 times more);
//   - Get reads by ids[], Find by domain or crm_id, Create POSTs and Update PUTs one
//     account per request (Salesloft has no bulk JSON write); Upsert finds by key first;
//   - the team's cost budget (600 per minute, deep pages dearer) is respected before it
//     is exceeded, and no request is sent before a 429's Retry-After has passed;
//   - webhooks are verified by x-salesloft-signature, hex(HMAC-SHA1(callback token, raw
//     body)), and account_created / account_updated / account_deleted are parsed;
//   - Salesloft keeps no delete log the API reads: deletions come by the account_deleted
//     webhook or a full id diff (ListIDs), and Delete deletes one account per request
//     (deletes.go).
//
// The facts it relies on, and their sources, are in ../shared/api-notes.md, section 2.
// Where a behaviour is inferred rather than documented ([INF] there) the code says which
// choice it makes, and a setting changes it. salesloftfake beside this package is a local
// fake of the same API.
package salesloft

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
	"tandem/connectors/httpx"
	"tandem/connectors/settings"
)

// Type is the connection type Info reports, and the one to register Factory under.
const Type = "salesloft"

// Object is the one object the connector syncs.
const Object = "accounts"

// DefaultBaseURL is Salesloft's API host; paths start with /v2.
const DefaultBaseURL = "https://api.salesloft.com"

// DefaultCostPerMinute is Salesloft's budget per team [doc: api-basics/rate-limits].
const DefaultCostPerMinute = 600

// Settings a salesloft connection accepts.
const (
	// SettingToken is the OAuth access token or API key, sent as a Bearer token.
	// Required.
	SettingToken = "token"
	// SettingBaseURL is the API host (default DefaultBaseURL); a trailing /v2 is
	// accepted.
	SettingBaseURL = "base_url"
	// SettingCostPerMinute is the team's cost budget per minute (default 600). The
	// budget is shared by every integration of the team, so a lower value leaves room for
	// the others.
	SettingCostPerMinute = "cost_per_minute"
	// SettingDomainFilter says how the domain filter takes values: "single" (default:
	// domain=<one value>, one request per value, as the list docs describe it [3p]) or
	// "array" (domain[]=a&domain[]=b, up to 100 values per request) [INF].
	SettingDomainFilter = "domain_filter"
	// SettingRateLimitReset is how long to wait after a 429 that carries no Retry-After
	// (Salesloft does not document one [INF]): "minute" (default) waits until the next
	// whole minute, when a per-minute budget counted in calendar minutes resets; a Go
	// duration ("60s") waits that long.
	SettingRateLimitReset = "rate_limit_reset"
	// SettingWebhookSecret is the webhook subscription's callback_token, which signs the
	// webhooks; read by WebhookFactory only.
	SettingWebhookSecret = "webhook_secret"
	// SettingWebhookSecretPrevious is also accepted while the callback token is rotated;
	// read by WebhookFactory only.
	SettingWebhookSecretPrevious = "webhook_secret_previous"
)

// Spec declares every setting a salesloft connection accepts.
var Spec = &settings.Spec[Options]{Type: Type, Settings: []settings.Setting[Options]{
	{Name: SettingToken, Required: true, Secret: true, Doc: "OAuth access token or API key, sent as a Bearer token",
		Set: settings.String(func(o *Options) *string { return &o.Token })},
	{Name: SettingBaseURL, Default: DefaultBaseURL, Doc: "API host; a trailing /v2 is accepted",
		Set: settings.String(func(o *Options) *string { return &o.BaseURL })},
	{Name: SettingCostPerMinute, Default: strconv.Itoa(DefaultCostPerMinute), Doc: "the team's cost budget per minute, shared with its other integrations (a lower value leaves them room)",
		Set: settings.AtLeast(1, func(o *Options) *int { return &o.CostPerMinute })},
	{Name: SettingDomainFilter, Default: DomainFilterSingle, Doc: "how the domain filter takes values: `single` (one request per value) or `array` (`domain[]=a&domain[]=b`, up to 100 a request) [INF]",
		Set: settings.OneOf([]string{DomainFilterSingle, DomainFilterArray}, func(o *Options) *string { return &o.DomainFilter })},
	{Name: SettingRateLimitReset, Default: "minute", Doc: "wait after a 429 without Retry-After: `minute` (until the next whole minute) or a duration such as `60s`",
		Set: func(o *Options, v string) error {
			if v == "minute" {
				o.RateLimitReset = 0
				return nil
			}
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("is neither \"minute\" nor a positive duration such as \"60s\"")
			}
			o.RateLimitReset = d
			return nil
		}},
	{Name: SettingWebhookSecret, Secret: true, Doc: "the webhook subscription's callback_token, which signs the webhooks"},
	{Name: SettingWebhookSecretPrevious, Secret: true, Doc: "the previous callback_token, accepted while rotating"},
}}

// Domain filter modes (SettingDomainFilter).
const (
	DomainFilterSingle = "single"
	DomainFilterArray  = "array"
)

// Options configure a connector opened in code (Factory builds them from Settings).
type Options struct {
	// Token is the bearer token. Required.
	Token string
	// BaseURL is the API host; default DefaultBaseURL.
	BaseURL string
	// CostPerMinute is the cost budget per BudgetWindow; default DefaultCostPerMinute.
	CostPerMinute int
	// BudgetWindow is the length of the budget window; default one minute (Salesloft's).
	// Tests shorten it to match a fake's window.
	BudgetWindow time.Duration
	// DomainFilter is DomainFilterSingle (default) or DomainFilterArray.
	DomainFilter string
	// RateLimitReset is the wait after a 429 without Retry-After; 0 (default) waits until
	// the next whole minute.
	RateLimitReset time.Duration
	// HTTPClient sends the requests; default a client of its own with a 30 s timeout, so
	// Close can drop its idle connections.
	HTTPClient *http.Client
}

// Connector is a connection to one Salesloft team. It implements connectors.Connector,
// connectors.NormalizingFinder, connectors.IDLister and connectors.Deleter and is safe for
// concurrent use.
type Connector struct {
	opts   Options
	base   string
	client *http.Client
	budget *budget
	api    *httpx.Client
}

var (
	_ connectors.Connector         = (*Connector)(nil)
	_ connectors.NormalizingFinder = (*Connector)(nil)
)

// New returns a connector.
func New(opts Options) (*Connector, error) {
	if strings.TrimSpace(opts.Token) == "" {
		return nil, fmt.Errorf("setting %s: missing; set it to a Salesloft API key or OAuth token", SettingToken)
	}
	base := strings.TrimRight(opts.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	base = strings.TrimSuffix(base, "/v2")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("setting %s: %q is not an http(s) URL", SettingBaseURL, opts.BaseURL)
	}
	if opts.CostPerMinute < 0 {
		return nil, fmt.Errorf("setting %s: %d must be positive", SettingCostPerMinute, opts.CostPerMinute)
	}
	if opts.CostPerMinute == 0 {
		opts.CostPerMinute = DefaultCostPerMinute
	}
	if opts.BudgetWindow <= 0 {
		opts.BudgetWindow = time.Minute
	}
	switch opts.DomainFilter {
	case "":
		opts.DomainFilter = DomainFilterSingle
	case DomainFilterSingle, DomainFilterArray:
	default:
		return nil, fmt.Errorf("setting %s: %q is not %q or %q", SettingDomainFilter, opts.DomainFilter, DomainFilterSingle, DomainFilterArray)
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	b := newBudget(opts.CostPerMinute, opts.BudgetWindow, opts.RateLimitReset)
	return &Connector{
		opts:   opts,
		base:   base,
		client: client,
		budget: b,
		api: &httpx.Client{
			HTTP:        client,
			Base:        base,
			Auth:        httpx.Bearer(opts.Token),
			Budget:      b,
			Gate:        &httpx.Gate{},
			EncodeQuery: encodeQuery,
			MaxBody:     32 << 20,
			// A 429 is returned at once (the activity layer retries it); the gate keeps
			// the connection's later calls from being sent before its Retry-After, a
			// wait of up to the reset minute.
			Policy: httpx.Policy{MaxAttempts: 1, MaxWait: time.Minute + time.Second},
			RateLimited: func(resp *httpx.Response, _ int) (time.Duration, bool) {
				if resp.Status != http.StatusTooManyRequests {
					return 0, false
				}
				return b.retryAfter(resp.Header), true
			},
		},
	}, nil
}

// Factory opens a salesloft connection from its settings. It is a connectors.Factory.
func Factory(name string, given connectors.Settings) (connectors.Connector, error) {
	var opts Options
	if err := Spec.Parse(given, &opts); err != nil {
		return nil, err
	}
	return New(opts)
}

// MaxBatch is Info().MaxBatch. Salesloft writes one account per request, so a batch of
// 100 is 100 requests, about 10 s of the default budget; smaller batches would only add
// activity round trips, larger ones keep an activity from heartbeating for longer.
const MaxBatch = 100

// Info implements connectors.Connector. NativeUpsert is false: Upsert finds by key and
// then creates or updates, two requests that a retry may interleave with another writer
// (POST /v2/account_upserts exists [3p], but what it keys on is not documented).
func (c *Connector) Info() connectors.Info {
	return connectors.Info{Type: Type, MaxBatch: MaxBatch, NativeUpsert: false}
}

// Close drops the connector's idle HTTP connections. The connector stays usable.
func (c *Connector) Close() {
	c.client.CloseIdleConnections()
}

func checkObject(op, object string) error {
	if object != Object {
		return fmt.Errorf("salesloft %s: object %q is not supported (salesloft syncs %q)", op, object, Object)
	}
	return nil
}
