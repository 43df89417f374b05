package salesloft

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"tandem/connectors"
)

// The fuzz targets' fixed world: the subscription's callback token and the previous one (as
// while rotating), and an account as a webhook carries it.
const (
	fuzzToken      = "cb-token-1"
	fuzzPrevToken  = "cb-token-0"
	fuzzOtherToken = "another-token"
	fuzzBody       = `{"id":1234,"name":"Acme","domain":"acme.com","crm_id":null,` +
		`"created_at":"2024-05-01T10:00:00.000000-04:00","updated_at":"2024-05-01T11:59:59.123456-04:00"}`
)

// fuzzSign is x-salesloft-signature as Salesloft documents it: hex(HMAC-SHA1(key=callback
// token, msg=body)), written here apart from Sign so the two check each other.
func fuzzSign(token string, body []byte) string {
	m := hmac.New(sha1.New, []byte(token))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func fuzzRequest(event, sig string) *http.Request {
	h := http.Header{}
	if event != "" {
		h.Set(HeaderEvent, event)
	}
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	return &http.Request{Method: http.MethodPost, Header: h}
}

// FuzzVerify feeds arbitrary event headers, signatures and bodies to Verify. Besides not
// panicking: the answer is the same when asked twice; an accepted request yields at most one
// well-formed account event; a signature made for the seed body never authenticates another
// body; a signature made with a token the verifier does not hold never authenticates; and a
// body signed with either token as Salesloft does always authenticates.
func FuzzVerify(f *testing.F) {
	body := []byte(fuzzBody)
	for _, ev := range []string{EventAccountCreated, EventAccountUpdated, EventAccountDeleted} {
		f.Add(ev, fuzzSign(fuzzToken, body), body)
	}
	f.Add(EventAccountUpdated, strings.ToUpper(fuzzSign(fuzzPrevToken, body)), body)
	f.Add(" account_updated ", " "+fuzzSign(fuzzToken, body)+" ", body)
	f.Add("person_updated", fuzzSign(fuzzToken, body), body)
	stringID := []byte(`{"id":"987","updated_at":"2024-05-01T11:59:59Z"}`)
	f.Add(EventAccountUpdated, fuzzSign(fuzzToken, stringID), stringID)
	// Malformed: another token, not hex, no header, a body without an id or not JSON.
	f.Add(EventAccountUpdated, fuzzSign(fuzzOtherToken, body), body)
	f.Add(EventAccountUpdated, "not hex", body)
	f.Add("", "", []byte{})
	noID := []byte(`{"name":"Acme","updated_at":"2024-05-01T11:59:59.123456-04:00"}`)
	f.Add(EventAccountUpdated, fuzzSign(fuzzToken, noID), noID)
	f.Add(EventAccountDeleted, fuzzSign(fuzzToken, []byte("id=1234")), []byte("id=1234"))
	f.Add(EventAccountCreated, fuzzSign(fuzzToken, []byte("null")), []byte("null"))

	f.Fuzz(func(t *testing.T, event, sig string, body []byte) {
		v, err := NewVerifier(fuzzToken, fuzzPrevToken)
		if err != nil {
			t.Fatal(err)
		}
		if Sign(fuzzToken, body) != fuzzSign(fuzzToken, body) {
			t.Fatalf("Sign does not compute hex(HMAC-SHA1(token, body))")
		}
		r := fuzzRequest(event, sig)
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
			if len(events) > 1 {
				t.Fatalf("accepted with %d events, want at most 1", len(events))
			}
			for _, ev := range events {
				checkEvent(t, event, ev)
			}
		}

		// A signature of the seed body, or made with a token the verifier lacks, is refused.
		if _, err := v.Verify(fuzzRequest(event, fuzzSign(fuzzToken, []byte(fuzzBody))), body); !errors.Is(err, connectors.ErrBadSignature) && !bytes.Equal(body, []byte(fuzzBody)) {
			t.Fatalf("a signature of the seed body authenticates %q (error %v)", body, err)
		}
		if _, err := v.Verify(fuzzRequest(event, fuzzSign(fuzzOtherToken, body)), body); !errors.Is(err, connectors.ErrBadSignature) {
			t.Fatalf("a signature made with a token the verifier does not hold authenticates (error %v)", err)
		}
		// Signed as Salesloft signs, it authenticates: any refusal is about the content.
		for _, token := range []string{fuzzToken, fuzzPrevToken} {
			if _, err := v.Verify(fuzzRequest(event, fuzzSign(token, body)), body); errors.Is(err, connectors.ErrBadSignature) {
				t.Fatalf("a correctly signed request is refused: %v", err)
			}
		}
	})
}

