package s3

import (
	"fmt"
	"net/url"
	"strings"

	"tandem/connectors"
)

// Setting names of an s3 connection.
const (
	SettingBucket          = "bucket"
	SettingRegion          = "region"
	SettingEndpoint        = "endpoint"
	SettingPathStyle       = "path_style"
	SettingAccessKeyID     = "access_key_id"
	SettingSecretAccessKey = "secret_access_key"
	SettingKeyTemplate     = "key_template"
)

// Defaults of the optional settings.
const (
	DefaultRegion      = "us-east-1"
	DefaultKeyTemplate = "exports/{sync}/dt={date}/{run}.ndjson.gz"
)

// SettingDocs are the settings an s3 connection accepts, with what they do; any other
// setting is refused, so a typo is caught when the connection is opened.
var SettingDocs = map[string]string{
	SettingBucket:          "bucket the export objects are written to (required)",
	SettingRegion:          "AWS region of the bucket (default " + DefaultRegion + ")",
	SettingEndpoint:        "URL of an S3-compatible server (MinIO, a fake); leave out for AWS",
	SettingPathStyle:       "true to address the bucket as http://host/bucket/key instead of http://bucket.host/key (default false; S3-compatible servers usually need true)",
	SettingAccessKeyID:     "static access key id; with secret_access_key, else the AWS SDK's default chain (environment, shared config, instance role)",
	SettingSecretAccessKey: "static secret access key, set together with access_key_id",
	SettingKeyTemplate: "object key of each batch (default " + DefaultKeyTemplate + "); placeholders " +
		"{sync}, {object}, {date} (YYYY-MM-DD of the run's start, UTC), {run} (run number), {batch} (batch id); " +
		"without {batch}, -{batch} is added before the extension so the batches of a run never overwrite each other",
}

// ParseSettings turns a connection's settings into a Config, naming the setting at fault
// in every error.
func ParseSettings(s connectors.Settings) (Config, error) {
	if err := s.OnlyKnown(Type, SettingDocs); err != nil {
		return Config{}, err
	}
	cfg := Config{
		Bucket:          strings.TrimSpace(s[SettingBucket]),
		Region:          strings.TrimSpace(s[SettingRegion]),
		Endpoint:        strings.TrimSpace(s[SettingEndpoint]),
		AccessKeyID:     s[SettingAccessKeyID],
		SecretAccessKey: s[SettingSecretAccessKey],
		KeyTemplate:     s[SettingKeyTemplate],
	}
	if v, ok := s[SettingPathStyle]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			cfg.PathStyle = true
		case "false", "":
		default:
			return Config{}, fmt.Errorf("setting %s: %q is not true or false", SettingPathStyle, v)
		}
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// validate checks a Config and fills in its defaults.
func (c *Config) validate() error {
	if c.Bucket == "" {
		return fmt.Errorf("setting %s: required (the name of the bucket to export to)", SettingBucket)
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("setting %s: %q is not an http(s) URL such as http://localhost:9000", SettingEndpoint, c.Endpoint)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return fmt.Errorf("settings %s and %s: set both or neither (neither uses the AWS SDK's default credentials)",
			SettingAccessKeyID, SettingSecretAccessKey)
	}
	if c.KeyTemplate == "" {
		c.KeyTemplate = DefaultKeyTemplate
	}
	t, err := parseTemplate(c.KeyTemplate)
	if err != nil {
		return fmt.Errorf("setting %s: %w", SettingKeyTemplate, err)
	}
	c.KeyTemplate = t
	return nil
}
