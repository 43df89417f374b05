package salesforcefake

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
)

// This file is the SOQL subset the fake understands:
//
//	SELECT f1, f2 FROM Object
//	[WHERE cond]            cond: f op value | f [NOT] IN (v, ...) | f LIKE 'p%'
//	                              | cond AND cond | cond OR cond | NOT cond | (cond)
//	[ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
//	[LIMIT n]
//
// with op one of = != <> < <= > >=, and values 'strings' (backslash escapes), unquoted
// datetimes (2024-01-01T00:00:00Z, fractions and offsets allowed), numbers, true, false and
// null. As Salesforce does, it refuses a quoted value for a datetime field, an unquoted
// datetime for any other field, and a malformed id compared with Id; and it compares
// strings without case.

// queryError is a SOQL error with Salesforce's error code.
type queryError struct {
	code string
	msg  string
}

func (e *queryError) Error() string { return e.code + ": " + e.msg }

func malformed(format string, args ...any) error {
	return &queryError{code: "MALFORMED_QUERY", msg: fmt.Sprintf(format, args...)}
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDatetime
	tDate
	tOp
	tLParen
	tRParen
	tComma
)

type token struct {
	kind tokKind
	text string
	str  string    // tString: the unescaped value
	num  float64   // tNumber
	at   time.Time // tDatetime, tDate
}

