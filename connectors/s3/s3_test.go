package s3_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/s3"
)

const bucket = "exports"

// fake is gofakes3 in the test process, with the requests it received.
type fake struct {
	URL string
	mu  sync.Mutex
	req []*http.Request
}

func (f *fake) requests(method string) []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*http.Request
	for _, r := range f.req {
		if r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// raw fetches an object as stored, without the SDK and without Go's transparent gzip.
func (f *fake) raw(t *testing.T, key string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.URL+"/"+bucket+"/"+key, nil)
	require.NoError(t, err)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", key)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// lines returns the NDJSON lines of a stored object, checking its headers and gzip.
func (f *fake) lines(t *testing.T, key string) []string {
	t.Helper()
	resp, body := f.raw(t, key)
	require.Equal(t, s3.ContentType, resp.Header.Get("Content-Type"))
	require.Equal(t, s3.ContentEncoding, resp.Header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(bytes.NewReader(body))
	require.NoError(t, err, "object %s is not gzip", key)
	text, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(string(text), "\n"), "NDJSON ends with a newline")
	return strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
}

func startFake(t *testing.T, opts ...gofakes3.Option) *fake {
	t.Helper()
	f, srv := newFake(t, opts...)
	srv.Start()
	f.URL = srv.URL
	return f
}

// newFake returns the fake and its unstarted server.
func newFake(t *testing.T, opts ...gofakes3.Option) (*fake, *httptest.Server) {
	t.Helper()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(bucket))
	h := gofakes3.New(backend, opts...).Server()
	f := &fake{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.req = append(f.req, r.Clone(context.Background()))
		f.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func settings(f *fake, extra ...string) connectors.Settings {
	s := connectors.Settings{
		"bucket":            bucket,
		"endpoint":          f.URL,
		"path_style":        "true",
		"access_key_id":     "test",
		"secret_access_key": "test",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		s[extra[i]] = extra[i+1]
	}
	return s
}

func open(t *testing.T, f *fake, extra ...string) *s3.Connector {
	t.Helper()
	c, err := s3.Factory("export", settings(f, extra...))
	require.NoError(t, err)
	return c.(*s3.Connector)
}

func day(d int) time.Time { return time.Date(2026, 3, d, 2, 30, 0, 0, time.UTC) }

func batchCtx(run int, batch string, at time.Time) context.Context {
	return connectors.WithBatchInfo(context.Background(), connectors.BatchInfo{Sync: "daily", Run: run, Batch: batch, At: at})
}

func accounts(names ...string) []connectors.Record {
	out := make([]connectors.Record, len(names))
	for i, n := range names {
		out[i] = connectors.Record{Fields: map[string]any{"Name": n, "Website": strings.ToLower(n) + ".com", "Id": "001" + n, "Employees": float64(10 * (i + 1))}}
	}
	return out
}

func TestBatchBecomesOneGzipNDJSONObject(t *testing.T) {
	f := startFake(t)
	c := open(t, f)
	ctx := batchCtx(3, "salesforce-001A", day(4))

	res, err := c.Upsert(ctx, "Account", "Id", accounts("Acme", "Globex", "Initech"))
	require.NoError(t, err)

	key := "exports/daily/dt=2026-03-04/3-salesforce-001A.ndjson.gz"
	keys, err := c.List(context.Background(), "exports/")
	require.NoError(t, err)
	require.Equal(t, []string{key}, keys)
	require.Equal(t, []connectors.WriteResult{
		{ID: key + "#1", Created: true},
		{ID: key + "#2", Created: true},
		{ID: key + "#3", Created: true},
	}, res)
	require.Equal(t, []string{
		`{"Employees":10,"Id":"001Acme","Name":"Acme","Website":"acme.com"}`,
		`{"Employees":20,"Id":"001Globex","Name":"Globex","Website":"globex.com"}`,
		`{"Employees":30,"Id":"001Initech","Name":"Initech","Website":"initech.com"}`,
	}, f.lines(t, key))

	got, err := c.Read(context.Background(), key)
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.Equal(t, "Globex", got[1]["Name"])
}

func TestBatchesOfOneRunAreSeparateObjects(t *testing.T) {
	f := startFake(t)
	c := open(t, f)
	_, err := c.Upsert(batchCtx(1, "salesforce-001A", day(4)), "Account", "Id", accounts("Acme", "Globex"))
	require.NoError(t, err)
	_, err = c.Upsert(batchCtx(1, "salesforce-001C", day(4)), "Account", "Id", accounts("Hooli"))
	require.NoError(t, err)

	keys, err := c.List(context.Background(), "exports/daily/dt=2026-03-04/")
	require.NoError(t, err)
	require.Equal(t, []string{
		"exports/daily/dt=2026-03-04/1-salesforce-001A.ndjson.gz",
		"exports/daily/dt=2026-03-04/1-salesforce-001C.ndjson.gz",
	}, keys)
	require.Len(t, f.lines(t, keys[0]), 2)
	require.Equal(t, []string{`{"Employees":10,"Id":"001Hooli","Name":"Hooli","Website":"hooli.com"}`}, f.lines(t, keys[1]))
}

func TestRetriedBatchOverwritesItsObject(t *testing.T) {
	f := startFake(t)
	c := open(t, f)
	ctx := batchCtx(2, "salesforce-001A", day(5))
	first, err := c.Upsert(ctx, "Account", "Id", accounts("Acme", "Globex"))
	require.NoError(t, err)
	_, before := f.raw(t, "exports/daily/dt=2026-03-05/2-salesforce-001A.ndjson.gz")

	again, err := c.Upsert(ctx, "Account", "Id", accounts("Acme", "Globex"))
	require.NoError(t, err)
	require.Equal(t, first, again, "a retry reports the same lines")

	keys, err := c.List(context.Background(), "")
	require.NoError(t, err)
	require.Equal(t, []string{"exports/daily/dt=2026-03-05/2-salesforce-001A.ndjson.gz"}, keys)
	_, after := f.raw(t, keys[0])
	require.Equal(t, before, after, "a retry uploads the very same bytes")
	require.Len(t, f.lines(t, keys[0]), 2)
	require.Len(t, f.requests(http.MethodPut), 2)
}

func TestNextDaysRunWritesUnderItsOwnDate(t *testing.T) {
	f := startFake(t)
	c := open(t, f)
	_, err := c.Upsert(batchCtx(1, "salesforce-001A", day(4)), "Account", "Id", accounts("Acme", "Globex"))
	require.NoError(t, err)
	_, err = c.Upsert(batchCtx(2, "salesforce-001G", day(5)), "Account", "Id", accounts("Globex"))
	require.NoError(t, err)

	all, err := c.List(context.Background(), "exports/daily/")
	require.NoError(t, err)
	require.Equal(t, []string{
		"exports/daily/dt=2026-03-04/1-salesforce-001A.ndjson.gz",
		"exports/daily/dt=2026-03-05/2-salesforce-001G.ndjson.gz",
	}, all)
	second, err := c.List(context.Background(), "exports/daily/dt=2026-03-05/")
	require.NoError(t, err)
	require.Equal(t, all[1:], second)
	require.Equal(t, []string{`{"Employees":10,"Id":"001Globex","Name":"Globex","Website":"globex.com"}`}, f.lines(t, second[0]))
}

func TestUpdatesAndCreatesOfABatchDoNotOverwriteEachOther(t *testing.T) {
	f := startFake(t)
	c := open(t, f)
	ctx := batchCtx(1, "salesforce-001A", day(4))
	_, err := c.Upsert(ctx, "Account", "Id", accounts("Acme"))
	require.NoError(t, err)
	res, err := c.Update(ctx, "Account", []connectors.Record{{ID: "x", Fields: map[string]any{"Name": "Globex"}}})
	require.NoError(t, err)
	require.Equal(t, "exports/daily/dt=2026-03-04/1-salesforce-001A-updates.ndjson.gz#1", res[0].ID)
	keys, err := c.List(context.Background(), "")
	require.NoError(t, err)
	require.Len(t, keys, 2)
}

func TestKeyTemplate(t *testing.T) {
	cases := []struct {
		name, template, want string
	}{
		{"default gets the batch before the extension", "", "exports/daily/dt=2026-03-04/7-sf_1.ndjson.gz"},
		{"batch placed by the template", "{sync}/{batch}/{run}.json.gz", "daily/sf_1/7.json.gz"},
		{"object and date", "{object}/{date}/part.csv.gz", "Account/2026-03-04/part-sf_1.csv.gz"},
		{"no extension", "{sync}/{run}", "daily/7-sf_1"},
		{"dots between placeholders", "x/{sync}.{run}.ndjson", "x/daily.7-sf_1.ndjson"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t)
			c := open(t, f, "key_template", tc.template)
			// A '/' in a value becomes '_': only the template makes folders.
			res, err := c.Create(batchCtx(7, "sf/1", day(4)), "Account", accounts("Acme"))
			require.NoError(t, err)
			require.Equal(t, tc.want+"#1", res[0].ID)
			keys, err := c.List(context.Background(), "")
			require.NoError(t, err)
			require.Equal(t, []string{tc.want}, keys)
		})
	}
}

