// Package ingress is Tandem's webhook ingress: POST /webhooks/<sync>/<side> reads the body
// (size-limited), verifies it by the side's connector scheme, and hands its events to the
// sync's workflow as one change signal. It answers 2xx only once Temporal accepted the
// signal (or, while the sync's execution is closing, the sync's handoff workflow took it),
// and nothing from a request that fails verification ever reaches a workflow.
package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"tandem/connectors"
	"tandem/internal/config"
	"tandem/workflows"
)

// MetricWebhookRequests counts webhook requests by sync and HTTP status.
const MetricWebhookRequests = "tandem_webhook_requests"

// MetricWebhookHandoffs counts, by sync, accepted webhook requests that were handed off
// because the sync's execution was closing (see NewTemporalSignaler).
const MetricWebhookHandoffs = "tandem_webhook_handoffs"

// Defaults of Options.
const (
	DefaultMaxBody = 1 << 20
	DefaultTimeout = 5 * time.Second
)

// Options configure a Server. The zero value is a usable default.
type Options struct {
	// MaxBody is the largest body accepted, in bytes; default DefaultMaxBody (1 MiB).
	MaxBody int64
	// Logger receives one line per request: debug when accepted, warn when rejected, error
	// on a failure of the ingress itself. Bodies and secrets are never logged.
	Logger *zap.Logger
	// Timeout bounds the signal to Temporal; default DefaultTimeout.
	Timeout time.Duration
	// Metrics, when set, counts requests by sync and status (MetricWebhookRequests)
	// through the Temporal SDK's metrics handler, beside the client's own metrics.
	Metrics client.MetricsHandler
}

// Server routes webhook requests to their syncs' workflows. It is safe for concurrent use.
type Server struct {
	syncs map[string]*syncRoutes
	sig   Signaler
	opts  Options
	log   *zap.Logger
	stats counters
}

// syncRoutes are one sync's endpoints.
type syncRoutes struct {
	webhooks bool
	sides    map[string]*endpoint // by side: "a", and "b" for a two-way sync
}

// endpoint is one side of a sync that receives webhooks.
type endpoint struct {
	sync, side, connection, object string
	verifier                       connectors.WebhookVerifier
}

// New builds a server for the syncs of a definitions file. Each side that a sync with
// webhooks: true reads changes from (side a; b too in a two-way sync) gets the verifier of
// its connection's type, built from the connection's settings; an error names the file, the
// sync and the side.
func New(syncs *config.File, reg *connectors.Registry, sig Signaler, opts Options) (*Server, error) {
	if syncs == nil || reg == nil || sig == nil {
		return nil, errors.New("webhook ingress: definitions, registry and signaler are required")
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	file := syncs.Path
	if file == "" {
		file = "sync definitions"
	}
	s := &Server{syncs: map[string]*syncRoutes{}, sig: sig, opts: opts, log: opts.Logger}
	for _, def := range syncs.Syncs {
		routes := &syncRoutes{webhooks: def.Webhooks, sides: map[string]*endpoint{}}
		s.syncs[def.Name] = routes
		if !def.Webhooks {
			continue
		}
		// A one-way sync never writes to its source, so the target's changes need no webhook.
		sides := map[string]config.Side{"a": def.A}
		if def.Mode == config.TwoWay {
			sides["b"] = def.B
		}
		for _, name := range []string{"a", "b"} {
			side, ok := sides[name]
			if !ok {
				continue
			}
			conn, ok := syncs.Connections[side.Connection]
			if !ok {
				return nil, fmt.Errorf("%s: sync %q side %s: unknown connection %q", file, def.Name, name, side.Connection)
			}
			v, err := reg.Webhooks(side.Connection, conn.Type, conn.Settings)
			if err != nil {
				return nil, fmt.Errorf("%s: sync %q side %s: %w", file, def.Name, name, err)
			}
			routes.sides[name] = &endpoint{
				sync: def.Name, side: name, connection: side.Connection, object: side.Object, verifier: v,
			}
		}
	}
	return s, nil
}

// Endpoints lists the paths that receive webhooks, sorted.
func (s *Server) Endpoints() []string {
	var paths []string
	for _, routes := range s.syncs {
		for _, ep := range routes.sides {
			paths = append(paths, "/webhooks/"+ep.sync+"/"+ep.side)
		}
	}
	sort.Strings(paths)
	return paths
}

// Handler returns the ingress's routes: POST /webhooks/<sync>/<side> and GET /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/webhooks/", s.webhook)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.reject(w, r, nil, http.StatusNotFound, "no such endpoint; webhooks are posted to /webhooks/<sync>/<side>")
	})
	return mux
}

