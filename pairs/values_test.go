package pairs

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMarshalValuesDecodesAsJSONMarshal holds the link store's values encoder to
// encoding/json: what it writes decodes to what json.Marshal's output decodes to, for the
// values connectors read and the ones it hands to json.Marshal.
func TestMarshalValuesDecodesAsJSONMarshal(t *testing.T) {
	cases := map[string]map[string]any{
		"empty":   {},
		"scalars": {"name": "Acme", "employees": 120.0, "active": true, "fax": nil, "count": 3, "big": int64(1) << 60},
		"escapes": {"q": `say "hi"\`, "ctl": "a\x00b\x01c\x1f\n\r\t", "html": "<a href='x'>&amp;</a>", "sep": "line\u2028para\u2029", "uni": "Zürich 東京 🚀"},
		"floats": {"zero": 0.0, "neg0": math.Copysign(0, -1), "tiny": 1e-7, "small": 0.000001, "huge": 1e21, "max": math.MaxFloat64,
			"min": math.SmallestNonzeroFloat64, "frac": 123.456, "neg": -42.5, "int": 1e15},
		"odd keys":         {"": "empty key", "k\"ey": 1.0, "é": "accent", "\x01": "ctl key"},
		"other types":      {"tags": []any{"a", "b"}, "nested": map[string]any{"x": 1.0}},
		"number type":      {"n": json.Number("12.50")},
		"invalid utf8":     {"bad": "a\xffb"},
		"invalid utf8 key": {"a\xffb": "x"},
		"float32":          {"f": float32(1.5)},
	}
	// fast are the cases the encoder writes itself; the others go through json.Marshal.
	fast := map[string]bool{"empty": true, "scalars": true, "escapes": true, "floats": true, "odd keys": true}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			assertSameDecoding(t, v)
			_, ok := appendValues(nil, v)
			assert.Equal(t, fast[name], ok, "written without json.Marshal")
		})
	}
	t.Run("random", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for range 2000 {
			v := map[string]any{}
			for range r.IntN(8) {
				v[randomString(r)] = randomValue(r)
			}
			assertSameDecoding(t, v)
			_, ok := appendValues(nil, v)
			require.True(t, ok, "written without json.Marshal: %v", v)
		}
	})
	t.Run("no JSON form", func(t *testing.T) {
		for _, bad := range []any{math.NaN(), math.Inf(1), math.Inf(-1)} {
			_, err := marshalValues(map[string]any{"x": bad})
			assert.Error(t, err, "%v", bad)
		}
	})
}

func assertSameDecoding(t *testing.T, v map[string]any) {
	t.Helper()
	want, err := json.Marshal(v)
	require.NoError(t, err)
	got, err := marshalValues(v)
	require.NoError(t, err)
	require.True(t, json.Valid(got), "not JSON: %q", got)
	var wantV, gotV map[string]any
	require.NoError(t, json.Unmarshal(want, &wantV))
	require.NoError(t, json.Unmarshal(got, &gotV))
	assert.Equal(t, wantV, gotV, "json.Marshal %s, marshalValues %s", want, got)
	// -0 decodes equal to 0 under assert.Equal's ObjectsAreEqual; its sign is kept too.
	for k, w := range wantV {
		if wf, ok := w.(float64); ok {
			assert.Equal(t, math.Signbit(wf), math.Signbit(gotV[k].(float64)), "sign of %q", k)
		}
	}
}

func randomString(r *rand.Rand) string {
	alphabet := []rune("ab\"\\\x00\x1f\n\t é東🚀<>&\u2028")
	n := r.IntN(6)
	s := make([]rune, n)
	for i := range s {
		s[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(s)
}

func randomValue(r *rand.Rand) any {
	switch r.IntN(6) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return randomString(r)
	case 3:
		for { // any bits but NaN and the infinities, which JSON has no form for
			if f := math.Float64frombits(r.Uint64()); !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		}
	case 4:
		return float64(r.IntN(1_000_000)) / 100
	default:
		return r.IntN(1 << 20)
	}
}
