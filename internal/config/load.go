package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"tandem/definition"
)

// Normalizers lists the normalizer names a field may use. The implementations live with the
// mapping code; this list is what a definitions file is checked against.
var Normalizers = []string{"domain", "email", "lower", "trim"}

// Load reads the sync definitions file at path. Connection types are checked against
// knownTypes and ${VAR}s are read from the environment.
func Load(path string, knownTypes []string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading sync definitions: %w", err)
	}
	return Parse(path, data, knownTypes, os.LookupEnv)
}

// Parse parses a sync definitions file read from path (used only in messages). lookup
// resolves ${VAR}s with os.LookupEnv's semantics: an unset variable is an error, a variable
// set to "" is not.
//
// Every mistake found is reported, joined into one error, so a file can be fixed in one pass.
func Parse(path string, data []byte, knownTypes []string, lookup func(string) (string, bool)) (*File, error) {
	var secrets []string
	p := &parser{path: path, knownTypes: knownTypes, lookup: func(name string) (string, bool) {
		v, ok := lookup(name)
		if ok && v != "" {
			secrets = append(secrets, v)
		}
		return v, ok
	}}
	f := p.file(protectVars(data))
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	f.Secrets = secrets
	return f, nil
}

// The raw* types mirror the file. Values are decoded as strings and converted by hand, so a
// bad value is reported with its field path instead of as a decoder error naming Go types.
type rawFile struct {
	Connections yaml.Node   `yaml:"connections"`
	Syncs       []yaml.Node `yaml:"syncs"`
}

type rawSync struct {
	Name     string            `yaml:"name"`
	Mode     definition.Mode   `yaml:"mode"`
	A        *rawSide          `yaml:"a"`
	B        *rawSide          `yaml:"b"`
	Fields   []rawField        `yaml:"fields"`
	Conflict definition.Policy `yaml:"conflict"`
	Prefer   string            `yaml:"field_merge_prefer"`
	Schedule rawSchedule       `yaml:"schedule"`
	Webhooks string            `yaml:"webhooks"`
	PageSize string            `yaml:"page_size"`
	Deletes  *rawDeletes       `yaml:"deletes"`
	Verify   *rawVerify        `yaml:"verify"`
	Write    string            `yaml:"write"`
	WriteA   string            `yaml:"write_a"`
	WriteB   string            `yaml:"write_b"`
}

type rawVerify struct {
	Every string `yaml:"every"`
}

type rawDeletes struct {
	Mode       string `yaml:"mode"`
	Field      string `yaml:"field"`
	FieldA     string `yaml:"field_a"`
	FieldB     string `yaml:"field_b"`
	Value      string `yaml:"value"`
	Max        string `yaml:"max"`
	MaxPercent string `yaml:"max_percent"`
	DiffEvery  string `yaml:"diff_every"`
}

type rawSide struct {
	Connection string `yaml:"connection"`
	Object     string `yaml:"object"`
	Key        string `yaml:"key"`
}

type rawField struct {
	A         string               `yaml:"a"`
	B         string               `yaml:"b"`
	Normalize yaml.Node            `yaml:"normalize"` // one name or a list of names
	Direction definition.Direction `yaml:"direction"`
	OnEmpty   string               `yaml:"on_empty"`
}

type rawSchedule struct {
	Every     string `yaml:"every"`
	StartFrom string `yaml:"start_from"`
}

// syncName is what a sync name may contain: it becomes part of a workflow id and a URL path.
var syncName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

type parser struct {
	path       string
	knownTypes []string
	lookup     func(string) (string, bool)
	errs       []error
}

// addf records one mistake; where says which connection or sync and which field.
func (p *parser) addf(where, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if where != "" {
		msg = where + ": " + msg
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %s", p.path, msg))
}

func (p *parser) file(data []byte) *File {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", p.path, err))
		return nil
	}
	if len(doc.Content) == 0 {
		p.addf("", "file is empty; it needs connections and syncs")
		return nil
	}
	restoreNodes(&doc)
	root := doc.Content[0]
	var raw rawFile
	if !p.decode(root, &raw, "") {
		return nil
	}

	f := &File{Path: p.path, Connections: p.connections(&raw.Connections)}
	if len(raw.Syncs) == 0 {
		p.addf("syncs", "none defined")
	}
	firstIndex := map[string]int{} // sync name -> index of its first use
	for i := range raw.Syncs {
		s, ok := p.sync(i, &raw.Syncs[i], f.Connections, firstIndex)
		if ok {
			f.Syncs = append(f.Syncs, s)
		}
	}
	return f
}