func TestWriteWithoutBatchInfo(t *testing.T) {
	f := startFake(t)
	now := time.Date(2026, 7, 1, 23, 0, 0, 0, time.FixedZone("PDT", -7*3600)) // July 2nd in UTC
	c, err := s3.New(s3.Config{
		Bucket: bucket, Endpoint: f.URL, PathStyle: true, AccessKeyID: "k", SecretAccessKey: "s",
		Now: func() time.Time { return now },
	})
	require.NoError(t, err)
	first, err := c.Create(context.Background(), "Account", accounts("Acme"))
	require.NoError(t, err)
	again, err := c.Create(context.Background(), "Account", accounts("Acme"))
	require.NoError(t, err)
	require.Equal(t, first, again, "the same records name the same object")
	other, err := c.Create(context.Background(), "Account", accounts("Globex"))
	require.NoError(t, err)

	keys, err := c.List(context.Background(), "exports/unknown/dt=2026-07-02/0-")
	require.NoError(t, err)
	require.Len(t, keys, 2)
	require.ElementsMatch(t, []string{strings.TrimSuffix(first[0].ID, "#1"), strings.TrimSuffix(other[0].ID, "#1")}, keys)
}

func TestEmptyWriteStoresNothing(t *testing.T) {
	f := startFake(t)
	c := open(t, f)
	res, err := c.Upsert(batchCtx(1, "b", day(4)), "Account", "Id", nil)
	require.NoError(t, err)
	require.Empty(t, res)
	require.Empty(t, f.requests(http.MethodPut))
}

