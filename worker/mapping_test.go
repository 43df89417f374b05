package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	_ "modernc.org/sqlite"
)

// A definitions file whose mapping names a column the target table does not have stops
// the worker at start, naming the file, the sync and the field.
func TestWorkerStartStopsOnAMappingTheTablesDoNotHold(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "source.db"), filepath.Join(dir, "target.db")
	for _, path := range []string{src, dst} {
		db, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		_, err = db.Exec(`CREATE TABLE companies (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
			domain TEXT UNIQUE, vat TEXT, updated_at TIMESTAMP NOT NULL)`)
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}
	path := filepath.Join(dir, "syncs.yaml")
	yaml := fmt.Sprintf(`connections:
  source: {type: sql, driver: sqlite, dsn: %q, key_columns: domain}
  target: {type: sql, driver: sqlite, dsn: %q, key_columns: domain}
syncs:
  - name: companies
    a: {connection: source, object: companies, key: domain}
    b: {connection: target, object: companies, key: domain}
    fields:
      - {a: name, b: name}
      - {a: domain, b: domain}
      - {a: vat, b: vat_id}
`, src, dst)
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	_, _, _, err := definitions(context.Background(), options{configPath: path}, nil, zap.NewNop())
	require.Error(t, err)
	assert.Equal(t, path+`: mapping invalid: sync "companies": target.companies.vat_id missing`, err.Error())
}
