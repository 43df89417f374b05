package settings_test

import (
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/hubspot"
	"tandem/connectors/memory"
	"tandem/connectors/netsuite"
	"tandem/connectors/s3"
	"tandem/connectors/salesforce"
	"tandem/connectors/salesloft"
	"tandem/connectors/settings"
	"tandem/connectors/sqldb"
)

var update = flag.Bool("update", false, "rewrite README.md's settings tables from the declarations")

// tables are the README's settings tables, each rendered from its connector's Spec.
func tables() map[string]string {
	return map[string]string{
		hubspot.Type:    hubspot.Spec.Markdown(),
		salesloft.Type:  salesloft.Spec.Markdown(),
		netsuite.Type:   netsuite.Spec.Markdown(),
		salesforce.Type: salesforce.Spec.Markdown(),
		s3.Type:         s3.Spec.Markdown(),
		sqldb.Type:      sqldb.Spec.Markdown(),
		memory.Type:     memory.Spec.Markdown(),
	}
}

// TestREADME fails when a connector's settings table in README.md is not what its
// declaration renders; with -update it rewrites the tables instead.
func TestREADME(t *testing.T) {
	const path = "../../README.md"
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	readme := string(raw)
	for typ, table := range tables() {
		if *update {
			readme, err = settings.Replace(readme, typ, table)
			require.NoError(t, err)
			continue
		}
		got, err := settings.Section(readme, typ)
		require.NoError(t, err)
		assert.Equal(t, table, got, "README.md's %s settings differ from %s's declaration (Spec); run go test ./connectors/settings -run TestREADME -update", typ, typ)
	}
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(readme), 0o644))
	}
}
