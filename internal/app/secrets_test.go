package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/builtin"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/secret"
	"tandem/workflows"
)

// A PostgreSQL DSN whose password holds ':' and a bad %-escape: pgx quotes it when it
// cannot parse it, masking only what follows the password's last ':' (wave 1 printed
// `cannot parse postgres://tandem:R3brk...` in the worker's log, and the same text would
// reach status and history). Every activity error passes the worker's scrubber.
func TestSecretsAreScrubbedFromActivityErrors(t *testing.T) {
	const dsn = "postgres://tandem:R3brk:x%zzPw@127.0.0.1:1/tandem"
	name := fmt.Sprintf("secret-%d", time.Now().UnixNano())
	yaml := `connections:
  app: {type: sql, driver: postgres, dsn: ${APP_DATABASE_URL}}
  crm: {type: memory}
syncs:
  - name: ` + name + `
    a: {connection: app, object: accounts, key: website}
    b: {connection: crm, object: companies, key: domain}
    fields:
      - {a: website, b: domain}
`
	defs, err := config.Parse("syncs.yaml", []byte(yaml), builtin.Registry().Types(), func(k string) (string, bool) {
		return dsn, k == "APP_DATABASE_URL"
	})
	require.NoError(t, err)
	require.Equal(t, []string{dsn}, defs.Secrets)
	conns, err := app.OpenConnections(defs, builtin.Registry())
	require.NoError(t, err)

	s := testenv.NewFileSync(t, testenv.Client(t), defs, conns, name)
	s.StopWorker()
	s.Acts.Secrets = secret.New(defs.Secrets)
	s.StartWorker()
	s.Start()
	st := s.WaitFor("the read to fail and be retried", time.Minute, func(st workflows.Status) bool { return len(st.Retrying) > 0 })
	r := st.Retrying[0]
	assert.Equal(t, "CheckMapping", r.Activity, "a run first describes both sides, reaching the database")
	assert.Contains(t, r.Error, "cannot parse")
	assert.Contains(t, r.Error, secret.Redacted, r.Error)
	for _, part := range []string{"R3brk", "x%zzPw", dsn} {
		assert.False(t, strings.Contains(r.Error, part), "%q in %q", part, r.Error)
	}
}
