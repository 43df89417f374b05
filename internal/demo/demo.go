// Package demo is what `worker --dev` runs when no --config is given: the article's
// bi-directional example. Fake Salesloft (accounts) and fake HubSpot (companies) run as
// local HTTP servers speaking the services' wire formats, seeded with companies, some on
// both sides with the domain written differently; the sync `companies` keeps them in step
// both ways, matched by domain, with each fake's signed webhooks sent to the ingress and a
// 15-minute schedule behind them.
package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"tandem/connectors/hubspot/hubspotfake"
	"tandem/connectors/memory"
	"tandem/connectors/salesloft/salesloftfake"
	"tandem/internal/config"
)

// The demo's fixed values. None is a secret: the demo runs on loopback.
const (
	Token            = "demo-token"
	SalesloftAddr    = "127.0.0.1:8701"
	HubSpotAddr      = "127.0.0.1:8702"
	SalesloftWebhook = "demo-salesloft-callback-token"
	HubSpotSecret    = "demo-hubspot-client-secret"
	Sync             = "companies"
)

// Options place the demo's servers (tests use free ports).
type Options struct {
	SalesloftAddr, HubSpotAddr string
	// Ingress is the ingress's base URL (http://127.0.0.1:8080); "" sends no webhooks.
	Ingress string
	Logger  *zap.Logger
	// Every is the sync's schedule; default 15 minutes.
	Every time.Duration
	// HubSpotIndexLag makes fake HubSpot's searches trail its writes by this much, as
	// HubSpot's search index does; the connection's search_lag is then a second more.
	// Default none.
	HubSpotIndexLag time.Duration
}

// Demo is the running demo.
type Demo struct {
	Syncs     *config.File
	Salesloft *salesloftfake.Server
	HubSpot   *hubspotfake.Server
	// SalesloftURL and HubSpotURL are the fakes' base URLs.
	SalesloftURL, HubSpotURL string
	servers                  []*http.Server
}

// Start starts both fakes, seeds them, and returns the sync definitions that connect them.
func Start(o Options) (*Demo, error) {
	if o.SalesloftAddr == "" {
		o.SalesloftAddr = SalesloftAddr
	}
	if o.HubSpotAddr == "" {
		o.HubSpotAddr = HubSpotAddr
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Every == 0 {
		o.Every = 15 * time.Minute
	}
	slLn, err := net.Listen("tcp", o.SalesloftAddr)
	if err != nil {
		return nil, fmt.Errorf("demo Salesloft: %w", err)
	}
	hsLn, err := net.Listen("tcp", o.HubSpotAddr)
	if err != nil {
		slLn.Close()
		return nil, fmt.Errorf("demo HubSpot: %w", err)
	}
	d := &Demo{SalesloftURL: "http://" + slLn.Addr().String(), HubSpotURL: "http://" + hsLn.Addr().String()}
	slHook, hsHook := "", ""
	if o.Ingress != "" {
		slHook = o.Ingress + "/webhooks/" + Sync + "/a"
		hsHook = o.Ingress + "/webhooks/" + Sync + "/b"
	}
	d.Salesloft = salesloftfake.New(salesloftfake.Options{
		Token: Token, CallbackToken: SalesloftWebhook, WebhookURL: slHook, WebhookRetryInterval: 2 * time.Second,
	})
	d.HubSpot = hubspotfake.New(hubspotfake.Options{
		Token: Token, ClientSecret: HubSpotSecret, WebhookURL: hsHook, WebhookObjects: []string{"companies"},
		Logger: o.Logger.Named("hubspot"), IndexLag: o.HubSpotIndexLag,
	})
	seed(d.Salesloft, d.HubSpot)
	for _, s := range []struct {
		ln net.Listener
		h  http.Handler
	}{{slLn, d.Salesloft.Handler()}, {hsLn, d.HubSpot.Handler()}} {
		srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
		d.servers = append(d.servers, srv)
		go func() {
			if err := srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				o.Logger.Error("demo server stopped", zap.Error(err))
			}
		}()
	}
	d.Syncs = definitions(d, o, hsHook)
	return d, nil
}