// FuzzParseEvent feeds arbitrary event names and bodies to ParseEvent: another object's
// event is no event and no error; an account event is an error wrapping ErrMalformedWebhook
// or a well-formed event; and the answer is the same when asked twice.
func FuzzParseEvent(f *testing.F) {
	body := []byte(fuzzBody)
	for _, ev := range []string{EventAccountCreated, EventAccountUpdated, EventAccountDeleted} {
		f.Add(ev, body)
	}
	f.Add("person_updated", body)
	f.Add("", body)
	f.Add(EventAccountUpdated, []byte(`{"id":"987","updated_at":"2024-05-01T11:59:59Z","nested":{"a":[1,2.5,{"b":null}]}}`))
	f.Add(EventAccountUpdated, []byte(`{"id":1,"updated_at":"0001-01-01T00:00:00Z"}`))
	f.Add(EventAccountUpdated, []byte(`{"id":1}`))
	f.Add(EventAccountUpdated, []byte(`{"id":1,"updated_at":"yesterday"}`))
	f.Add(EventAccountUpdated, []byte(`{"id":""}`))
	f.Add(EventAccountUpdated, []byte(`{"id":true}`))
	f.Add(EventAccountUpdated, []byte(`[]`))
	f.Add(EventAccountUpdated, []byte(`null`))
	f.Add(EventAccountUpdated, []byte(``))

	f.Fuzz(func(t *testing.T, event string, body []byte) {
		ev, isAccount, err := ParseEvent(event, body)
		ev2, isAccount2, err2 := ParseEvent(event, body)
		if (err == nil) != (err2 == nil) || isAccount != isAccount2 || !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("ParseEvent is not deterministic: %v, %v, %v then %v, %v, %v", ev, isAccount, err, ev2, isAccount2, err2)
		}
		switch {
		case err != nil:
			if !errors.Is(err, connectors.ErrMalformedWebhook) {
				t.Fatalf("error does not wrap ErrMalformedWebhook: %v", err)
			}
			if isAccount || !reflect.DeepEqual(ev, connectors.WebhookEvent{}) {
				t.Fatalf("an error came with an event: %+v, %v", ev, isAccount)
			}
		case !isAccount:
			switch strings.TrimSpace(event) {
			case EventAccountCreated, EventAccountUpdated, EventAccountDeleted, "":
				t.Fatalf("event %q read as another object's", event)
			}
			if !reflect.DeepEqual(ev, connectors.WebhookEvent{}) {
				t.Fatalf("another object's event came with an event: %+v", ev)
			}
		default:
			checkEvent(t, event, ev)
		}
	})
}

// checkEvent checks ParseEvent's contract for an account event: a record id, the kind the
// event header names, and the id "<event>:<account id>:<updated_at>".
func checkEvent(t *testing.T, event string, ev connectors.WebhookEvent) {
	t.Helper()
	event = strings.TrimSpace(event)
	want := map[string]string{EventAccountCreated: "created", EventAccountUpdated: "updated", EventAccountDeleted: "deleted"}[event]
	if want == "" {
		t.Fatalf("event %q yielded an account event: %+v", event, ev)
	}
	if ev.RecordID == "" {
		t.Fatalf("event without a record id: %+v", ev)
	}
	if ev.Object != Object || ev.Kind != want {
		t.Fatalf("event %q yielded object %q, kind %q", event, ev.Object, ev.Kind)
	}
	stamp := ""
	if !ev.OccurredAt.IsZero() {
		if ev.OccurredAt.Location() != time.UTC {
			t.Fatalf("occurred-at %v is not in UTC", ev.OccurredAt)
		}
		stamp = formatTime(ev.OccurredAt)
	}
	if id := event + ":" + ev.RecordID + ":" + stamp; ev.ID != id {
		t.Fatalf("event id %q, want %q", ev.ID, id)
	}
}