var (
	datetimeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
	dateRE     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}`)
	numberRE   = regexp.MustCompile(`^-?\d+(\.\d+)?`)
)

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{kind: tLParen, text: "("})
			i++
		case c == ')':
			out = append(out, token{kind: tRParen, text: ")"})
			i++
		case c == ',':
			out = append(out, token{kind: tComma, text: ","})
			i++
		case strings.ContainsRune("=!<>", rune(c)):
			op := string(c)
			if i+1 < len(s) && (s[i:i+2] == "!=" || s[i:i+2] == "<>" || s[i:i+2] == "<=" || s[i:i+2] == ">=") {
				op = s[i : i+2]
			}
			if op == "!" {
				return nil, malformed("unexpected token: '!'")
			}
			out = append(out, token{kind: tOp, text: op})
			i += len(op)
		case c == '\'':
			str, n, err := lexString(s[i:])
			if err != nil {
				return nil, err
			}
			out = append(out, token{kind: tString, text: s[i : i+n], str: str})
			i += n
		case c >= '0' && c <= '9' || c == '-':
			rest := s[i:]
			if m := datetimeRE.FindString(rest); m != "" {
				at, err := time.Parse(time.RFC3339Nano, m)
				if err != nil {
					return nil, malformed("invalid datetime: %s", m)
				}
				out = append(out, token{kind: tDatetime, text: m, at: at})
				i += len(m)
			} else if m := dateRE.FindString(rest); m != "" {
				at, err := time.Parse("2006-01-02", m)
				if err != nil {
					return nil, malformed("invalid date: %s", m)
				}
				out = append(out, token{kind: tDate, text: m, at: at})
				i += len(m)
			} else if m := numberRE.FindString(rest); m != "" {
				n, _ := strconv.ParseFloat(m, 64)
				out = append(out, token{kind: tNumber, text: m, num: n})
				i += len(m)
			} else {
				return nil, malformed("unexpected token: '%c'", c)
			}
		case isIdentByte(c):
			j := i
			for j < len(s) && (isIdentByte(s[j]) || s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			out = append(out, token{kind: tIdent, text: s[i:j]})
			i = j
		default:
			return nil, malformed("unexpected token: '%c'", c)
		}
	}
	return append(out, token{kind: tEOF}), nil
}

func isIdentByte(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// lexString reads a quoted string at the start of s, returning its value and length.
func lexString(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\'':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, malformed("unterminated string")
			}
			i++
			switch s[i] {
			case '\'', '"', '\\':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '_', '%':
				// Only meaningful in LIKE, where they stay escaped.
				b.WriteByte('\\')
				b.WriteByte(s[i])
			default:
				return "", 0, malformed("Invalid string literal '%s'. Illegal character sequence '\\%c' in string literal.", s, s[i])
			}
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, malformed("unterminated string literal")
}

// soqlQuery is a parsed SELECT.
type soqlQuery struct {
	fields []string
	object string
	where  cond
	order  []orderKey
	limit  int // -1: none
}

type orderKey struct {
	field     string
	desc      bool
	nullsLast bool
}

// cond is a WHERE condition.
type cond interface {
	eval(get getter) (bool, error)
}

// getter returns a record's value of a field.
type getter func(field string) any

type andCond struct{ a, b cond }
type orCond struct{ a, b cond }
type notCond struct{ c cond }

func (c andCond) eval(g getter) (bool, error) {
	ok, err := c.a.eval(g)
	if err != nil || !ok {
		return false, err
	}
	return c.b.eval(g)
}

func (c orCond) eval(g getter) (bool, error) {
	ok, err := c.a.eval(g)
	if err != nil || ok {
		return ok, err
	}
	return c.b.eval(g)
}

func (c notCond) eval(g getter) (bool, error) {
	ok, err := c.c.eval(g)
	return !ok && err == nil, err
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) keyword(words ...string) bool {
	for i, w := range words {
		t := p.toks[min(p.pos+i, len(p.toks)-1)]
		if t.kind != tIdent || !strings.EqualFold(t.text, w) {
			return false
		}
	}
	p.pos += len(words)
	return true
}

func (p *parser) expect(words ...string) error {
	if !p.keyword(words...) {
		return malformed("unexpected token: '%s', expecting %s", p.peek().text, strings.Join(words, " "))
	}
	return nil
}

func (p *parser) ident() (string, error) {
	t := p.next()
	if t.kind != tIdent {
		return "", malformed("unexpected token: '%s', expecting a field name", t.text)
	}
	return t.text, nil
}

func parseSOQL(q string) (*soqlQuery, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	out := &soqlQuery{limit: -1}
	if err := p.expect("SELECT"); err != nil {
		return nil, err
	}
	for {
		f, err := p.ident()
		if err != nil {
			return nil, err
		}
		out.fields = append(out.fields, f)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if err := p.expect("FROM"); err != nil {
		return nil, err
	}
	if out.object, err = p.ident(); err != nil {
		return nil, err
	}
	if p.keyword("WHERE") {
		if out.where, err = p.orExpr(); err != nil {
			return nil, err
		}
	}
	if p.keyword("ORDER", "BY") {
		for {
			k := orderKey{}
			if k.field, err = p.ident(); err != nil {
				return nil, err
			}
			if p.keyword("DESC") {
				k.desc, k.nullsLast = true, true
			} else {
				p.keyword("ASC")
			}
			if p.keyword("NULLS", "FIRST") {
				k.nullsLast = false
			} else if p.keyword("NULLS", "LAST") {
				k.nullsLast = true
			}
			out.order = append(out.order, k)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
	}
	if p.keyword("LIMIT") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			return nil, malformed("unexpected token: '%s', expecting a LIMIT number", t.text)
		}
		out.limit = n
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, malformed("unexpected token: '%s'", t.text)
	}
	return out, nil
}

func (p *parser) orExpr() (cond, error) {
	c, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for p.keyword("OR") {
		d, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		c = orCond{c, d}
	}
	return c, nil
}

func (p *parser) andExpr() (cond, error) {
	c, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("AND") {
		d, err := p.unary()
		if err != nil {
			return nil, err
		}
		c = andCond{c, d}
	}
	return c, nil
}

func (p *parser) unary() (cond, error) {
	if p.keyword("NOT") {
		c, err := p.unary()
		return notCond{c}, err
	}
	if p.peek().kind == tLParen {
		p.next()
		c, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tRParen {
			return nil, malformed("unexpected token: '%s', expecting ')'", t.text)
		}
		return c, nil
	}
	field, err := p.ident()
	if err != nil {
		return nil, err
	}
	switch {
	case p.keyword("NOT", "IN"):
		vals, err := p.valueList()
		return notCond{inCond{field: field, vals: vals}}, err
	case p.keyword("IN"):
		vals, err := p.valueList()
		return inCond{field: field, vals: vals}, err
	case p.keyword("LIKE"):
		t := p.next()
		if t.kind != tString {
			return nil, malformed("unexpected token: '%s', LIKE takes a string", t.text)
		}
		return likeCond{field: field, re: likeRE(t.str)}, nil
	}
	op := p.next()
	if op.kind != tOp {
		return nil, malformed("unexpected token: '%s', expecting an operator", op.text)
	}
	val, err := p.value()
	if err != nil {
		return nil, err
	}
	return cmpCond{field: field, op: op.text, val: val}, nil
}

func (p *parser) value() (token, error) {
	t := p.next()
	switch t.kind {
	case tString, tNumber, tDatetime, tDate:
		return t, nil
	case tIdent:
		switch strings.ToLower(t.text) {
		case "null", "true", "false":
			return t, nil
		}
	}
	return token{}, malformed("unexpected token: '%s', expecting a value", t.text)
}

func (p *parser) valueList() ([]token, error) {
	if t := p.next(); t.kind != tLParen {
		return nil, malformed("unexpected token: '%s', expecting '('", t.text)
	}
	var out []token
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		t := p.next()
		if t.kind == tRParen {
			return out, nil
		}
		if t.kind != tComma {
			return nil, malformed("unexpected token: '%s', expecting ',' or ')'", t.text)
		}
	}
}

// datetimeFields are the datetime fields every record has.
var datetimeFields = []string{"SystemModstamp", "LastModifiedDate", "CreatedDate"}

func isDatetimeField(f string) bool {
	for _, d := range datetimeFields {
		if strings.EqualFold(d, f) {
			return true
		}
	}
	return false
}

func isNull(t token) bool { return t.kind == tIdent && strings.EqualFold(t.text, "null") }

// compare compares a record's value v of field with literal t: -1, 0, 1, or ok=false when
// they do not compare (a null, say); err when Salesforce would refuse the query.
func compare(field string, v any, t token) (int, bool, error) {
	switch {
	case isNull(t):
		if v == nil {
			return 0, true, nil
		}
		return 1, true, nil
	case isDatetimeField(field):
		if t.kind != tDatetime {
			return 0, false, &queryError{code: "INVALID_FIELD",
				msg: fmt.Sprintf("value of filter criterion for field '%s' must be of type dateTime and should not be enclosed in quotes", field)}
		}
		at, ok := v.(time.Time)
		if !ok {
			return 0, false, nil
		}
		return at.Compare(t.at), true, nil
	case t.kind == tDatetime || t.kind == tDate:
		return 0, false, &queryError{code: "INVALID_FIELD",
			msg: fmt.Sprintf("value of filter criterion for field '%s' must be of type string and should be enclosed in quotes", field)}
	case strings.EqualFold(field, "Id"):
		if t.kind != tString || !validID(t.str) {
			return 0, false, &queryError{code: "INVALID_QUERY_FILTER_OPERATOR", msg: fmt.Sprintf("invalid ID field: %s", t.str)}
		}
		id, _ := v.(string)
		if len(id) < 15 {
			return 0, false, nil
		}
		// Ids compare by their case-sensitive 15-character form.
		return strings.Compare(id[:15], t.str[:15]), true, nil
	case v == nil:
		return 0, false, nil
	case t.kind == tNumber:
		n, ok := v.(float64)
		if !ok {
			var err error
			if n, err = strconv.ParseFloat(connectors.KeyString(v), 64); err != nil {
				return 0, false, nil
			}
		}
		switch {
		case n < t.num:
			return -1, true, nil
		case n > t.num:
			return 1, true, nil
		}
		return 0, true, nil
	case t.kind == tIdent: // true, false
		return strings.Compare(strings.ToLower(connectors.KeyString(v)), strings.ToLower(t.text)), true, nil
	default:
		return strings.Compare(strings.ToLower(connectors.KeyString(v)), strings.ToLower(t.str)), true, nil
	}
}

type cmpCond struct {
	field string
	op    string
	val   token
}

func (c cmpCond) eval(g getter) (bool, error) {
	v := g(c.field)
	n, ok, err := compare(c.field, v, c.val)
	if err != nil {
		return false, err
	}
	if isNull(c.val) {
		switch c.op {
		case "=":
			return v == nil, nil
		case "!=", "<>":
			return v != nil, nil
		}
		return false, malformed("null can only be compared with = or !=")
	}
	if !ok {
		return c.op == "!=" || c.op == "<>", nil
	}
	switch c.op {
	case "=":
		return n == 0, nil
	case "!=", "<>":
		return n != 0, nil
	case "<":
		return n < 0, nil
	case "<=":
		return n <= 0, nil
	case ">":
		return n > 0, nil
	case ">=":
		return n >= 0, nil
	}
	return false, malformed("unknown operator %s", c.op)
}

type inCond struct {
	field string
	vals  []token
}

func (c inCond) eval(g getter) (bool, error) {
	v := g(c.field)
	for _, t := range c.vals {
		if isNull(t) {
			if v == nil {
				return true, nil
			}
			continue
		}
		n, ok, err := compare(c.field, v, t)
		if err != nil {
			return false, err
		}
		if ok && n == 0 {
			return true, nil
		}
	}
	return false, nil
}

type likeCond struct {
	field string
	re    *regexp.Regexp
}

func (c likeCond) eval(g getter) (bool, error) {
	v := g(c.field)
	if v == nil {
		return false, nil
	}
	return c.re.MatchString(connectors.KeyString(v)), nil
}

// likeRE turns a LIKE pattern into a case-insensitive regexp: % any run, _ one character,
// \% and \_ themselves.
func likeRE(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?is)^`)
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		case p[i] == '%':
			b.WriteString(`.*`)
		case p[i] == '_':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// orderValues compares two values of field for ORDER BY, nulls first.
func orderValues(field string, a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if ta, ok := a.(time.Time); ok {
		if tb, ok := b.(time.Time); ok {
			return ta.Compare(tb)
		}
	}
	if strings.EqualFold(field, "Id") {
		return strings.Compare(connectors.KeyString(a), connectors.KeyString(b))
	}
	if na, ok := a.(float64); ok {
		if nb, ok := b.(float64); ok {
			switch {
			case na < nb:
				return -1
			case na > nb:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(strings.ToLower(connectors.KeyString(a)), strings.ToLower(connectors.KeyString(b)))
}

// sortRows sorts records by the ORDER BY keys.
func sortRows[T any](rows []T, keys []orderKey, get func(T, string) any) {
	if len(keys) == 0 {
		return
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, k := range keys {
			a, b := get(rows[i], k.field), get(rows[j], k.field)
			if (a == nil) != (b == nil) {
				// nil first unless NULLS LAST
				return (a == nil) != k.nullsLast
			}
			n := orderValues(k.field, a, b)
			if k.desc {
				n = -n
			}
			if n != 0 {
				return n < 0
			}
		}
		return false
	})
}