// decode checks n's keys and shape against out's type, then decodes it. It reports false when
// n could not be decoded; the reasons have been recorded.
func (p *parser) decode(n *yaml.Node, out any, where string) bool {
	problems := checkShape(n, reflect.TypeOf(out).Elem(), "", map[shapeVisit]bool{})
	for _, pr := range problems {
		p.addf(joinWhere(where, pr.field), "%s", pr.msg)
	}
	if err := n.Decode(out); err != nil {
		if len(problems) == 0 {
			// checkShape should have caught this; report the decoder's own words.
			p.addf(where, "%v", err)
		}
		return false
	}
	return true
}

func (p *parser) connections(n *yaml.Node) map[string]Connection {
	conns := map[string]Connection{}
	n = resolveAlias(n)
	if n.Kind == 0 || isNull(n) {
		return conns
	}
	if n.Kind != yaml.MappingNode {
		p.addf("connections", "must be a mapping of name to {type: ..., ...} (line %d)", n.Line)
		return conns
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, body := n.Content[i].Value, resolveAlias(n.Content[i+1])
		where := fmt.Sprintf("connection %q", name)
		if _, dup := conns[name]; dup {
			p.addf(where, "defined twice (line %d)", n.Content[i].Line)
			continue
		}
		if body.Kind != yaml.MappingNode {
			p.addf(where, "must be a mapping like {type: hubspot, token: ${HUBSPOT_TOKEN}} (line %d)", body.Line)
			conns[name] = Connection{Name: name}
			continue
		}
		conns[name] = p.connection(name, body, where)
	}
	return conns
}

func (p *parser) connection(name string, body *yaml.Node, where string) Connection {
	c := Connection{Name: name, Settings: map[string]string{}}
	seen := map[string]bool{}
	for j := 0; j+1 < len(body.Content); j += 2 {
		key, val := body.Content[j].Value, resolveAlias(body.Content[j+1])
		if seen[key] {
			p.addf(where, "%s: appears twice (line %d)", key, body.Content[j].Line)
			continue
		}
		seen[key] = true
		if val.Kind != yaml.ScalarNode {
			p.addf(where, "%s: must be a single value, not a %s (line %d)", key, kindName(val), val.Line)
			continue
		}
		value := scalarValue(val)
		if key == "type" {
			c.Type = value
			continue
		}
		expanded, err := expand(value, p.lookup)
		if err != nil {
			p.addf(where, "%s: %v", key, err)
		}
		c.Settings[key] = expanded
	}
	known := strings.Join(sorted(p.knownTypes), ", ")
	switch {
	case c.Type == "":
		p.addf(where, "type: missing (known: %s)", known)
	case !slices.Contains(p.knownTypes, c.Type):
		p.addf(where, "type: unknown type %q (known: %s)", c.Type, known)
	}
	return c
}

// expand replaces each ${VAR} in s with the variable's value. "$$" and a "$" not followed by
// "{" are kept as written, so values such as passwords may contain "$".
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteString("$$")
			i++
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return s, fmt.Errorf("%q has a ${ without a closing }", s)
			}
			name := s[i+2 : i+end]
			if !envName.MatchString(name) {
				return s, fmt.Errorf("${%s} is not a valid environment variable name", name)
			}
			v, ok := lookup(name)
			if !ok {
				return s, fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			i += end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// In YAML's flow style, {type: hubspot, token: ${HUBSPOT_TOKEN}} reads the braces of
// ${...} as the mapping's own. Before parsing, each well-formed ${NAME} becomes a
// placeholder YAML reads as plain text, and it turns back into ${NAME} where values are
// expanded. Values are never put into the YAML text, so a secret's characters cannot
// change the file's structure.
var (
	varRef         = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	varPlaceholder = regexp.MustCompile(`__tandem_var_([A-Za-z_][A-Za-z0-9_]*)__`)
)

func protectVars(data []byte) []byte {
	return varRef.ReplaceAll(data, []byte("__tandem_var_${1}__"))
}

// restoreNodes turns placeholders back into ${NAME} in every scalar of a parsed file.
func restoreNodes(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		n.Value = varPlaceholder.ReplaceAllString(n.Value, "$${${1}}")
	}
	for _, c := range n.Content {
		restoreNodes(c)
	}
}