// Uploads must not use aws-chunked bodies with trailing checksums, which gofakes3 and
// other S3-compatible servers cannot decode.
func TestUploadsCarryNoChecksumTrailer(t *testing.T) {
	f := startFake(t)
	c := open(t, f)
	_, err := c.Upsert(batchCtx(1, "b", day(4)), "Account", "Id", accounts("Acme"))
	require.NoError(t, err)
	puts := f.requests(http.MethodPut)
	require.Len(t, puts, 1)
	h := puts[0].Header
	require.Equal(t, "gzip", h.Get("Content-Encoding"))
	require.Empty(t, h.Get("X-Amz-Trailer"))
	require.Empty(t, h.Get("X-Amz-Decoded-Content-Length"))
	require.Empty(t, h.Get("X-Amz-Sdk-Checksum-Algorithm"))
	for k := range h {
		require.False(t, strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-"), "header %s", k)
	}
}

// Over TLS the SDK's default would stream the body as aws-chunked with a CRC32 trailer,
// which gofakes3 stores undecoded; with checksums only "when required" the object is
// stored exactly as written.
func TestUploadOverTLSIsStoredIntact(t *testing.T) {
	f, srv := newFake(t)
	srv.StartTLS()
	f.URL = srv.URL
	c, err := s3.New(s3.Config{
		Bucket: bucket, Endpoint: srv.URL, PathStyle: true, AccessKeyID: "k", SecretAccessKey: "s",
		HTTPClient: srv.Client(),
	})
	require.NoError(t, err)
	_, err = c.Upsert(batchCtx(1, "b", day(4)), "Account", "Id", accounts("Acme"))
	require.NoError(t, err)
	got, err := c.Read(context.Background(), "exports/daily/dt=2026-03-04/1-b.ndjson.gz")
	require.NoError(t, err)
	require.Equal(t, []map[string]any{{"Employees": float64(10), "Id": "001Acme", "Name": "Acme", "Website": "acme.com"}}, got)
}

func TestAddressingStyles(t *testing.T) {
	t.Run("path style", func(t *testing.T) {
		f := startFake(t)
		c := open(t, f, "path_style", "true")
		_, err := c.Upsert(batchCtx(1, "b", day(4)), "Account", "Id", accounts("Acme"))
		require.NoError(t, err)
		put := f.requests(http.MethodPut)[0]
		require.Equal(t, "/exports/exports/daily/dt=2026-03-04/1-b.ndjson.gz", put.URL.Path)
	})
	t.Run("virtual host", func(t *testing.T) {
		f := startFake(t, gofakes3.WithHostBucket(true))
		u, err := url.Parse(f.URL)
		require.NoError(t, err)
		// bucket.localhost resolves nowhere in a test: every connection goes to the fake.
		dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, u.Host)
		}
		c, err := s3.New(s3.Config{
			Bucket: bucket, Endpoint: "http://localhost:" + u.Port(), AccessKeyID: "k", SecretAccessKey: "s",
			HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dial}},
		})
		require.NoError(t, err)
		_, err = c.Upsert(batchCtx(1, "b", day(4)), "Account", "Id", accounts("Acme"))
		require.NoError(t, err)
		put := f.requests(http.MethodPut)[0]
		require.Equal(t, "exports.localhost:"+u.Port(), put.Host)
		require.Equal(t, "/exports/daily/dt=2026-03-04/1-b.ndjson.gz", put.URL.Path)
		keys, err := c.List(context.Background(), "")
		require.NoError(t, err)
		require.Equal(t, []string{"exports/daily/dt=2026-03-04/1-b.ndjson.gz"}, keys)
	})
}

