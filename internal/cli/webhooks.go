package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"tandem/connectors/builtin"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/ingress"
	"tandem/internal/logging"
	"tandem/internal/metrics"
	"tandem/secret"
	"tandem/workflows"
)

// WebhooksCommand returns the `starter webhooks` verb: the webhook ingress, serving until
// the command's context ends (SIGINT or SIGTERM in the starter). A nil dial reaches
// Temporal through the standard environment.
func WebhooksCommand(dial Dialer, out io.Writer) *cobra.Command {
	var configPath, listen, logLevel, metricsAddr string
	var maxBody int64
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Serve the webhook ingress: POST /webhooks/<sync>/<side> becomes a change signal to the sync",
		Long: `Serve the webhook ingress. Each sync with webhooks: true receives its services' signed
webhooks at POST /webhooks/<sync>/<side>; verified events are signalled to the sync's
workflow (starting it if needed). GET /healthz answers "ok".

The webhook secrets are read from the environment, as the definitions file names them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			logger, err := logging.New(logLevel, false)
			if err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			defer func() { _ = logger.Sync() }()

			// Everything the definitions can get wrong is reported before Temporal is dialled.
			reg := builtin.Registry()
			defs, err := config.Load(configPath, reg.Types())
			if err != nil {
				return err
			}
			logger = logging.Scrub(logger, secret.New(defs.Secrets))
			sig := &lateSignaler{}
			var mh client.MetricsHandler
			if metricsAddr != "" {
				m := metrics.New()
				defer m.Close()
				mln, err := net.Listen("tcp", metricsAddr)
				if err != nil {
					return fmt.Errorf("--metrics: %w", err)
				}
				go func() { _ = m.Serve(ctx, mln) }()
				mh = m.Handler()
				fmt.Fprintf(out, "metrics on http://%s/metrics\n", mln.Addr())
			}
			srv, err := ingress.New(defs, reg, sig, ingress.Options{Logger: logger, MaxBody: maxBody, Metrics: mh})
			if err != nil {
				return err
			}
			endpoints := srv.Endpoints()
			if len(endpoints) == 0 {
				return fmt.Errorf("%s: no sync has webhooks: true, so there is nothing to serve", configPath)
			}

			namespace := "" // the signaler's default, as a Dialer's client is dialled to
			if dial == nil {
				dial = func(ctx context.Context) (client.Client, error) {
					opts, err := app.ClientOptions(logging.Temporal(logger))
					if err != nil {
						return nil, err
					}
					namespace = opts.Namespace
					opts.MetricsHandler = mh
					return app.Dial(ctx, opts)
				}
			}
			c, err := dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			sig.Signaler = ingress.NewTemporalSignaler(c, namespace)

			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			base := "http://" + ln.Addr().String()
			fmt.Fprintf(out, "webhook ingress listening on %s\n", base)
			for _, p := range endpoints {
				fmt.Fprintf(out, "  POST %s%s\n", base, p)
			}
			if err := srv.Serve(ctx, ln); err != nil {
				return err
			}
			fmt.Fprintln(out, "webhook ingress stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "sync definitions file (syncs.yaml); its ${VAR}s, webhook secrets included, must be set")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve on")
	cmd.Flags().Int64Var(&maxBody, "max-body", ingress.DefaultMaxBody, "largest webhook body accepted, in bytes")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: "+logging.Levels)
	cmd.Flags().StringVar(&metricsAddr, "metrics", "", "address to serve Prometheus metrics on (GET /metrics); empty: none")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// lateSignaler lets the ingress be built, and the definitions checked, before Temporal is
// dialled.
type lateSignaler struct{ ingress.Signaler }

func (l *lateSignaler) SignalChange(ctx context.Context, sync string, sig workflows.ChangeSignal) (ingress.Delivery, error) {
	if l.Signaler == nil {
		return ingress.Signalled, errors.New("not connected to Temporal yet")
	}
	return l.Signaler.SignalChange(ctx, sync, sig)
}
