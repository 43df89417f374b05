package s3

import (
	"fmt"
	"net/url"

	"tandem/connectors"
	"tandem/connectors/settings"
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

// Spec declares every setting an s3 connection accepts; any other setting is refused,
// so a typo is caught when the connection is opened.
var Spec = &settings.Spec[Config]{Type: Type, Check: (*Config).validate, Settings: []settings.Setting[Config]{
	{Name: SettingBucket, Required: true, Doc: "bucket the export objects are written to",
		Set: settings.String(func(c *Config) *string { return &c.Bucket })},
	{Name: SettingRegion, Default: DefaultRegion, Doc: "AWS region of the bucket",
		Set: settings.String(func(c *Config) *string { return &c.Region })},
	{Name: SettingEndpoint, Doc: "URL of an S3-compatible server (MinIO, a fake); leave out for AWS",
		Set: settings.String(func(c *Config) *string { return &c.Endpoint })},
	{Name: SettingPathStyle, Default: "false", Doc: "true to address the bucket as http://host/bucket/key instead of http://bucket.host/key (S3-compatible servers usually need true)",
		Set: settings.Bool(func(c *Config) *bool { return &c.PathStyle })},
	{Name: SettingAccessKeyID, Secret: true, Doc: "static access key id; with secret_access_key, else the AWS SDK's default chain (environment, shared config, instance role)",
		Set: settings.String(func(c *Config) *string { return &c.AccessKeyID })},
	{Name: SettingSecretAccessKey, Secret: true, Raw: true, Doc: "static secret access key, set together with access_key_id",
		Set: settings.String(func(c *Config) *string { return &c.SecretAccessKey })},
	{Name: SettingKeyTemplate, Default: DefaultKeyTemplate, Raw: true, Doc: "object key of each batch; placeholders " +
		"{sync}, {object}, {date} (YYYY-MM-DD of the run's start, UTC), {run} (run number), {batch} (batch id); " +
		"without {batch}, -{batch} is added before the extension so the batches of a run never overwrite each other",
		Set: settings.String(func(c *Config) *string { return &c.KeyTemplate })},
}}

// ParseSettings turns a connection's settings into a Config, naming the setting at fault
// in every error.
func ParseSettings(given connectors.Settings) (Config, error) { return Spec.Config(given) }

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