func TestBadSettings(t *testing.T) {
	cases := []struct {
		name     string
		settings connectors.Settings
		setting  string // named in the error
	}{
		{"no bucket", connectors.Settings{"region": "eu-west-1"}, "bucket"},
		{"path_style not a bool", connectors.Settings{"bucket": "b", "path_style": "yes"}, "path_style"},
		{"endpoint not a URL", connectors.Settings{"bucket": "b", "endpoint": "localhost:9000"}, "endpoint"},
		{"key id without secret", connectors.Settings{"bucket": "b", "access_key_id": "AKIA"}, "secret_access_key"},
		{"secret without key id", connectors.Settings{"bucket": "b", "secret_access_key": "s"}, "access_key_id"},
		{"unknown placeholder", connectors.Settings{"bucket": "b", "key_template": "{sync}/{day}.gz"}, "{day}"},
		{"unclosed placeholder", connectors.Settings{"bucket": "b", "key_template": "{sync/x.gz"}, "key_template"},
		{"leading slash", connectors.Settings{"bucket": "b", "key_template": "/exports/{run}.gz"}, "key_template"},
		{"folder", connectors.Settings{"bucket": "b", "key_template": "exports/{sync}/"}, "key_template"},
		{"unknown setting", connectors.Settings{"bucket": "b", "bukcet": "b"}, "bukcet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s3.Factory("export", tc.settings)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.setting)
		})
	}
}

func TestDestinationOnly(t *testing.T) {
	f := startFake(t)
	c := open(t, f)
	require.Equal(t, connectors.Info{Type: "s3", MaxBatch: 0, NativeUpsert: true}, c.Info())

	_, err := c.Changes(context.Background(), "Account", connectors.Cursor{}, 10)
	require.ErrorIs(t, err, connectors.ErrNotFound, "not retried by the engine")
	require.ErrorIs(t, err, s3.ErrDestinationOnly)
	require.Contains(t, err.Error(), "destination only")
	_, err = c.Get(context.Background(), "Account", []string{"x"})
	require.ErrorIs(t, err, connectors.ErrNotFound)

	found, err := c.Find(context.Background(), "Account", "Id", []string{"001Acme"})
	require.NoError(t, err)
	require.Empty(t, found)
}

