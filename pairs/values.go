package pairs

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// marshalValues encodes a half's values as a JSON object, as json.Marshal does, for the
// link store's values columns. Values hold what connectors read (strings, numbers,
// booleans, nulls): those are written here without reflection, keys in order, which was
// most of a wide link's cost in encoding/json (its map encoder sorts through reflection
// and allocates per key). A map holding anything else goes through json.Marshal whole, so
// every value decodes as before.
func marshalValues(v map[string]any) ([]byte, error) {
	if b, ok := appendValues(make([]byte, 0, 32*len(v)), v); ok {
		return b, nil
	}
	return json.Marshal(v)
}

// appendValues appends v as a JSON object to b, or says it cannot (a value of another
// type, a number JSON has no form for, a string that is not UTF-8).
func appendValues(b []byte, v map[string]any) ([]byte, bool) {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendString(b, k); !ok {
			return nil, false
		}
		b = append(b, ':')
		switch x := v[k].(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			if b, ok = appendString(b, x); !ok {
				return nil, false
			}
		case bool:
			b = strconv.AppendBool(b, x)
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, false
			}
			// Any form that parses back to the same float64 will do: the column is read
			// with json.Unmarshal.
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
		case int:
			b = strconv.AppendInt(b, int64(x), 10)
		case int64:
			b = strconv.AppendInt(b, x, 10)
		default:
			return nil, false
		}
	}
	return append(b, '}'), true
}

// appendString appends s as a JSON string, or says it cannot (s is not valid UTF-8, which
// json.Marshal replaces).
func appendString(b []byte, s string) ([]byte, bool) {
	if !utf8.ValidString(s) {
		return nil, false
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}

// sameValues says whether a and b hold the same keys with the same values, so that one
// encoding decodes as either (sameValue).
func sameValues(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || !sameValue(x, y) {
			return false
		}
	}
	return true
}

// sameValue compares values as their encodings would decode: strings, booleans and nulls
// by value, numbers by their bits (0 and -0 encode apart), lists and objects element by
// element, anything else by reflect.DeepEqual.
func sameValue(x, y any) bool {
	switch x := x.(type) {
	case nil:
		return y == nil
	case string:
		z, ok := y.(string)
		return ok && x == z
	case bool:
		z, ok := y.(bool)
		return ok && x == z
	case float64:
		z, ok := y.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(z)
	case []any:
		z, ok := y.([]any)
		if !ok || len(x) != len(z) || (x == nil) != (z == nil) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], z[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		z, ok := y.(map[string]any)
		return ok && (x == nil) == (z == nil) && sameValues(x, z)
	default:
		return reflect.DeepEqual(x, y)
	}
}
