package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/internal/app"
	"tandem/internal/config"
)

// isolate clears the TEMPORAL_* environment and points the profile file at dir.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE",
		"TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(dir, "temporal.toml"))
	return dir
}

func TestClientOptionsDefaults(t *testing.T) {
	isolate(t)
	opts, err := app.ClientOptions(nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:7233", opts.HostPort)
	assert.Equal(t, "default", opts.Namespace)
	assert.Nil(t, opts.Credentials)
	assert.Nil(t, opts.ConnectionOptions.TLS)
}

func TestClientOptionsForTemporalCloud(t *testing.T) {
	dir := isolate(t)
	cert, key := writeCert(t, dir)
	t.Setenv("TEMPORAL_ADDRESS", "acme.a1b2c.tmprl.cloud:7233")
	t.Setenv("TEMPORAL_NAMESPACE", "acme.a1b2c")
	t.Setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", cert)
	t.Setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", key)
	opts, err := app.ClientOptions(nil)
	require.NoError(t, err)
	assert.Equal(t, "acme.a1b2c.tmprl.cloud:7233", opts.HostPort)
	assert.Equal(t, "acme.a1b2c", opts.Namespace)
	require.NotNil(t, opts.ConnectionOptions.TLS, "mTLS from the certificate and key")
	assert.Len(t, opts.ConnectionOptions.TLS.Certificates, 1)

	// An API key instead of a certificate.
	isolate(t)
	t.Setenv("TEMPORAL_ADDRESS", "us-east-1.aws.api.temporal.io:7233")
	t.Setenv("TEMPORAL_NAMESPACE", "acme.a1b2c")
	t.Setenv("TEMPORAL_API_KEY", "test-api-key")
	opts, err = app.ClientOptions(nil)
	require.NoError(t, err)
	assert.NotNil(t, opts.Credentials, "API key credentials")
	assert.NotNil(t, opts.ConnectionOptions.TLS, "an API key implies TLS")
}

func TestClientOptionsFromProfileFile(t *testing.T) {
	dir := isolate(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "temporal.toml"), []byte(`
[profile.default]
address = "temporal.internal:7233"
namespace = "tandem"

[profile.staging]
address = "staging.internal:7233"
namespace = "tandem-staging"
`), 0o600))
	opts, err := app.ClientOptions(nil)
	require.NoError(t, err)
	assert.Equal(t, "temporal.internal:7233", opts.HostPort)
	assert.Equal(t, "tandem", opts.Namespace)

	t.Setenv("TEMPORAL_PROFILE", "staging")
	opts, err = app.ClientOptions(nil)
	require.NoError(t, err)
	assert.Equal(t, "staging.internal:7233", opts.HostPort)

	// The environment wins over the file.
	t.Setenv("TEMPORAL_ADDRESS", "override:7233")
	opts, err = app.ClientOptions(nil)
	require.NoError(t, err)
	assert.Equal(t, "override:7233", opts.HostPort)

	t.Setenv("TEMPORAL_PROFILE", "missing")
	_, err = app.ClientOptions(nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Temporal client configuration")
}

// writeCert writes a self-signed client certificate and its key.
func writeCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tandem"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPath, keyPath = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certPath, keyPath
}

// selector records what it is asked to read.
type selector struct {
	connectors.Connector
	got map[string][]string
}

func (s *selector) ReadFields(object string, fields []string) {
	s.got[object] = append(s.got[object], fields...)
}

func TestOpenConnectionsTellsConnectorsTheMappedFields(t *testing.T) {
	reg := connectors.NewRegistry()
	opened := map[string]*selector{}
	require.NoError(t, reg.Register("sel", func(name string, _ connectors.Settings) (connectors.Connector, error) {
		s := &selector{got: map[string][]string{}}
		opened[name] = s
		return s, nil
	}))
	f := &config.File{
		Path: "t.yaml",
		Connections: map[string]config.Connection{
			"crm": {Name: "crm", Type: "sel"},
			"erp": {Name: "erp", Type: "sel"},
		},
		Syncs: []config.Sync{{
			Name: "s",
			A:    config.Side{Connection: "crm", Object: "Account", Key: "Id"},
			B:    config.Side{Connection: "erp", Object: "customer", Key: "custentity_sfdc_id"},
			Fields: []config.Field{
				{A: "Name", B: "companyname"},
				{A: "Phone", B: "phone"},
			},
		}},
	}
	_, err := app.OpenConnections(f, reg)
	require.NoError(t, err)
	assert.Equal(t, []string{"Id", "Name", "Phone"}, opened["crm"].got["Account"])
	assert.Equal(t, []string{"custentity_sfdc_id", "companyname", "phone"}, opened["erp"].got["customer"])
}
