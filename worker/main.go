// Command worker runs Tandem's workflows and activities. With --dev it also embeds a real
// Temporal server (SQLite under .tandem/) and the Web UI, and starts the syncs itself;
// without --config in dev mode it runs a built-in demo sync. Otherwise it connects to the
// cluster named by TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"tandem/activities"
	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/demo"
	"tandem/internal/devserver"
	"tandem/internal/ingress"
	"tandem/internal/logging"
	"tandem/internal/metrics"
	"tandem/pairs"
	"tandem/secret"
	"tandem/workflows"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := command(os.Args[1:], run).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	logger, err := logging.New(o.logLevel, false)
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()

	// The ingress's port is taken first, so a busy port stops start-up before anything runs.
	var ln net.Listener
	if o.webhooks != "" {
		if ln, err = net.Listen("tcp", o.webhooks); err != nil {
			return fmt.Errorf("webhook ingress: %w", err)
		}
		defer ln.Close()
	}
	syncs, conns, closeDefs, err := definitions(ctx, o, ln, logger)
	if err != nil {
		return err
	}
	defer closeDefs()
	// Webhook settings are checked with the rest of the file, before Temporal is dialled,
	// whether or not this process serves the ingress.
	if err := ingress.Check(syncs, builtin.Registry()); err != nil {
		return err
	}
	// From here on, no log line or activity error holds a value of the environment the
	// definitions file read (tokens, DSNs), whatever library quoted it.
	secrets := secret.New(syncs.Secrets)
	logger = logging.Scrub(logger, secrets)

	var mh client.MetricsHandler
	if o.metrics != "" {
		m := metrics.New()
		defer m.Close()
		mln, err := net.Listen("tcp", o.metrics)
		if err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		go func() {
			if err := m.Serve(ctx, mln); err != nil {
				logger.Error("metrics endpoint stopped", zap.Error(err))
			}
		}()
		mh = m.Handler()
		logger.Info("metrics", zap.String("address", "http://"+mln.Addr().String()+"/metrics"))
	}

	var c client.Client
	namespace := ""
	var srv *devserver.Server
	if o.dev {
		if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		srv, err = devserver.Start(devserver.Options{
			DBFile:           filepath.Join(o.dataDir, "temporal.db"),
			Port:             o.port,
			UIPort:           o.uiPort,
			SearchAttributes: app.SearchAttributes,
			Logger:           logger,
		})
		if err != nil {
			return fmt.Errorf("start embedded Temporal server: %w", err)
		}
		defer srv.Stop()
		if c, err = srv.NewClient(ctx, client.Options{
			Logger:         logging.Temporal(logger),
			MetricsHandler: mh,
			// The embedded server is on loopback: compression would only cost CPU.
			ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}},
		}); err != nil {
			return err
		}
		namespace = srv.Namespace()
		logger.Info("embedded Temporal server running", zap.String("frontend", srv.FrontendAddress()),
			zap.String("ui", "http://"+srv.UIAddress()), zap.String("data", o.dataDir))
	} else {
		opts, err := app.ClientOptions(logging.Temporal(logger))
		if err != nil {
			return err
		}
		opts.MetricsHandler = mh
		if c, err = app.Dial(ctx, opts); err != nil {
			return err
		}
		namespace = opts.Namespace
	}
	defer c.Close()
	// Syncs publish their state (TandemState, TandemLastSuccess) where the namespace has
	// the attributes; `starter setup` registers them.
	searchState, missing, err := app.HasStateAttributes(ctx, c, namespace)
	if err != nil {
		logger.Warn("cannot list the namespace's search attributes; syncs will not publish their state to them", zap.Error(err))
	} else if !searchState {
		logger.Warn("the namespace lacks Tandem's state search attributes; syncs will not publish their state to them until `go run ./starter setup` registers them",
			zap.Strings("missing", missing), zap.String("namespace", namespace))
	}

	links, where, err := openLinks(o.dataDir)
	if err != nil {
		return err
	}
	defer links.Close()
	logger.Info("link store", zap.String("at", where))

	w := app.NewWorker(c, &activities.Activities{Syncs: syncs, Connections: conns, Links: links, Secrets: secrets, SearchState: searchState})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	logger.Info("worker polling", zap.String("taskQueue", workflows.TaskQueue), zap.Strings("syncs", syncs.SyncNames()))

	ingressDone := make(chan error, 1)
	if ln != nil {
		in, err := ingress.New(syncs, builtin.Registry(), ingress.NewTemporalSignaler(c, namespace), ingress.Options{Logger: logger.Named("ingress"), Metrics: mh})
		if err != nil {
			return err
		}
		go func() { ingressDone <- in.Serve(ctx, ln) }()
		logger.Info("webhook ingress listening", zap.String("address", "http://"+ln.Addr().String()), zap.Strings("endpoints", in.Endpoints()))
	} else {
		ingressDone <- nil
	}

	if o.dev {
		for _, name := range syncs.SyncNames() {
			run, started, err := app.StartSync(ctx, c, name, nil)
			if err != nil {
				return err
			}
			logger.Info("sync workflow", zap.String("sync", name), zap.String("workflowID", run.GetID()), zap.Bool("started", started))
		}
		hooks := "off"
		if ln != nil {
			hooks = "http://" + ln.Addr().String() + "/webhooks/<sync>/<side>"
		}
		ui := "off (--ui-port 0)"
		if srv != nil && srv.UIAddress() != "" {
			ui = "http://" + srv.UIAddress()
		}
		// The starter dials 127.0.0.1:7233 unless told otherwise.
		starter := "go run ./starter"
		if o.port != 7233 {
			starter = fmt.Sprintf("TEMPORAL_ADDRESS=127.0.0.1:%d go run ./starter", o.port)
		}
		fmt.Fprintf(os.Stderr, "\nTandem dev mode is up.\n  Temporal Web UI:  %s\n  webhooks:         %s\n  status:           %s status\n  sync now:         %s sync-now --sync %s\n  stop:             Ctrl-C (state is kept in %s)\n\n",
			ui, hooks, starter, starter, syncs.SyncNames()[0], o.dataDir)
	}

	<-ctx.Done()
	logger.Info("shutting down")
	return <-ingressDone
}

