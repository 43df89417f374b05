package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/connectors/builtin"
	"tandem/definition"
)

// fuzzLookup resolves ${VAR}s for the fuzz target: a variable named UNSET... is not set, EMPTY
// is set to "", and any other is set to a value naming it.
func fuzzLookup(name string) (string, bool) {
	switch {
	case strings.HasPrefix(name, "UNSET"):
		return "", false
	case name == "EMPTY":
		return "", true
	}
	return "value-of-" + name, true
}

// fuzzAliasBomb is a file of n levels of anchors, each merging the one below ten times: a
// checker following the merges expands it 10^n times, where the parser reads every node once.
func fuzzAliasBomb(n int) string {
	var b strings.Builder
	b.WriteString(testConnections)
	b.WriteString("defaults:\n  x0: &a0 {connection: salesloft, bogus: 1}\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  x%d: &a%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	fmt.Fprintf(&b, "syncs:\n  - name: s\n    a: *a%d\n    b: {<<: *a%d}\n    fields: [*a%d, *a%d]\n", n, n, n, n)
	return b.String()
}

// FuzzParse feeds arbitrary bytes to Parse as a definitions file. Besides not panicking: it
// returns a file or an error, never both or neither; an error names the file first and says
// something; the answer is the same when asked twice; and a file it returns keeps the
// loader's promises (every sync named uniquely, both sides on defined connections with an
// object and a key, at least one field mapped, known normalizers, a schedule of at least a
// second, a page size in range; every connection of a known type; every secret a value the
// environment gave).
func FuzzParse(f *testing.F) {
	// Realistic files: the examples, the README's style, and every option at once.
	examples, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	for _, path := range examples {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(testConnections + "syncs:\n" + syncYAML(nil)))
	f.Add([]byte(`
connections:
  salesloft: {type: salesloft, token: "${SALESLOFT_TOKEN}", webhook_secret: ${SALESLOFT_WEBHOOK_TOKEN}}
  hubspot:   {type: hubspot,   token: "${HUBSPOT_TOKEN}", base_url: "https://${HS_HOST}/x", optional: ${EMPTY}, price: $$5}
  src:       {type: memory}
defaults: &side {connection: src, object: people, key: id}
syncs:
  - name: companies
    mode: two-way
    a: {connection: salesloft, object: accounts,  key: domain}
    b: {connection: hubspot,   object: companies, key: domain}
    fields:
      - {a: name,   b: name}
      - {a: domain, b: domain, normalize: domain}
      - {a: email,  b: email, normalize: [trim, lower], direction: b-to-a}
      - {a: phone,  b: phone, direction: a-to-b, on_empty: clear}
    write_a: create-only
    write_b: update-only
    conflict: field-merge
    field_merge_prefer: b
    schedule: {every: 1h30m, start_from: 2024-01-01T08:00:00+02:00}
    webhooks: true
    page_size: 100
  - name: people.v2
    a: *side
    b: {<<: *side, connection: hubspot, object: contacts}
    fields:
      - {a: email, b: email}
    schedule: {start_from: 2024-03-01}
`))
	// Malformed: YAML syntax, empty, wrong shapes, unknown names, bad values, unset variables.
	f.Add([]byte(testConnections + "syncs:\n  - name: companies\n    a: connection: salesloft\n"))
	f.Add([]byte("# nothing yet\n"))
	f.Add([]byte(""))
	f.Add([]byte("- just\n- a list\n"))
	f.Add([]byte("connections: 5\nsyncs: {a: 1}\n"))
	f.Add([]byte("connections:\n  x: [1, 2]\n  y: {type: [memory], token: {a: b}}\nsyncs:\n  - 7\n  - []\n"))
	f.Add([]byte(testConnections + "syncs:\n" + syncYAML(map[string]string{
		"name": "../x", "mode": "sideways", "conflict": "a-wins", "field_merge_prefer": "c",
		"schedule": "{every: 10ms, start_from: yesterday}", "webhooks": "maybe", "page_size": "1e9",
		"fields": "[{a: x, b: x, normalize: [upper, {a: 1}], direction: a-to-b, on_empty: never}, {a: x, b: ''}]",
		"write":  "sometimes", "write_a": "update-only", "write_b": "[upsert]",
	})))
	f.Add([]byte("connections:\n  s: {type: nosuch, token: ${UNSET_TOKEN}, other: ${1BAD}, open: ${NOCLOSE}\nsyncs:\n" + syncYAML(nil)))
	// Merges of merges (TestParseAliasBomb); testdata/fuzz/FuzzParse holds the crashers found.
	f.Add([]byte(fuzzAliasBomb(3)))

	types := builtin.Registry().Types()
	const path = "syncs.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(path, data, types, fuzzLookup)
		file2, err2 := Parse(path, data, types, fuzzLookup)
		if fmt.Sprint(err) != fmt.Sprint(err2) || !reflect.DeepEqual(file, file2) {
			t.Fatalf("Parse is not deterministic:\n%v\nthen\n%v", err, err2)
		}
		if err != nil {
			if file != nil {
				t.Fatalf("Parse returned a file and an error: %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+": ") || strings.TrimSpace(strings.TrimPrefix(msg, path+": ")) == "" {
				t.Fatalf("error does not name the file and say what is wrong: %q", msg)
			}
			return
		}
		if file == nil {
			t.Fatalf("Parse returned neither a file nor an error")
		}
		checkFile(t, file, path, types)
	})
}