// definitions are the article's two-way sync between the fakes.
func definitions(d *Demo, o Options, hsHook string) *config.File {
	hs := map[string]string{
		"token": Token, "base_url": d.HubSpotURL, "webhook_secret": HubSpotSecret,
		// Domains written with a scheme are found too.
		"find_variants": "{v},www.{v},http://{v},https://{v},https://www.{v}",
	}
	if hsHook != "" {
		hs["webhook_url"] = hsHook
	}
	if o.HubSpotIndexLag > 0 {
		hs["search_lag"] = (o.HubSpotIndexLag + time.Second).String()
	}
	return &config.File{
		Path: "(built-in demo)",
		Connections: map[string]config.Connection{
			"salesloft": {Name: "salesloft", Type: "salesloft", Settings: map[string]string{
				"token": Token, "base_url": d.SalesloftURL, "webhook_secret": SalesloftWebhook,
			}},
			"hubspot": {Name: "hubspot", Type: "hubspot", Settings: hs},
		},
		Syncs: []config.Sync{{
			Name: Sync,
			Mode: config.TwoWay,
			A:    config.Side{Connection: "salesloft", Object: "accounts", Key: "domain"},
			B:    config.Side{Connection: "hubspot", Object: "companies", Key: "domain"},
			Fields: []config.Field{
				{A: "name", B: "name", Normalize: []string{"trim"}, Direction: config.Both},
				{A: "domain", B: "domain", Normalize: []string{"domain"}, Direction: config.Both},
				{A: "phone", B: "phone", Normalize: []string{"trim"}, Direction: config.Both},
			},
			Conflict: config.NewestWins,
			Schedule: config.Schedule{Every: o.Every},
			Webhooks: o.Ingress != "",
			PageSize: 100,
		}},
	}
}

// seed puts 30 companies in Salesloft only, 10 in HubSpot only, and 10 in both with the
// domain written differently on the HubSpot side. HubSpot's were last modified an hour
// ago, as data that was there before the sync: HubSpot's changes are read once they are
// older than the search lag (search_lag, 5s).
func seed(sl *salesloftfake.Server, hs *hubspotfake.Server) {
	before := time.Now().Add(-time.Hour)
	for i := range 50 {
		c := memory.SampleCompany(i)
		name, domain, phone := c["name"].(string), c["domain"].(string), c["phone"].(string)
		if i < 40 {
			sl.Seed(map[string]any{"name": name, "domain": domain, "phone": phone})
		}
		if i >= 30 {
			written := domain
			switch i % 3 {
			case 0:
				written = "WWW." + domain
			case 1:
				written = "https://" + domain
			default:
				written = "https://www." + domain
			}
			if i >= 40 {
				written = domain
			}
			hs.SeedAt("companies", map[string]string{"name": name, "domain": written, "phone": phone}, before)
		}
	}
}

// Edit changes a company in one of the fakes every interval, as a user of it would, until
// ctx ends: the change reaches the other fake through its webhook.
func (d *Demo) Edit(ctx context.Context, every time.Duration, logger *zap.Logger) {
	rng := rand.New(rand.NewPCG(7, 11))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		phone := fmt.Sprintf("+1 555 %04d", rng.IntN(10000))
		if rng.IntN(2) == 0 {
			recs := d.Salesloft.Records()
			if len(recs) == 0 {
				continue
			}
			r := recs[rng.IntN(len(recs))]
			if err := d.Salesloft.Set(r.ID, map[string]any{"phone": phone}); err == nil {
				logger.Info("demo: edited a Salesloft account", zap.String("id", r.ID), zap.Any("domain", r.Fields["domain"]), zap.String("phone", phone))
			}
			continue
		}
		recs := d.HubSpot.Records("companies")
		if len(recs) == 0 {
			continue
		}
		r := recs[rng.IntN(len(recs))]
		if err := d.HubSpot.Set("companies", r.ID, map[string]string{"phone": phone}); err == nil {
			logger.Info("demo: edited a HubSpot company", zap.String("id", r.ID), zap.String("domain", r.Properties["domain"]), zap.String("phone", phone))
		}
	}
}

// Close stops the fakes.
func (d *Demo) Close() {
	for _, s := range d.servers {
		_ = s.Close()
	}
	d.Salesloft.Close()
	d.HubSpot.Close()
}
