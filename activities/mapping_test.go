package activities

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/definition"
	"tandem/pairs"
)

func TestNormalizeDomain(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"HTTPS://www.Acme.com/about", "acme.com"},
		{"acme.com.", "acme.com"},
		{"  Www.Example.CO.uk  ", "example.co.uk"},
		{"http://acme.com:8080/x?y", "acme.com"},
		{"", ""},
		{"   ", ""},
		{"acme.com", "acme.com"},
		{"www.acme.com/", "acme.com"},
		{"acme.com#pricing", "acme.com"},
		{"acme.com?utm_source=mail", "acme.com"},
		{"https://www.acme.com.", "acme.com"},
		{"https://user:secret@www.acme.com:443/login", "acme.com"},
		// An email address in a domain field: its domain is what identifies the company.
		{"user@acme.com", "acme.com"},
		{"Billing@WWW.Acme.com", "acme.com"},
		// Only a leading "www." is dropped, not other subdomains.
		{"shop.acme.com", "shop.acme.com"},
		{"wwwacme.com", "wwwacme.com"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			assert.Equal(t, tc.want, normalizeDomain(tc.in))
		})
	}
}

// A plain domain (what most values of a domain field are) is left as it is without the
// steps of normalizeDomain, and only one that those steps leave alone is plain.
func TestPlainDomainsAreTheOnesNormalizingLeavesAlone(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "abcz09.-/:@?#Aw W"
	slow := func(s string) string { // normalizeDomain without its fast path
		if s == "" {
			return s
		}
		return normalizeDomain(" " + s) // a space is never plain
	}
	for _, s := range []string{"acme.com", "shop.acme.com", "wwwacme.com", "a-b.example", "x", "www.acme.com", "acme.com.", "Acme.com", "acme.com:80", "www.", "."} {
		assert.Equal(t, slow(s) == s, plainDomain(s), "%q", s)
	}
	for range 20_000 {
		b := make([]byte, 1+rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		if plainDomain(s) {
			require.Equal(t, s, slow(s), "%q is plain but normalizes otherwise", s)
		}
		require.Equal(t, slow(s), normalizeDomain(s), "%q", s)
	}
}

// A value the normalizers leave as it is comes back as it was, without a new allocation
// (every record read, written and compared is normalized).
func TestNormalizeLeavesANormalValueAsItWas(t *testing.T) {
	var v any = "acme.com"
	for _, names := range [][]string{{"domain"}, {"trim", "lower"}, {"email"}} {
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = normalize(v, names) }), "%v", names)
	}
	assert.NotZero(t, testing.AllocsPerRun(100, func() { _ = normalize(" Acme.com", []string{"domain"}) }))
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    any
		names []string
		want  any
	}{
		{"trim", "  Acme Inc \t", []string{"trim"}, "Acme Inc"},
		{"lower", "ACME Inc", []string{"lower"}, "acme inc"},
		{"email trims and lowers", "  Billing@Acme.COM ", []string{"email"}, "billing@acme.com"},
		{"domain", "https://WWW.Acme.com/", []string{"domain"}, "acme.com"},
		{"applied in order", "  MiXeD  ", []string{"trim", "lower"}, "mixed"},
		{"no normalizer leaves a string alone", "  Keep Me ", nil, "  Keep Me "},
		{"whole number with a normalizer becomes its string", float64(5), []string{"trim"}, "5"},
		{"fraction with a normalizer becomes its string", 2.5, []string{"trim"}, "2.5"},
		{"bool with a normalizer becomes its string", true, []string{"lower"}, "true"},
		{"number without a normalizer is left alone", float64(5), nil, float64(5)},
		{"nil stays nil", nil, []string{"trim"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, normalize(tc.in, tc.names))
		})
	}
}

func TestEqualValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b any
		want bool
	}{
		{"number and its string", 5.0, "5", true},
		{"fraction and its string", 2.5, "2.5", true},
		{"nil and empty string", nil, "", true},
		{"same strings", "acme", "acme", true},
		{"case differs", "Acme", "acme", false},
		{"different numbers", 5.0, 6.0, false},
		{"number and another string", 5.0, "5.0", false},
		{"nil and a value", nil, "x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, equalValues(tc.a, tc.b))
			assert.Equal(t, tc.want, equalValues(tc.b, tc.a), "equality is symmetric")
		})
	}
}