// linksEnv names the environment variable that points the link store at a PostgreSQL
// database (its tables go in a schema of their own, tandem_links).
const linksEnv = "TANDEM_LINKS_DSN"

// openLinks opens the link store two-way syncs keep their pairs in: the PostgreSQL
// database TANDEM_LINKS_DSN names, or else a SQLite file under the data dir. where says
// which, without the DSN's password.
func openLinks(dataDir string) (pairs.Store, string, error) {
	if dsn := os.Getenv(linksEnv); dsn != "" {
		st, err := pairs.Open(dsn)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", linksEnv, err)
		}
		return st, "postgres (" + linksEnv + "), schema tandem_links", nil
	}
	path := filepath.Join(dataDir, "links.db")
	st, err := pairs.Open(path)
	if err != nil {
		return nil, "", err
	}
	return st, path, nil
}

// definitions loads --config, or builds the demo in dev mode (sending its webhooks to the
// ingress on ln, if any).
func definitions(ctx context.Context, o options, ln net.Listener, logger *zap.Logger) (*config.File, map[string]connectors.Connector, func(), error) {
	reg := builtin.Registry()
	if o.configPath != "" {
		syncs, err := config.Load(o.configPath, reg.Types())
		if err != nil {
			return nil, nil, nil, err
		}
		conns, err := app.OpenConnections(syncs, reg)
		if err != nil {
			return nil, nil, nil, err
		}
		// A mapping that names a field a service's object does not have stops start-up;
		// a service that cannot be asked now is checked again before each run.
		if err := app.CheckMappings(ctx, syncs, conns, func(sync string, err error) {
			logger.Warn("Mapping not checked at start; each run checks it", zap.String("sync", sync), zap.Error(err))
		}); err != nil {
			return nil, nil, nil, err
		}
		return syncs, conns, func() {}, nil
	}
	if !o.dev {
		return nil, nil, nil, fmt.Errorf("--config is required (or run the demo with --dev)")
	}
	url := ""
	if ln != nil {
		url = "http://" + ln.Addr().String()
	}
	d, err := demo.Start(demo.Options{Ingress: url, Logger: logger.Named("demo"), StateDir: o.dataDir})
	if err != nil {
		return nil, nil, nil, err
	}
	conns, err := app.OpenConnections(d.Syncs, reg)
	if err != nil {
		d.Close()
		return nil, nil, nil, err
	}
	logger.Info("demo: fake Salesloft and HubSpot running (bearer token "+demo.Token+")",
		zap.String("salesloft", d.SalesloftURL), zap.String("hubspot", d.HubSpotURL))
	go d.Edit(ctx, 20*time.Second, logger.Named("demo"))
	return d.Syncs, conns, d.Close, nil
}
