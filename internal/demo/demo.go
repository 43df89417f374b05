// Package demo is what `worker --dev` runs when no --config is given: the article's
// bi-directional example. Fake Salesloft (accounts) and fake HubSpot (companies) run as
// local HTTP servers speaking the services' wire formats, seeded with companies, some on
// both sides with the domain written differently; the sync `companies` keeps them in step
// both ways, matched by domain, with each fake's signed webhooks sent to the ingress and a
// 15-minute schedule behind them.
//
// With Options.StateDir the fakes keep their records and counters in a file there, so a
// restarted demo goes on where it stopped: the first start seeds and saves, later ones
// restore.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"tandem/connectors/hubspot/hubspotfake"
	"tandem/connectors/memory"
	"tandem/connectors/salesloft/salesloftfake"
	"tandem/definition"
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
	// StateDir, when set, keeps the fakes' state (records with their ids, fields and
	// dates; id counters) in StateDir/StateFile, so the demo survives a restart of the
	// worker: Start restores it from there instead of seeding (the first start seeds and
	// saves at once), and it is saved every SaveEvery when it changed and on Close, so a
	// kill -9 loses only the last moments. "" keeps nothing: every start seeds afresh.
	StateDir string
	// SaveEvery is how often the state is saved when it changed; default 2s.
	SaveEvery time.Duration
}

// StateFile is the file under Options.StateDir that holds the fakes' state. Delete it
// (with the rest of the data dir, whose links and cursors refer to these records) to
// start the demo afresh.
const StateFile = "demo-fakes.json"

// idGap is how far a restored fake's record ids jump past the saved counters. Records
// created after the last save are lost to a kill -9, but Tandem's link store remembers
// their ids: none of them must be given to another record. A restored fake numbers its
// new records idGap past the saved counter (far more than the demo creates between two
// saves), and saves the moved counter at once, so the next start jumps past it again.
const idGap = 1000

// stateVersion is the layout of StateFile.
const stateVersion = 1

// savedState is StateFile's content.
type savedState struct {
	Version   int                 `json:"version"`
	Salesloft salesloftfake.State `json:"salesloft"`
	HubSpot   hubspotfake.State   `json:"hubspot"`
}

// Demo is the running demo.
type Demo struct {
	Syncs     *config.File
	Salesloft *salesloftfake.Server
	HubSpot   *hubspotfake.Server
	// SalesloftURL and HubSpotURL are the fakes' base URLs.
	SalesloftURL, HubSpotURL string
	servers                  []*http.Server
	logger                   *zap.Logger

	// With a StateDir: where the state is saved, what was saved last, and the saver.
	statePath  string
	saveMu     sync.Mutex
	saved      []byte
	stopSaving chan struct{}
	saverDone  chan struct{}
	closeOnce  sync.Once
}

// Start starts both fakes, seeds them (or restores them from Options.StateDir), and
// returns the sync definitions that connect them.
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
	if o.SaveEvery <= 0 {
		o.SaveEvery = 2 * time.Second
	}
	started := time.Now()
	slLn, err := net.Listen("tcp", o.SalesloftAddr)
	if err != nil {
		return nil, fmt.Errorf("demo Salesloft: %w", err)
	}
	hsLn, err := net.Listen("tcp", o.HubSpotAddr)
	if err != nil {
		slLn.Close()
		return nil, fmt.Errorf("demo HubSpot: %w", err)
	}
	d := &Demo{SalesloftURL: "http://" + slLn.Addr().String(), HubSpotURL: "http://" + hsLn.Addr().String(), logger: o.Logger}
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
		// The ingress drops an eventId it has seen as a duplicate, and it remembers them
		// across restarts: each start numbers its events above any earlier start's (up
		// to a thousand events a millisecond), whatever state it restored.
		EventIDBase: started.UnixMilli() * 1000,
	})
	if err := d.restoreOrSeed(o); err != nil {
		slLn.Close()
		hsLn.Close()
		d.Salesloft.Close()
		d.HubSpot.Close()
		return nil, err
	}
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
	if d.statePath != "" {
		d.stopSaving, d.saverDone = make(chan struct{}), make(chan struct{})
		go d.saveEvery(o.SaveEvery)
	}
	d.Syncs = definitions(d, o, hsHook)
	return d, nil
}