// A linked item's values are the record's mapped values (pairs.RecordValues). When every
// field has one name on both sides and flows the item's way, and the payload holds every
// field as read, they are the payload itself (one map for the write and the link);
// otherwise they are built apart, blanks and all.
func TestLinkedItemValuesAreThePayloadWhenTheFieldsAreAlike(t *testing.T) {
	alike := &definition.Sync{Name: "alike", Mode: definition.TwoWay,
		A: definition.End{Key: "email"}, B: definition.End{Key: "email"},
		Fields: []definition.Field{
			{A: "email", B: "email", Direction: definition.Both, Normalize: []string{"email"}},
			{A: "name", B: "name", Direction: definition.Both},
		}}
	renamed := &definition.Sync{Name: "renamed", Mode: definition.TwoWay,
		A: definition.End{Key: "email"}, B: definition.End{Key: "mail"},
		Fields: []definition.Field{{A: "email", B: "mail", Direction: definition.Both}, {A: "name", B: "name", Direction: definition.Both}}}
	// b's key is a field of a's records, but a's key is their own id: a payload fills b's
	// key field from a's id when a's field is blank (a review of session 22 found X taken
	// from such a payload).
	otherKeys := &definition.Sync{Name: "other keys", Mode: definition.TwoWay, Conflict: definition.AWins,
		A: definition.End{Key: "id"}, B: definition.End{Key: "crm_id"},
		Fields: []definition.Field{{A: "crm_id", B: "crm_id", Direction: definition.Both}, {A: "name", B: "name", Direction: definition.Both}}}
	oneWayName := &definition.Sync{Name: "one-way name", Mode: definition.TwoWay,
		A: definition.End{Key: "email"}, B: definition.End{Key: "email"},
		Fields: []definition.Field{{A: "email", B: "email", Direction: definition.Both}, {A: "name", B: "name", Direction: definition.BToA}}}
	rec := func(fields map[string]any) connectors.Record {
		return connectors.Record{ID: "a1", Fields: fields}
	}
	partner := connectors.Record{ID: "b1", Fields: map[string]any{"email": "ann@x.com", "name": "Ann B"}}
	for _, tc := range []struct {
		name   string
		s      *definition.Sync
		r      connectors.Record
		shared bool
	}{
		{"alike", alike, rec(map[string]any{"email": " Ann@X.com", "name": "Ann"}), true},
		{"a blank the payload leaves out", alike, rec(map[string]any{"email": "ann@x.com", "name": ""}), false},
		{"a blank key", alike, rec(map[string]any{"name": "Ann"}), false},
		{"a field named otherwise", renamed, rec(map[string]any{"email": "ann@x.com", "name": "Ann"}), false},
		{"keys of other names, b's blank", otherKeys, rec(map[string]any{"id": "A-17", "name": "Ann"}), false},
		{"keys of other names", otherKeys, rec(map[string]any{"id": "A-17", "crm_id": "Z-9", "name": "Ann"}), false},
		{"a field that flows the other way", oneWayName, rec(map[string]any{"email": "ann@x.com", "name": "Ann"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := newMapping(tc.s, SideA)
			require.NoError(t, err)
			key := m.keyOf(tc.r)
			it := m.linkedItem(tc.r, key, &Partners{Linked: map[string]Partner{"a1": {Link: pairs.Link{Key: key}, Record: partner}}})
			assert.Equal(t, pairs.RecordValues(tc.s, SideA, tc.r, normalize), it.Pair.X)
			assert.Equal(t, pairs.RecordValues(tc.s, SideB, partner, normalize), it.Pair.Y)
			it.Want["probe"] = true
			_, inX := it.Pair.X["probe"]
			assert.Equal(t, tc.shared, inX, "X is the payload")
		})
	}
}
