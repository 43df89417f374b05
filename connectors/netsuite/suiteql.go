package netsuite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
)

const (
	suiteqlPath = "/query/v1/suiteql"
	externalID  = "externalid"
	// inChunk is how many values one IN list holds; Oracle allows 1000 and a query
	// should stay a modest size.
	inChunk = 500
	// maxOffset is the last offset NetSuite serves without SuiteAnalytics Connect: 100,000
	// results per query [doc: section_156414087576].
	maxOffset = 100000
)

// queryPage is one page of a SuiteQL answer [doc: section_158394344595; the links and
// totalResults are 3p].
type queryPage struct {
	Items        []map[string]any `json:"items"`
	HasMore      bool             `json:"hasMore"`
	Count        int              `json:"count"`
	Offset       int              `json:"offset"`
	TotalResults int              `json:"totalResults"`
	// served is the account's clock when it answered (its Date header; zero without one).
	served time.Time
}

// suiteql runs one page of a query.
func (c *Connector) suiteql(ctx context.Context, what, q string, limit, offset int) (queryPage, error) {
	resp, err := c.do(ctx, call{
		method: http.MethodPost,
		path:   suiteqlPath,
		query:  [][2]string{{"limit", strconv.Itoa(limit)}, {"offset", strconv.Itoa(offset)}},
		body:   map[string]string{"q": q},
		// Required by NetSuite for SuiteQL [doc: section_158394344595].
		header: map[string]string{"Prefer": "transient"},
	})
	if err != nil {
		return queryPage{}, fmt.Errorf("netsuite %s: %w", what, err)
	}
	if resp.status != http.StatusOK {
		return queryPage{}, c.callError(resp, what)
	}
	var page queryPage
	if err := json.Unmarshal(resp.body, &page); err != nil {
		return queryPage{}, fmt.Errorf("netsuite %s: answer is not a SuiteQL page: %w", what, err)
	}
	page.served, _ = http.ParseTime(resp.header.Get("Date"))
	return page, nil
}

// queryAll runs a query to its end, page by page. Only for queries whose rows are few
// (lookups by id or key), so growing offsets are fine.
func (c *Connector) queryAll(ctx context.Context, what, q string) ([]map[string]any, error) {
	var rows []map[string]any
	for offset := 0; ; offset += c.cfg.PageSize {
		if offset >= maxOffset {
			return nil, fmt.Errorf("netsuite %s: more than %d rows", what, maxOffset)
		}
		page, err := c.suiteql(ctx, what, q, c.cfg.PageSize, offset)
		if err != nil {
			return nil, err
		}
		rows = append(rows, page.Items...)
		if !page.HasMore || len(page.Items) == 0 {
			return rows, nil
		}
	}
}

// selectList is the SELECT list: the configured columns plus extra ones, the modified
// column read through TO_CHAR under its own name.
func (c *Connector) selectList(extra ...string) string {
	cols := c.columns(extra...)
	out := make([]string, len(cols))
	for i, col := range cols {
		if col == c.cfg.ModifiedField {
			out[i] = fmt.Sprintf("TO_CHAR(%s, %s) AS %s", col, quote(c.cfg.ModifiedFormat), col)
		} else {
			out[i] = col
		}
	}
	return strings.Join(out, ", ")
}

func (c *Connector) columns(extra ...string) []string {
	cols := c.cfg.Fields
	c.selectedMu.Lock()
	extra = append(append([]string(nil), c.selected...), extra...)
	c.selectedMu.Unlock()
	for _, e := range extra {
		e = strings.ToLower(e)
		found := false
		for _, col := range cols {
			found = found || col == e
		}
		if !found {
			cols = append(cols[:len(cols):len(cols)], e)
		}
	}
	return cols
}

// timestamp is the SuiteQL literal of t in the modified column's format and zone; the
// format's precision truncates t.
func (c *Connector) timestamp(t time.Time) string {
	return fmt.Sprintf("TO_TIMESTAMP(%s, %s)", quote(t.In(c.cfg.Location).Format(c.layout)), quote(c.cfg.ModifiedFormat))
}