// sync converts and checks the i'th sync. firstIndex records the names seen so far, to catch
// duplicates.
func (p *parser) sync(i int, n *yaml.Node, conns map[string]Connection, firstIndex map[string]int) (Sync, bool) {
	// Name the sync before decoding it, so that even shape errors say which sync they are in.
	where := fmt.Sprintf("syncs[%d]", i)
	if name := mappingValue(n, "name"); name != "" {
		where = fmt.Sprintf("sync %q", name)
	}
	var raw rawSync
	if !p.decode(n, &raw, where) {
		return Sync{}, false
	}
	bad := func(field, format string, args ...any) {
		p.addf(joinWhere(where, field), format, args...)
	}

	s := Sync{
		Name:     raw.Name,
		Mode:     OneWay,
		Conflict: NewestWins,
		Schedule: Schedule{Every: DefaultEvery},
		PageSize: DefaultPageSize,
	}

	switch first, dup := firstIndex[raw.Name]; {
	case raw.Name == "":
		bad("name", "missing")
	case !syncName.MatchString(raw.Name) || raw.Name == "." || raw.Name == "..":
		bad("name", "%q may contain only letters, digits, '_', '.' and '-' (it becomes part of a workflow id and a URL path)", raw.Name)
	case dup:
		bad("name", "also used by syncs[%d]; sync names must be unique", first)
	default:
		firstIndex[raw.Name] = i
	}

	switch raw.Mode {
	case "":
	case OneWay, TwoWay:
		s.Mode = raw.Mode
	default:
		bad("mode", "unknown mode %q (known: %s, %s)", raw.Mode, OneWay, TwoWay)
	}

	s.A = side(raw.A, "a", conns, bad)
	s.B = side(raw.B, "b", conns, bad)
	if s.Mode == TwoWay && raw.A != nil && raw.B != nil &&
		s.A.Connection == s.B.Connection && s.A.Object == s.B.Object {
		bad("b", "is the same connection and object as a (%s %s); a two-way sync needs two different places", s.B.Connection, s.B.Object)
	}

	s.Fields = fields(raw.Fields, s.Mode, bad)

	switch raw.Conflict {
	case "":
	case NewestWins, AWins, BWins, FieldMerge:
		s.Conflict = raw.Conflict
		// Setting a conflict policy on a one-way sync usually means mode: two-way was forgotten.
		if s.Mode == OneWay {
			bad("conflict", "applies only to two-way syncs; set mode: %s or remove conflict", TwoWay)
		}
	default:
		bad("conflict", "unknown policy %q (known: %s, %s, %s, %s)", raw.Conflict, NewestWins, AWins, BWins, FieldMerge)
	}
	switch raw.Prefer {
	case "":
	case definition.A, definition.B:
		s.MergePrefer = raw.Prefer
		if s.Conflict != FieldMerge {
			bad("field_merge_prefer", "applies only to conflict: %s", FieldMerge)
		}
	default:
		bad("field_merge_prefer", "unknown side %q (known: a, b)", raw.Prefer)
	}

	if raw.Schedule.Every != "" {
		every, err := time.ParseDuration(raw.Schedule.Every)
		switch {
		case err != nil:
			bad("schedule.every", "%q is not a duration (write e.g. 30s, 15m or 1h)", raw.Schedule.Every)
		case every <= 0:
			bad("schedule.every", "%s must be positive", raw.Schedule.Every)
		case every < time.Second:
			bad("schedule.every", "%s is too short; the minimum is 1s", raw.Schedule.Every)
		default:
			s.Schedule.Every = every
		}
	}
	if raw.Schedule.StartFrom != "" {
		from, err := parseStart(raw.Schedule.StartFrom)
		if err != nil {
			bad("schedule.start_from", "%q is not an RFC 3339 time (2024-01-01T00:00:00Z) or a date (2024-01-01)", raw.Schedule.StartFrom)
		}
		s.Schedule.StartFrom = from
	}

	switch strings.ToLower(raw.Webhooks) {
	case "", "false":
	case "true":
		s.Webhooks = true
	default:
		bad("webhooks", "must be true or false, not %q", raw.Webhooks)
	}

	if raw.PageSize != "" {
		size, err := strconv.Atoi(raw.PageSize)
		switch {
		case err != nil:
			bad("page_size", "%q is not a whole number", raw.PageSize)
		case size < 1 || size > MaxPageSize:
			bad("page_size", "%d is out of range; it must be from 1 to %d", size, MaxPageSize)
		default:
			s.PageSize = size
		}
	}
	s.Deletes = deletes(raw.Deletes, s, bad)
	s.Write = writeModes(&raw, s.Mode, bad)
	if raw.Verify != nil {
		every, err := time.ParseDuration(raw.Verify.Every)
		switch {
		case raw.Verify.Every == "":
			bad("verify.every", "missing: how often to compare both sides in full (e.g. 24h)")
		case err != nil || every <= 0:
			bad("verify.every", "%q is not a positive duration (write e.g. 24h)", raw.Verify.Every)
		default:
			s.Verify.Every = every
		}
	}
	return s, true
}