func TestMissingBucketIsNotFound(t *testing.T) {
	f := startFake(t)
	c := open(t, f, "bucket", "no-such-bucket")
	_, err := c.Upsert(batchCtx(1, "b", day(4)), "Account", "Id", accounts("Acme"))
	require.ErrorIs(t, err, connectors.ErrNotFound)
	require.Contains(t, err.Error(), `"no-such-bucket"`)
	var nf *connectors.NotFoundError
	require.True(t, errors.As(err, &nf))
}

// openAt opens a connector whose clock reads now.
func openAt(t *testing.T, f *fake, now time.Time) *s3.Connector {
	t.Helper()
	cfg, err := s3.ParseSettings(settings(f))
	require.NoError(t, err)
	cfg.Now = func() time.Time { return now }
	c, err := s3.New(cfg)
	require.NoError(t, err)
	return c
}

func TestDeleteWritesTombstoneLines(t *testing.T) {
	f := startFake(t)
	c := openAt(t, f, time.Date(2026, 3, 4, 11, 31, 7, 500_000_000, time.FixedZone("CET", 3600)))
	ctx := batchCtx(3, "salesforce-001A", day(4))
	written, err := c.Upsert(ctx, "Account", "Id", accounts("Acme", "Globex", "Initech"))
	require.NoError(t, err)

	ids := []string{written[2].ID, written[0].ID, "elsewhere#9"}
	res, err := c.Delete(ctx, "Account", ids)
	require.NoError(t, err)
	require.Equal(t, []connectors.WriteResult{{ID: ids[0]}, {ID: ids[1]}, {ID: ids[2]}}, res, "every id deleted, in request order")

	records := "exports/daily/dt=2026-03-04/3-salesforce-001A.ndjson.gz"
	tombstones := "exports/daily/dt=2026-03-04/3-salesforce-001A-deletes.ndjson.gz"
	keys, err := c.List(context.Background(), "exports/")
	require.NoError(t, err)
	require.Equal(t, []string{tombstones, records}, keys, "in key order: the tombstones are an object of their own, beside the batch's records")
	require.Len(t, f.lines(t, records), 3, "the records stay as exported")
	require.Equal(t, []string{
		`{"deleted":true,"deleted_at":"2026-03-04T10:31:07.5Z","id":"` + records + `#3"}`,
		`{"deleted":true,"deleted_at":"2026-03-04T10:31:07.5Z","id":"` + records + `#1"}`,
		`{"deleted":true,"deleted_at":"2026-03-04T10:31:07.5Z","id":"elsewhere#9"}`,
	}, f.lines(t, tombstones))
	got, err := c.Read(context.Background(), tombstones)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"deleted": true, "deleted_at": "2026-03-04T10:31:07.5Z", "id": records + "#3"}, got[0])

	// A retry rewrites its object.
	again, err := c.Delete(ctx, "Account", ids)
	require.NoError(t, err)
	require.Equal(t, res, again)
	keys, err = c.List(context.Background(), "exports/")
	require.NoError(t, err)
	require.Len(t, keys, 2)
}

func TestDeleteWithoutBatchInfo(t *testing.T) {
	f := startFake(t)
	c := openAt(t, f, time.Date(2026, 7, 2, 8, 0, 0, 0, time.UTC))
	first, err := c.Delete(context.Background(), "Account", []string{"a#1", "a#2"})
	require.NoError(t, err)
	_, err = c.Delete(context.Background(), "Account", []string{"a#1", "a#2"})
	require.NoError(t, err)
	_, err = c.Delete(context.Background(), "Account", []string{"a#3"})
	require.NoError(t, err)
	require.Equal(t, []connectors.WriteResult{{ID: "a#1"}, {ID: "a#2"}}, first)

	keys, err := c.List(context.Background(), "exports/unknown/dt=2026-07-02/0-")
	require.NoError(t, err)
	require.Len(t, keys, 2, "the same ids name the same object")
	for _, k := range keys {
		require.True(t, strings.HasSuffix(k, "-deletes.ndjson.gz"), k)
	}
}

func TestDeleteOfNoIDsStoresNothing(t *testing.T) {
	f := startFake(t)
	c := open(t, f)
	res, err := c.Delete(batchCtx(1, "b", day(4)), "Account", nil)
	require.NoError(t, err)
	require.Empty(t, res)
	require.Empty(t, f.requests(http.MethodPut))
}
