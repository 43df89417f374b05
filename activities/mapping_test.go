package activities

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