// writeModes reads which writes each side takes: write (every side written), or write_a
// and write_b (one side; a one-way sync writes side b only). A side not named upserts.
func writeModes(raw *rawSync, mode definition.Mode, bad func(string, string, ...any)) map[definition.Side]definition.WriteMode {
	if raw.WriteA != "" && mode != TwoWay {
		bad("write_a", "applies only to two-way syncs: a one-way sync writes side b only (use write or write_b)")
	}
	out := map[definition.Side]definition.WriteMode{}
	for _, w := range []struct {
		key, value string
		sides      []definition.Side
	}{
		{"write", raw.Write, []definition.Side{definition.A, definition.B}},
		{"write_a", raw.WriteA, []definition.Side{definition.A}},
		{"write_b", raw.WriteB, []definition.Side{definition.B}},
	} {
		switch m := definition.WriteMode(w.value); m {
		case "":
		case definition.Upsert, definition.UpdateOnly, definition.CreateOnly:
			for _, side := range w.sides {
				if side == definition.B || mode == TwoWay {
					out[side] = m
				}
			}
		default:
			bad(w.key, "unknown write mode %q (known: %s, %s, %s)", w.value, definition.Upsert, definition.UpdateOnly, definition.CreateOnly)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// deletes reads a sync's delete policy: deletes: {mode, field, value, max, max_percent,
// diff_every}.
func deletes(raw *rawDeletes, s Sync, bad func(string, string, ...any)) definition.Deletes {
	d := definition.Deletes{Mode: definition.DeleteIgnore, Max: definition.DefaultDeleteMax, MaxPercent: definition.DefaultDeleteMaxPercent}
	if raw == nil {
		return d
	}
	switch m := definition.DeleteMode(raw.Mode); m {
	case "", definition.DeleteIgnore:
	case definition.DeleteArchive, definition.DeleteDelete:
		d.Mode = m
	default:
		bad("deletes.mode", "unknown mode %q (known: %s, %s, %s)", raw.Mode, definition.DeleteIgnore, definition.DeleteArchive, definition.DeleteDelete)
	}
	// The field archive sets, as each written side names it: one name for both, or one
	// per side. A one-way sync writes side b only.
	written := []definition.Side{definition.B}
	if s.Mode == TwoWay {
		written = []definition.Side{definition.A, definition.B}
	}
	per := map[definition.Side]string{definition.A: raw.FieldA, definition.B: raw.FieldB}
	if d.Mode == definition.DeleteArchive {
		d.Field = map[definition.Side]string{}
		for _, side := range written {
			f := per[side]
			if f == "" {
				f = raw.Field
			}
			if f == "" {
				bad("deletes.field", "missing: archive sets a field on the partner of a deleted record (field, or field_a and field_b)")
				break
			}
			d.Field[side] = f
		}
		if raw.Value == "" {
			bad("deletes.value", "missing: the value archive sets (e.g. \"true\" or \"deleted\")")
		}
		d.Value = raw.Value
	} else if raw.Field != "" || raw.FieldA != "" || raw.FieldB != "" || raw.Value != "" {
		bad("deletes.field", "applies only to mode: %s", definition.DeleteArchive)
	}
	if raw.Max != "" {
		n, err := strconv.Atoi(raw.Max)
		if err != nil || n < 0 {
			bad("deletes.max", "%q is not a whole number of records (0 or more)", raw.Max)
		} else {
			d.Max = n
		}
	}
	if raw.MaxPercent != "" {
		p, err := strconv.ParseFloat(strings.TrimSuffix(raw.MaxPercent, "%"), 64)
		if err != nil || p < 0 || p > 100 {
			bad("deletes.max_percent", "%q is not a percentage from 0 to 100", raw.MaxPercent)
		} else {
			d.MaxPercent = p
		}
	}
	if raw.DiffEvery != "" {
		every, err := time.ParseDuration(raw.DiffEvery)
		if err != nil || every < 0 {
			bad("deletes.diff_every", "%q is not a duration (write e.g. 1h or 24h)", raw.DiffEvery)
		} else {
			d.DiffEvery = every
		}
	}
	return d
}

func side(raw *rawSide, field string, conns map[string]Connection, bad func(string, string, ...any)) Side {
	if raw == nil {
		bad(field, "missing; write {connection: ..., object: ..., key: ...}")
		return Side{}
	}
	switch _, ok := conns[raw.Connection]; {
	case raw.Connection == "":
		bad(field+".connection", "missing")
	case !ok:
		bad(field+".connection", "unknown connection %q (known: %s)", raw.Connection, strings.Join(sortedKeys(conns), ", "))
	}
	if raw.Object == "" {
		bad(field+".object", "missing")
	}
	// The key is how a record on one side finds its match on the other, so every sync needs it.
	if raw.Key == "" {
		bad(field+".key", "missing; name the field that identifies a record on both sides")
	}
	return Side{Connection: raw.Connection, Object: raw.Object, Key: raw.Key}
}

func fields(raw []rawField, mode definition.Mode, bad func(string, string, ...any)) []Field {
	if len(raw) == 0 {
		bad("fields", "none given; map at least one field")
		return nil
	}
	out := make([]Field, 0, len(raw))
	firstA, firstB := map[string]int{}, map[string]int{}
	for i, rf := range raw {
		at := fmt.Sprintf("fields[%d]", i)
		f := Field{A: rf.A, B: rf.B, Direction: Both}

		mapped := func(which, name string, first map[string]int) {
			switch j, dup := first[name]; {
			case name == "":
				bad(at+"."+which, "missing")
			case dup:
				bad(at+"."+which, "%q is already mapped by fields[%d]", name, j)
			default:
				first[name] = i
			}
		}
		mapped("a", rf.A, firstA)
		mapped("b", rf.B, firstB)

		names, ok := scalarOrList(&rf.Normalize)
		if !ok {
			bad(at+".normalize", "must be a normalizer name or a list of them")
		}
		for _, name := range names {
			if !slices.Contains(Normalizers, name) {
				bad(at+".normalize", "unknown normalizer %q (known: %s)", name, strings.Join(sorted(Normalizers), ", "))
			}
		}
		f.Normalize = names

		switch rf.Direction {
		case "", Both:
		case AToB, BToA:
			if mode == OneWay {
				bad(at+".direction", "%q applies only to two-way syncs; a one-way sync always copies a to b", rf.Direction)
			}
			f.Direction = rf.Direction
		default:
			bad(at+".direction", "unknown direction %q (known: %s, %s, %s)", rf.Direction, Both, AToB, BToA)
		}
		switch on := definition.OnEmpty(rf.OnEmpty); on {
		case "":
		case definition.Keep, definition.Clear:
			f.OnEmpty = on
		default:
			bad(at+".on_empty", "unknown value %q (known: %s, %s)", rf.OnEmpty, definition.Keep, definition.Clear)
		}
		out = append(out, f)
	}
	return out
}

// parseStart accepts an RFC 3339 time or a plain date, meaning midnight UTC.
func parseStart(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

// shapeProblem is a key or value that does not fit the raw type, by field path.
type shapeProblem struct {
	field, msg string
}

var nodeType = reflect.TypeFor[yaml.Node]()

// shapeVisit is one node checked as one type at one path. "<<: *anchor" brings a node in
// again at the same path: an anchor may merge itself ("&s {name: a, <<: *s}"), and a few
// lines of merges of merges bring one node in billions of times. visited holds the visits
// made, so each is checked once: a self-merge does not recurse without end, and a merge
// bomb costs what its text does.
type shapeVisit struct {
	n    *yaml.Node
	t    reflect.Type
	path string
}

// checkShape reports every key of n that t has no yaml tag for, every key written twice, and
// every value of the wrong kind (mapping, list or single value). Once it reports nothing,
// decoding n into t cannot fail. A visit already in visited is not checked again.
func checkShape(n *yaml.Node, t reflect.Type, path string, visited map[shapeVisit]bool) []shapeProblem {
	n = resolveAlias(n)
	if t == nodeType || isNull(n) {
		return nil
	}
	visit := shapeVisit{n, t, path}
	if visited[visit] {
		return nil
	}
	visited[visit] = true
	wrongKind := func(want string) []shapeProblem {
		return []shapeProblem{{path, fmt.Sprintf("must be %s, not a %s (line %d)", want, kindName(n), n.Line)}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkShape(n, t.Elem(), path, visited)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return wrongKind("a single value")
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return wrongKind("a list")
		}
		var problems []shapeProblem
		for i, item := range n.Content {
			problems = append(problems, checkShape(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), visited)...)
		}
		return problems
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return wrongKind("a mapping")
		}
		return checkKeys(n, t, path, visited)
	}
	return nil
}

func checkKeys(n *yaml.Node, t reflect.Type, path string, visited map[shapeVisit]bool) []shapeProblem {
	fields := map[string]reflect.Type{}
	var known []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = t.Field(i).Type
		known = append(known, name)
	}
	slices.Sort(known)

	var problems []shapeProblem
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			// "<<: *defaults" brings in another mapping's keys; check them as if written here.
			v = resolveAlias(v)
			merged := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				merged = v.Content
			}
			for _, m := range merged {
				problems = append(problems, checkShape(m, t, path, visited)...)
			}
			continue
		}
		field := joinPath(path, k.Value)
		ft, ok := fields[k.Value]
		switch {
		case !ok:
			problems = append(problems, shapeProblem{field, fmt.Sprintf("unknown key (line %d; known: %s)", k.Line, strings.Join(known, ", "))})
		case seen[k.Value]:
			problems = append(problems, shapeProblem{field, fmt.Sprintf("appears twice (line %d)", k.Line)})
		default:
			problems = append(problems, checkShape(v, ft, field, visited)...)
		}
		seen[k.Value] = true
	}
	return problems
}

