package hubspotfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// event is one webhook event as HubSpot sends it [doc: v1-request-validation example].
type event struct {
	EventID          int64  `json:"eventId"`
	SubscriptionID   int64  `json:"subscriptionId"`
	PortalID         int64  `json:"portalId"`
	AppID            int64  `json:"appId"`
	OccurredAt       int64  `json:"occurredAt"`
	SubscriptionType string `json:"subscriptionType"`
	AttemptNumber    int    `json:"attemptNumber"`
	ObjectID         int64  `json:"objectId"`
	ChangeSource     string `json:"changeSource"`
	ChangeFlag       string `json:"changeFlag,omitempty"`
	PropertyName     string `json:"propertyName,omitempty"`
	PropertyValue    string `json:"propertyValue,omitempty"`

	object string // not sent: which subscription it belongs to
}

// subscriptionIDs number the fake app's subscriptions.
var subscriptionIDs = map[string]int64{
	"company.creation": 101, "company.propertyChange": 102, "company.deletion": 103,
	"contact.creation": 201, "contact.propertyChange": 202, "contact.deletion": 203,
}

var eventObject = map[string]string{"companies": "company", "contacts": "contact"}

// event makes one event; callers hold s.mu (for the event counter).
func (s *Server) event(object, action, id, source, prop, value string) event {
	s.lastEventID++
	typ := eventObject[object] + "." + action
	objectID, _ := strconv.ParseInt(id, 10, 64)
	e := event{
		EventID:          s.lastEventID,
		SubscriptionID:   subscriptionIDs[typ],
		PortalID:         s.opts.PortalID,
		AppID:            s.opts.AppID,
		OccurredAt:       s.now().UnixMilli(),
		SubscriptionType: typ,
		ObjectID:         objectID,
		ChangeSource:     source,
		PropertyName:     prop,
		PropertyValue:    value,
		object:           object,
	}
	switch action {
	case "creation":
		e.ChangeFlag = "CREATED"
	case "deletion":
		e.ChangeFlag = "DELETED"
	}
	return e
}

// send queues events for delivery to the subscribed URL.
func (s *Server) send(evs []event) {
	if s.hooks == nil || len(evs) == 0 {
		return
	}
	var subscribed []event
	for _, e := range evs {
		if contains(s.opts.WebhookObjects, e.object) {
			subscribed = append(subscribed, e)
		}
	}
	s.hooks.enqueue(subscribed)
}

