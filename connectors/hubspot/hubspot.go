// Package hubspot connects Tandem to HubSpot CRM companies and contacts through a thin
// hand-written client of HubSpot's CRM object API (no SDK): search for changes and keys,
// batch read, batch create / update / upsert, and the verifier of HubSpot's signed
// webhooks. hubspotfake, beside it, is a local HubSpot that speaks the same wire format.
//
// Facts about the API come from the project's API notes (api-notes.md, section 1,
// HUBSPOT). Where a fact is marked [doc] the client follows it; where it is [INF]
// (inferred) the behaviour is a setting or tolerates both readings, and the code says
// which it follows.
package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tandem/connectors"
	"tandem/connectors/httpx"
	"tandem/connectors/settings"
)

// Type is the connection type the connector is registered under.
const Type = "hubspot"

// The settings a hubspot connection reads (connectors.Settings). Only token is required.
const (
	// SettingToken is a private app (or OAuth) access token, sent as "Authorization: Bearer".
	SettingToken = "token"
	// SettingBaseURL is the API host; default https://api.hubapi.com.
	SettingBaseURL = "base_url"
	// SettingPathPrefix is the object API's path; default "/crm/v3/objects" (the legacy
	// paths). The date-versioned form is "/crm/objects/2026-03"; both take the same
	// bodies [doc: api-notes 1].
	SettingPathPrefix = "path_prefix"
	// SettingRatePer10s is the request budget per 10 seconds; default 190 (private apps
	// on Pro and Enterprise [doc]).
	SettingRatePer10s = "rate_per_10s"
	// SettingSearchPerSecond is the search budget per second; default 4 [doc].
	SettingSearchPerSecond = "search_per_s"
	// SettingSearchCountsTowardRate ("true") spends a request of rate_per_10s on each
	// search as well as one of search_per_s. Default false: HubSpot documents the search
	// limit as its own, per token, and its search responses carry no X-HubSpot-RateLimit
	// headers [3p]; whether searches also count towards the burst is not documented
	// [INF]. Where they do, the Remaining header of the other calls still keeps the
	// client from 429s (it pauses for the window at 0); this setting avoids the pause.
	SettingSearchCountsTowardRate = "search_counts_toward_rate"
	// SettingProperties lists extra properties to read (comma separated), beyond each
	// object's default set: companies name, domain, phone, website, industry, city,
	// country; contacts email, firstname, lastname, phone, company. The Connector
	// interface passes no field list, so a sync mapping other properties lists them here.
	SettingProperties = "properties"
	// SettingUniqueProperties lists properties with unique values (comma separated),
	// such as a custom external-id property, that Upsert may pass to HubSpot's batch
	// upsert as idProperty. contacts' email is always one.
	SettingUniqueProperties = "unique_properties"
	// SettingSearchResultCap is how many results one search can page through; default
	// 10,000 [3p]. A smaller value only matters against a fake with a smaller cap.
	SettingSearchResultCap = "search_result_cap"
	// SettingSearchINValues is the most values one IN filter carries; default 100 [INF].
	SettingSearchINValues = "search_in_values"
	// SettingSearchRestartReadsAgain ("true") makes a restarted change search read its
	// millisecond's records again rather than leave out those it has with hs_object_id
	// NOT_IN (see Changes), should a portal take that filter and not honour it [INF:
	// HubSpot documents NOT_IN among the search's operators, not per property type].
	SettingSearchRestartReadsAgain = "search_restart_reads_again"
	// SettingSnapshotMax is the most live records a read of changes from the start (a
	// first run, a resync from the zero cursor) reads through the list endpoint, 100 a
	// request, rather than through searches; default 100,000, "0" off. The records are
	// held in memory for that read (snapshot.go).
	SettingSnapshotMax = "snapshot_max"
	// SettingFindVariants lists the stored forms FindNormalized searches for each value,
	// as templates over {v}; default "{v},www.{v}". See FindNormalized.
	SettingFindVariants = "find_variants"
	// SettingTimeout bounds one HTTP request; default 60s.
	SettingTimeout = "timeout"
	// SettingSearchLag is how far behind the writes HubSpot's search index may be; default
	// 5s [INF: searches are served from an index that trails the records by seconds,
	// reads by id are not]. Changes reads only records modified at least this long ago,
	// so a record the index has not caught up with is not passed by the cursor and lost;
	// the rest is read by the next run (webhooks, read by id, are not delayed). "0s"
	// turns it off.
	SettingSearchLag = "search_lag"

	// SettingWebhookSecret is the app's client secret, which HubSpot signs webhooks
	// with. Read by the webhook verifier only (WebhookFactory).
	SettingWebhookSecret = "webhook_secret"
	// SettingWebhookSecretPrevious is also accepted while the secret is rotated.
	SettingWebhookSecretPrevious = "webhook_secret_previous"
	// SettingWebhookURL is the target URL as configured in the HubSpot app. When set,
	// the v3 and v2 signatures are checked against it instead of the URL rebuilt from
	// the request, for ingresses behind proxies that rewrite the path.
	SettingWebhookURL = "webhook_url"
	// SettingWebhookRequireV3 ("true") refuses requests signed with v1 or v2 only,
	// which carry no timestamp and so no replay protection.
	SettingWebhookRequireV3 = "webhook_require_v3"
)

