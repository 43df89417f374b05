// Package settings declares a connection type's settings once: each setting's name,
// default, documentation and parser sit in one table (a Spec), and from it come the
// defaults, the validation (every error names the setting and, unless it is a secret, the
// bad value), the unknown-setting error (connectors.Settings.OnlyKnown) and the README's
// table of the type's settings (Markdown; the README test compares the two).
package settings

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
)

// Setting declares one setting of a connection whose parsed form is a C.
type Setting[C any] struct {
	Name string
	// Default is the value used when the setting is absent, as it would be written in
	// the file; empty: no default value (Doc says what absence means).
	Default string
	Doc     string
	// Required settings must be given, and not blank.
	Required bool
	// Secret values are never quoted in errors.
	Secret bool
	// Set parses v (trimmed of spaces unless Raw) into cfg; the error says what v is not
	// ("is not a positive whole number"), and Parse puts the setting's name and v before
	// it (only the name for a Secret, whose error must read without the value). nil: the
	// setting is read elsewhere (a webhook verifier reads the same map).
	Set func(cfg *C, v string) error
	// Raw passes v to Set untrimmed (a secret may end in spaces).
	Raw bool
	// NoBlank refuses a blank value instead of reading it as absent.
	NoBlank bool
}

// Spec is a connection type's settings.
type Spec[C any] struct {
	// Type is the connection type ("hubspot").
	Type     string
	Settings []Setting[C]
	// Check, when set, validates the parsed config as a whole (settings that depend on
	// each other) and fills the defaults that depend on several settings; Config runs it.
	Check func(*C) error
}

// Config parses given into a new C (Parse) and runs Check on it. Errors name the
// setting.
func (s *Spec[C]) Config(given connectors.Settings) (C, error) {
	var cfg, zero C
	if err := s.Parse(given, &cfg); err != nil {
		return zero, err
	}
	if s.Check != nil {
		if err := s.Check(&cfg); err != nil {
			return zero, err
		}
	}
	return cfg, nil
}

// Parse reads settings into cfg: an unknown setting is refused (OnlyKnown), a required
// one must be there, each absent one with a Default takes it, and each given one is
// parsed by its Set. Blank values count as absent (unless NoBlank). Errors name the
// setting.
func (s *Spec[C]) Parse(given connectors.Settings, cfg *C) error {
	if err := given.OnlyKnown(s.Type, s.Known()); err != nil {
		return err
	}
	for _, st := range s.Settings {
		v, ok := given[st.Name]
		if !st.Raw {
			v = strings.TrimSpace(v)
		}
		if ok && st.NoBlank && strings.TrimSpace(v) == "" {
			return fmt.Errorf("setting %s: empty (leave it out for its default, %q)", st.Name, st.Default)
		}
		if !ok || strings.TrimSpace(v) == "" {
			if st.Required {
				return fmt.Errorf("setting %s: missing (%s)", st.Name, st.Doc)
			}
			if st.Default == "" {
				continue
			}
			v = st.Default
		}
		if st.Set == nil {
			continue
		}
		if err := st.Set(cfg, v); err != nil {
			if st.Secret {
				return fmt.Errorf("setting %s: %w", st.Name, err)
			}
			return fmt.Errorf("setting %s: %q %w", st.Name, v, err)
		}
	}
	return nil
}

// Known maps each setting's name to its documentation, as connectors.Settings.OnlyKnown
// takes them.
func (s *Spec[C]) Known() map[string]string {
	out := make(map[string]string, len(s.Settings))
	for _, st := range s.Settings {
		out[st.Name] = st.Doc
	}
	return out
}

// Names lists the settings' names, sorted.
func (s *Spec[C]) Names() []string { return slices.Sorted(maps.Keys(s.Known())) }

// Doc returns what a setting does ("" for an unknown one).
func (s *Spec[C]) Doc(name string) string { return s.Known()[name] }

// Markdown renders the settings as the README's table: setting, default, what it does,
// in the order declared.
func (s *Spec[C]) Markdown() string {
	var b strings.Builder
	b.WriteString("| setting | default | what it does |\n|---|---|---|\n")
	for _, st := range s.Settings {
		def := "—"
		switch {
		case st.Required:
			def = "required"
		case st.Default != "":
			def = "`" + st.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", st.Name, def, strings.ReplaceAll(st.Doc, "|", `\|`))
	}
	return b.String()
}

// The parsers of the common kinds of value. Each takes a pointer to the Config field.

// String stores v as it is.
func String[C any](field func(*C) *string) func(*C, string) error {
	return func(c *C, v string) error { *field(c) = v; return nil }
}

// Int stores a whole number from lo to hi.
func Int[C any](lo, hi int, field func(*C) *int) func(*C, string) error {
	return func(c *C, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			switch {
			case hi == maxInt && lo == 1:
				return fmt.Errorf("is not a positive whole number")
			case hi == maxInt:
				return fmt.Errorf("is not a whole number of %d or more", lo)
			}
			return fmt.Errorf("is not a whole number from %d to %d", lo, hi)
		}
		*field(c) = n
		return nil
	}
}

// maxInt is the hi of Int for "no upper bound".
const maxInt = int(^uint(0) >> 1)

// AtLeast is Int with no upper bound.
func AtLeast[C any](lo int, field func(*C) *int) func(*C, string) error {
	return Int(lo, maxInt, field)
}

// Bool stores true or false (strconv.ParseBool's spellings).
func Bool[C any](field func(*C) *bool) func(*C, string) error {
	return func(c *C, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("is not true or false")
		}
		*field(c) = b
		return nil
	}
}

// NotBool stores the opposite of true or false: for a setting on by default whose Config
// field, zero when the Config is built in code, says it is off.
func NotBool[C any](field func(*C) *bool) func(*C, string) error {
	set := Bool(field)
	return func(c *C, v string) error {
		if err := set(c, v); err != nil {
			return err
		}
		*field(c) = !*field(c)
		return nil
	}
}

// Duration stores a Go duration ("30s", "1h") of at least lo (0 allows zero).
func Duration[C any](lo time.Duration, field func(*C) *time.Duration) func(*C, string) error {
	return func(c *C, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < lo {
			if lo > 0 {
				return fmt.Errorf("is not a duration of at least %s, such as 30s or 1h", lo)
			}
			return fmt.Errorf("is not a duration such as 30s or 1h (0s for none)")
		}
		*field(c) = d
		return nil
	}
}

// List stores a comma-separated list, its items trimmed, blanks and repeats left out.
func List[C any](field func(*C) *[]string) func(*C, string) error {
	return func(c *C, v string) error { *field(c) = SplitList(v); return nil }
}

// OneOf stores v when it is one of values.
func OneOf[C any](values []string, field func(*C) *string) func(*C, string) error {
	return func(c *C, v string) error {
		if !slices.Contains(values, v) {
			return fmt.Errorf("is not %s", orList(values))
		}
		*field(c) = v
		return nil
	}
}

// JSONObject stores a JSON object.
func JSONObject[C any](field func(*C) *map[string]any) func(*C, string) error {
	return func(c *C, v string) error {
		var m map[string]any
		if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
			return fmt.Errorf("is not a JSON object")
		}
		*field(c) = m
		return nil
	}
}

// SplitList splits a comma-separated list, trimming items and leaving out blanks and
// repeats.
func SplitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func orList(values []string) string {
	q := values
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// DurationText writes d as a setting's default reads best: "1h", "2m", "1m30s", "5s".
func DurationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
