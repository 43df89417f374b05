package standardwebhooks

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"tandem/connectors"
)

// The fuzz targets' fixed world: a verifier holding a plain secret and a whsec_ one (as while
// rotating), on a fixed clock.
const (
	fuzzSecret      = "plain-old-secret"
	fuzzSecretWhsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	fuzzOtherSecret = "another-secret"
	fuzzID          = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	fuzzBody        = `{"type":"record.updated","timestamp":"2024-05-01T12:00:00Z","data":{"object":"companies","id":"m-000042","updated_at":"2024-05-01T11:59:59.5Z"}}`
)

var fuzzNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func fuzzVerifier(t *testing.T) *Verifier {
	v, err := NewVerifier([]string{fuzzSecret, fuzzSecretWhsec}, VerifierOptions{Now: func() time.Time { return fuzzNow }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// FuzzVerify feeds arbitrary headers and bodies to Verify. Besides not panicking: the answer
// is the same when asked twice; an accepted request has a timestamp inside the window and
// yields one well-formed event named by its webhook-id; a signature made for the seed body
// never authenticates another body; a signature made with a secret the verifier does not
// hold never authenticates; and a request signed as the scheme says always authenticates.
func FuzzVerify(f *testing.F) {
	ts := strconv.FormatInt(fuzzNow.Unix(), 10)
	body := []byte(fuzzBody)
	f.Add(fuzzID, ts, Sign(fuzzSecret, fuzzID, fuzzNow, body), body)
	f.Add(fuzzID, ts, Sign(fuzzSecretWhsec, fuzzID, fuzzNow, body), body)
	f.Add(fuzzID, ts, "v1a,abc "+Sign(fuzzOtherSecret, fuzzID, fuzzNow, body)+" "+Sign(fuzzSecret, fuzzID, fuzzNow, body), body)
	old := fuzzNow.Add(-4 * time.Minute)
	f.Add("msg_2", strconv.FormatInt(old.Unix(), 10), Sign(fuzzSecret, "msg_2", old, body), body)
	deleted := []byte(`{"type":"record.deleted","timestamp":"2024-05-01T12:00:00Z","data":{"object":"contacts","id":"c-1"}}`)
	f.Add("msg_3", ts, Sign(fuzzSecret, "msg_3", fuzzNow, deleted), deleted)
	// Malformed: stale, not a number, not base64, no signature, a body that is not an event.
	stale := fuzzNow.Add(-6 * time.Minute)
	f.Add(fuzzID, strconv.FormatInt(stale.Unix(), 10), Sign(fuzzSecret, fuzzID, stale, body), body)
	f.Add(fuzzID, "2024-05-01T12:00:00Z", Sign(fuzzSecret, fuzzID, fuzzNow, body), body)
	f.Add(fuzzID, ts, "v1,!!!", body)
	f.Add("", "", "", []byte{})
	f.Add(fuzzID, "-9223372036854775808", "v1,", []byte("null"))
	notEvent := []byte(`{"type":"record.updated","data":{}}`)
	f.Add(fuzzID, ts, Sign(fuzzSecret, fuzzID, fuzzNow, notEvent), notEvent)

	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		v := fuzzVerifier(t)
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		r := &http.Request{Method: http.MethodPost, Header: h}

		events, err := v.Verify(r, body)
		events2, err2 := v.Verify(r, body)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(events, events2) {
			t.Fatalf("Verify is not deterministic: %v, %v then %v, %v", events, err, events2, err2)
		}
		if err != nil {
			if !errors.Is(err, connectors.ErrBadSignature) && !errors.Is(err, connectors.ErrMalformedWebhook) {
				t.Fatalf("error wraps neither ErrBadSignature nor ErrMalformedWebhook: %v", err)
			}
		} else {
			sec, perr := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
			if perr != nil {
				t.Fatalf("accepted a timestamp that is not unix seconds: %q", ts)
			}
			if d := fuzzNow.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
				t.Fatalf("accepted a timestamp %s from now", d)
			}
			if len(events) != 1 {
				t.Fatalf("accepted with %d events, want 1", len(events))
			}
			checkEvent(t, h.Get(HeaderID), events[0])
		}

		// A signature made for another body, or with a secret the verifier lacks, is refused.
		sh := http.Header{}
		SetHeaders(sh, fuzzSecret, fuzzID, fuzzNow, []byte(fuzzBody))
		if _, err := v.Authenticate(sh, body); err == nil && !bytes.Equal(body, []byte(fuzzBody)) {
			t.Fatalf("a signature of the seed body authenticates %q", body)
		}
		if id != "" {
			oh := http.Header{}
			SetHeaders(oh, fuzzOtherSecret, id, fuzzNow, body)
			if _, err := v.Authenticate(oh, body); err == nil {
				t.Fatalf("a signature made with a secret the verifier does not hold authenticates")
			}
			// A request signed as the scheme says, with either secret, authenticates.
			for _, s := range []string{fuzzSecret, fuzzSecretWhsec} {
				gh := http.Header{}
				SetHeaders(gh, s, id, fuzzNow, body)
				got, err := v.Authenticate(gh, body)
				if err != nil {
					t.Fatalf("a correctly signed request is refused: %v", err)
				}
				if got != gh.Get(HeaderID) {
					t.Fatalf("Authenticate returned id %q, want %q", got, gh.Get(HeaderID))
				}
			}
		}
	})
}