// Defaults of the settings.
const (
	DefaultBaseURL         = "https://api.hubapi.com"
	DefaultPathPrefix      = "/crm/v3/objects"
	DefaultRatePer10s      = 190
	DefaultSearchPerSecond = 4
	DefaultSearchResultCap = 10000
	DefaultSearchINValues  = 100
	DefaultFindVariants    = "{v},www.{v}"
	DefaultTimeout         = 60 * time.Second
	DefaultSearchLag       = 5 * time.Second
	DefaultSnapshotMax     = 100_000
)

// Limits of the API the client works within.
const (
	// MaxBatch is the most inputs of one batch read, create, update or upsert [INF: "max
	// 100 inputs per batch", from memory]; larger batches are split.
	MaxBatch = 100
	// maxSearchLimit is the largest page a search returns [3p code using limit 200].
	maxSearchLimit = 200
	// maxFilterGroups is how many ORed filter groups one search takes [doc: changelog].
	maxFilterGroups = 5
)

// objectType describes one HubSpot object type the connector reads and writes.
type objectType struct {
	// Name is the object's name in API paths ("companies").
	Name string
	// Modified is the property holding when a record last changed: companies'
	// hs_lastmodifieddate [doc: companies example], contacts' lastmodifieddate [doc:
	// search-the-crm]. Changes filters and sorts on it and Record.UpdatedAt is its value.
	Modified string
	// Properties are read by default, besides Modified and hs_object_id.
	Properties []string
	// Unique are properties with unique values, usable as upsert idProperty.
	Unique []string
}

// objects are the object types the connector supports. Any other name is refused with an
// error naming it rather than guessed at: another object's modified-date property and
// default properties are not known here.
var objects = map[string]objectType{
	"companies": {
		Name:       "companies",
		Modified:   "hs_lastmodifieddate",
		Properties: []string{"name", "domain", "phone", "website", "industry", "city", "country"},
	},
	"contacts": {
		Name:       "contacts",
		Modified:   "lastmodifieddate",
		Properties: []string{"email", "firstname", "lastname", "phone", "company"},
		Unique:     []string{"email"},
	},
}

// Config is a connection's configuration, the parsed form of its settings.
type Config struct {
	Token           string
	BaseURL         string
	PathPrefix      string
	RatePer10s      int
	SearchPerSecond int
	// SearchCountsTowardRate spends a request of RatePer10s on each search too.
	SearchCountsTowardRate bool
	// Properties are read besides each object's defaults.
	Properties []string
	// UniqueProperties may serve as upsert idProperty, besides each object's Unique.
	UniqueProperties []string
	SearchResultCap  int
	SearchINValues   int
	// SearchRestartReadsAgain: Changes restarts without hs_object_id NOT_IN.
	SearchRestartReadsAgain bool
	// SnapshotMax: a read of changes from the start lists an object of at most this many
	// records instead of searching it; zero is never.
	SnapshotMax int
	// FindVariants are templates over {v}; see FindNormalized.
	FindVariants []string
	Timeout      time.Duration
	// SearchLag: Changes reads records modified at least this long ago; zero is none.
	SearchLag time.Duration
	// HTTPClient sends the requests; default a client with Timeout. Tests pass their
	// own to close idle connections.
	HTTPClient *http.Client
	// Now is the clock the search lag is measured against; default time.Now. Tests pass
	// the fake's clock. The request budgets always use the real clock. HubSpot's clock is
	// reckoned by it too (httpx.ServerClock.Clock): its times should carry a monotonic
	// reading, as time.Now's do.
	Now func() time.Time
}