// checkFile checks the promises of a loaded file.
func checkFile(t *testing.T, f *File, path string, types []string) {
	t.Helper()
	if f.Path != path {
		t.Fatalf("file path %q, want %q", f.Path, path)
	}
	if len(f.Syncs) == 0 {
		t.Fatalf("a file without syncs loaded")
	}
	for name, c := range f.Connections {
		if c.Name != name || !slices.Contains(types, c.Type) {
			t.Fatalf("connection %q is %q of type %q", name, c.Name, c.Type)
		}
	}
	for _, s := range f.Secrets {
		if !strings.HasPrefix(s, "value-of-") {
			t.Fatalf("secret %q is not a value the environment gave", s)
		}
	}
	names := map[string]bool{}
	for _, s := range f.Syncs {
		if !syncName.MatchString(s.Name) || s.Name == "." || s.Name == ".." || names[s.Name] {
			t.Fatalf("sync name %q is not a unique name of the allowed characters", s.Name)
		}
		names[s.Name] = true
		if s.Mode != OneWay && s.Mode != TwoWay {
			t.Fatalf("sync %q: mode %q", s.Name, s.Mode)
		}
		for _, side := range []Side{s.A, s.B} {
			if _, ok := f.Connections[side.Connection]; !ok || side.Object == "" || side.Key == "" {
				t.Fatalf("sync %q: side %+v is not a defined connection with an object and a key", s.Name, side)
			}
		}
		if len(s.Fields) == 0 {
			t.Fatalf("sync %q: no fields", s.Name)
		}
		for i, fl := range s.Fields {
			if fl.A == "" || fl.B == "" {
				t.Fatalf("sync %q: field %d is %+v", s.Name, i, fl)
			}
			for _, n := range fl.Normalize {
				if !slices.Contains(Normalizers, n) {
					t.Fatalf("sync %q: field %d: unknown normalizer %q", s.Name, i, n)
				}
			}
			if !slices.Contains([]definition.OnEmpty{"", definition.Keep, definition.Clear}, fl.OnEmpty) {
				t.Fatalf("sync %q: field %d: on_empty %q", s.Name, i, fl.OnEmpty)
			}
		}
		for side, m := range s.Write {
			if side != definition.B && (side != definition.A || s.Mode != TwoWay) ||
				!slices.Contains([]definition.WriteMode{definition.Upsert, definition.UpdateOnly, definition.CreateOnly}, m) {
				t.Fatalf("sync %q: side %q is written %q", s.Name, side, m)
			}
		}
		if s.Schedule.Every < time.Second {
			t.Fatalf("sync %q: schedule every %s", s.Name, s.Schedule.Every)
		}
		if s.PageSize < 1 || s.PageSize > MaxPageSize {
			t.Fatalf("sync %q: page size %d", s.Name, s.PageSize)
		}
	}
}

// TestParseAliasBomb: merge keys that each bring in the anchor below ten times, twelve
// levels deep, are a file of a few hundred bytes; checking them node by node as merged would
// take 10^12 steps and as many error lines. Parse answers at once, with a short error.
func TestParseAliasBomb(t *testing.T) {
	data := fuzzAliasBomb(12)
	start := time.Now()
	_, err := Parse("syncs.yaml", []byte(data), testTypes, noEnv)
	if err == nil {
		t.Fatalf("the file loaded")
	}
	if len(err.Error()) > 1<<16 {
		t.Fatalf("a %d-byte file yields a %d-byte error", len(data), len(err.Error()))
	}
	t.Logf("%d bytes in, %d bytes of error out, in %s:\n%v", len(data), len(err.Error()), time.Since(start), err)
}
