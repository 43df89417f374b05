package connectortest

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
)

// missingObject is an object name no service of the suite has.
const missingObject = "tandem_no_such_object"

// describe (connectors.Describer only): after a record is written, Describe lists every
// field the suite writes (NewFields, Mutate and the key field) as writable, each field
// once with a type, and an object the service does not have is an error wrapping
// connectors.ErrNotFound. Names are matched without case: Salesforce's and NetSuite's
// field names are case-insensitive.
func (s *suite) describe(t *testing.T) {
	c, ctx := s.open(t)
	d, ok := c.(connectors.Describer)
	if !ok {
		t.Skip("the connector does not implement connectors.Describer")
	}
	// A record first, so a service that learns its fields from what it stores (memory)
	// has them.
	s.create(t, ctx, c, s.fields(0, 1))

	fields, err := d.Describe(ctx, s.d.Object)
	require.NoError(t, err, "describe %s", s.d.Object)
	require.NotEmpty(t, fields, "describe %s: no fields", s.d.Object)
	byName := map[string]connectors.Field{}
	for _, f := range fields {
		require.NotEmpty(t, f.Name, "describe %s: a field without a name: %+v", s.d.Object, f)
		assert.NotEmpty(t, f.Type, "describe %s: field %s has no type", s.d.Object, f.Name)
		key := strings.ToLower(f.Name)
		_, dup := byName[key]
		require.False(t, dup, "describe %s: field %s listed twice", s.d.Object, f.Name)
		byName[key] = f
	}

	written := s.d.NewFields(0)
	for k, v := range s.d.Mutate(copyMap(written)) {
		written[k] = v
	}
	written[s.d.KeyField] = nil
	for name := range written {
		f, ok := byName[strings.ToLower(name)]
		if !assert.True(t, ok, "describe %s does not list %q, a field the suite writes", s.d.Object, name) {
			continue
		}
		assert.True(t, f.Writable, "describe %s: field %s is written by the suite but not writable", s.d.Object, name)
	}

	_, err = d.Describe(ctx, missingObject)
	require.Error(t, err, "describe %s, an object the service does not have", missingObject)
	assert.True(t, errors.Is(err, connectors.ErrNotFound),
		"describe %s: want an error wrapping connectors.ErrNotFound, got %v", missingObject, err)
}

// FieldsByName indexes a Describe answer by field name.
func FieldsByName(fields []connectors.Field) map[string]connectors.Field {
	out := make(map[string]connectors.Field, len(fields))
	for _, f := range fields {
		out[f.Name] = f
	}
	return out
}
