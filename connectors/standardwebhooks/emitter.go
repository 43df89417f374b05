package standardwebhooks

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"tandem/connectors"
	"tandem/connectors/httpx"
)

// EmitterOptions configure an Emitter. The zero value is a usable default.
type EmitterOptions struct {
	// Client sends the requests; default an http.Client with a 10s timeout.
	Client *http.Client
	// QueueSize is how many events may wait to be sent; past it Emit drops events (and
	// counts them). Default 1024.
	QueueSize int
	// Attempts is how many times one event is tried; default 5.
	Attempts int
	// Backoff is the wait before the first retry, doubled (with jitter) for each next one
	// up to MaxBackoff; defaults 200ms and 5s. A Retry-After header is honoured up to
	// MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// DrainTimeout is how long Close lets queued events be delivered; default 5s.
	DrainTimeout time.Duration
	// Now stamps events and signatures; default time.Now.
	Now    func() time.Time
	Logger *zap.Logger
}

// EmitterStats count an Emitter's events.
type EmitterStats struct {
	// Sent were accepted by the receiver (2xx).
	Sent int64
	// Failed were refused, or not delivered after every attempt.
	Failed int64
	// Dropped never got into the queue: it was full, or the emitter closed.
	Dropped int64
}

// Emitter sends Tandem's signed webhooks to one URL, as a real service would: events are
// queued without blocking the writer, posted one at a time by a background goroutine with
// a fresh webhook-id each (kept across that event's retries, so the receiver can drop a
// redelivery), and retried with backoff on network errors, 429 and 5xx.
type Emitter struct {
	url    string
	secret string
	opts   EmitterOptions
	log    *zap.Logger

	mu     sync.Mutex // guards closed and sending on queue
	closed bool
	queue  chan delivery

	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc
	done   chan struct{}

	sent, failed, dropped atomic.Int64
}

type delivery struct {
	id   string
	body []byte
}

// NewEmitter starts an emitter posting to url, signing with secret (see ParseSecret).
// Close stops it.
func NewEmitter(url, secret string, opts EmitterOptions) *Emitter {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Emitter{
		url:    url,
		secret: secret,
		opts:   opts,
		log:    log.With(zap.String("url", url)),
		queue:  make(chan delivery, opts.QueueSize),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go e.run()
	return e
}

// Emit queues an event saying record r of object changed. kind is "created", "updated" or
// "deleted" (or the full type, "record.updated"). It never blocks: when the queue is full
// the event is dropped, counted and logged, as the next scheduled run reads the change
// anyway.
func (e *Emitter) Emit(object string, r connectors.Record, kind string) {
	typ := kind
	if !strings.HasPrefix(typ, "record.") {
		typ = "record." + kind
	}
	if typ != TypeCreated && typ != TypeUpdated && typ != TypeDeleted {
		e.failed.Add(1)
		e.log.Error("Webhook not emitted: unknown kind", zap.String("kind", kind))
		return
	}
	p := Payload{
		Type:      typ,
		Timestamp: e.opts.Now().UTC().Format(time.RFC3339),
		Data:      PayloadData{Object: object, ID: r.ID},
	}
	if !r.UpdatedAt.IsZero() {
		p.Data.UpdatedAt = r.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	body, err := json.Marshal(p)
	if err != nil { // cannot happen: the payload is strings only
		e.failed.Add(1)
		return
	}
	d := delivery{id: newID(), body: body}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		e.dropped.Add(1)
		return
	}
	select {
	case e.queue <- d:
	default:
		// Log the first drop and then one in a thousand, so a burst does not flood the log.
		if n := e.dropped.Add(1); n == 1 || n%1000 == 0 {
			e.log.Warn("Webhook queue full; event dropped", zap.Int64("dropped", n), zap.Int("queueSize", e.opts.QueueSize))
		}
	}
}

// OnChange emits an update for r. Its signature is memory.Options.OnChange's, so a memory
// connector emits a webhook on every write:
//
//	memory.New(memory.Options{OnChange: emitter.OnChange})
//
// The hook cannot tell a create from an update, so every event is "record.updated";
// receivers read the record fresh anyway.
func (e *Emitter) OnChange(object string, r connectors.Record) {
	e.Emit(object, r, TypeUpdated)
}

// Stats returns the emitter's counts so far.
func (e *Emitter) Stats() EmitterStats {
	return EmitterStats{Sent: e.sent.Load(), Failed: e.failed.Load(), Dropped: e.dropped.Load()}
}

// Close stops accepting events, delivers those already queued for up to DrainTimeout
// (then abandons the rest, counted as failed), and waits for the goroutine to end.
// Calling it again is harmless.
func (e *Emitter) Close() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.queue)
	}
	e.mu.Unlock()

	t := time.AfterFunc(e.opts.DrainTimeout, e.cancel)
	<-e.done
	t.Stop()
	e.cancel()
}

func (e *Emitter) run() {
	defer close(e.done)
	for d := range e.queue {
		e.deliver(d)
	}
}

func (e *Emitter) deliver(d delivery) {
	wait := e.opts.Backoff
	for attempt := 1; ; attempt++ {
		retryAfter, err := e.post(d)
		if err == nil {
			e.sent.Add(1)
			return
		}
		if retryAfter < 0 || attempt == e.opts.Attempts || e.ctx.Err() != nil {
			e.failed.Add(1)
			e.log.Warn("Webhook not delivered", zap.String("id", d.id), zap.Int("attempts", attempt), zap.Error(err))
			return
		}
		delay := wait + rand.N(wait/5+1) // jitter keeps many senders from retrying in step
		if retryAfter > 0 {
			delay = retryAfter
		}
		delay = min(delay, e.opts.MaxBackoff)
		e.log.Debug("Webhook delivery failed; retrying", zap.String("id", d.id), zap.Int("attempt", attempt),
			zap.Duration("in", delay), zap.Error(err))
		select {
		case <-time.After(delay):
		case <-e.ctx.Done():
		}
		wait = min(2*wait, e.opts.MaxBackoff)
	}
}

// post sends one attempt. On failure retryAfter is negative when retrying cannot help, the
// wait the receiver asked for when it said, and zero otherwise.
func (e *Emitter) post(d delivery) (retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url, bytes.NewReader(d.body))
	if err != nil {
		return -1, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tandem-webhooks")
	// Each attempt is signed anew, so a late retry is not refused as stale.
	SetHeaders(req.Header, e.secret, d.id, e.opts.Now(), d.body)

	resp, err := e.opts.Client.Do(req)
	if err != nil {
		return 0, err // network error: worth another try
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		wait, _ := httpx.RetryAfter(resp.Header, time.Now()) // seconds or an HTTP date
		return wait, fmt.Errorf("receiver answered %s", resp.Status)
	default:
		return -1, fmt.Errorf("receiver answered %s", resp.Status)
	}
}

// newID returns a fresh event id in the style of the scheme's examples.
func newID() string {
	return "msg_" + cryptorand.Text()
}
