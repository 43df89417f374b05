package salesloftfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// Account event types, as x-salesloft-event names them [doc: webhooks/event-types].
const (
	EventCreated = "account_created"
	EventUpdated = "account_updated"
	EventDeleted = "account_deleted"
)

// Sign is Salesloft's webhook signature: hex(HMAC-SHA1(key=callback token, msg=raw
// body)) [doc: webhooks/delivery-headers]. It is written here independently of the
// client's verifier, so a mistake in one does not hide in both.
func Sign(callbackToken string, body []byte) string {
	m := hmac.New(sha1.New, []byte(callbackToken))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// notify queues a webhook for a change, when the fake has a URL to send to.
func (s *Server) notify(event string, view map[string]any) {
	if s.hooks == nil {
		return
	}
	body, err := json.Marshal(view)
	if err != nil { // cannot happen: the view is plain JSON values
		return
	}
	s.hooks.enqueue(event, body)
}

type delivery struct {
	event string
	body  []byte
}

// sender posts webhooks one at a time, in the order of the changes, from one goroutine.
// A failed delivery (network error or non-2xx) is retried by a goroutine of its own
// WebhookRetries more times, WebhookRetryInterval apart [doc: webhooks/introduction:
// 3 more tries, 15 s apart], so one failing event does not hold up the others.
type sender struct {
	opts   Options
	client *http.Client

	ctx    context.Context
	cancel context.CancelFunc
	queue  chan delivery
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	st     WebhookStats
}

func newSender(opts Options) *sender {
	client := opts.WebhookClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &sender{opts: opts, client: client, ctx: ctx, cancel: cancel, queue: make(chan delivery, 4096)}
	h.wg.Add(1)
	go h.run()
	return h
}

func (h *sender) enqueue(event string, body []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		h.st.Dropped++
		return
	}
	select {
	case h.queue <- delivery{event: event, body: body}:
	default:
		h.st.Dropped++
	}
}

func (h *sender) run() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case d := <-h.queue:
			if h.post(d) {
				continue
			}
			if h.opts.WebhookRetries <= 0 {
				h.count(func(st *WebhookStats) { st.Failed++ })
				continue
			}
			h.wg.Add(1)
			go h.retry(d)
		}
	}
}

func (h *sender) retry(d delivery) {
	defer h.wg.Done()
	for range h.opts.WebhookRetries {
		t := time.NewTimer(h.opts.WebhookRetryInterval)
		select {
		case <-h.ctx.Done():
			t.Stop()
			h.count(func(st *WebhookStats) { st.Dropped++ })
			return
		case <-t.C:
		}
		h.count(func(st *WebhookStats) { st.Retried++ })
		if h.post(d) {
			return
		}
	}
	h.count(func(st *WebhookStats) { st.Failed++ })
}

// post makes one attempt and reports whether the receiver accepted it.
func (h *sender) post(d delivery) bool {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, h.opts.WebhookURL, bytes.NewReader(d.body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Salesloft-Webhooks (tandem fake)")
	req.Header.Set("x-salesloft-event", d.event)
	req.Header.Set("x-salesloft-signature", Sign(h.opts.CallbackToken, d.body))
	resp, err := h.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false
	}
	h.count(func(st *WebhookStats) { st.Sent++ })
	return true
}

func (h *sender) count(f func(*WebhookStats)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(&h.st)
}

func (h *sender) stats() WebhookStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

// close drops what is still queued, stops the goroutines and waits for them.
func (h *sender) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	for {
		select {
		case <-h.queue:
			h.count(func(st *WebhookStats) { st.Dropped++ })
		default:
			h.client.CloseIdleConnections()
			return
		}
	}
}
