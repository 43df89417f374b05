package sqldb

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
)

// clock is a test's time, moved on by Add only.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openAccounts returns a connection on a new SQLite file whose accounts table's
// updated_at is TEXT, as another program's table would be, the handle to write its rows
// as that program would, and the connection's clock.
func openAccounts(t *testing.T, at time.Time, settings connectors.Settings) (*Conn, *sql.DB, *clock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT, updated_at TEXT)`)
	require.NoError(t, err)
	s := connectors.Settings{"driver": "sqlite", "dsn": path}
	for k, v := range settings {
		s[k] = v
	}
	cfg, err := ParseSettings(s)
	require.NoError(t, err)
	clk := &clock{t: at}
	cfg.Now = clk.Now
	c, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, db, clk
}

func insertAccount(t *testing.T, db *sql.DB, id int, updated any) {
	t.Helper()
	_, err := db.Exec(`INSERT INTO accounts (id, name, updated_at) VALUES ($1, $2, $3)`, id, fmt.Sprint("Account ", id), updated)
	require.NoError(t, err)
}

func recordIDs(recs []connectors.Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// A SQLite table another program writes holds its times as text in that program's
// layout: with a T (Python, JavaScript), with fractions of any length, with a zone or
// without, in SQLite's own CURRENT_TIMESTAMP form or the connector's. Changes reads every
// row once, in time order (ties by id), each with the instant its text means; Get reads
// the same times, and a conditional update holds a row to the time it was read at.
func TestTextTimestampsInEveryLayout(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []struct {
		id   int
		text string
		at   time.Duration // after base
	}{
		{1, "2025-01-01T00:00:03.5Z", 3500 * time.Millisecond},
		{2, "2025-01-01 00:00:01", time.Second}, // CURRENT_TIMESTAMP
		{3, "2025-01-01T02:00:02.25+02:00", 2250 * time.Millisecond},
		{4, "2024-12-31T19:00:04-05:00", 4 * time.Second},
		{5, "2025-01-01T00:00:01.000001Z", time.Second + time.Microsecond},
		{6, "2025-01-01 00:00:01.000000+00:00", time.Second}, // the connector's own
		{7, "2025-01-01T00:00:02.123456789Z", 2123456789 * time.Nanosecond},
		{8, "2025-01-01T00:00:02.1234567891Z", 2123456789 * time.Nanosecond}, // below a nanosecond: cut
		{9, "2025-01-01T00:00:00", 0},
		{10, "2025-01-01 00:00:03.5 Z", 3500 * time.Millisecond},
		{11, "2025-01-01T00:00:02.9+00:00", 2900 * time.Millisecond}, // Python's isoformat()
		{12, "2025-01-01T00:00:04.000Z", 4 * time.Second},            // JavaScript's toISOString()
		{13, "2025-01-01 00:00:02.999999999-00:00", 2999999999 * time.Nanosecond},
		{14, "2025-01-01 00:00:59.9996", 59999600 * time.Microsecond}, // not rounded into the next second
		{15, "2024-12-31 24:00:00", 0},                                // the end of a day is the next one's start
		{16, "2025-01-01T05:30:03+0530", 3 * time.Second},
		{17, "2025-01-01 01:00:03.5+01", 3500 * time.Millisecond},
	}
	// In (time, id) order, ids compared as numbers.
	order := []string{"9", "15", "2", "6", "5", "7", "8", "3", "11", "13", "16", "1", "10", "17", "4", "12", "14"}
	c, db, _ := openAccounts(t, base.Add(time.Hour), nil)
	ctx := t.Context()
	want := map[string]time.Time{}
	for _, r := range rows {
		insertAccount(t, db, r.id, r.text)
		want[strconv.Itoa(r.id)] = base.Add(r.at)
	}

	for _, limit := range []int{1, 2, 3, 100} {
		var got []string
		cursor := connectors.Cursor{}
		for pages := 0; ; pages++ {
			require.Less(t, pages, len(rows)+1, "limit %d: the cursor does not move on", limit)
			page, err := c.Changes(ctx, "accounts", cursor, limit)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page.Records), limit)
			for _, r := range page.Records {
				assert.True(t, r.UpdatedAt.Equal(want[r.ID]), "limit %d: record %s read at %s, wants %s", limit, r.ID, r.UpdatedAt, want[r.ID])
				assert.Equal(t, time.UTC, r.UpdatedAt.Location())
				assert.False(t, r.UpdatedAt.Before(cursor.UpdatedAt), "limit %d: record %s before the cursor %s", limit, r.ID, cursor)
				got = append(got, r.ID)
				cursor = connectors.CursorOf(r)
			}
			if !page.More {
				break
			}
		}
		assert.Equal(t, order, got, "limit %d: every row once, in order", limit)
	}

	for i, id := range order {
		n, err := c.CountChanges(ctx, "accounts", connectors.Cursor{UpdatedAt: want[id], ID: id})
		require.NoError(t, err)
		assert.Equal(t, len(order)-i-1, n, "count after %s", id)
	}
	n, err := c.CountChanges(ctx, "accounts", connectors.Cursor{UpdatedAt: base.Add(time.Second)})
	require.NoError(t, err)
	assert.Equal(t, len(order)-2, n, "a cursor without an id is before the rows of its time")

	got, err := c.Get(ctx, "accounts", order)
	require.NoError(t, err)
	require.Len(t, got, len(order))
	for _, r := range got {
		assert.True(t, r.UpdatedAt.Equal(want[r.ID]), "Get: record %s read at %s, wants %s", r.ID, r.UpdatedAt, want[r.ID])
	}

	// Row 3's time is text with a +02:00 zone; held to the time it was read at, it is
	// unchanged. Row 1 held to another time is stale, and says its time now.
	res, err := c.UpdateIfUnchanged(ctx, "accounts", []connectors.Record{
		{ID: "3", UpdatedAt: want["3"], Fields: map[string]any{"name": "Three"}},
		{ID: "1", UpdatedAt: want["10"].Add(time.Nanosecond), Fields: map[string]any{"name": "One"}},
	})
	require.NoError(t, err)
	assert.Equal(t, connectors.WriteResult{ID: "3"}, res[0])
	var stale *connectors.StaleRecordError
	require.ErrorAs(t, res[1].Err, &stale)
	assert.True(t, stale.Now.Equal(want["1"]), "stale.Now %s", stale.Now)
	got, err = c.Get(ctx, "accounts", []string{"3"})
	require.NoError(t, err)
	assert.Equal(t, "Three", got[0].Fields["name"])
	assert.True(t, got[0].UpdatedAt.After(want["4"]), "written now, in the connector's own form")
}

// A value of the updated column that is no timestamp the connector can order stops
// Changes with an error naming the table, the column, the row and the value, whatever
// the cursor: it is neither skipped nor read out of order.
func TestTextTimestampsThatAreNotTimesStopChanges(t *testing.T) {
	c, db, _ := openAccounts(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), nil)
	ctx := t.Context()
	insertAccount(t, db, 1, "2025-01-01T00:00:01Z")
	insertAccount(t, db, 2, "2025-01-01T00:00:02Z")
	insertAccount(t, db, 3, "2025-01-01T00:00:03Z")
	after2 := connectors.Cursor{UpdatedAt: time.Date(2025, 1, 1, 0, 0, 2, 0, time.UTC), ID: "2"}

	for _, bad := range []string{
		"01/02/2025 10:00", // sorts before every cursor as text
		"yesterday",        // and this one after
		"2025-01-01",       // a date without a time of day
		"2025-01-01T00:00:00+5:30",
		"2025-01-01T00:00:00 UTC",
		"2025-01-01 00:00:00 +0000 UTC", // Go's time.String
		"2025-01-01 00:00:60",
		"2025-01-01 24:00:01",
		"2025-02-29 00:00:00",
		"2025-01-01T00:00:00.Z",
		"",
		"1735689600", // seconds since 1970 (a TEXT column keeps numbers as text)
		"2460676.5",  // a Julian day
	} {
		_, err := db.Exec(`UPDATE accounts SET updated_at = $1 WHERE id = 3`, bad)
		require.NoError(t, err)
		shown := strconv.Quote(bad)
		for _, since := range []connectors.Cursor{{}, after2} {
			_, err := c.Changes(ctx, "accounts", since, 10)
			var inv *connectors.InvalidRecordError
			if assert.ErrorAs(t, err, &inv, "%s after %s", shown, since) {
				assert.Equal(t, "3", inv.Record)
				assert.Equal(t, "updated_at", inv.Field)
				assert.Contains(t, err.Error(), "table accounts, column updated_at")
				assert.Contains(t, err.Error(), shown+" is not a timestamp")
			}
		}
		n, err := c.CountChanges(ctx, "accounts", connectors.Cursor{})
		require.NoError(t, err)
		assert.Equal(t, 2, n, "%s is not counted", shown)
	}

	// A NULL is no change time: not read by Changes (Get says why).
	_, err := db.Exec(`UPDATE accounts SET updated_at = NULL WHERE id = 3`)
	require.NoError(t, err)
	page, err := c.Changes(ctx, "accounts", connectors.Cursor{}, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"1", "2"}, recordIDs(page.Records))
	_, err = c.Get(ctx, "accounts", []string{"3"})
	assert.ErrorContains(t, err, "column updated_at: is NULL")
}

// A row saved later in the second of the last row read, with a smaller id, would sort
// before a cursor placed on that row: for a column kept to the whole second, the current
// second is held back until it is over.
func TestChangesHoldsBackTheOpenSecond(t *testing.T) {
	ctx := t.Context()
	c, db, clk := openAccounts(t, time.Date(2025, 3, 1, 9, 0, 1, 500_000_000, time.UTC), nil)
	insertAccount(t, db, 5, "2025-03-01 09:00:00") // as CURRENT_TIMESTAMP writes
	insertAccount(t, db, 2, "2025-03-01 09:00:01")
	insertAccount(t, db, 4, "2025-03-01T09:00:01Z")

	// 09:00:01 is still the current second: only the 09:00:00 row is read.
	for _, limit := range []int{1, 100} {
		page, err := c.Changes(ctx, "accounts", connectors.Cursor{}, limit)
		require.NoError(t, err)
		assert.Equal(t, []string{"5"}, recordIDs(page.Records), "limit %d", limit)
		assert.False(t, page.More, "limit %d: the rest waits for the next read", limit)
	}
	n, err := c.CountChanges(ctx, "accounts", connectors.Cursor{})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	page, err := c.Changes(ctx, "accounts", connectors.Cursor{}, 100)
	require.NoError(t, err)
	cursor := connectors.CursorOf(page.Records[0])

	// Later in that second, a row with a smaller id is saved.
	insertAccount(t, db, 1, "2025-03-01 09:00:01")
	clk.Add(time.Second)
	page, err = c.Changes(ctx, "accounts", cursor, 100)
	require.NoError(t, err)
	assert.Equal(t, []string{"1", "2", "4"}, recordIDs(page.Records), "every row of the second, once it is over")

	// Rows the connector writes keep microseconds: with no whole-second value in the
	// table, nothing is held back.
	c, _, clk = openAccounts(t, time.Date(2025, 3, 1, 9, 0, 1, 500_000_000, time.UTC), nil)
	res, err := c.Create(ctx, "accounts", []connectors.Record{{Fields: map[string]any{"name": "A"}}, {Fields: map[string]any{"name": "B"}}})
	require.NoError(t, err)
	page, err = c.Changes(ctx, "accounts", connectors.Cursor{}, 100)
	require.NoError(t, err)
	assert.Equal(t, []string{res[0].ID, res[1].ID}, recordIDs(page.Records), "read in the second they were written in")
	assert.True(t, page.Records[0].UpdatedAt.Equal(clk.Now()), "stamped by the connection's clock")

	// hold_back_open_second: true holds them back all the same, for writers that pad whole
	// seconds with zeros; false reads a whole-second column's current second at once.
	c, db, clk = openAccounts(t, time.Date(2025, 3, 1, 9, 0, 1, 500_000_000, time.UTC), connectors.Settings{"hold_back_open_second": "true"})
	insertAccount(t, db, 1, "2025-03-01T09:00:01.000Z")
	page, err = c.Changes(ctx, "accounts", connectors.Cursor{}, 100)
	require.NoError(t, err)
	assert.Empty(t, page.Records)
	clk.Add(500 * time.Millisecond)
	page, err = c.Changes(ctx, "accounts", connectors.Cursor{}, 100)
	require.NoError(t, err)
	assert.Equal(t, []string{"1"}, recordIDs(page.Records))

	c, db, _ = openAccounts(t, time.Date(2025, 3, 1, 9, 0, 1, 500_000_000, time.UTC), connectors.Settings{"hold_back_open_second": "false"})
	insertAccount(t, db, 1, "2025-03-01 09:00:01")
	page, err = c.Changes(ctx, "accounts", connectors.Cursor{}, 100)
	require.NoError(t, err)
	assert.Equal(t, []string{"1"}, recordIDs(page.Records))
}

// Any instant written in any of the layouts, in any zone, reads back as that instant
// (to the layout's precision), and its normalised form is the one the cursor is sent in.
func TestTextTimesRoundTrip(t *testing.T) {
	layouts := map[string]time.Duration{
		"2006-01-02 15:04:05":                    time.Second,
		"2006-01-02T15:04:05Z07:00":              time.Second,
		"2006-01-02T15:04:05.000Z07:00":          time.Millisecond,
		"2006-01-02 15:04:05.000000-07:00":       time.Microsecond,
		"2006-01-02T15:04:05.999999999Z07:00":    time.Nanosecond,
		"2006-01-02T15:04:05.999999999-0700":     time.Nanosecond,
		"2006-01-02 15:04:05.999999 -07:00":      time.Microsecond,
		"2006-01-02T15:04:05.000000000000-07":    time.Nanosecond,
		"2006-01-02 15:04:05.000000000000000000": time.Nanosecond,
	}
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+30*60), time.FixedZone("", -8*3600), time.FixedZone("", 14*3600)}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		at := time.Unix(r.Int64N(253402300799-86400)+86400, r.Int64N(1e9)).UTC() // years 1970 to 9999
		for layout, precision := range layouts {
			for _, zone := range zones {
				if !strings.Contains(layout, "Z07") && !strings.Contains(layout, "-07") && zone != time.UTC {
					continue // no zone in the text: it is UTC
				}
				if _, off := at.In(zone).Zone(); strings.HasSuffix(layout, "-07") && off%3600 != 0 {
					continue // the layout has the zone's hours only
				}
				text := at.In(zone).Format(layout)
				want := at.Truncate(precision)
				got, ok := parseTextTime(text)
				if !assert.True(t, ok, "%q", text) || !assert.True(t, got.Equal(want), "%q read as %s, wants %s", text, got, want) {
					return
				}
				key, ok := textTimeKey(text)
				require.True(t, ok)
				require.Equal(t, keyArg(want), key, "%q", text)
			}
		}
	}
	for _, bad := range []string{"2025-01-01", "2025-1-01 00:00:00", "2025-01-01 00:00:00+1", "2025-01-01 00:00:00+24:00",
		"2025-01-01 00:00:00+05:60", "2025-01-01 00:00:00.", "2025-01-01 00:00:00Zulu", "2025-00-10 00:00:00", "2024-02-30 00:00:00",
		"2025-01-01 25:00:00", "2025-01-01 00:60:00", "0000-01-01 00:00:00+01:00", "9999-12-31 23:59:59-01:00"} {
		_, ok := parseTextTime(bad)
		assert.False(t, ok, "%q", bad)
	}
	got, ok := parseTextTime("2024-02-29T24:00:00")
	require.True(t, ok)
	assert.Equal(t, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), got)
}
