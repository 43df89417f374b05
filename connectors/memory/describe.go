package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"tandem/connectors"
)

// MethodDescribe is connectors.Describer's method, as used by Calls, FailNext and
// FailAfter.
const MethodDescribe = "Describe"

var _ connectors.Describer = (*Connector)(nil)

// Describe implements connectors.Describer. With Options.Fields it answers with the
// fields declared for object, and an object without an entry is not found. Without them
// the connector is schemaless, as a map is: it answers with the fields object's records
// carry now, each typed by its values (string, number, boolean, object, array; "any" when
// they differ or are all null), every one writable and none unique, after "id" (the
// record's id, which a sync may key on: read-only and unique). An object without records
// has no fields to tell and is not found.
func (c *Connector) Describe(ctx context.Context, object string) ([]connectors.Field, error) {
	afterErr, err := c.begin(ctx, MethodDescribe, object)
	if err != nil {
		return nil, err
	}
	if c.opts.Fields != nil {
		declared, ok := c.opts.Fields[object]
		if !ok {
			return nil, &connectors.NotFoundError{What: fmt.Sprintf("memory object %q (declared objects: %s)",
				object, strings.Join(sortedNames(c.opts.Fields), ", "))}
		}
		if afterErr != nil {
			return nil, afterErr
		}
		return slices.Clone(declared), nil
	}

	c.mu.Lock()
	types := map[string]string{}
	if tb, ok := c.objects[object]; ok {
		for _, r := range tb.records {
			for name, v := range r.Fields {
				types[name] = mergeType(types[name], v)
			}
		}
	}
	n := 0
	if tb, ok := c.objects[object]; ok {
		n = len(tb.records)
	}
	c.mu.Unlock()

	if n == 0 {
		return nil, &connectors.NotFoundError{What: fmt.Sprintf(
			"memory object %q: it has no records, so its fields are not known (a memory connection knows the fields of the records it holds)", object)}
	}
	if afterErr != nil {
		return nil, afterErr
	}
	out := []connectors.Field{{Name: "id", Type: "string", Unique: true}}
	for _, name := range sortedNames(types) {
		if name == "id" {
			continue // the record's id answers for "id" (connectors.Record.Value) only when no field has the name
		}
		t := types[name]
		if t == "" {
			t = "any"
		}
		out = append(out, connectors.Field{Name: name, Type: t, Writable: true})
	}
	if t, ok := types["id"]; ok {
		// A field named id shadows the record's id (connectors.Record.Value).
		out[0] = connectors.Field{Name: "id", Type: orAny(t), Writable: true}
	}
	return out, nil
}

// mergeType combines the type seen so far ("" for none or only nulls) with value v's.
func mergeType(seen string, v any) string {
	t := typeOf(v)
	switch {
	case t == "":
		return seen
	case seen == "" || seen == t:
		return t
	default:
		return "any"
	}
}

// typeOf names the JSON type of a field value ("" for null).
func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return ""
	case string:
		return "string"
	case float64, float32, int, int64, int32, uint, uint64, uint32:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func orAny(t string) string {
	if t == "" {
		return "any"
	}
	return t
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
