package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/internal/app"
	"tandem/internal/config"
)

func TestCheckMappingsNamesTheFileSyncAndFields(t *testing.T) {
	declared := memory.New(memory.Options{Fields: map[string][]connectors.Field{
		"companies": {
			{Name: "name", Type: "string", Writable: true},
			{Name: "domain", Type: "string", Writable: true, Unique: true},
			{Name: "score", Type: "number"}, // computed by the service
		},
	}})
	schemaless := memory.New(memory.Options{})
	file := &config.File{Path: "syncs.yaml", Syncs: []config.Sync{{
		Name: "companies", Mode: config.OneWay,
		A: config.Side{Connection: "src", Object: "companies", Key: "domain"},
		B: config.Side{Connection: "dst", Object: "companies", Key: "domain"},
		Fields: []config.Field{
			{A: "name", B: "name", Direction: config.Both},
			{A: "vat", B: "vat_id", Direction: config.Both},
			{A: "rank", B: "score", Direction: config.Both},
		},
	}}}
	conns := map[string]connectors.Connector{"src": schemaless, "dst": declared}
	err := app.CheckMappings(context.Background(), file, conns, nil)
	require.ErrorIs(t, err, app.ErrMappingInvalid)
	assert.Equal(t, `syncs.yaml: mapping invalid: sync "companies": dst.companies.vat_id missing; sync "companies": dst.companies.score not writable`, err.Error())

	// The schemaless source is not checked; a mapping the target holds passes.
	file.Syncs[0].Fields = file.Syncs[0].Fields[:1]
	require.NoError(t, app.CheckMappings(context.Background(), file, conns, nil))

	// A service that cannot be asked is not an error at start: the run checks again.
	declared.FailNext(memory.MethodDescribe, 1, errors.New("connection refused"))
	var warned []string
	require.NoError(t, app.CheckMappings(context.Background(), file, conns, func(sync string, err error) {
		warned = append(warned, sync+": "+err.Error())
	}))
	assert.Equal(t, []string{"companies: describe dst.companies: connection refused"}, warned)
}
