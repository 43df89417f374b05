package hubspot

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem/connectors"
)

// The fuzz targets' fixed world: the app's client secret and the previous one (as while
// rotating), a fixed clock, and the host HubSpot calls.
const (
	fuzzSecret      = "client-secret-1234"
	fuzzPrevSecret  = "client-secret-0000"
	fuzzOtherSecret = "another-secret"
	fuzzHost        = "hooks.example.com"
	fuzzPath        = "/webhooks/companies/b"
	fuzzBody        = `[{"eventId":1001,"subscriptionId":101,"portalId":62515,"appId":1160452,"occurredAt":1714564800123,` +
		`"subscriptionType":"company.creation","attemptNumber":0,"objectId":5001,"changeSource":"CRM_UI","changeFlag":"CREATED"}]`
)

var fuzzNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func fuzzVerifier(t *testing.T, requireV3 bool) *Verifier {
	v, err := NewVerifier(VerifierConfig{Secrets: []string{fuzzSecret, fuzzPrevSecret}, RequireV3: requireV3,
		Now: func() time.Time { return fuzzNow }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fuzzRequest is a request as the server hands it over: path is the request line's target.
func fuzzRequest(path string, h http.Header) *http.Request {
	u, err := url.ParseRequestURI(path)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	return &http.Request{Method: http.MethodPost, Host: fuzzHost, RequestURI: path, URL: u, Header: h}
}

// fuzzHeader is a header of name, value pairs; an empty value is left out.
func fuzzHeader(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			h.Set(kv[i], kv[i+1])
		}
	}
	return h
}

// FuzzAuthenticate feeds arbitrary signature headers, targets and bodies to Verify. Besides
// not panicking: the answer is the same when asked twice; an accepted v3 request has a
// timestamp inside the window; a verifier requiring v3 never accepts without it; an accepted
// request yields well-formed events; a v3, v2 or v1 signature made for the seed body never
// authenticates another body; a signature made with a secret the verifier does not hold
// never authenticates; and a request signed as each version says always authenticates.
func FuzzAuthenticate(f *testing.F) {
	ts := strconv.FormatInt(fuzzNow.UnixMilli(), 10)
	body := []byte(fuzzBody)
	uri := "http://" + fuzzHost + fuzzPath
	v3 := func(key string, uri, ts string, b []byte) string {
		return base64.StdEncoding.EncodeToString(SignatureV3([]byte(key), http.MethodPost, uri, b, ts))
	}
	// Valid: v3 with either secret, v3 beside v1 (as CRM webhooks send), v1, v2, a query.
	f.Add(v3(fuzzSecret, uri, ts, body), ts, "", "", fuzzPath, body)
	f.Add(v3(fuzzPrevSecret, uri, ts, body), ts, "", "", fuzzPath, body)
	f.Add(v3(fuzzSecret, uri, ts, body), ts, hex.EncodeToString(SignatureV1([]byte(fuzzSecret), body)), "v1", fuzzPath, body)
	f.Add("", "", hex.EncodeToString(SignatureV1([]byte(fuzzSecret), body)), "", fuzzPath, body)
	f.Add("", "", strings.ToUpper(hex.EncodeToString(SignatureV1([]byte(fuzzSecret), body))), "V1", fuzzPath, body)
	f.Add("", "", hex.EncodeToString(SignatureV2([]byte(fuzzSecret), http.MethodPost, uri, body)), "v2", fuzzPath, body)
	q := fuzzPath + "?a=1&redirect=https%3A%2F%2Fx"
	f.Add(v3(fuzzSecret, DecodeURI("http://"+fuzzHost+q), ts, body), ts, "", "", q, body)
	// Malformed: stale, milliseconds as seconds, not base64, unknown version, no headers.
	stale := strconv.FormatInt(fuzzNow.Add(-6*time.Minute).UnixMilli(), 10)
	f.Add(v3(fuzzSecret, uri, stale, body), stale, "", "", fuzzPath, body)
	sec := strconv.FormatInt(fuzzNow.Unix(), 10)
	f.Add(v3(fuzzSecret, uri, sec, body), sec, "", "", fuzzPath, body)
	f.Add("!!!", ts, "", "", fuzzPath, body)
	f.Add("", "", "zz", "v1", fuzzPath, body)
	f.Add("", "", hex.EncodeToString(SignatureV1([]byte(fuzzSecret), body)), "v9", fuzzPath, body)
	f.Add("", "", "", "", "*", []byte{})
	f.Add("x", "-9223372036854775808", "", "", "http://a/b", []byte("null"))

	f.Fuzz(func(t *testing.T, sigV3, ts, sig, version, path string, body []byte) {
		r := fuzzRequest(path, fuzzHeader(HeaderSignatureV3, sigV3, HeaderRequestTimestamp, ts,
			HeaderSignature, sig, HeaderSignatureVersion, version))
		for _, requireV3 := range []bool{false, true} {
			v := fuzzVerifier(t, requireV3)
			events, err := v.Verify(r, body)
			events2, err2 := v.Verify(r, body)
			if (err == nil) != (err2 == nil) || !reflect.DeepEqual(events, events2) {
				t.Fatalf("Verify is not deterministic: %v, %v then %v, %v", events, err, events2, err2)
			}
			if err != nil {
				if !errors.Is(err, connectors.ErrBadSignature) && !errors.Is(err, connectors.ErrMalformedWebhook) {
					t.Fatalf("error wraps neither ErrBadSignature nor ErrMalformedWebhook: %v", err)
				}
				continue
			}
			if requireV3 && sigV3 == "" {
				t.Fatalf("a verifier requiring v3 accepted a request without %s", HeaderSignatureV3)
			}
			if sigV3 != "" {
				ms, perr := strconv.ParseInt(ts, 10, 64)
				if perr != nil {
					t.Fatalf("accepted a timestamp that is not epoch milliseconds: %q", ts)
				}
				if d := fuzzNow.Sub(time.UnixMilli(ms)); d > MaxWebhookAge || d < -MaxWebhookAge {
					t.Fatalf("accepted a timestamp %s from now", d)
				}
			}
			checkEvents(t, events)
		}

		v := fuzzVerifier(t, false)
		uri := v.uri(r)
		// Signatures made for the seed body, or with a secret the verifier lacks, are refused.
		seed := []byte(fuzzBody)
		for name, h := range map[string]http.Header{
			"v3": fuzzHeader(HeaderSignatureV3, v3(fuzzSecret, uri, ts, seed), HeaderRequestTimestamp, ts),
			"v2": fuzzHeader(HeaderSignature, hex.EncodeToString(SignatureV2([]byte(fuzzSecret), http.MethodPost, uri, seed)), HeaderSignatureVersion, "v2"),
			"v1": fuzzHeader(HeaderSignature, hex.EncodeToString(SignatureV1([]byte(fuzzSecret), seed))),
		} {
			if err := v.Authenticate(fuzzRequest(path, h), body); err == nil && !bytes.Equal(body, seed) {
				t.Fatalf("a %s signature of the seed body authenticates %q", name, body)
			}
		}
		now := strconv.FormatInt(fuzzNow.UnixMilli(), 10)
		for _, key := range []string{fuzzSecret, fuzzPrevSecret, fuzzOtherSecret} {
			for name, h := range map[string]http.Header{
				"v3": fuzzHeader(HeaderSignatureV3, v3(key, uri, now, body), HeaderRequestTimestamp, now),
				"v2": fuzzHeader(HeaderSignature, hex.EncodeToString(SignatureV2([]byte(key), http.MethodPost, uri, body)), HeaderSignatureVersion, "v2"),
				"v1": fuzzHeader(HeaderSignature, hex.EncodeToString(SignatureV1([]byte(key), body)), HeaderSignatureVersion, "v1"),
			} {
				err := v.Authenticate(fuzzRequest(path, h), body)
				switch {
				case key == fuzzOtherSecret && err == nil:
					t.Fatalf("a %s signature made with a secret the verifier does not hold authenticates", name)
				case key != fuzzOtherSecret && err != nil:
					t.Fatalf("a correctly signed %s request to %q is refused: %v", name, path, err)
				}
			}
		}
	})
}

// FuzzParseEvents feeds arbitrary bodies to ParseEvents: it returns an error wrapping
// ErrMalformedWebhook or well-formed events, and the same when asked twice.
func FuzzParseEvents(f *testing.F) {
	f.Add([]byte(fuzzBody))
	f.Add([]byte(`[
	 {"eventId":1,"subscriptionId":101,"portalId":1,"occurredAt":1714564800123,"subscriptionType":"company.creation","attemptNumber":0,"objectId":5001},
	 {"eventId":2,"subscriptionId":102,"portalId":1,"occurredAt":1714564800456,"subscriptionType":"company.propertyChange","objectId":5001,"propertyName":"phone","propertyValue":"1"},
	 {"eventId":3,"subscriptionId":203,"portalId":1,"occurredAt":1714564800789,"subscriptionType":"contact.deletion","objectId":7001},
	 {"eventId":4,"subscriptionId":301,"portalId":1,"occurredAt":1714564800999,"subscriptionType":"object.propertyChange","objectTypeId":"0-2","objectId":5002},
	 {"eventId":5,"occurredAt":1714564801000,"subscriptionType":"object.creation","objectTypeId":"2-123","objectId":1},
	 {"eventId":18446744073709551,"occurredAt":1714564801000,"subscriptionType":"contact.merge","objectId":7002}
	]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[{"eventId":1,"subscriptionType":"company.creation"}]`))
	f.Add([]byte(`[{"eventId":1,"objectId":2,"subscriptionType":"nodot"}]`))
	f.Add([]byte(`[{"eventId":1,"objectId":2,"subscriptionType":"deal.deletion","occurredAt":1.5}]`))
	f.Add([]byte(`[{"eventId":"1","objectId":2,"subscriptionType":"deal.restore"}]`))
	f.Add([]byte(`not json`))

	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := ParseEvents(body)
		events2, err2 := ParseEvents(body)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(events, events2) {
			t.Fatalf("ParseEvents is not deterministic: %v, %v then %v, %v", events, err, events2, err2)
		}
		if err != nil {
			if !errors.Is(err, connectors.ErrMalformedWebhook) {
				t.Fatalf("error does not wrap ErrMalformedWebhook: %v", err)
			}
			if events != nil {
				t.Fatalf("an error came with events: %v", events)
			}
			return
		}
		checkEvents(t, events)
	})
}

// checkEvents checks ParseEvents' contract: every event has an id, an object, a record id
// and one of the three kinds.
func checkEvents(t *testing.T, events []connectors.WebhookEvent) {
	t.Helper()
	for i, ev := range events {
		if ev.ID == "" || ev.Object == "" || ev.RecordID == "" {
			t.Fatalf("event %d lacks its id, object or record id: %+v", i, ev)
		}
		switch ev.Kind {
		case "created", "updated", "deleted":
		default:
			t.Fatalf("event %d of unknown kind %q", i, ev.Kind)
		}
	}
}
