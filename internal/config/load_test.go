package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"tandem/definition"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testTypes = []string{"salesloft", "hubspot", "memory"}

func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func noEnv(string) (string, bool) { return "", false }

const testConnections = `connections:
  salesloft: {type: salesloft, token: t1}
  hubspot:   {type: hubspot, token: t2}
  src:       {type: memory}
`

// syncYAML writes one sync that is valid on its own. over replaces its keys or adds new
// ones; an empty value removes the key.
func syncYAML(over map[string]string) string {
	keys := map[string]string{
		"name":   "companies",
		"a":      "{connection: salesloft, object: accounts, key: domain}",
		"b":      "{connection: hubspot, object: companies, key: domain}",
		"fields": "[{a: name, b: name}]",
	}
	for k, v := range over {
		keys[k] = v
	}
	order := []string{"name", "a", "b", "fields"}
	var extra []string
	for k := range keys {
		if !slices.Contains(order, k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)

	var b strings.Builder
	prefix := "  - "
	for _, k := range append(order, extra...) {
		if keys[k] == "" {
			continue
		}
		b.WriteString(prefix + k + ": " + keys[k] + "\n")
		prefix = "    "
	}
	return b.String()
}

func TestParseReportsEachMistake(t *testing.T) {
	tests := []struct {
		name string
		// The file is testConnections (or conns), "syncs:", then syncs (or one syncYAML(over)).
		conns string
		syncs string
		over  map[string]string
		file  string // the whole file, when the mistake is in its outline
		where string // what the message names after the file: connection or sync, and field
		want  string
	}{
		// The file's outline.
		{name: "yaml syntax", file: testConnections + "syncs:\n  - name: companies\n    a: connection: salesloft\n", want: "yaml: line 7: mapping values are not allowed"},
		{name: "empty file", file: "# nothing yet\n", want: "file is empty"},
		{name: "no syncs", file: testConnections, where: "syncs", want: "none defined"},
		{name: "unknown top-level key", file: testConnections + "version: 2\nsyncs:\n" + syncYAML(nil), where: "version", want: `unknown key (line 5; known: connections, syncs)`},
		{name: "syncs not a list", file: testConnections + "syncs: {name: companies}\n", where: "syncs", want: "must be a list, not a mapping"},

		// Connections.
		{name: "connection without type", conns: "connections:\n  salesloft: {type: salesloft}\n  hubspot: {token: t}\n", where: `connection "hubspot": type`, want: "missing (known: hubspot, memory, salesloft)"},
		{name: "unknown connection type", conns: "connections:\n  salesloft: {type: salesloft}\n  hubspot: {type: hubspott}\n", where: `connection "hubspot": type`, want: `unknown type "hubspott" (known: hubspot, memory, salesloft)`},
		{name: "unset variable", conns: "connections:\n  salesloft: {type: salesloft}\n  hubspot: {type: hubspot, token: '${HUBSPOT_TOKEN}'}\n", where: `connection "hubspot": token`, want: "environment variable HUBSPOT_TOKEN is not set"},
		{name: "nested setting", conns: "connections:\n  salesloft: {type: salesloft}\n  hubspot: {type: hubspot, auth: {token: t}}\n", where: `connection "hubspot": auth`, want: "must be a single value, not a mapping"},
		{name: "connection not a mapping", conns: "connections:\n  salesloft: {type: salesloft}\n  hubspot: hubspot\n", where: `connection "hubspot"`, want: "must be a mapping"},

		// The sync itself.
		{name: "missing name", over: map[string]string{"name": ""}, where: "syncs[0]: name", want: "missing"},
		{name: "duplicate name", syncs: syncYAML(nil) + syncYAML(nil), where: `sync "companies": name`, want: "also used by syncs[0]"},
		{name: "name with a space", over: map[string]string{"name": "my companies"}, where: `sync "my companies": name`, want: "may contain only letters, digits"},
		{name: "name with a slash", over: map[string]string{"name": "a/b"}, where: `sync "a/b": name`, want: "may contain only letters, digits"},
		{name: "bad mode", over: map[string]string{"mode": "both-ways"}, where: `sync "companies": mode`, want: `unknown mode "both-ways" (known: one-way, two-way)`},
		{name: "unknown sync key", over: map[string]string{"colour": "red"}, where: `sync "companies": colour`, want: "unknown key (line 10; known: a, b, conflict, deletes, field_merge_prefer, fields, mode, name, page_size, schedule, verify, webhooks, write, write_a, write_b)"},
		{name: "unknown delete mode", over: map[string]string{"deletes": "{mode: purge}"}, where: `sync "companies": deletes.mode`, want: `unknown mode "purge" (known: ignore, archive, delete)`},
		{name: "archive without field", over: map[string]string{"deletes": "{mode: archive, value: gone}"}, where: `sync "companies": deletes.field`, want: "missing: archive sets a field"},
		{name: "archive without value", over: map[string]string{"deletes": "{mode: archive, field: gone}"}, where: `sync "companies": deletes.value`, want: "missing: the value archive sets"},
		{name: "field without archive", over: map[string]string{"deletes": "{mode: delete, field: gone}"}, where: `sync "companies": deletes.field`, want: "applies only to mode: archive"},
		{name: "bad max", over: map[string]string{"deletes": "{mode: delete, max: lots}"}, where: `sync "companies": deletes.max`, want: `"lots" is not a whole number`},
		{name: "bad max_percent", over: map[string]string{"deletes": "{mode: delete, max_percent: 150}"}, where: `sync "companies": deletes.max_percent`, want: `"150" is not a percentage from 0 to 100`},
		{name: "verify without every", over: map[string]string{"verify": "{}"}, where: `sync "companies": verify.every`, want: "missing: how often"},
		{name: "bad verify every", over: map[string]string{"verify": "{every: daily}"}, where: `sync "companies": verify.every`, want: `"daily" is not a positive duration`},
		{name: "unknown deletes key", over: map[string]string{"deletes": "{mode: delete, maximum: 3}"}, where: `sync "companies": deletes.maximum`, want: "unknown key"},
		{name: "key written twice", syncs: syncYAML(nil) + "    name: again\n", where: `sync "companies": name`, want: "appears twice (line 10)"},
		{name: "sync not a mapping", syncs: "  - companies\n", where: "syncs[0]", want: "must be a mapping, not a single value"},

		// Its two sides.
		{name: "missing a", over: map[string]string{"a": ""}, where: `sync "companies": a`, want: "missing"},
		{name: "missing b", over: map[string]string{"b": ""}, where: `sync "companies": b`, want: "missing"},
		{name: "unknown connection", over: map[string]string{"a": "{connection: salesforce, object: accounts, key: domain}"}, where: `sync "companies": a.connection`, want: `unknown connection "salesforce" (known: hubspot, salesloft, src)`},
		{name: "missing connection", over: map[string]string{"b": "{object: companies, key: domain}"}, where: `sync "companies": b.connection`, want: "missing"},
		{name: "missing object", over: map[string]string{"a": "{connection: salesloft, key: domain}"}, where: `sync "companies": a.object`, want: "missing"},
		{name: "missing key", over: map[string]string{"b": "{connection: hubspot, object: companies}"}, where: `sync "companies": b.key`, want: "missing"},
		{name: "unknown side key", over: map[string]string{"a": "{connection: salesloft, object: accounts, key: domain, filter: x}"}, where: `sync "companies": a.filter`, want: "unknown key"},
		{name: "side not a mapping", over: map[string]string{"a": "salesloft"}, where: `sync "companies": a`, want: "must be a mapping, not a single value"},
		{
			name:  "two-way within one object",
			over:  map[string]string{"mode": "two-way", "b": "{connection: salesloft, object: accounts, key: email}"},
			where: `sync "companies": b`, want: "is the same connection and object as a (salesloft accounts)",
		},

		// Its fields.
		{name: "no fields", over: map[string]string{"fields": ""}, where: `sync "companies": fields`, want: "none given"},
		{name: "empty fields", over: map[string]string{"fields": "[]"}, where: `sync "companies": fields`, want: "none given"},
		{name: "fields not a list", over: map[string]string{"fields": "{a: name, b: name}"}, where: `sync "companies": fields`, want: "must be a list, not a mapping"},
		{name: "field without a", over: map[string]string{"fields": "[{a: name, b: name}, {b: title}]"}, where: `sync "companies": fields[1].a`, want: "missing"},
		{name: "field without b", over: map[string]string{"fields": "[{a: name}]"}, where: `sync "companies": fields[0].b`, want: "missing"},
		{name: "b mapped twice", over: map[string]string{"fields": "[{a: name, b: name}, {a: title, b: name}]"}, where: `sync "companies": fields[1].b`, want: `"name" is already mapped by fields[0]`},
		{name: "a mapped twice", over: map[string]string{"fields": "[{a: name, b: name}, {a: name, b: title}]"}, where: `sync "companies": fields[1].a`, want: `"name" is already mapped by fields[0]`},
		{
			name:  "unknown normalizer",
			over:  map[string]string{"fields": "[{a: name, b: name}, {a: domain, b: domain, normalize: domian}]"},
			where: `sync "companies": fields[1].normalize`, want: `unknown normalizer "domian" (known: domain, email, lower, trim)`,
		},
		{name: "unknown normalizer in a list", over: map[string]string{"fields": "[{a: email, b: email, normalize: [trim, lowercase]}]"}, where: `sync "companies": fields[0].normalize`, want: `unknown normalizer "lowercase"`},
		{name: "unknown field key", over: map[string]string{"fields": "[{a: name, b: name, normalise: trim}]"}, where: `sync "companies": fields[0].normalise`, want: "unknown key (line 9; known: a, b, direction, normalize, on_empty)"},
		{name: "bad direction", over: map[string]string{"mode": "two-way", "fields": "[{a: name, b: name, direction: a-b}]"}, where: `sync "companies": fields[0].direction`, want: `unknown direction "a-b" (known: both, a-to-b, b-to-a)`},
		{name: "unknown on_empty", over: map[string]string{"fields": "[{a: name, b: name}, {a: phone, b: phone, on_empty: skip}]"}, where: `sync "companies": fields[1].on_empty`, want: `unknown value "skip" (known: keep, clear)`},
		{name: "on_empty not a single value", over: map[string]string{"fields": "[{a: name, b: name, on_empty: [keep]}]"}, where: `sync "companies": fields[0].on_empty`, want: "must be a single value, not a list"},
		{name: "direction in a one-way sync", over: map[string]string{"fields": "[{a: name, b: name, direction: b-to-a}]"}, where: `sync "companies": fields[0].direction`, want: `"b-to-a" applies only to two-way syncs`},

		// How and when it runs.
		{name: "unknown conflict policy", over: map[string]string{"mode": "two-way", "conflict": "latest-wins"}, where: `sync "companies": conflict`, want: `unknown policy "latest-wins" (known: newest-wins, a-wins, b-wins, field-merge)`},
		{name: "merge preference without field-merge", over: map[string]string{"mode": "two-way", "conflict": "a-wins", "field_merge_prefer": "b"}, where: `sync "companies": field_merge_prefer`, want: "applies only to conflict: field-merge"},
		{name: "merge preference of no side", over: map[string]string{"mode": "two-way", "conflict": "field-merge", "field_merge_prefer": "c"}, where: `sync "companies": field_merge_prefer`, want: `unknown side "c"`},
		{name: "conflict in a one-way sync", over: map[string]string{"conflict": "a-wins"}, where: `sync "companies": conflict`, want: "applies only to two-way syncs"},
		{name: "unknown write mode", over: map[string]string{"write": "update"}, where: `sync "companies": write`, want: `unknown write mode "update" (known: upsert, update-only, create-only)`},
		{name: "unknown write mode of side b", over: map[string]string{"mode": "two-way", "write_b": "insert-only"}, where: `sync "companies": write_b`, want: `unknown write mode "insert-only" (known: upsert, update-only, create-only)`},
		{name: "write_a in a one-way sync", over: map[string]string{"write_a": "update-only"}, where: `sync "companies": write_a`, want: "applies only to two-way syncs: a one-way sync writes side b only"},
		{name: "bad duration", over: map[string]string{"schedule": "{every: 15 minutes}"}, where: `sync "companies": schedule.every`, want: `"15 minutes" is not a duration`},
		{name: "zero duration", over: map[string]string{"schedule": "{every: 0s}"}, where: `sync "companies": schedule.every`, want: "must be positive"},
		{name: "negative duration", over: map[string]string{"schedule": "{every: -5m}"}, where: `sync "companies": schedule.every`, want: "must be positive"},
		{name: "duration under a second", over: map[string]string{"schedule": "{every: 500ms}"}, where: `sync "companies": schedule.every`, want: "too short; the minimum is 1s"},
		{name: "unknown schedule key", over: map[string]string{"schedule": "{evry: 5m}"}, where: `sync "companies": schedule.evry`, want: "unknown key"},
		{name: "bad start_from", over: map[string]string{"schedule": "{start_from: 01/02/2024}"}, where: `sync "companies": schedule.start_from`, want: `"01/02/2024" is not an RFC 3339 time`},
		{name: "bad webhooks", over: map[string]string{"webhooks": "sometimes"}, where: `sync "companies": webhooks`, want: `must be true or false, not "sometimes"`},
		{name: "page_size zero", over: map[string]string{"page_size": "0"}, where: `sync "companies": page_size`, want: "0 is out of range; it must be from 1 to 5000"},
		{name: "page_size too large", over: map[string]string{"page_size": "5001"}, where: `sync "companies": page_size`, want: "5001 is out of range"},
		{name: "page_size not a number", over: map[string]string{"page_size": "lots"}, where: `sync "companies": page_size`, want: `"lots" is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.file
			if data == "" {
				conns := tt.conns
				if conns == "" {
					conns = testConnections
				}
				syncs := tt.syncs
				if syncs == "" {
					syncs = syncYAML(tt.over)
				}
				data = conns + "syncs:\n" + syncs
			}

			f, err := Parse("syncs.yaml", []byte(data), testTypes, noEnv)
			require.Error(t, err, "file:\n%s", data)
			assert.Nil(t, f)
			msg := err.Error()
			// One mistake, one message: nothing else is wrong and nothing is reported twice.
			assert.NotContains(t, msg, "\n", "file:\n%s", data)
			prefix := "syncs.yaml: "
			if tt.where != "" {
				prefix += tt.where + ": "
			}
			assert.True(t, strings.HasPrefix(msg, prefix), "message %q should start with %q", msg, prefix)
			assert.Contains(t, msg, tt.want)
		})
	}
}

func TestParseAllValuesAndDefaults(t *testing.T) {
	data := `
connections:
  salesloft: {type: salesloft, token: "${SALESLOFT_TOKEN}", webhook_secret: "${SALESLOFT_WEBHOOK_TOKEN}"}
  hubspot:   {type: hubspot,   token: "${HUBSPOT_TOKEN}", port: 8443}
  src:       {type: memory}
syncs:
  - name: companies
    mode: two-way
    a: {connection: salesloft, object: accounts,  key: domain}
    b: {connection: hubspot,   object: companies, key: domain}
    fields:
      - {a: name,   b: name}
      - {a: domain, b: domain, normalize: domain}
      - {a: email,  b: email, normalize: [trim, lower], direction: b-to-a}
      - {a: phone,  b: phone, direction: a-to-b}
    conflict: a-wins
    schedule: {every: 1h30m, start_from: 2024-01-01T08:00:00+02:00}
    webhooks: true
    page_size: 100
    deletes: {mode: archive, field_a: deleted_in_hubspot, field_b: sl_deleted, value: "true", max: 50, max_percent: 5%, diff_every: 24h}
    verify: {every: 24h}
  - name: people.v2
    a: {connection: src, object: people, key: id}
    b: {connection: hubspot, object: contacts, key: src_id}
    fields:
      - {a: email, b: email}
    schedule: {start_from: 2024-03-01}
`
	f, err := Parse("syncs.yaml", []byte(data), testTypes, env(map[string]string{
		"SALESLOFT_TOKEN":         "sl-token",
		"SALESLOFT_WEBHOOK_TOKEN": "sl-secret",
		"HUBSPOT_TOKEN":           "hs-token",
	}))
	require.NoError(t, err)

	assert.Equal(t, "syncs.yaml", f.Path)
	assert.Equal(t, map[string]Connection{
		"salesloft": {Name: "salesloft", Type: "salesloft", Settings: map[string]string{"token": "sl-token", "webhook_secret": "sl-secret"}},
		"hubspot":   {Name: "hubspot", Type: "hubspot", Settings: map[string]string{"token": "hs-token", "port": "8443"}},
		"src":       {Name: "src", Type: "memory", Settings: map[string]string{}},
	}, f.Connections)

	assert.Equal(t, []string{"companies", "people.v2"}, f.SyncNames())
	companies, ok := f.Sync("companies")
	require.True(t, ok)
	assert.Equal(t, Sync{
		Name: "companies",
		Mode: TwoWay,
		A:    Side{Connection: "salesloft", Object: "accounts", Key: "domain"},
		B:    Side{Connection: "hubspot", Object: "companies", Key: "domain"},
		Fields: []Field{
			{A: "name", B: "name", Direction: Both},
			{A: "domain", B: "domain", Normalize: []string{"domain"}, Direction: Both},
			{A: "email", B: "email", Normalize: []string{"trim", "lower"}, Direction: BToA},
			{A: "phone", B: "phone", Direction: AToB},
		},
		Conflict: AWins,
		Schedule: Schedule{Every: 90 * time.Minute, StartFrom: time.Date(2024, 1, 1, 6, 0, 0, 0, time.UTC)},
		Webhooks: true,
		PageSize: 100,
		Deletes: definition.Deletes{Mode: definition.DeleteArchive, Value: "true", Max: 50, MaxPercent: 5, DiffEvery: 24 * time.Hour,
			Field: map[string]string{"a": "deleted_in_hubspot", "b": "sl_deleted"}},
		Verify: definition.Verify{Every: 24 * time.Hour},
	}, normalizeTimes(*companies))

	people, ok := f.Sync("people.v2")
	require.True(t, ok)
	assert.Equal(t, Sync{
		Name:     "people.v2",
		Mode:     OneWay,
		A:        Side{Connection: "src", Object: "people", Key: "id"},
		B:        Side{Connection: "hubspot", Object: "contacts", Key: "src_id"},
		Fields:   []Field{{A: "email", B: "email", Direction: Both}},
		Conflict: NewestWins,
		Schedule: Schedule{Every: DefaultEvery, StartFrom: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
		Webhooks: false,
		PageSize: DefaultPageSize,
		Deletes:  definition.Deletes{Mode: definition.DeleteIgnore, Max: definition.DefaultDeleteMax, MaxPercent: definition.DefaultDeleteMaxPercent},
	}, *people)
}

func TestParseStartFromDefaultsToTheBeginning(t *testing.T) {
	f, err := Parse("syncs.yaml", []byte(testConnections+"syncs:\n"+syncYAML(nil)), testTypes, noEnv)
	require.NoError(t, err)
	assert.True(t, f.Syncs[0].Schedule.StartFrom.IsZero())
}

// normalizeTimes puts times in UTC so that equal instants compare equal.
func normalizeTimes(s Sync) Sync {
	s.Schedule.StartFrom = s.Schedule.StartFrom.UTC()
	return s
}

func TestExpand(t *testing.T) {
	lookup := env(map[string]string{"HOST": "api.example.com", "EMPTY": "", "A": "1", "B": "2"})
	tests := []struct {
		in, want, err string
	}{
		{in: "${HOST}", want: "api.example.com"},
		{in: "https://${HOST}/x", want: "https://api.example.com/x"},
		{in: "${A}${B}", want: "12"},
		{in: "${EMPTY}", want: ""},
		{in: "pa$$word", want: "pa$$word"},
		{in: "$$${A}", want: "$$1"},
		{in: "$${A}", want: "$${A}"},
		{in: "costs $5", want: "costs $5"},
		{in: "trailing $", want: "trailing $"},
		{in: "plain", want: "plain"},
		{in: "${MISSING}", err: "environment variable MISSING is not set"},
		{in: "https://${HOST", err: "without a closing }"},
		{in: "${}", err: "not a valid environment variable name"},
		{in: "${NOT-A-NAME}", err: "not a valid environment variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expand(tt.in, lookup)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseExpandsOnlyConnectionSettings(t *testing.T) {
	data := `connections:
  hubspot: {type: hubspot, token: "${TOKEN}", base_url: "https://${HOST}/api", note: "${EMPTY}"}
  salesloft: {type: salesloft}
syncs:
  - name: companies
    a: {connection: salesloft, object: accounts, key: domain}
    b: {connection: hubspot, object: companies, key: "${NOT_EXPANDED}"}
    fields: [{a: name, b: name}]
`
	f, err := Parse("syncs.yaml", []byte(data), testTypes, env(map[string]string{"TOKEN": "secret", "HOST": "example.com", "EMPTY": ""}))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"token": "secret", "base_url": "https://example.com/api", "note": ""}, f.Connections["hubspot"].Settings)
	assert.Equal(t, "${NOT_EXPANDED}", f.Syncs[0].B.Key)

	_, err = Parse("syncs.yaml", []byte(data), testTypes, env(map[string]string{"TOKEN": "secret", "EMPTY": ""}))
	require.Error(t, err)
	assert.Equal(t, `syncs.yaml: connection "hubspot": base_url: environment variable HOST is not set`, err.Error())
}

func TestParseReportsAllMistakesAtOnce(t *testing.T) {
	data := `connections:
  hubspot: {type: hubspot, token: "${HUBSPOT_TOKEN}"}
  salesloft: {type: salesloftt}
syncs:
  - name: companies
    mode: two-way
    a: {connection: salesloft, object: accounts, key: domain}
    b: {connection: hubspott, object: companies}
    fields:
      - {a: name, b: name, colour: red}
      - {a: domain, b: name, normalize: domian}
    schedule: {every: 15x}
  - a: {connection: salesloft, object: people, key: email}
    b: {connection: hubspot, object: contacts, key: email}
    fields: [{a: email, b: email}]
    page_size: 0
`
	_, err := Parse("syncs.yaml", []byte(data), testTypes, noEnv)
	require.Error(t, err)
	want := []string{
		`syncs.yaml: connection "hubspot": token: environment variable HUBSPOT_TOKEN is not set`,
		`syncs.yaml: connection "salesloft": type: unknown type "salesloftt"`,
		`syncs.yaml: sync "companies": fields[0].colour: unknown key`,
		`syncs.yaml: sync "companies": b.connection: unknown connection "hubspott"`,
		`syncs.yaml: sync "companies": b.key: missing`,
		`syncs.yaml: sync "companies": fields[1].b: "name" is already mapped by fields[0]`,
		`syncs.yaml: sync "companies": fields[1].normalize: unknown normalizer "domian"`,
		`syncs.yaml: sync "companies": schedule.every: "15x" is not a duration`,
		`syncs.yaml: syncs[1]: name: missing`,
		`syncs.yaml: syncs[1]: page_size: 0 is out of range`,
	}
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, len(want), err.Error())
	for i := range want {
		assert.True(t, strings.HasPrefix(lines[i], want[i]), "line %d: got %q, want %q...", i, lines[i], want[i])
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "syncs.yaml")
	data := `connections:
  hubspot: {type: hubspot, token: "${TANDEM_TEST_HUBSPOT_TOKEN}"}
  src: {type: memory}
syncs:
  - name: contacts
    a: {connection: src, object: people, key: email}
    b: {connection: hubspot, object: contacts, key: email}
    fields: [{a: email, b: email, normalize: email}]
`
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))

	t.Setenv("TANDEM_TEST_HUBSPOT_TOKEN", "from-env")
	f, err := Load(path, testTypes)
	require.NoError(t, err)
	assert.Equal(t, path, f.Path)
	assert.Equal(t, "from-env", f.Connections["hubspot"].Settings["token"])
	assert.Equal(t, []string{"contacts"}, f.SyncNames())

	// Load sees the real environment, so an unset variable is reported with the file's path.
	require.NoError(t, os.Unsetenv("TANDEM_TEST_HUBSPOT_TOKEN"))
	_, err = Load(path, testTypes)
	require.Error(t, err)
	assert.Equal(t, path+`: connection "hubspot": token: environment variable TANDEM_TEST_HUBSPOT_TOKEN is not set`, err.Error())

	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"), testTypes)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// The design's own spelling: ${VAR}s inside flow-style mappings.
func TestFlowStyleConnectionsWithVariables(t *testing.T) {
	yaml := `
connections:
  salesloft: {type: salesloft, token: ${SALESLOFT_TOKEN}, webhook_secret: ${SALESLOFT_WEBHOOK_TOKEN}}
  hubspot:   {type: hubspot,   token: ${HUBSPOT_TOKEN},   base_url: "https://${HS_HOST}/x"}
syncs:
  - name: companies
    mode: two-way
    a: {connection: salesloft, object: accounts,  key: domain}
    b: {connection: hubspot,   object: companies, key: domain}
    fields:
      - {a: name,   b: name}
      - {a: domain, b: domain, normalize: domain}
`
	env := map[string]string{"SALESLOFT_TOKEN": "sl,tok}en: x", "SALESLOFT_WEBHOOK_TOKEN": "w", "HUBSPOT_TOKEN": "h", "HS_HOST": "api.example"}
	f, err := Parse("syncs.yaml", []byte(yaml), []string{"salesloft", "hubspot"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	assert.Equal(t, "sl,tok}en: x", f.Connections["salesloft"].Settings["token"], "a secret's characters are taken as they are")
	assert.Equal(t, "w", f.Connections["salesloft"].Settings["webhook_secret"])
	assert.Equal(t, "https://api.example/x", f.Connections["hubspot"].Settings["base_url"])

	_, err = Parse("syncs.yaml", []byte(yaml), []string{"salesloft", "hubspot"}, func(string) (string, bool) { return "", false })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SALESLOFT_TOKEN")
}

func TestParseWriteModesAndOnEmpty(t *testing.T) {
	for _, tt := range []struct {
		name string
		over map[string]string
		// want is the sync's Write; fields, its fields' OnEmpty in order.
		want   map[definition.Side]definition.WriteMode
		fields []definition.OnEmpty
	}{
		{name: "defaults: upsert, keep", want: nil, fields: []definition.OnEmpty{"", ""}},
		{name: "one-way: write is side b's", over: map[string]string{"write": "update-only"},
			want: map[definition.Side]definition.WriteMode{definition.B: definition.UpdateOnly}},
		{name: "one-way: write_b", over: map[string]string{"write_b": "create-only"},
			want: map[definition.Side]definition.WriteMode{definition.B: definition.CreateOnly}},
		{name: "two-way: write is both sides'", over: map[string]string{"mode": "two-way", "write": "create-only"},
			want: map[definition.Side]definition.WriteMode{definition.A: definition.CreateOnly, definition.B: definition.CreateOnly}},
		{name: "two-way: a side's own mode wins over write", over: map[string]string{"mode": "two-way", "write": "upsert", "write_a": "create-only"},
			want: map[definition.Side]definition.WriteMode{definition.A: definition.CreateOnly, definition.B: definition.Upsert}},
		{name: "two-way: one per side", over: map[string]string{"mode": "two-way", "write_a": "create-only", "write_b": "update-only"},
			want: map[definition.Side]definition.WriteMode{definition.A: definition.CreateOnly, definition.B: definition.UpdateOnly}},
		{name: "on_empty per field", over: map[string]string{"fields": "[{a: name, b: name, on_empty: clear}, {a: phone, b: phone, on_empty: keep}]"},
			fields: []definition.OnEmpty{definition.Clear, definition.Keep}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			over := map[string]string{"fields": "[{a: name, b: name}, {a: phone, b: phone}]"}
			for k, v := range tt.over {
				over[k] = v
			}
			f, err := Parse("syncs.yaml", []byte(testConnections+"syncs:\n"+syncYAML(over)), testTypes, noEnv)
			require.NoError(t, err)
			s := f.Syncs[0]
			assert.Equal(t, tt.want, s.Write)
			if tt.fields != nil {
				var got []definition.OnEmpty
				for _, fd := range s.Fields {
					got = append(got, fd.OnEmpty)
				}
				assert.Equal(t, tt.fields, got)
			}
		})
	}
}