// record turns a SuiteQL row into a Record: id, the modified column parsed, the selected
// columns (nil where SuiteQL left an empty one out).
func (c *Connector) record(row map[string]any, cols []string) (connectors.Record, error) {
	id := connectors.KeyString(row["id"])
	if id == "" {
		return connectors.Record{}, fmt.Errorf("a SuiteQL row has no id: %v", row)
	}
	raw, _ := row[c.cfg.ModifiedField].(string)
	if raw == "" {
		return connectors.Record{}, fmt.Errorf("record %s has no %s", id, c.cfg.ModifiedField)
	}
	at, err := time.ParseInLocation(c.layout, raw, c.cfg.Location)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("record %s: %s %q is not in the format %s (set modified_format to the one NetSuite answers): %w",
			id, c.cfg.ModifiedField, raw, c.cfg.ModifiedFormat, err)
	}
	fields := make(map[string]any, len(cols))
	for _, col := range cols {
		if col != "id" {
			fields[col] = nil
		}
	}
	for k, v := range row {
		if k != "id" && k != "links" {
			fields[k] = v
		}
	}
	return connectors.Record{ID: id, UpdatedAt: at.UTC(), Fields: fields}, nil
}

// quote is a SuiteQL string literal: single quotes doubled, nothing else is special.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// inList is the IN list of values for column: numbers unquoted for id (an internal id
// is a number; anything else cannot match one), strings quoted otherwise.
func inList(column string, values []string) string {
	parts := make([]string, 0, len(values))
	for _, v := range values {
		if column == "id" {
			parts = append(parts, v)
		} else {
			parts = append(parts, quote(v))
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func isInternalID(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// formatElement is a fixed element of a datetime format model and its Go layout.
type formatElement struct {
	model, layout string
	hour12, ampm  bool
}

// formatElements are the fixed elements, longer ones first where one is a prefix of
// another (HH24 and HH12 before HH).
var formatElements = []formatElement{
	{"YYYY", "2006", false, false},
	{"HH24", "15", false, false},
	{"HH12", "03", true, false},
	{"HH", "03", true, false},
	{"MM", "01", false, false},
	{"DD", "02", false, false},
	{"MI", "04", false, false},
	{"SS", "05", false, false},
	{"AM", "PM", false, true},
	{"PM", "PM", false, true},
}

// elementAt returns the fixed element rest starts with.
func elementAt(rest string) (formatElement, bool) {
	for _, el := range formatElements {
		if strings.HasPrefix(rest, el.model) {
			return el, true
		}
	}
	return formatElement{}, false
}

// goLayout translates a SuiteQL (Oracle) datetime format model into a Go layout. It
// knows the elements a sortable timestamp needs: YYYY MM DD HH24 HH12 HH MI SS FF1-FF9
// AM PM, the separators - / : . , space, and "quoted" text.
func goLayout(format string) (string, error) {
	var b strings.Builder
	up := strings.ToUpper(format)
	hasHour12, hasAMPM := false, false
	for i := 0; i < len(up); {
		rest := up[i:]
		if el, ok := elementAt(rest); ok {
			b.WriteString(el.layout)
			hasHour12 = hasHour12 || el.hour12
			hasAMPM = hasAMPM || el.ampm
			i += len(el.model)
			continue
		}
		switch {
		case strings.HasPrefix(rest, "FF"):
			if len(rest) < 3 || rest[2] < '1' || rest[2] > '9' {
				return "", fmt.Errorf("%q: write FF1 to FF9 for fractions of a second", format)
			}
			if b.Len() == 0 || !strings.HasSuffix(b.String(), ".") {
				return "", fmt.Errorf("%q: a fraction FFn must follow a '.'", format)
			}
			b.WriteString(strings.Repeat("0", int(rest[2]-'0')))
			i += 3
		case rest[0] == '"':
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return "", fmt.Errorf("%q: unterminated quoted text", format)
			}
			text := format[i+1 : i+1+end]
			if strings.ContainsAny(text, "0123456789JMPTWZ") && text != "T" {
				return "", fmt.Errorf("%q: quoted text %q cannot be kept literally", format, text)
			}
			b.WriteString(text)
			i += end + 2
		case strings.ContainsRune("-/:., ", rune(rest[0])):
			b.WriteByte(rest[0])
			i++
		default:
			return "", fmt.Errorf("%q: element at %q is not one of YYYY MM DD HH24 HH12 MI SS FFn AM", format, format[i:])
		}
	}
	if hasHour12 != hasAMPM {
		return "", fmt.Errorf("%q: a 12-hour HH needs AM, and AM needs HH", format)
	}
	layout := b.String()
	if !strings.Contains(layout, "2006") || !strings.Contains(layout, "01") || !strings.Contains(layout, "02") {
		return "", fmt.Errorf("%q: needs YYYY, MM and DD", format)
	}
	return layout, nil
}
