// Package s3 is a destination connector that exports records to Amazon S3 (or an
// S3-compatible server) as gzip-compressed NDJSON objects: the article's daily export.
//
// Every write call stores its records as one object whose key comes from a template
// (default exports/{sync}/dt={date}/{run}-{batch}.ndjson.gz). The engine names each batch
// in the write's context (connectors.BatchInfo), the same on every retry, so a retried
// write replaces its own object and nothing is ever exported twice; the batches of one
// run are separate objects under the run's date.
//
// An export never reads back: Find matches nothing (every changed record is written),
// and Changes and Get fail, since S3 cannot be the source side of a sync.
//
// # Deletes
//
// An export keeps what it wrote, so Delete (connectors.Deleter) retracts records by
// writing a tombstone line for each id, in an object of its own named like a write's,
// its batch id ending in "-deletes" (beside "-updates"): a reader tells tombstones from
// records by the object's name and by the line's shape. A tombstone line is a JSON object,
// keys sorted as a record's line has them:
//
//	{"deleted":true,"deleted_at":"2026-03-04T02:31:07.5Z","id":"exports/daily/dt=2026-03-04/3-b1.ndjson.gz#2"}
//
// id is the id the engine deleted, which for an exported record is what its write
// reported: "<object key>#<line>", the line the tombstone retracts. deleted_at is when
// the connector wrote the tombstone (Config.Now, UTC, RFC 3339): a retried delete
// rewrites its object, with the retry's time. Delete sends no request for no ids.
package s3

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"tandem/connectors"
)

// Type is the connection type the connector registers under.
const Type = "s3"

// Content headers of every object.
const (
	ContentType     = "application/x-ndjson"
	ContentEncoding = "gzip"
)

// Config is an s3 connection's configuration; ParseSettings builds it from settings.
type Config struct {
	Bucket    string
	Region    string // default DefaultRegion
	Endpoint  string // S3-compatible server; empty for AWS
	PathStyle bool
	// AccessKeyID and SecretAccessKey are static credentials; when both are empty the
	// AWS SDK's default chain finds them.
	AccessKeyID     string
	SecretAccessKey string
	KeyTemplate     string // default DefaultKeyTemplate

	// HTTPClient, when set, sends the requests (tests, proxies); default the SDK's.
	HTTPClient *http.Client
	// Now gives the date of writes made without a BatchInfo; default time.Now.
	Now func() time.Time
}

// Connector writes records to one bucket. It is safe for concurrent use.
type Connector struct {
	cfg    Config
	client *awss3.Client
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Deleter   = (*Connector)(nil)
)

// Factory opens an s3 connection from its settings (see Spec).
var Factory = connectors.Opener(ParseSettings, New)

// New returns a connector for cfg. It makes no request: a missing bucket or bad
// credentials show on the first write.
func New(cfg Config) (*Connector, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		// Since service/s3 v1.73 the SDK adds a CRC32 checksum to every upload, sent as
		// an aws-chunked trailer that many S3-compatible servers (gofakes3 among them)
		// cannot decode. Send checksums only where an operation requires one.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	// Reads only the environment and the shared config files; no request is made.
	awsCfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	client := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		o.UsePathStyle = cfg.PathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if cfg.HTTPClient != nil {
			o.HTTPClient = cfg.HTTPClient
		}
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &Connector{cfg: cfg, client: client}, nil
}

// Info implements connectors.Connector. NativeUpsert is true because a retried write
// rewrites the same object: nothing is duplicated, so the engine need not look records
// up before creating them.
func (c *Connector) Info() connectors.Info {
	return connectors.Info{Type: Type, MaxBatch: 0, NativeUpsert: true}
}

// ErrDestinationOnly is returned by Changes and Get. It matches connectors.ErrNotFound
// (there is no endpoint to read from), so the engine fails the sync at once with this
// message instead of retrying what no retry can fix.
var ErrDestinationOnly = &destinationOnlyError{}