// deliverer posts queued events in batches from one goroutine, as HubSpot does for an
// app's target URL, signing each attempt afresh.
type deliverer struct {
	s      *Server
	client *http.Client

	mu     sync.Mutex
	queue  []event
	closed bool
	wake   chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func newDeliverer(s *Server) *deliverer {
	ctx, cancel := context.WithCancel(context.Background())
	d := &deliverer{
		s:      s,
		client: &http.Client{Timeout: s.opts.WebhookTimeout, Transport: &http.Transport{}},
		wake:   make(chan struct{}, 1),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go d.run()
	return d
}

func (d *deliverer) enqueue(evs []event) {
	if len(evs) == 0 {
		return
	}
	d.mu.Lock()
	if !d.closed {
		d.queue = append(d.queue, evs...)
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *deliverer) close() {
	d.mu.Lock()
	already := d.closed
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	if !already {
		<-d.done
		d.client.CloseIdleConnections()
	}
}

func (d *deliverer) run() {
	defer close(d.done)
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.wake:
		}
		// Let a burst of changes fill a request, as HubSpot batches events.
		if !d.sleep(d.s.opts.WebhookDelay) {
			return
		}
		for {
			d.mu.Lock()
			n := min(len(d.queue), d.s.opts.WebhookBatch)
			batch := append([]event(nil), d.queue[:n]...)
			d.queue = d.queue[n:]
			d.mu.Unlock()
			if n == 0 {
				break
			}
			d.deliver(batch)
			if d.ctx.Err() != nil {
				return
			}
		}
	}
}

func (d *deliverer) sleep(t time.Duration) bool {
	timer := time.NewTimer(t)
	defer timer.Stop()
	select {
	case <-d.ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// deliver posts one batch, retrying like HubSpot: on connection errors, timeouts and any
// status but 2xx and 400, 401, 403, 404, 405 [doc: integrate.hubspot.com thread 3953],
// with a growing backoff, or a 429's Retry-After [HubSpot staff, community 277558].
func (d *deliverer) deliver(batch []event) {
	opts := d.s.opts
	backoff := opts.WebhookBackoff
	for attempt := 0; attempt <= opts.WebhookRetries; attempt++ {
		for i := range batch {
			batch[i].AttemptNumber = attempt
		}
		status, retryAfter, err := d.post(batch)
		d.s.mu.Lock()
		d.s.stats.WebhookRequests++
		d.s.mu.Unlock()
		if err == nil && status >= 200 && status < 300 {
			d.s.mu.Lock()
			d.s.stats.WebhookEvents += len(batch)
			d.s.mu.Unlock()
			return
		}
		if d.ctx.Err() != nil {
			return
		}
		switch status {
		case 400, 401, 403, 404, 405:
			d.fail(batch, status, err, "not retried")
			return
		}
		wait := backoff
		if retryAfter > 0 {
			wait = retryAfter
		}
		wait = min(wait, opts.WebhookMaxBackoff)
		backoff = min(2*backoff, opts.WebhookMaxBackoff)
		if attempt < opts.WebhookRetries && !d.sleep(wait) {
			return
		}
	}
	d.fail(batch, 0, nil, "retries exhausted")
}

func (d *deliverer) fail(batch []event, status int, err error, why string) {
	d.s.mu.Lock()
	d.s.stats.WebhookFailures++
	d.s.mu.Unlock()
	d.s.log.Warn("HubSpot fake: webhook not delivered", zap.String("url", d.s.opts.WebhookURL),
		zap.Int("events", len(batch)), zap.Int("status", status), zap.Error(err), zap.String("why", why))
}

// post sends one signed request and returns its status and Retry-After.
func (d *deliverer) post(batch []event) (int, time.Duration, error) {
	body, err := json.Marshal(batch)
	if err != nil {
		return 0, 0, err
	}
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, d.s.opts.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	SignRequest(req.Header, d.s.opts.ClientSecret, http.MethodPost, d.s.opts.WebhookURL, body, d.s.opts.Now())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client) - WebhooksExecutorDaemon-executor")
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	var retry time.Duration
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
		retry = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retry, nil
}

// SignRequest sets the signature headers HubSpot sends with a webhook to url, signed with
// the app's client secret at time at: X-HubSpot-Signature-v3 (base64 of HMAC-SHA256 over
// method + URI + body + timestamp, the URI with HubSpot's listed escapes decoded),
// X-HubSpot-Request-Timestamp (epoch ms), and the v1 pair X-HubSpot-Signature (hex of
// SHA-256 over secret + body) with X-HubSpot-Signature-Version: v1, as CRM webhooks carry
// both [doc: validating-requests]. Tests use it to sign requests of their own.
func SignRequest(h http.Header, secret, method, url string, body []byte, at time.Time) {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + decodeURI(url)))
	m.Write(body)
	m.Write([]byte(ts))
	h.Set("X-HubSpot-Signature-v3", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	h.Set("X-HubSpot-Request-Timestamp", ts)
	v1 := sha256.Sum256(append([]byte(secret), body...))
	h.Set("X-HubSpot-Signature", hex.EncodeToString(v1[:]))
	h.Set("X-HubSpot-Signature-Version", "v1")
}

// decodeURI decodes what HubSpot decodes before signing a URI with v3 [3p code citing
// HubSpot's doc]: %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B, hex digits of either
// case. The fake's own copy, so that a mistake in the client's is not mirrored here.
func decodeURI(uri string) string {
	decoded := map[string]string{
		"3A": ":", "2F": "/", "3F": "?", "40": "@", "21": "!", "24": "$",
		"27": "'", "28": "(", "29": ")", "2A": "*", "2C": ",", "3B": ";",
	}
	var b strings.Builder
	for i := 0; i < len(uri); i++ {
		if uri[i] == '%' && i+2 < len(uri) {
			if c, ok := decoded[strings.ToUpper(uri[i+1:i+3])]; ok {
				b.WriteString(c)
				i += 2
				continue
			}
		}
		b.WriteByte(uri[i])
	}
	return b.String()
}