// restoreOrSeed fills the fakes: from the state file when there is one, else with the
// seed companies (saved at once, so a restart does not seed them again with new dates).
func (d *Demo) restoreOrSeed(o Options) error {
	if o.StateDir == "" {
		seed(d.Salesloft, d.HubSpot)
		return nil
	}
	if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
		return fmt.Errorf("demo state: %w", err)
	}
	d.statePath = filepath.Join(o.StateDir, StateFile)
	raw, err := os.ReadFile(d.statePath)
	if errors.Is(err, fs.ErrNotExist) {
		seed(d.Salesloft, d.HubSpot)
		if err := d.save(); err != nil {
			return err
		}
		o.Logger.Info("demo: fakes seeded; their state is kept in "+d.statePath, zap.String("state", d.statePath))
		return nil
	}
	if err != nil {
		return fmt.Errorf("demo state: %w", err)
	}
	var st savedState
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("demo state %s: %w (delete the data directory to start the demo afresh)", d.statePath, err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("demo state %s: version %d, this worker reads version %d (delete the data directory to start the demo afresh)", d.statePath, st.Version, stateVersion)
	}
	st.Salesloft.LastID += idGap
	st.HubSpot.LastID += idGap
	if err := d.Salesloft.Restore(st.Salesloft); err != nil {
		return fmt.Errorf("demo state %s: %w", d.statePath, err)
	}
	if err := d.HubSpot.Restore(st.HubSpot); err != nil {
		return fmt.Errorf("demo state %s: %w", d.statePath, err)
	}
	// Saved at once with the counters moved on, so that a kill -9 before the next save
	// does not have the next start number records from the same place again.
	if err := d.save(); err != nil {
		return err
	}
	o.Logger.Info("demo: fakes restored from "+d.statePath, zap.Int("salesloft_accounts", d.Salesloft.Len()),
		zap.Int("hubspot_companies", len(d.HubSpot.Records("companies"))))
	return nil
}

// save writes the fakes' state to the state file if it changed since the last save,
// atomically: a kill -9 leaves the old file or the new one.
func (d *Demo) save() error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	raw, err := json.MarshalIndent(savedState{Version: stateVersion, Salesloft: d.Salesloft.Snapshot(), HubSpot: d.HubSpot.Snapshot()}, "", "  ")
	if err != nil {
		return fmt.Errorf("demo state: %w", err)
	}
	if bytes.Equal(raw, d.saved) {
		return nil
	}
	if err := writeFile(d.statePath, raw); err != nil {
		return fmt.Errorf("demo state: %w", err)
	}
	d.saved = raw
	return nil
}

func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// saveEvery saves the state every interval until Close.
func (d *Demo) saveEvery(every time.Duration) {
	defer close(d.saverDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.stopSaving:
			return
		case <-t.C:
			if err := d.save(); err != nil {
				d.logger.Warn("demo: cannot save the fakes' state", zap.Error(err))
			}
		}
	}
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
			// A company deleted (archived) on one side is deleted on the other: HubSpot's
			// archived list and deletion webhooks, Salesloft's ids diffed every run.
			Deletes: definition.Deletes{Mode: definition.DeleteDelete, Max: definition.DefaultDeleteMax, MaxPercent: definition.DefaultDeleteMaxPercent},
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

// Close stops the fakes and, with a StateDir, saves their state. Calling it again is
// harmless.
func (d *Demo) Close() {
	d.closeOnce.Do(func() {
		for _, s := range d.servers {
			_ = s.Close()
		}
		d.Salesloft.Close()
		d.HubSpot.Close()
		if d.statePath == "" {
			return
		}
		close(d.stopSaving)
		<-d.saverDone
		if err := d.save(); err != nil {
			d.logger.Error("demo: cannot save the fakes' state; the next start goes on from the last save", zap.Error(err))
			return
		}
		d.logger.Info("demo: fakes' state saved", zap.String("state", d.statePath))
	})
}
