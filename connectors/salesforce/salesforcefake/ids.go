package salesforcefake

import (
	"regexp"
	"strings"
)

// Salesforce ids: a 3-character key prefix naming the object (001 Account), a 2-character
// pod, a reserved character, 9 base-62 digits, and a 3-character suffix that encodes the
// case of the first 15 so the 18-character form survives case-insensitive tools.

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// keyPrefixes are the key prefixes of standard objects.
var keyPrefixes = map[string]string{
	"account":     "001",
	"contact":     "003",
	"user":        "005",
	"opportunity": "006",
	"lead":        "00Q",
	"case":        "500",
}

// standardObjects are the objects every org has, by their API names.
var standardObjects = []string{"Account", "Contact", "User", "Opportunity", "Lead", "Case"}

// MakeID returns the 18-character id of record number n with key prefix prefix (3
// characters), as the fake assigns them. Digits are in ASCII order (0-9, A-Z, a-z), so ids
// of one prefix sort as they were made.
func MakeID(prefix string, n uint64) string {
	var digits [9]byte
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = base62[n%62]
		n /= 62
	}
	id := prefix + "5g" + "0" + string(digits[:])
	return id + idSuffix(id)
}

// idSuffix computes the 3-character case suffix of a 15-character id.
func idSuffix(id15 string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	var b strings.Builder
	for chunk := 0; chunk < 3; chunk++ {
		flags := 0
		for i := 0; i < 5; i++ {
			if c := id15[chunk*5+i]; c >= 'A' && c <= 'Z' {
				flags |= 1 << i
			}
		}
		b.WriteByte(alphabet[flags])
	}
	return b.String()
}

var idRE = regexp.MustCompile(`^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$`)

// validID reports whether s is shaped like an id: 15 characters, or 18 whose suffix is
// right.
func validID(s string) bool {
	if !idRE.MatchString(s) {
		return false
	}
	return len(s) == 15 || idSuffix(s[:15]) == s[15:]
}

// to18 returns the 18-character form of a valid id.
func to18(s string) string {
	if len(s) == 15 {
		return s + idSuffix(s)
	}
	return s
}