type destinationOnlyError struct{}

func (*destinationOnlyError) Error() string {
	return "s3 is a destination only and cannot be read: make the s3 connection the target side of a one-way sync"
}

func (*destinationOnlyError) Is(target error) bool { return target == connectors.ErrNotFound }

// Changes implements connectors.Connector: it always fails with ErrDestinationOnly.
func (c *Connector) Changes(context.Context, string, connectors.Cursor, int) (connectors.Page, error) {
	return connectors.Page{}, ErrDestinationOnly
}

// Get implements connectors.Connector: it always fails with ErrDestinationOnly.
func (c *Connector) Get(context.Context, string, []string) ([]connectors.Record, error) {
	return nil, ErrDestinationOnly
}

// Find implements connectors.Connector. An export never matches an existing record:
// every changed record is written to the run's object, so Find finds nothing.
func (c *Connector) Find(context.Context, string, string, []string) (map[string][]connectors.Record, error) {
	return map[string][]connectors.Record{}, nil
}

// Create writes the records as one object named from the batch in ctx.
func (c *Connector) Create(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	return c.write(ctx, object, records, "")
}

// Upsert is Create: the key field plays no part in an export.
func (c *Connector) Upsert(ctx context.Context, object, _ string, records []connectors.Record) ([]connectors.WriteResult, error) {
	return c.write(ctx, object, records, "")
}

// Update writes the changed records like Create (an export appends what changed). Its
// object's batch id ends in "-updates", so creates and updates of one batch never
// overwrite each other.
func (c *Connector) Update(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	return c.write(ctx, object, records, "-updates")
}

// write stores records as one gzip NDJSON object and reports each record as line
// "<key>#<n>" of it (n from 1).
func (c *Connector) write(ctx context.Context, object string, records []connectors.Record, batchSuffix string) ([]connectors.WriteResult, error) {
	if len(records) == 0 {
		return nil, nil
	}
	ndjson, err := encode(records)
	if err != nil {
		return nil, err
	}
	key, err := c.key(ctx, object, ndjson, batchSuffix)
	if err != nil {
		return nil, err
	}
	if err := c.put(ctx, key, ndjson); err != nil {
		return nil, err
	}
	out := make([]connectors.WriteResult, len(records))
	for i := range records {
		out[i] = connectors.WriteResult{ID: fmt.Sprintf("%s#%d", key, i+1), Created: true}
	}
	return out, nil
}

// Delete implements connectors.Deleter: it writes a tombstone line for each id, in
// request order, as one object named from the batch in ctx with "-deletes" after the
// batch id (see the package comment, "Deletes"). Every id counts as deleted: an export
// has no record to look up. A write without a BatchInfo is named by a hash of the ids,
// so repeating it still rewrites one object.
func (c *Connector) Delete(ctx context.Context, object string, ids []string) ([]connectors.WriteResult, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	at := c.cfg.Now().UTC()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, id := range ids {
		if err := enc.Encode(tombstoneLine{Deleted: true, DeletedAt: at, ID: id}); err != nil {
			return nil, fmt.Errorf("s3 delete from %s: tombstone of %s: %w", object, id, err)
		}
	}
	// Named by the ids, not the lines: their time changes on a repeat.
	key, err := c.key(ctx, object, []byte(strings.Join(ids, "\n")), "-deletes")
	if err != nil {
		return nil, err
	}
	if err := c.put(ctx, key, buf.Bytes()); err != nil {
		return nil, err
	}
	out := make([]connectors.WriteResult, len(ids))
	for i, id := range ids {
		out[i] = connectors.WriteResult{ID: id}
	}
	return out, nil
}

// tombstoneLine is the line Delete writes for an id; its fields are in the order of
// their JSON names, as a record's line has its keys.
type tombstoneLine struct {
	Deleted   bool      `json:"deleted"`
	DeletedAt time.Time `json:"deleted_at"`
	ID        string    `json:"id"`
}

