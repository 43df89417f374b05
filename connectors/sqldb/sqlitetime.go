package sqldb

import (
	"database/sql/driver"
	"time"

	"modernc.org/sqlite"
)

// changeTimeFunc is the SQL function, registered with the SQLite driver for every
// connection it opens, that gives a SQLite change time's normalised form (keyLayout), or
// NULL when the value is no timestamp of the layouts parseTextTime reads. It is written
// in Go rather than in SQL: an expression of SQLite's string and date functions doing
// the same costs about ten times as much per row, and Changes computes it for every row
// of the table.
const changeTimeFunc = "tandem_change_time"

func init() {
	sqlite.MustRegisterDeterministicScalarFunction(changeTimeFunc, 1,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			var s string
			switch x := args[0].(type) {
			case string:
				s = x
			case []byte:
				s = string(x)
			default:
				return nil, nil // NULL, a number: no time
			}
			if k, ok := textTimeKey(s); ok {
				return k, nil
			}
			return nil, nil
		})
}

// textTimeKey returns the normalised form of a text time (parseTextTime). A time in UTC
// is rewritten without a time.Time in between, as it is the common case and
// tandem_change_time runs for every row of a table.
func textTimeKey(s string) (string, bool) {
	t, utc, ok := parseText(s)
	if !ok {
		return "", false
	}
	if !utc {
		return t.Format(keyLayout), true
	}
	var b [len(keyLayout)]byte
	copy(b[:], s[:10])
	b[10] = ' '
	copy(b[11:19], s[11:19])
	b[19] = '.'
	n := copy(b[20:], fractionDigits(s[19:]))
	for i := 20 + n; i < len(b); i++ {
		b[i] = '0'
	}
	return string(b[:]), true
}

// fractionDigits returns the digits after the point that starts rest, if it does.
func fractionDigits(rest string) string {
	if rest == "" || rest[0] != '.' {
		return ""
	}
	i := 1
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	return rest[1:i]
}

// keyLayout is the normalised form of a SQLite change time: UTC, fixed width, to the
// nanosecond, so that it orders as text in time order. Times compared with it are sent
// in it (keyArg).
const keyLayout = "2006-01-02 15:04:05.000000000"

func keyArg(t time.Time) string { return t.UTC().Format(keyLayout) }

// parseTextTime reads a timestamp in the text layouts SQLite tables hold (see the package
// comment, "Change times"):
//
//	YYYY-MM-DD HH:MM:SS, or with a T between date and time
//	then optionally a point and fractional seconds, any number of digits (kept to the ns)
//	then optionally spaces and a zone: Z (or z), ±HH:MM, ±HHMM or ±HH; none is UTC
//
// Every field must be in range (24:00:00 is the next day's midnight, as ISO 8601 has it),
// and the time in UTC within the years 0000 to 9999, which the normalised form can write.
func parseTextTime(s string) (time.Time, bool) {
	t, _, ok := parseText(s)
	return t, ok
}

// parseText is parseTextTime, also saying whether s is in UTC with its fields as they
// are in the normalised form (no zone or a zero one, not 24:00:00), so that the form can
// be written from s itself.
func parseText(s string) (t time.Time, utc, ok bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false, false
	}
	num := func(from, n int) (int, bool) { return numIn(s[from : from+n]) }
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(year, month) || hour > 24 || minute > 59 || sec > 59 {
		return time.Time{}, false, false
	}
	rest := s[19:]
	nanos := 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
			if i <= 9 {
				nanos = nanos*10 + int(rest[i]-'0')
			}
		}
		if i == 1 {
			return time.Time{}, false, false // a point without digits
		}
		for d := i; d <= 9; d++ {
			nanos *= 10
		}
		rest = rest[i:]
	}
	if hour == 24 && (minute != 0 || sec != 0 || nanos != 0) {
		return time.Time{}, false, false
	}
	for len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	offset := 0 // seconds east of UTC
	switch {
	case rest == "" || rest == "Z" || rest == "z":
	case rest[0] == '+' || rest[0] == '-':
		z := rest[1:]
		var h, m int
		zoned := false
		switch {
		case len(z) == 5 && z[2] == ':':
			h, zoned = numIn(z[:2])
			if zoned {
				m, zoned = numIn(z[3:])
			}
		case len(z) == 4:
			h, zoned = numIn(z[:2])
			if zoned {
				m, zoned = numIn(z[2:])
			}
		case len(z) == 2:
			h, zoned = numIn(z)
		}
		if !zoned || h > 23 || m > 59 {
			return time.Time{}, false, false
		}
		offset = h*3600 + m*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false, false
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC).Add(-time.Duration(offset) * time.Second)
	if t.Year() < 0 || t.Year() > 9999 {
		return time.Time{}, false, false
	}
	return t, offset == 0 && hour < 24, true
}

// daysIn is the number of days of a month of the proleptic Gregorian calendar.
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// numIn reads a string of decimal digits.
func numIn(s string) (int, bool) {
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, len(s) > 0
}