// FuzzParseEvent feeds arbitrary bodies to ParseEvent: it returns an error wrapping
// ErrMalformedWebhook or a well-formed event, and the same one when asked twice.
func FuzzParseEvent(f *testing.F) {
	f.Add(fuzzID, []byte(fuzzBody))
	f.Add("msg_1", []byte(`{"type":"record.created","data":{"object":"companies","id":"m-1"}}`))
	f.Add("msg_2", []byte(`{"type":"record.deleted","timestamp":"2024-05-01T12:00:00+02:00","data":{"id":"m-2"}}`))
	f.Add("msg_3", []byte(`{"type":"record.updated","data":{"object":"x","id":"1","updated_at":"not a time"}}`))
	f.Add("msg_4", []byte(`{"type":"record.moved","data":{"id":"1"}}`))
	f.Add("msg_5", []byte(`{"type":"record.updated","data":{"id":""}}`))
	f.Add("", []byte(`[]`))
	f.Add("", []byte(`null`))
	f.Add("", []byte(`{"type":1}`))
	f.Add("", []byte(``))

	f.Fuzz(func(t *testing.T, id string, body []byte) {
		ev, err := ParseEvent(id, body)
		ev2, err2 := ParseEvent(id, body)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("ParseEvent is not deterministic: %v, %v then %v, %v", ev, err, ev2, err2)
		}
		if err != nil {
			if !errors.Is(err, connectors.ErrMalformedWebhook) {
				t.Fatalf("error does not wrap ErrMalformedWebhook: %v", err)
			}
			if !reflect.DeepEqual(ev, connectors.WebhookEvent{}) {
				t.Fatalf("an error came with an event: %+v", ev)
			}
			return
		}
		checkEvent(t, id, ev)
	})
}

// checkEvent checks the contract of a parsed event: named by the webhook-id, a record id, and
// one of the three kinds.
func checkEvent(t *testing.T, id string, ev connectors.WebhookEvent) {
	t.Helper()
	if ev.ID != id {
		t.Fatalf("event id %q, want the webhook-id %q", ev.ID, id)
	}
	if ev.RecordID == "" {
		t.Fatalf("event without a record id: %+v", ev)
	}
	switch ev.Kind {
	case "created", "updated", "deleted":
	default:
		t.Fatalf("event of unknown kind %q", ev.Kind)
	}
}