// put stores ndjson, gzipped, as the object key.
func (c *Connector) put(ctx context.Context, key string, ndjson []byte) error {
	body, err := compress(ndjson)
	if err != nil {
		return err
	}
	_, err = c.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:          aws.String(c.cfg.Bucket),
		Key:             aws.String(key),
		Body:            bytes.NewReader(body),
		ContentLength:   aws.Int64(int64(len(body))),
		ContentType:     aws.String(ContentType),
		ContentEncoding: aws.String(ContentEncoding),
	})
	if err != nil {
		return c.classify("write "+key, err)
	}
	return nil
}

// key names the object of a write from the batch in ctx. A write without one (a direct
// call) is named by a hash of its content, so repeating it still rewrites one object.
func (c *Connector) key(ctx context.Context, object string, ndjson []byte, batchSuffix string) (string, error) {
	b, _ := connectors.BatchInfoFrom(ctx)
	v := keyValues{Sync: b.Sync, Object: object, Run: b.Run, Batch: b.Batch, Date: b.At}
	if v.Sync == "" {
		v.Sync = "unknown"
	}
	if v.Date.IsZero() {
		v.Date = c.cfg.Now()
	}
	if v.Batch == "" {
		sum := sha256.Sum256(ndjson)
		v.Batch = hex.EncodeToString(sum[:8])
	}
	v.Batch += batchSuffix
	return renderKey(c.cfg.KeyTemplate, v)
}

// encode writes one JSON object per record: its fields, keys sorted (encoding/json sorts
// map keys), so the same records always give the same bytes.
func encode(records []connectors.Record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i, r := range records {
		fields := r.Fields
		if fields == nil {
			fields = map[string]any{}
		}
		if err := enc.Encode(fields); err != nil { // Encode ends each line with \n
			return nil, &connectors.InvalidRecordError{Record: fmt.Sprintf("#%d %s", i+1, r.ID), Reason: "cannot be written as JSON: " + err.Error()}
		}
	}
	return buf.Bytes(), nil
}

// compress gzips b. The gzip header carries no time or name, so a retry uploads the very
// same bytes.
func compress(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// List returns the keys of the bucket's objects under prefix, in key order.
func (c *Connector) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := awss3.NewListObjectsV2Paginator(c.client, &awss3.ListObjectsV2Input{
		Bucket: aws.String(c.cfg.Bucket),
		Prefix: aws.String(prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, c.classify("list "+prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// Read returns the records of one exported object, one map per NDJSON line.
func (c *Connector) Read(ctx context.Context, key string) ([]map[string]any, error) {
	out, err := c.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, c.classify("read "+key, err)
	}
	defer out.Body.Close()
	zr, err := gzip.NewReader(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: not gzip: %w", key, err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("read %s: line %d is not a JSON object: %w", key, n, err)
		}
		lines = append(lines, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return lines, nil
}

// classify turns an S3 error into the connectors error the engine acts on: a missing
// bucket or key and refused credentials are not retried, a throttle is retried later,
// anything else (network, 5xx) with backoff.
func (c *Connector) classify(what string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("s3 %s: %w", what, err)
	}
	msg := fmt.Sprintf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	switch ae.ErrorCode() {
	case "NoSuchBucket":
		return &connectors.NotFoundError{What: fmt.Sprintf("s3 %s: bucket %q (setting %s)", what, c.cfg.Bucket, SettingBucket)}
	case "NoSuchKey", "NotFound":
		return &connectors.NotFoundError{What: "s3 " + what}
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled":
		return &connectors.AuthError{Reason: fmt.Sprintf("s3 %s in bucket %q: %s", what, c.cfg.Bucket, msg)}
	case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests":
		return &connectors.RateLimitedError{Reason: "s3 " + what + ": " + msg}
	}
	return fmt.Errorf("s3 %s: %w", what, err)
}
