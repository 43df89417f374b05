package memory_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
)

func TestDescribeSeenFields(t *testing.T) {
	ctx := t.Context()
	c := memory.New(memory.Options{})

	_, err := c.Describe(ctx, companies)
	require.ErrorIs(t, err, connectors.ErrNotFound, "an object without records")
	assert.ErrorContains(t, err, "it has no records")

	_, err = c.Create(ctx, companies, []connectors.Record{
		{Fields: map[string]any{"name": "Acme", "employees": 10.0, "tags": []any{"a"}, "vat": nil, "code": "X1"}},
		{Fields: map[string]any{"name": "Beta", "employees": nil, "active": true, "code": 7.0}},
	})
	require.NoError(t, err)
	fields, err := c.Describe(ctx, companies)
	require.NoError(t, err)
	assert.Equal(t, []connectors.Field{
		{Name: "id", Type: "string", Unique: true},
		{Name: "active", Type: "boolean", Writable: true},
		{Name: "code", Type: "any", Writable: true},
		{Name: "employees", Type: "number", Writable: true},
		{Name: "name", Type: "string", Writable: true},
		{Name: "tags", Type: "array", Writable: true},
		{Name: "vat", Type: "any", Writable: true},
	}, fields)
	assert.Equal(t, 2, c.Calls()[memory.MethodDescribe], "Describe counts its calls, the not-found one too")
}

func TestDescribeDeclaredFields(t *testing.T) {
	ctx := t.Context()
	declared := []connectors.Field{
		{Name: "id", Type: "string", Unique: true},
		{Name: "domain", Label: "Domain", Type: "string", Writable: true, Unique: true},
	}
	c := memory.New(memory.Options{Fields: map[string][]connectors.Field{companies: declared}})

	fields, err := c.Describe(ctx, companies)
	require.NoError(t, err)
	assert.Equal(t, declared, fields, "declared fields, before any record")
	fields[0].Name = "changed"
	again, err := c.Describe(ctx, companies)
	require.NoError(t, err)
	assert.Equal(t, "id", again[0].Name, "a caller cannot change the declaration")

	_, err = c.Create(ctx, "contacts", []connectors.Record{{Fields: map[string]any{"email": "a@b.example"}}})
	require.NoError(t, err)
	_, err = c.Describe(ctx, "contacts")
	require.ErrorIs(t, err, connectors.ErrNotFound, "an undeclared object, even with records")
	assert.ErrorContains(t, err, "declared objects: companies")
}

func TestDescribeInjectedFailure(t *testing.T) {
	c := memory.New(memory.Options{})
	c.Put(companies, connectors.Record{ID: "1", Fields: map[string]any{"name": "Acme"}})
	boom := errors.New("boom")
	c.FailNext(memory.MethodDescribe, 1, boom)
	_, err := c.Describe(t.Context(), companies)
	require.ErrorIs(t, err, boom)
	_, err = c.Describe(t.Context(), companies)
	require.NoError(t, err)
}