// Spec declares every setting a hubspot connection accepts: its default, what it does
// and how it is read. Any other key is an error at load, so a misspelt setting does not
// silently fall back to its default.
var Spec = &settings.Spec[Config]{Type: Type, Check: (*Config).check, Settings: []settings.Setting[Config]{
	{Name: SettingToken, Required: true, Secret: true, Doc: "private app (or OAuth) access token, e.g. `${HUBSPOT_TOKEN}`",
		Set: settings.String(func(c *Config) *string { return &c.Token })},
	{Name: SettingBaseURL, Default: DefaultBaseURL, Doc: "API host",
		Set: settings.String(func(c *Config) *string { return &c.BaseURL })},
	{Name: SettingPathPrefix, Default: DefaultPathPrefix, Doc: "object API path; the date-versioned form is `/crm/objects/2026-03`",
		Set: settings.String(func(c *Config) *string { return &c.PathPrefix })},
	{Name: SettingRatePer10s, Default: strconv.Itoa(DefaultRatePer10s), Doc: "requests per 10 s (private apps on Pro and Enterprise)",
		Set: settings.AtLeast(1, func(c *Config) *int { return &c.RatePer10s })},
	{Name: SettingSearchPerSecond, Default: strconv.Itoa(DefaultSearchPerSecond), Doc: "search requests per second",
		Set: settings.AtLeast(1, func(c *Config) *int { return &c.SearchPerSecond })},
	{Name: SettingSearchCountsTowardRate, Default: "false", Doc: "true if searches also spend `rate_per_10s` (HubSpot documents the search limit as its own)",
		Set: settings.Bool(func(c *Config) *bool { return &c.SearchCountsTowardRate })},
	{Name: SettingSearchLag, Default: settings.DurationText(DefaultSearchLag), Doc: "how far the search index may trail writes: changes are read once it has caught up with them; `0s` off",
		Set: settings.Duration(0, func(c *Config) *time.Duration { return &c.SearchLag })},
	{Name: SettingProperties, Doc: "extra properties to read, comma separated",
		Set: settings.List(func(c *Config) *[]string { return &c.Properties })},
	{Name: SettingUniqueProperties, Doc: "unique-value properties Upsert may use as idProperty, comma separated",
		Set: settings.List(func(c *Config) *[]string { return &c.UniqueProperties })},
	{Name: SettingSearchResultCap, Default: strconv.Itoa(DefaultSearchResultCap), Doc: "results one search can page through",
		Set: settings.AtLeast(1, func(c *Config) *int { return &c.SearchResultCap })},
	{Name: SettingSearchINValues, Default: strconv.Itoa(DefaultSearchINValues), Doc: "values per IN filter",
		Set: settings.AtLeast(1, func(c *Config) *int { return &c.SearchINValues })},
	{Name: SettingSearchRestartReadsAgain, Default: "false", Doc: "true to have a restarted change search read its millisecond's records again instead of leaving out those it has (`hs_object_id` NOT_IN)",
		Set: settings.Bool(func(c *Config) *bool { return &c.SearchRestartReadsAgain })},
	{Name: SettingSnapshotMax, Default: strconv.Itoa(DefaultSnapshotMax), Doc: "most records a read from the start (a first run) lists, 100 a request, instead of searching, held in memory for that read; `0` off",
		Set: settings.AtLeast(0, func(c *Config) *int { return &c.SnapshotMax })},
	{Name: SettingFindVariants, Default: DefaultFindVariants, Doc: "stored forms FindNormalized searches for each value, templates over `{v}`",
		Set: settings.List(func(c *Config) *[]string { return &c.FindVariants })},
	{Name: SettingTimeout, Default: settings.DurationText(DefaultTimeout), Doc: "timeout of one HTTP request",
		Set: settings.Duration(time.Nanosecond, func(c *Config) *time.Duration { return &c.Timeout })},
	{Name: SettingWebhookSecret, Secret: true, Doc: "the app's client secret, which HubSpot signs webhooks with"},
	{Name: SettingWebhookSecretPrevious, Secret: true, Doc: "the previous client secret, accepted while rotating"},
	{Name: SettingWebhookURL, Doc: "webhook target URL as configured in the HubSpot app (for ingresses behind proxies that rewrite the path)"},
	{Name: SettingWebhookRequireV3, Default: "false", Doc: "true to accept only v3 signatures (v1 and v2 carry no timestamp)"},
}}