// scalarOrList reads a value written either as one name or as a list of names.
func scalarOrList(n *yaml.Node) ([]string, bool) {
	n = resolveAlias(n)
	switch {
	case n.Kind == 0 || isNull(n):
		return nil, true
	case n.Kind == yaml.ScalarNode:
		return []string{n.Value}, true
	case n.Kind == yaml.SequenceNode:
		names := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			item = resolveAlias(item)
			if item.Kind != yaml.ScalarNode {
				return nil, false
			}
			names = append(names, item.Value)
		}
		return names, true
	}
	return nil, false
}

// mappingValue returns the single value under key in mapping n, or "".
func mappingValue(n *yaml.Node, key string) string {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if v := resolveAlias(n.Content[i+1]); n.Content[i].Value == key && v.Kind == yaml.ScalarNode {
			return scalarValue(v)
		}
	}
	return ""
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// scalarValue is the text of a scalar, with "~" and "null" read as empty.
func scalarValue(n *yaml.Node) string {
	if isNull(n) {
		return ""
	}
	return n.Value
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "single value"
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinWhere(where, field string) string {
	switch {
	case where == "":
		return field
	case field == "":
		return where
	}
	return where + ": " + field
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ParseSync parses one sync given inline (a sync entry of a definitions file, in YAML or
// JSON) against the file's connections: how a sync is started or redefined with its
// definition instead of its name. where names the source in messages ("inline
// definition of sync people", say). An inline definition holds no ${VAR}s: secrets
// belong to connections.
func (f *File) ParseSync(where string, data []byte) (*Sync, error) {
	p := &parser{path: where, lookup: func(name string) (string, bool) { return "", false }}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want a sync's definition (a mapping with name, a, b, fields, ...)", where)
	}
	restoreNodes(&doc)
	conns := f.Connections
	if conns == nil {
		conns = map[string]Connection{}
	}
	s, ok := p.sync(0, doc.Content[0], conns, map[string]int{})
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: not a valid sync definition", where)
	}
	return &s, nil
}

// SyncEntry is the entry of sync name in a definitions file, as JSON, unparsed: what a
// sync's inline definition is made of (File.ParseSync reads it back).
func SyncEntry(data []byte, name string) (json.RawMessage, error) {
	var raw struct {
		Syncs []map[string]any `yaml:"syncs"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	for _, s := range raw.Syncs {
		if s["name"] == name {
			return json.Marshal(s)
		}
	}
	return nil, fmt.Errorf("no sync named %q", name)
}
