package netsuitefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// handler: POST /services/rest/query/v1/suiteql?limit=&offset= {"q": "..."}.
func (s *Server) suiteql(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(strings.ToLower(r.Header.Get("Prefer")), "transient") {
		// SuiteQL over REST needs "Prefer: transient" [doc: section_158394344595].
		writeError(w, http.StatusBadRequest, "", "The request header Prefer must be set to transient.", "INVALID_HEADER")
		return
	}
	limit, offset, ok := s.paging(w, r)
	if !ok {
		return
	}
	var body struct {
		Q string `json:"q"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || strings.TrimSpace(body.Q) == "" {
		writeError(w, http.StatusBadRequest, "", "The request body must be a JSON object with the query in q.", "INVALID_CONTENT")
		return
	}
	q, err := parseQuery(body.Q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "", "Invalid search query. Detailed unprocessed description follows. "+err.Error(), "INVALID_PARAMETER")
		return
	}

	s.mu.Lock()
	rows := make([]*row, 0)
	if q.table == "deletedrecord" {
		rows = s.deletedRows()
	} else {
		for _, rec := range s.tableOf(q.table).records {
			rows = append(rows, s.rowOf(rec))
		}
	}
	s.mu.Unlock()

	items, err := s.run(q, rows)
	if err != nil {
		writeError(w, http.StatusBadRequest, "", "Invalid search query. Detailed unprocessed description follows. "+err.Error(), "INVALID_PARAMETER")
		return
	}
	total := len(items)
	reachable := min(total, s.opts.MaxResults)
	page := items[min(offset, reachable):min(offset+limit, reachable)]
	hasMore := offset+len(page) < reachable

	base := s.baseURL(r) + restPrefix + "/query/v1/suiteql"
	link := func(rel string, off int) map[string]string {
		return map[string]string{"rel": rel, "href": fmt.Sprintf("%s?limit=%d&offset=%d", base, limit, off)}
	}
	links := []map[string]string{link("first", 0)}
	if offset > 0 {
		links = append(links, link("prev", max(offset-limit, 0)))
	}
	if hasMore {
		links = append(links, link("next", offset+limit))
	}
	if reachable > 0 {
		links = append(links, link("last", (reachable-1)/limit*limit))
	}
	links = append(links, link("self", offset))
	writeJSON(w, http.StatusOK, map[string]any{
		"links":        links,
		"count":        len(page),
		"hasMore":      hasMore,
		"items":        page,
		"offset":       offset,
		"totalResults": total,
	})
}

// paging reads limit (1 to 1000, default 1000) and offset (a multiple of limit)
// [doc: section_156414087576; 3p on the multiple].
func (s *Server) paging(w http.ResponseWriter, r *http.Request) (limit, offset int, ok bool) {
	limit, offset = 1000, 0
	bad := func(name, why string) (int, int, bool) {
		writeError(w, http.StatusBadRequest, "", fmt.Sprintf("Invalid value for the parameter %s: %s", name, why), "INVALID_PARAMETER")
		return 0, 0, false
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return bad("limit", "it must be a number from 1 to 1000.")
		}
		limit = n
	}
	if v := r.URL.Query().Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return bad("offset", "it must be a number, 0 or more.")
		}
		offset = n
	}
	if !s.opts.LaxOffset && offset%limit != 0 {
		return bad("offset", "it must be a multiple of limit.")
	}
	s.mu.Lock()
	s.stats.MaxOffset = max(s.stats.MaxOffset, offset)
	s.mu.Unlock()
	if offset > 0 && offset >= s.opts.MaxResults {
		return bad("offset", fmt.Sprintf("a query returns at most %d results.", s.opts.MaxResults))
	}
	return limit, offset, true
}

// row is a record as SuiteQL sees it: typed column values.
type row struct {
	cols map[string]any // nil, string, float64, time.Time
}

// rowOf converts a stored record. Callers hold s.mu.
func (s *Server) rowOf(rec *stored) *row {
	cols := map[string]any{
		"id":               float64(rec.id),
		"lastmodifieddate": rec.modified,
		"datecreated":      rec.created,
	}
	for k, v := range rec.fields {
		switch x := v.(type) {
		case nil:
		case string, float64:
			cols[k] = x
		case bool:
			cols[k] = map[bool]string{true: "T", false: "F"}[x] // SuiteQL's booleans
		case map[string]any:
			if id, ok := x["id"]; ok { // a reference such as {"id": "1"} reads as its id
				cols[k] = fmt.Sprint(id)
			}
		default:
			b, _ := json.Marshal(x)
			cols[k] = string(b)
		}
	}
	return &row{cols: cols}
}

// run evaluates q over rows and returns the items of the answer.
func (s *Server) run(q *query, rows []*row) ([]map[string]any, error) {
	ctx := &evalCtx{loc: s.opts.Location}
	var kept []*row
	for _, r := range rows {
		if q.where != nil {
			ok, err := q.where.test(ctx, r)
			if err != nil {
				return nil, err
			}
			if ok != triTrue {
				continue
			}
		}
		kept = append(kept, r)
	}
	// Rows in id order first, so equal sort keys come out the same every time (rows
	// without an id, of deletedrecord, stay in the order given).
	idOf := func(r *row) float64 { id, _ := r.cols["id"].(float64); return id }
	sort.SliceStable(kept, func(i, j int) bool { return idOf(kept[i]) < idOf(kept[j]) })
	if len(q.order) > 0 {
		keys := make(map[*row][]any, len(kept))
		for _, r := range kept {
			k := make([]any, len(q.order))
			for i, o := range q.order {
				v, err := o.e.value(ctx, r)
				if err != nil {
					return nil, err
				}
				k[i] = v
			}
			keys[r] = k
		}
		sort.SliceStable(kept, func(i, j int) bool {
			a, b := keys[kept[i]], keys[kept[j]]
			for n, o := range q.order {
				c := orderCompare(a[n], b[n])
				if o.desc {
					c = -c
				}
				if c != 0 {
					return c < 0
				}
			}
			return false
		})
	}

	items := make([]map[string]any, 0, len(kept))
	for _, r := range kept {
		item := map[string]any{"links": []any{}}
		if q.star {
			for k, v := range r.cols {
				if v != nil {
					item[k] = s.render(v)
				}
			}
		}
		for _, it := range q.items {
			v, err := it.e.value(ctx, r)
			if err != nil {
				return nil, err
			}
			if v != nil { // SuiteQL leaves empty columns out [3p]
				item[it.name] = s.render(v)
			}
		}
		items = append(items, item)
	}
	return items, nil
}

// render is how SuiteQL answers a value: as a string.
func (s *Server) render(v any) any {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return x.In(s.opts.Location).Format(s.opts.DateDisplay)
	}
	return v
}

// orderCompare orders values for ORDER BY: NULLs last, unlike types by their text.
func orderCompare(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	if c, err := compare(a, b); err == nil {
		return c
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// compare orders two non-NULL values as Oracle does: a string meets a number as a
// number (ORA-01722 when it is not one).
func compare(a, b any) (int, error) {
	switch x := a.(type) {
	case float64:
		y, err := asNumber(b)
		if err != nil {
			return 0, err
		}
		return cmpOrdered(x, y), nil
	case time.Time:
		y, ok := b.(time.Time)
		if !ok {
			return 0, fmt.Errorf("cannot compare a date with %T %v", b, b)
		}
		return x.Compare(y), nil
	case string:
		switch y := b.(type) {
		case string:
			return strings.Compare(x, y), nil
		case float64:
			xn, err := asNumber(x)
			if err != nil {
				return 0, err
			}
			return cmpOrdered(xn, y), nil
		}
		return 0, fmt.Errorf("cannot compare text with %T %v", b, b)
	}
	return 0, fmt.Errorf("cannot compare %T", a)
}

func asNumber(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case string:
		n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("invalid number %q", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("invalid number %v", v)
}

func cmpOrdered(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ---- the query language ----

type query struct {
	star  bool
	items []selectItem
	table string
	where cond
	order []orderItem
}

type selectItem struct {
	e    expr
	name string // lower case
}

type orderItem struct {
	e    expr
	desc bool
}

type evalCtx struct{ loc *time.Location }

type expr interface {
	value(ctx *evalCtx, r *row) (any, error)
}

type tri int

const (
	triFalse tri = iota
	triTrue
	triUnknown // a comparison with NULL
)

type cond interface {
	test(ctx *evalCtx, r *row) (tri, error)
}

type column string

func (c column) value(_ *evalCtx, r *row) (any, error) { return r.cols[string(c)], nil }

type literal struct{ v any }

func (l literal) value(*evalCtx, *row) (any, error) { return l.v, nil }

type function struct {
	name string // upper case
	args []expr
}

func (f function) value(ctx *evalCtx, r *row) (any, error) {
	args := make([]any, len(f.args))
	for i, a := range f.args {
		v, err := a.value(ctx, r)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	need := func(lo, hi int) error {
		if len(args) < lo || len(args) > hi {
			return fmt.Errorf("%s takes %d to %d arguments", f.name, lo, hi)
		}
		return nil
	}
	switch f.name {
	case "TO_TIMESTAMP", "TO_DATE":
		if err := need(1, 2); err != nil {
			return nil, err
		}
		if args[0] == nil {
			return nil, nil
		}
		text, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("%s needs text, not %v", f.name, args[0])
		}
		format := "YYYY-MM-DD HH24:MI:SS"
		if len(args) == 2 {
			if format, ok = args[1].(string); !ok {
				return nil, fmt.Errorf("%s: the format must be text", f.name)
			}
		}
		layout, err := layoutOf(format)
		if err != nil {
			return nil, err
		}
		t, err := time.ParseInLocation(layout, text, ctx.loc)
		if err != nil {
			return nil, fmt.Errorf("%s(%q, %q): %v", f.name, text, format, err)
		}
		return t, nil
	case "TO_CHAR":
		if err := need(1, 2); err != nil {
			return nil, err
		}
		switch x := args[0].(type) {
		case nil:
			return nil, nil
		case time.Time:
			format := "YYYY-MM-DD HH24:MI:SS"
			if len(args) == 2 {
				format, _ = args[1].(string)
			}
			layout, err := layoutOf(format)
			if err != nil {
				return nil, err
			}
			return x.In(ctx.loc).Format(layout), nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		default:
			return fmt.Sprint(x), nil
		}
	case "UPPER", "LOWER":
		if err := need(1, 1); err != nil {
			return nil, err
		}
		if args[0] == nil {
			return nil, nil
		}
		text := fmt.Sprint(args[0])
		if f.name == "UPPER" {
			return strings.ToUpper(text), nil
		}
		return strings.ToLower(text), nil
	}
	return nil, fmt.Errorf("unknown function %s", f.name)
}

type comparison struct {
	op   string
	l, r expr
}

func (c comparison) test(ctx *evalCtx, r *row) (tri, error) {
	a, err := c.l.value(ctx, r)
	if err != nil {
		return triFalse, err
	}
	b, err := c.r.value(ctx, r)
	if err != nil {
		return triFalse, err
	}
	if a == nil || b == nil {
		return triUnknown, nil
	}
	n, err := compare(a, b)
	if err != nil {
		return triFalse, err
	}
	var ok bool
	switch c.op {
	case "=":
		ok = n == 0
	case "!=", "<>":
		ok = n != 0
	case "<":
		ok = n < 0
	case "<=":
		ok = n <= 0
	case ">":
		ok = n > 0
	case ">=":
		ok = n >= 0
	}
	return triOf(ok), nil
}

type inList struct {
	e    expr
	list []expr
	not  bool
}

func (in inList) test(ctx *evalCtx, r *row) (tri, error) {
	a, err := in.e.value(ctx, r)
	if err != nil || a == nil {
		return triUnknown, err
	}
	result := triFalse
	for _, l := range in.list {
		b, err := l.value(ctx, r)
		if err != nil {
			return triFalse, err
		}
		if b == nil {
			result = triUnknown
			continue
		}
		n, err := compare(a, b)
		if err != nil {
			return triFalse, err
		}
		if n == 0 {
			result = triTrue
			break
		}
	}
	if in.not {
		return not(result), nil
	}
	return result, nil
}

type isNull struct {
	e   expr
	not bool
}

func (n isNull) test(ctx *evalCtx, r *row) (tri, error) {
	v, err := n.e.value(ctx, r)
	if err != nil {
		return triFalse, err
	}
	return triOf((v == nil) != n.not), nil
}

type logical struct {
	op   string // AND, OR
	l, r cond
}

func (l logical) test(ctx *evalCtx, r *row) (tri, error) {
	a, err := l.l.test(ctx, r)
	if err != nil {
		return triFalse, err
	}
	b, err := l.r.test(ctx, r)
	if err != nil {
		return triFalse, err
	}
	if l.op == "AND" {
		switch {
		case a == triFalse || b == triFalse:
			return triFalse, nil
		case a == triTrue && b == triTrue:
			return triTrue, nil
		}
		return triUnknown, nil
	}
	switch {
	case a == triTrue || b == triTrue:
		return triTrue, nil
	case a == triFalse && b == triFalse:
		return triFalse, nil
	}
	return triUnknown, nil
}

type negation struct{ c cond }

func (n negation) test(ctx *evalCtx, r *row) (tri, error) {
	v, err := n.c.test(ctx, r)
	return not(v), err
}

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

func not(t tri) tri {
	switch t {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triUnknown
}

// ---- lexer and parser ----

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tSym
)

type token struct {
	kind tokKind
	text string // identifiers lower case; strings unquoted
	pos  int
}

func lex(q string) ([]token, error) {
	var toks []token
	for i := 0; i < len(q); {
		c := rune(q[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(q) {
					return nil, fmt.Errorf("unterminated string at %d", i)
				}
				if q[j] == '\'' {
					if j+1 < len(q) && q[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(q[j])
				j++
			}
			toks = append(toks, token{tString, b.String(), i})
			i = j + 1
		case unicode.IsLetter(c) || c == '_':
			j := i
			for j < len(q) && (unicode.IsLetter(rune(q[j])) || unicode.IsDigit(rune(q[j])) || q[j] == '_' || q[j] == '.') {
				j++
			}
			toks = append(toks, token{tIdent, strings.ToLower(q[i:j]), i})
			i = j
		case unicode.IsDigit(c) || (c == '-' && i+1 < len(q) && unicode.IsDigit(rune(q[i+1]))):
			j := i + 1
			for j < len(q) && (unicode.IsDigit(rune(q[j])) || q[j] == '.') {
				j++
			}
			toks = append(toks, token{tNumber, q[i:j], i})
			i = j
		default:
			for _, sym := range []string{"<=", ">=", "!=", "<>", "(", ")", ",", "*", "=", "<", ">"} {
				if strings.HasPrefix(q[i:], sym) {
					toks = append(toks, token{tSym, sym, i})
					i += len(sym)
					goto next
				}
			}
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		next:
		}
	}
	return append(toks, token{kind: tEOF, pos: len(q)}), nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// keyword consumes the identifier kw (lower case) if it is next.
func (p *parser) keyword(kw string) bool {
	if t := p.peek(); t.kind == tIdent && t.text == kw {
		p.i++
		return true
	}
	return false
}

func (p *parser) sym(s string) bool {
	if t := p.peek(); t.kind == tSym && t.text == s {
		p.i++
		return true
	}
	return false
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("at %d: %s", p.peek().pos, fmt.Sprintf(format, args...))
}

var comparisons = map[string]bool{"=": true, "!=": true, "<>": true, "<": true, "<=": true, ">": true, ">=": true}

var reserved = map[string]bool{"select": true, "from": true, "where": true, "order": true, "by": true,
	"and": true, "or": true, "not": true, "in": true, "is": true, "null": true, "as": true, "asc": true, "desc": true}

func parseQuery(q string) (*query, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if !p.keyword("select") {
		return nil, p.errorf("expected SELECT")
	}
	out := &query{}
	for n := 1; ; n++ {
		if p.sym("*") {
			out.star = true
		} else {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			item := selectItem{e: e, name: fmt.Sprintf("expr%d", n)}
			if c, ok := e.(column); ok {
				item.name = string(c)
			}
			if p.keyword("as") {
				t := p.next()
				if t.kind != tIdent {
					return nil, p.errorf("expected an alias after AS")
				}
				item.name = t.text
			} else if t := p.peek(); t.kind == tIdent && !reserved[t.text] {
				item.name = p.next().text
			}
			out.items = append(out.items, item)
		}
		if !p.sym(",") {
			break
		}
	}
	if !p.keyword("from") {
		return nil, p.errorf("expected FROM")
	}
	t := p.next()
	if t.kind != tIdent || reserved[t.text] {
		return nil, p.errorf("expected a record type after FROM")
	}
	out.table = t.text
	if p.keyword("where") {
		if out.where, err = p.orCond(); err != nil {
			return nil, err
		}
	}
	if p.keyword("order") {
		if !p.keyword("by") {
			return nil, p.errorf("expected BY after ORDER")
		}
		for {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			// ORDER BY a name that is a select-list alias orders by that item.
			if c, ok := e.(column); ok {
				for _, it := range out.items {
					if it.name == string(c) {
						e = it.e
						break
					}
				}
			}
			o := orderItem{e: e}
			if p.keyword("desc") {
				o.desc = true
			} else {
				p.keyword("asc")
			}
			out.order = append(out.order, o)
			if !p.sym(",") {
				break
			}
		}
	}
	if p.peek().kind != tEOF {
		return nil, p.errorf("unexpected %q", p.peek().text)
	}
	return out, nil
}

func (p *parser) orCond() (cond, error) {
	l, err := p.andCond()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.andCond()
		if err != nil {
			return nil, err
		}
		l = logical{op: "OR", l: l, r: r}
	}
	return l, nil
}

func (p *parser) andCond() (cond, error) {
	l, err := p.notCond()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.notCond()
		if err != nil {
			return nil, err
		}
		l = logical{op: "AND", l: l, r: r}
	}
	return l, nil
}

func (p *parser) notCond() (cond, error) {
	if p.keyword("not") {
		c, err := p.notCond()
		if err != nil {
			return nil, err
		}
		return negation{c}, nil
	}
	if p.sym("(") {
		c, err := p.orCond()
		if err != nil {
			return nil, err
		}
		if !p.sym(")") {
			return nil, p.errorf("expected )")
		}
		return c, nil
	}
	l, err := p.expr()
	if err != nil {
		return nil, err
	}
	switch {
	case p.keyword("is"):
		n := p.keyword("not")
		if !p.keyword("null") {
			return nil, p.errorf("expected NULL after IS")
		}
		return isNull{e: l, not: n}, nil
	case p.keyword("not"):
		if !p.keyword("in") {
			return nil, p.errorf("expected IN after NOT")
		}
		return p.inList(l, true)
	case p.keyword("in"):
		return p.inList(l, false)
	}
	t := p.next()
	if t.kind != tSym || !comparisons[t.text] {
		return nil, fmt.Errorf("at %d: expected a comparison, found %q", t.pos, t.text)
	}
	r, err := p.expr()
	if err != nil {
		return nil, err
	}
	return comparison{op: t.text, l: l, r: r}, nil
}

func (p *parser) inList(e expr, not bool) (cond, error) {
	if !p.sym("(") {
		return nil, p.errorf("expected ( after IN")
	}
	in := inList{e: e, not: not}
	for {
		v, err := p.expr()
		if err != nil {
			return nil, err
		}
		in.list = append(in.list, v)
		if p.sym(")") {
			return in, nil
		}
		if !p.sym(",") {
			return nil, p.errorf("expected , or ) in the IN list")
		}
	}
}

func (p *parser) expr() (expr, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return literal{t.text}, nil
	case tNumber:
		n, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, fmt.Errorf("at %d: bad number %q", t.pos, t.text)
		}
		return literal{n}, nil
	case tIdent:
		if t.text == "null" {
			return literal{nil}, nil
		}
		if reserved[t.text] {
			return nil, fmt.Errorf("at %d: unexpected %s", t.pos, strings.ToUpper(t.text))
		}
		if !p.sym("(") {
			return column(t.text), nil
		}
		f := function{name: strings.ToUpper(t.text)}
		if p.sym(")") {
			return f, nil
		}
		for {
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			f.args = append(f.args, a)
			if p.sym(")") {
				return f, nil
			}
			if !p.sym(",") {
				return nil, p.errorf("expected , or ) in %s(...)", f.name)
			}
		}
	}
	return nil, fmt.Errorf("at %d: expected a column, value or function, found %q", t.pos, t.text)
}

// layoutOf translates an Oracle datetime format model to a Go layout: YYYY MM DD HH24
// HH12 HH MI SS FFn AM PM, separators, and "quoted" text.
func layoutOf(format string) (string, error) {
	repl := []struct{ from, to string }{
		{"YYYY", "2006"}, {"HH24", "15"}, {"HH12", "03"}, {"HH", "03"}, {"MM", "01"}, {"DD", "02"},
		{"MI", "04"}, {"SS", "05"}, {"AM", "PM"}, {"PM", "PM"},
	}
	var b strings.Builder
	up := strings.ToUpper(format)
outer:
	for i := 0; i < len(up); {
		if up[i] == '"' {
			end := strings.IndexByte(up[i+1:], '"')
			if end < 0 {
				return "", fmt.Errorf("format %q: unterminated quote", format)
			}
			b.WriteString(format[i+1 : i+1+end])
			i += end + 2
			continue
		}
		if strings.HasPrefix(up[i:], "FF") && i+2 < len(up) && up[i+2] >= '1' && up[i+2] <= '9' {
			b.WriteString(strings.Repeat("0", int(up[i+2]-'0')))
			i += 3
			continue
		}
		for _, r := range repl {
			if strings.HasPrefix(up[i:], r.from) {
				b.WriteString(r.to)
				i += len(r.from)
				continue outer
			}
		}
		if strings.IndexByte("-/:., ", up[i]) >= 0 {
			b.WriteByte(up[i])
			i++
			continue
		}
		return "", fmt.Errorf("format %q: unsupported element at %q", format, format[i:])
	}
	return b.String(), nil
}