// ParseSettings reads a connection's settings into a Config with defaults applied. Errors
// name the setting.
func ParseSettings(given connectors.Settings) (Config, error) { return Spec.Config(given) }

var propertyName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// check validates a Config and fills the defaults of zero fields.
func (cfg *Config) check() error {
	if cfg.Token == "" {
		return fmt.Errorf("setting %s: missing", SettingToken)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("setting %s: %q is not an http(s) URL such as %s", SettingBaseURL, cfg.BaseURL, DefaultBaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.PathPrefix == "" {
		cfg.PathPrefix = DefaultPathPrefix
	}
	if !strings.HasPrefix(cfg.PathPrefix, "/") {
		return fmt.Errorf("setting %s: %q must start with / (e.g. %s or /crm/objects/2026-03)", SettingPathPrefix, cfg.PathPrefix, DefaultPathPrefix)
	}
	cfg.PathPrefix = strings.TrimRight(cfg.PathPrefix, "/")
	for _, d := range []struct {
		name string
		dst  *int
		def  int
	}{
		{SettingRatePer10s, &cfg.RatePer10s, DefaultRatePer10s},
		{SettingSearchPerSecond, &cfg.SearchPerSecond, DefaultSearchPerSecond},
		{SettingSearchResultCap, &cfg.SearchResultCap, DefaultSearchResultCap},
		{SettingSearchINValues, &cfg.SearchINValues, DefaultSearchINValues},
	} {
		if *d.dst == 0 {
			*d.dst = d.def
		}
		if *d.dst < 0 {
			return fmt.Errorf("setting %s: %d is negative", d.name, *d.dst)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	for _, list := range []struct {
		name  string
		props []string
	}{{SettingProperties, cfg.Properties}, {SettingUniqueProperties, cfg.UniqueProperties}} {
		for _, p := range list.props {
			if !propertyName.MatchString(p) {
				return fmt.Errorf("setting %s: %q is not a HubSpot property name (letters, digits and _)", list.name, p)
			}
		}
	}
	if cfg.FindVariants == nil {
		cfg.FindVariants = settings.SplitList(DefaultFindVariants)
	}
	for _, v := range cfg.FindVariants {
		if !strings.Contains(v, "{v}") {
			return fmt.Errorf("setting %s: variant %q has no {v} (e.g. %q)", SettingFindVariants, v, DefaultFindVariants)
		}
	}
	return nil
}

// Factory opens a hubspot connection from its settings. It is a connectors.Factory.
var Factory = connectors.Opener(ParseSettings, New)

// Client is a connection to one HubSpot account. It implements connectors.Connector and
// connectors.NormalizingFinder and is safe for concurrent use: every call of a connection
// shares its request budget.
type Client struct {
	cfg  Config
	http *http.Client
	api  *httpx.Client

	// selected are the properties the syncs map, by object (ReadFields).
	selectedMu sync.Mutex
	selected   map[string][]string
	// snaps are the objects' list reads that serve a read of changes from the start.
	snaps snapshots
	// noNotIn is set once HubSpot refused a restarted search's hs_object_id NOT_IN filter
	// (Changes): later restarts read their millisecond again instead.
	noNotIn atomic.Bool
	// ties are the ids each page of changes served at its last millisecond (Changes).
	ties tieMemo
	// ahead are the records read past each page of changes, for the next (Changes).
	ahead readAhead
	// server is HubSpot's clock by its answers' Date headers: reads that must not pass
	// what changes while they read are bounded by it too (clockBound). clockRead is set
	// once readClock need not ask again; clockMu keeps first reads to one request.
	server    httpx.ServerClock
	clockMu   sync.Mutex
	clockRead bool
}

var (
	_ connectors.Connector         = (*Client)(nil)
	_ connectors.NormalizingFinder = (*Client)(nil)
)

// New returns a client for cfg (zero fields take their defaults).
func New(cfg Config) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	gate := &httpx.Gate{}
	c := &Client{
		cfg:  cfg,
		http: hc,
		api: &httpx.Client{
			HTTP:        hc,
			Base:        cfg.BaseURL,
			Auth:        httpx.Bearer(cfg.Token),
			Budget:      newBudget(cfg.RatePer10s, 10*time.Second, cfg.SearchPerSecond, time.Second, cfg.SearchCountsTowardRate, gate),
			Gate:        gate,
			Policy:      httpx.Policy{MaxAttempts: maxRateLimitedAttempts},
			RateLimited: rateLimited,
		},
	}
	c.server.Clock = c.now
	return c, nil
}

// now is the time by cfg.Now, or the real time.
func (c *Client) now() time.Time {
	if c.cfg.Now != nil {
		return c.cfg.Now()
	}
	return time.Now()
}

// readClock learns HubSpot's clock, when no answer has given it yet, from the Date of
// one list request (a record of o, from the general budget): once in a client's life, or
// again after a failure HubSpot may get over (a 5xx, a 429, the network). A read goes on
// by the client's clock alone meanwhile, and for good when HubSpot refuses the request or
// sends no Date.
func (c *Client) readClock(ctx context.Context, o objectType) {
	if _, ok := c.server.Reckon(); ok {
		return // every read after the client's first answer
	}
	c.clockMu.Lock()
	defer c.clockMu.Unlock()
	if _, ok := c.server.Reckon(); ok || c.clockRead {
		return
	}
	if _, err := c.list(ctx, o, false, "", 1); err == nil || !retryable(err) {
		c.clockRead = true
	}
}

// clockBound is now less margin by the client's clock or by HubSpot's, whichever is
// earlier: a bound that a record changed from now on is dated after (by HubSpot's clock),
// however far the client's clock is ahead of HubSpot's. HubSpot's clock is reckoned from
// its answers' Date headers (httpx.ServerClock.Reckon): up to a second behind it, so a
// client in step with HubSpot may read up to a second later than its own clock allows.
// The client's clock alone before any answer.
func (c *Client) clockBound(margin time.Duration) time.Time {
	t := c.now()
	if s, ok := c.server.Reckon(); ok && s.Before(t) {
		t = s
	}
	return t.Add(-margin)
}

// SearchLag implements connectors.IndexLagger: the search_lag setting (0 when off).
func (c *Client) SearchLag() time.Duration {
	return c.cfg.SearchLag
}

// Info implements connectors.Connector. NativeUpsert is false: companies are matched by
// domain, which HubSpot does not keep unique (api-notes [INF]), so HubSpot's batch upsert
// (which needs a unique-value idProperty) cannot serve a sync keyed on it, and the engine
// must look a key up again before re-creating on a retry.
func (c *Client) Info() connectors.Info {
	return connectors.Info{Type: Type, MaxBatch: MaxBatch, NativeUpsert: false}
}

// CloseIdleConnections closes the HTTP connections the client keeps open.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// object returns the description of a supported object, or an error naming it.
func (c *Client) object(name string) (objectType, error) {
	o, ok := objects[name]
	if !ok {
		names := make([]string, 0, len(objects))
		for n := range objects {
			names = append(names, n)
		}
		sort.Strings(names)
		return objectType{}, &connectors.NotFoundError{What: fmt.Sprintf("hubspot object %q (this connector syncs %s)", name, strings.Join(names, ", "))}
	}
	return o, nil
}

// properties returns the properties to request for o: its defaults, the configured extra
// ones, its modified-date property, and extra (a field being matched or upserted on).
func (c *Client) properties(o objectType, extra ...string) []string {
	out := append([]string{o.Modified}, o.Properties...)
	c.selectedMu.Lock()
	selected := c.selected[o.Name]
	c.selectedMu.Unlock()
	for _, list := range [][]string{c.cfg.Properties, selected, extra} {
		for _, p := range list {
			if p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// ReadFields implements connectors.FieldSelector: the properties are read from object too.
func (c *Client) ReadFields(object string, fields []string) {
	c.selectedMu.Lock()
	defer c.selectedMu.Unlock()
	if c.selected == nil {
		c.selected = map[string][]string{}
	}
	for _, f := range fields {
		if !strings.EqualFold(f, "id") {
			c.selected[object] = append(c.selected[object], f)
		}
	}
}

// unique reports whether HubSpot keeps prop's values unique on o, so batch upsert can use
// it as idProperty.
func (c *Client) unique(o objectType, prop string) bool {
	return slices.Contains(o.Unique, prop) || slices.Contains(c.cfg.UniqueProperties, prop)
}

// path returns the URL path of an object endpoint: {prefix}/{object}/{rest}.
func (c *Client) path(o objectType, rest string) string {
	return c.cfg.PathPrefix + "/" + o.Name + "/" + rest
}
