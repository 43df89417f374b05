package settings

import (
	"fmt"
	"strings"
)

// The README holds each connection type's table between two markers:
//
//	<!-- settings:hubspot -->
//	| setting | default | what it does |
//	...
//	<!-- /settings:hubspot -->
func markers(typ string) (begin, end string) {
	return "<!-- settings:" + typ + " -->\n", "<!-- /settings:" + typ + " -->"
}

// Section returns what the README holds between typ's markers, or an error when the
// markers are missing.
func Section(readme, typ string) (string, error) {
	begin, end := markers(typ)
	_, rest, ok := strings.Cut(readme, begin)
	if !ok {
		return "", fmt.Errorf("README has no %q marker for the %s settings table", strings.TrimSpace(begin), typ)
	}
	body, _, ok := strings.Cut(rest, end)
	if !ok {
		return "", fmt.Errorf("README's %s settings table has no closing %q", typ, end)
	}
	return body, nil
}

// Replace returns readme with typ's table replaced by table.
func Replace(readme, typ, table string) (string, error) {
	old, err := Section(readme, typ)
	if err != nil {
		return "", err
	}
	begin, end := markers(typ)
	return strings.Replace(readme, begin+old+end, begin+table+end, 1), nil
}
