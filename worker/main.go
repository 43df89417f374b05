// Command worker runs Tandem's workflows and activities. With --dev it also embeds a real
// Temporal server (SQLite under .tandem/) and the Web UI, and starts the syncs itself;
// without --config in dev mode it runs a built-in demo sync. Otherwise it connects to the
// cluster named by TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"tandem/activities"
	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/demo"
	"tandem/internal/devserver"
	"tandem/internal/logging"
	"tandem/workflows"
)

type options struct {
	dev        bool
	configPath string
	dataDir    string
	port       int
	uiPort     int
	logLevel   string
}

func main() {
	var o options
	flag.BoolVar(&o.dev, "dev", false, "embed a Temporal server and Web UI, and start the syncs (demo sync without --config)")
	flag.StringVar(&o.configPath, "config", "", "sync definitions file (syncs.yaml)")
	flag.StringVar(&o.dataDir, "data-dir", ".tandem", "dev mode: directory of the embedded server's SQLite database")
	flag.IntVar(&o.port, "port", 7233, "dev mode: Temporal frontend port on 127.0.0.1")
	flag.IntVar(&o.uiPort, "ui-port", 8233, "dev mode: Temporal Web UI port on 127.0.0.1 (0: no UI)")
	flag.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
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

	syncs, conns, err := definitions(ctx, o, logger)
	if err != nil {
		return err
	}

	var c client.Client
	if o.dev {
		if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		srv, err := devserver.Start(devserver.Options{
			DBFile:           filepath.Join(o.dataDir, "temporal.db"),
			Port:             o.port,
			UIPort:           o.uiPort,
			SearchAttributes: map[string]enumspb.IndexedValueType{workflows.SyncSearchAttribute: enumspb.INDEXED_VALUE_TYPE_KEYWORD},
			Logger:           logger,
		})
		if err != nil {
			return fmt.Errorf("start embedded Temporal server: %w", err)
		}
		defer srv.Stop()
		if c, err = srv.NewClient(ctx, client.Options{
			Logger: logging.Temporal(logger),
			// The embedded server is on loopback: compression would only cost CPU.
			ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}},
		}); err != nil {
			return err
		}
		logger.Info("embedded Temporal server running", zap.String("frontend", srv.FrontendAddress()),
			zap.String("ui", "http://"+srv.UIAddress()), zap.String("data", o.dataDir))
	} else {
		if c, err = app.Dial(ctx, app.ClientOptions(logging.Temporal(logger))); err != nil {
			return err
		}
	}
	defer c.Close()

	w := app.NewWorker(c, &activities.Activities{Syncs: syncs, Connections: conns})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	logger.Info("worker polling", zap.String("taskQueue", workflows.TaskQueue), zap.Strings("syncs", syncs.SyncNames()))

	if o.dev {
		for _, name := range syncs.SyncNames() {
			run, started, err := app.StartSync(ctx, c, name)
			if err != nil {
				return err
			}
			logger.Info("sync workflow", zap.String("sync", name), zap.String("workflowID", run.GetID()), zap.Bool("started", started))
		}
		fmt.Fprintf(os.Stderr, "\nTandem dev mode is up.\n  Temporal Web UI:  http://127.0.0.1:%d\n  status:           go run ./starter status\n  sync now:         go run ./starter sync-now --sync %s\n  stop:             Ctrl-C (state is kept in %s)\n\n",
			o.uiPort, syncs.SyncNames()[0], o.dataDir)
	}

	<-ctx.Done()
	logger.Info("shutting down")
	return nil
}

// definitions loads --config, or builds the demo in dev mode.
func definitions(ctx context.Context, o options, logger *zap.Logger) (*config.File, map[string]connectors.Connector, error) {
	reg := builtin.Registry()
	if o.configPath != "" {
		syncs, err := config.Load(o.configPath, reg.Types())
		if err != nil {
			return nil, nil, err
		}
		conns, err := app.OpenConnections(syncs, reg)
		if err != nil {
			return nil, nil, err
		}
		return syncs, conns, nil
	}
	if !o.dev {
		return nil, nil, fmt.Errorf("--config is required (or run the demo with --dev)")
	}
	d := demo.New()
	go d.Edit(ctx, 10*time.Second, logger.Named("demo"))
	return d.Syncs, d.Connections, nil
}