// ListenAndServe serves on addr until ctx ends, then shuts down gracefully: requests in
// flight finish (their signals included) before it returns.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("webhook ingress: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on a listener the caller opened (an ephemeral port, say).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30*time.Second + s.opts.Timeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("webhook ingress: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout+5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	<-errc
	if err != nil {
		return fmt.Errorf("webhook ingress: shutdown: %w", err)
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeLine(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use GET", r.Method))
		return
	}
	writeLine(w, http.StatusOK, "ok")
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ep, status, reason := s.route(r.URL.Path)
	if ep == nil {
		s.reject(w, r, nil, status, reason)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.reject(w, r, ep, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; webhooks are POSTed", r.Method))
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	if err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			s.reject(w, r, ep, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than the limit of %d bytes", tooBig.Limit))
			return
		}
		s.reject(w, r, ep, http.StatusBadRequest, fmt.Sprintf("reading body: %v", err))
		return
	}

	events, err := ep.verifier.Verify(r, body)
	switch {
	case errors.Is(err, connectors.ErrBadSignature):
		s.reject(w, r, ep, http.StatusUnauthorized, err.Error())
		return
	case errors.Is(err, connectors.ErrMalformedWebhook):
		s.reject(w, r, ep, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		// The verifier broke its contract; refuse rather than trust the request.
		s.fail(w, r, ep, start, "verifying the webhook failed", err)
		return
	}

	sig := workflows.ChangeSignal{Side: ep.side, Events: make([]workflows.ChangeEvent, 0, len(events))}
	for _, ev := range events {
		if ev.Object != "" && ev.Object != ep.object {
			// Services post every subscription of an app to one URL (HubSpot mixes
			// company and contact events in one array) and do not retry a 400, so
			// events of other objects are acknowledged and left out, never refused.
			s.log.Debug("Webhook event for another object skipped", zap.String("sync", ep.sync), zap.String("side", ep.side),
				zap.String("object", ev.Object), zap.String("event", ev.ID))
			continue
		}
		if ev.RecordID == "" {
			s.reject(w, r, ep, http.StatusBadRequest, fmt.Sprintf("event %s names no record", ev.ID))
			return
		}
		sig.Events = append(sig.Events, workflows.ChangeEvent{ID: ev.ID, RecordID: ev.RecordID, Kind: ev.Kind, At: ev.OccurredAt})
	}
	if len(sig.Events) == 0 {
		s.accept(w, ep, start, http.StatusOK, 0)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
	defer cancel()
	delivery, err := s.sig.SignalChange(ctx, ep.sync, sig)
	if err != nil {
		if unavailable(err) || errors.Is(err, context.Canceled) {
			s.count(ep, http.StatusServiceUnavailable)
			s.log.Warn("Webhook not signalled: Temporal unavailable", s.fields(r, ep, http.StatusServiceUnavailable, start, zap.Error(err))...)
			writeLine(w, http.StatusServiceUnavailable, "Temporal unavailable, retry later")
			return
		}
		s.fail(w, r, ep, start, "signalling the sync's workflow failed", err)
		return
	}
	s.stats.events.Add(int64(len(sig.Events)))
	if delivery == HandedOff {
		s.handedOff(ep, len(sig.Events))
	}
	s.accept(w, ep, start, http.StatusAccepted, len(sig.Events))
}

// route finds the endpoint of a path, or says why there is none.
func (s *Server) route(path string) (*endpoint, int, string) {
	parts := strings.Split(strings.TrimPrefix(path, "/webhooks/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return nil, http.StatusNotFound, "no such endpoint; webhooks are posted to /webhooks/<sync>/<side>"
	}
	name, side := parts[0], parts[1]
	routes, ok := s.syncs[name]
	switch {
	case !ok:
		return nil, http.StatusNotFound, fmt.Sprintf("unknown sync %q", name)
	case side != "a" && side != "b":
		return nil, http.StatusNotFound, fmt.Sprintf("unknown side %q of sync %q (want a or b)", side, name)
	case !routes.webhooks:
		return nil, http.StatusNotFound, fmt.Sprintf("sync %q does not receive webhooks (webhooks: true is not set)", name)
	}
	ep, ok := routes.sides[side]
	if !ok {
		return nil, http.StatusNotFound, fmt.Sprintf("sync %q is one-way: only side a's changes are synced, so side %s receives no webhooks", name, side)
	}
	return ep, 0, ""
}

func (s *Server) accept(w http.ResponseWriter, ep *endpoint, start time.Time, status, n int) {
	s.count(ep, status)
	s.log.Debug("Webhook accepted", zap.String("sync", ep.sync), zap.String("side", ep.side), zap.Int("status", status),
		zap.Int("events", n), zap.Duration("took", time.Since(start)))
	if ack, ok := ep.verifier.(connectors.WebhookAcknowledger); ok {
		contentType, body := ack.AckResponse()
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Events int `json:"events"`
	}{n})
}

// reject answers a request that is refused for what it is; ep is nil when it names no
// endpoint.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, ep *endpoint, status int, reason string) {
	reason = oneLine(reason)
	s.count(ep, status)
	s.log.Warn("Webhook rejected", s.fields(r, ep, status, time.Time{}, zap.String("reason", reason))...)
	writeLine(w, status, reason)
}

// fail answers 500 for a failure of the ingress or what it calls; the detail goes to the
// log, not to the sender.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, ep *endpoint, start time.Time, what string, err error) {
	s.count(ep, http.StatusInternalServerError)
	s.log.Error("Webhook failed: "+what, s.fields(r, ep, http.StatusInternalServerError, start, zap.Error(err))...)
	writeLine(w, http.StatusInternalServerError, what+"; the ingress log has the details")
}

func (s *Server) fields(r *http.Request, ep *endpoint, status int, start time.Time, extra ...zap.Field) []zap.Field {
	f := []zap.Field{zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", status)}
	if ep != nil {
		f = append(f, zap.String("sync", ep.sync), zap.String("side", ep.side), zap.String("connection", ep.connection))
	}
	if !start.IsZero() {
		f = append(f, zap.Duration("took", time.Since(start)))
	}
	return append(f, extra...)
}

func writeLine(w http.ResponseWriter, status int, line string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, line+"\n")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Stats are the ingress's answers to webhook requests so far, by status.
type Stats struct {
	Accepted         int64 // 202: signalled
	Empty            int64 // 200: authentic, no events
	BadRequest       int64 // 400
	Unauthorized     int64 // 401
	NotFound         int64 // 404
	MethodNotAllowed int64 // 405
	TooLarge         int64 // 413
	Internal         int64 // 500
	Unavailable      int64 // 503
	// Events is how many events were signalled (handed off included).
	Events int64
	// HandedOff is how many accepted requests were handed off (their sync's execution
	// was closing; see NewTemporalSignaler), and HandedOffEvents their events.
	HandedOff, HandedOffEvents int64
}

type counters struct {
	accepted, empty, badRequest, unauthorized, notFound, methodNotAllowed, tooLarge, internal, unavailable, events atomic.Int64
	handedOff, handedOffEvents                                                                                     atomic.Int64
}

// count records an answer in the stats and, if configured, the metrics.
func (s *Server) count(ep *endpoint, status int) {
	s.stats.count(status)
	if s.opts.Metrics == nil {
		return
	}
	sync := "unknown"
	if ep != nil {
		sync = ep.sync
	}
	s.opts.Metrics.WithTags(map[string]string{"sync": sync, "status": strconv.Itoa(status)}).Counter(MetricWebhookRequests).Inc(1)
}

// handedOff records an accepted request that was handed off, in the stats and metrics.
func (s *Server) handedOff(ep *endpoint, events int) {
	s.stats.handedOff.Add(1)
	s.stats.handedOffEvents.Add(int64(events))
	s.log.Debug("Webhook handed off: the sync's execution is closing", zap.String("sync", ep.sync), zap.String("side", ep.side), zap.Int("events", events))
	if s.opts.Metrics != nil {
		s.opts.Metrics.WithTags(map[string]string{"sync": ep.sync}).Counter(MetricWebhookHandoffs).Inc(1)
	}
}

func (c *counters) count(status int) {
	switch status {
	case http.StatusAccepted:
		c.accepted.Add(1)
	case http.StatusOK:
		c.empty.Add(1)
	case http.StatusBadRequest:
		c.badRequest.Add(1)
	case http.StatusUnauthorized:
		c.unauthorized.Add(1)
	case http.StatusNotFound:
		c.notFound.Add(1)
	case http.StatusMethodNotAllowed:
		c.methodNotAllowed.Add(1)
	case http.StatusRequestEntityTooLarge:
		c.tooLarge.Add(1)
	case http.StatusServiceUnavailable:
		c.unavailable.Add(1)
	default:
		c.internal.Add(1)
	}
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Accepted: c.accepted.Load(), Empty: c.empty.Load(), BadRequest: c.badRequest.Load(),
		Unauthorized: c.unauthorized.Load(), NotFound: c.notFound.Load(), MethodNotAllowed: c.methodNotAllowed.Load(),
		TooLarge: c.tooLarge.Load(), Internal: c.internal.Load(), Unavailable: c.unavailable.Load(), Events: c.events.Load(),
		HandedOff: c.handedOff.Load(), HandedOffEvents: c.handedOffEvents.Load(),
	}
}

// Check validates the webhook settings of a definitions file (which syncs take webhooks,
// each side's connection able to verify them, with its secret) as New would, so a
// mistake stops start-up with the file, sync and side before anything is dialled.
func Check(syncs *config.File, reg *connectors.Registry) error {
	_, err := New(syncs, reg, checkOnly{}, Options{})
	return err
}

// checkOnly is the signaler of Check's throwaway server: it is never called.
type checkOnly struct{}

func (checkOnly) SignalChange(context.Context, string, workflows.ChangeSignal) (Delivery, error) {
	return Signalled, errors.New("webhook ingress: not serving (settings check only)")
}
