package datefmt

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParse(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	for _, tc := range []struct {
		pattern, input string
		loc            *time.Location
		want           time.Time
	}{
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2026-11-22T07:05:09.042+01:00", nil, ref},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2026-11-22T06:05:09.042Z", nil, ref},
		{"EEE, dd MMM yyyy HH:mm:ss Z", "Sun, 22 Nov 2026 07:05:09 +0100", nil, ref.Truncate(time.Second)},
		{"EEE, dd MMM yyyy HH:mm:ss z", "Sun, 22 Nov 2026 06:05:09 GMT", nil, ref.Truncate(time.Second)},
		{"yyyyMMdd", "20261122", nil, utc(2026, 11, 22, 0, 0, 0, 0)},
		{"yyyyMMddHHmmssSSS", "20261122070509042", nil, utc(2026, 11, 22, 7, 5, 9, 42e6)},
		{"yyMMdd", "991231", nil, utc(2099, 12, 31, 0, 0, 0, 0)}, // yy is 2000-2099, as in DateTimeFormatter
		{"yyyy-DDD", "2024-366", nil, utc(2024, 12, 31, 0, 0, 0, 0)},
		{"yyyy-MM-dd DDD", "2026-11-22 326", nil, utc(2026, 11, 22, 0, 0, 0, 0)},
		{"d.M.yyyy", "5.1.2026", nil, utc(2026, 1, 5, 0, 0, 0, 0)},
		{"d.M.yyyy", "05.01.2026", nil, utc(2026, 1, 5, 0, 0, 0, 0)},
		{"dd MMM yyyy", "22 nov 2026", nil, utc(2026, 11, 22, 0, 0, 0, 0)}, // names ignore ASCII case
		{"EEEE, MMMM d, yyyy", "SUNDAY, NOVEMBER 22, 2026", nil, utc(2026, 11, 22, 0, 0, 0, 0)},
		{"hh:mm a", "12:30 AM", nil, utc(1970, 1, 1, 0, 30, 0, 0)},
		{"hh:mm a", "12:30 pm", nil, utc(1970, 1, 1, 12, 30, 0, 0)},
		{"hh:mm a", "07:05 PM", nil, utc(1970, 1, 1, 19, 5, 0, 0)},
		{"hh:mm", "12:00", nil, utc(1970, 1, 1, 0, 0, 0, 0)},     // h without a is AM
		{"HH h a", "19 7 PM", nil, utc(1970, 1, 1, 19, 0, 0, 0)}, // agreeing fields
		{"a", "PM", nil, utc(1970, 1, 1, 12, 0, 0, 0)},
		{"HH:mm", "23:59", nil, utc(1970, 1, 1, 23, 59, 0, 0)},
		{"''yy''", "'26'", nil, utc(2026, 1, 1, 0, 0, 0, 0)},
		{"yyyy-MM-dd HH:mm", "2026-07-01 15:00", berlin, time.Date(2026, 7, 1, 15, 0, 0, 0, berlin)},
		{"yyyy-MM-dd HH:mm", "2026-01-01 15:00", berlin, time.Date(2026, 1, 1, 14, 0, 0, 0, time.UTC)},
		{"yyyy-MM-dd HH:mmXXX", "2026-07-01 15:00+02:00", berlin, time.Date(2026, 7, 1, 15, 0, 0, 0, berlin)},
		{"X", "+0530", nil, utc(1969, 12, 31, 18, 30, 0, 0)},
		{"X", "+05", nil, utc(1969, 12, 31, 19, 0, 0, 0)},
		{"X", "+0100", nil, utc(1969, 12, 31, 23, 0, 0, 0)},
		{"XXX", "-00:00", nil, utc(1970, 1, 1, 0, 0, 0, 0)},
		{"xxx", "+00:00", nil, utc(1970, 1, 1, 0, 0, 0, 0)},
		{"XXXXX", "-05:30:15", nil, utc(1970, 1, 1, 5, 30, 15, 0)},
		{"XXXX", "+0100", nil, utc(1969, 12, 31, 23, 0, 0, 0)},
		{"ZZZZZ", "Z", nil, utc(1970, 1, 1, 0, 0, 0, 0)},
		{"yyyy", "+12026", nil, utc(12026, 1, 1, 0, 0, 0, 0)},
		{"uuuu", "-0005", nil, utc(-5, 1, 1, 0, 0, 0, 0)},
		{"u", "-5", nil, utc(-5, 1, 1, 0, 0, 0, 0)},
		{"y", "002026", nil, utc(2026, 1, 1, 0, 0, 0, 0)},
		{"yyyy yy", "2026 26", nil, utc(2026, 1, 1, 0, 0, 0, 0)},
		{"SSS", "042", nil, utc(1970, 1, 1, 0, 0, 0, 42e6)},
		{"S", "9", nil, utc(1970, 1, 1, 0, 0, 0, 9e8)},
		{"d'5'", "155", nil, utc(1970, 1, 15, 0, 0, 0, 0)}, // digits of a following literal are reserved
		{"d'5'", "55", nil, utc(1970, 1, 5, 0, 0, 0, 0)},
		{"dMMyyyy", "1122026", nil, utc(2026, 12, 1, 0, 0, 0, 0)},
		{"EEE", "Mon", nil, utc(1970, 1, 1, 0, 0, 0, 0)}, // day of week without a full date is not checked
	} {
		l := MustCompile(tc.pattern)
		got, err := l.Parse(tc.input, tc.loc)
		if err != nil {
			t.Errorf("Compile(%q).Parse(%q): %v", tc.pattern, tc.input, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("Compile(%q).Parse(%q) = %v, want %v", tc.pattern, tc.input, got, tc.want)
		}
	}
}

func TestParseLocation(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	l := MustCompile("yyyy-MM-dd'T'HH:mmXXX")
	for _, tc := range []struct {
		input string
		loc   *time.Location
		name  string
		off   int
	}{
		{"2026-07-01T15:00+02:00", berlin, "CEST", 7200}, // loc has the offset: keep loc
		{"2026-07-01T15:00+01:00", berlin, "", 3600},     // it has not: a fixed zone
		{"2026-07-01T15:00Z", berlin, "UTC", 0},
		{"2026-07-01T15:00Z", nil, "UTC", 0},
		{"2026-07-01T15:00-03:30", nil, "", -12600},
	} {
		got, err := l.Parse(tc.input, tc.loc)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.input, err)
		}
		if name, off := got.Zone(); name != tc.name || off != tc.off {
			t.Errorf("Parse(%q, %v) zone = %q %d, want %q %d", tc.input, tc.loc, name, off, tc.name, tc.off)
		}
	}
	got, err := MustCompile("yyyy-MM-dd HH:mm").Parse("2026-07-01 15:00", nil)
	if err != nil || got.Location() != time.UTC {
		t.Errorf("Parse with nil location = %v, %v; want a time in UTC", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		pattern, input string
		offset         int
		want           string // part of the message
	}{
		{"yyyy-MM-dd", "2026-02-30", 8, "day of month 30 does not exist in February 2026"},
		{"yyyy-MM-dd", "2026-02-29", 8, "day of month 29 does not exist in February 2026"},
		{"yyyy-MM-dd", "2026-04-31", 8, "does not exist in April 2026"},
		{"MM-dd", "02-29", 3, "(the pattern has no year, so the year is 1970)"},
		{"yyyy-MM-dd", "2026-13-01", 5, "month 13 out of range 1-12"},
		{"yyyy-MM-dd", "2026-00-01", 5, "month 00 out of range 1-12"},
		{"yyyy-MM-dd", "2026-11-00", 8, "day of month 00 out of range 1-31"},
		{"HH:mm", "25:00", 0, "hour 25 out of range 0-23"},
		{"HH:mm", "24:00", 0, "hour 24 out of range 0-23"},
		{"HH:mm", "12:60", 3, "minute 60 out of range 0-59"},
		{"ss", "60", 0, "second 60 out of range 0-59"},
		{"hh", "00", 0, "clock hour (1-12) 00 out of range 1-12"},
		{"hh", "13", 0, "clock hour (1-12) 13 out of range 1-12"},
		{"yyyy-MM-dd", "2026-11-22 ", 10, `unexpected text " " after the end of the pattern`},
		{"yyyy-MM-dd", "2026-11-22T10:00", 10, `unexpected text "T10:00"`},
		{"yyyy-MM-dd", "2026-11-2", 8, "expected 2 digits for day of month (dd), found \"2\""},
		{"yyyy-MM-dd", "2026-11", 7, `expected "-", found end of input`},
		{"yyyy-MM-dd", "2026/11/22", 4, `expected "-", found "/11/22"`},
		{"yyyy-MM-dd", "26-11-22", 0, "expected 4 to 9 digits for year (yyyy)"},
		{"yyyy-MM-dd", "", 0, "found end of input"},
		{"yyyy", "0000", 0, "year of era 0 does not exist"},
		{"yyyy", "-2026", 0, "a year of era (y) cannot be negative"},
		{"yyyy", "12026", 0, "a year of more than 4 digits must start with '+'"},
		{"yyyy", "+2026", 0, "a '+' is only allowed before years of more than 4 digits"},
		{"yy", "+26", 0, "expected 2 digits for year (yy)"},
		{"uuuu", "-0000", 0, "negative year zero"},
		{"yyyyMMdd", "2026112", 0, "expected at least 8 digits for year (yyyy) and the fields after it"},
		{"yyyy-DDD", "2026-366", 5, "day of year 366 does not exist in 2026, which has 365 days"},
		{"yyyy-MM-dd DDD", "2026-11-22 327", 11, "day of year 327 is day 23 of November, not day 22"},
		{"yyyy-MM DDD", "2026-10 326", 8, "day of year 326 is in November, not in month 10"},
		{"yyyy-MM-dd EEE", "2026-11-22 Mon", 11, "2026-11-22 is a Sunday, not a Monday"},
		{"yyyy-MM-dd EEE", "2026-11-22 Sunday", 14, `unexpected text "day"`},
		{"EEEE", "Sun", 0, "expected a name such as Sunday or Saturday"},
		{"MMM", "Sept", 3, `unexpected text "t"`},
		{"MMM", "Foo", 0, "expected a name such as Jan or Dec"},
		{"HH a", "13 AM", 3, "AM does not match hour of day 13"},
		{"HH hh", "13 02", 3, "clock hour 2 does not match hour of day 13"},
		{"hh:mm a", "07:05 XM", 6, "expected AM or PM"},
		{"yyyy yyyy", "2026 2027", 5, "year \"2027\" conflicts with the value given at offset 0"},
		{"XXX", "+01", 0, "expected an offset such as +01:00 or \"Z\""},
		{"XXX", "+19:00", 0, "offset +19:00 out of range"},
		{"XXX", "+01:60", 0, "offset +01:60 out of range"},
		{"XX", "+1:00", 0, "expected an offset such as +0100"},
		{"Z", "Z", 0, `expected an offset such as +0100 or "+0000"`},
		{"xxx", "Z", 0, "expected an offset"},
		{"z", "CET", 0, "zone names other than UTC, GMT and Z are ambiguous"},
		{"XXX z", "+01:00 UTC", 7, "offset \"UTC\" conflicts"},
		{"SSS", "04", 0, "expected 3 digits for fraction of second (SSS)"},
		{"'T'HH", "t10", 0, `expected "T", found "t10"`}, // literals are case-sensitive
	} {
		_, err := MustCompile(tc.pattern).Parse(tc.input, nil)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Compile(%q).Parse(%q) error = %v, want a *ParseError", tc.pattern, tc.input, err)
			continue
		}
		if pe.Offset != tc.offset || pe.Pattern != tc.pattern || pe.Input != tc.input {
			t.Errorf("Compile(%q).Parse(%q): Offset %d, want %d (%v)", tc.pattern, tc.input, pe.Offset, tc.offset, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%q).Parse(%q) error:\n got %v\nwant it to contain %s", tc.pattern, tc.input, err, tc.want)
		}
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := MustCompile("yyyy-MM-dd").Parse("2026-02-30", nil)
	const want = `parsing "2026-02-30" with date pattern "yyyy-MM-dd": at offset 8: day of month 30 does not exist in February 2026`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
}

// roundTripPatterns cover each letter; each pattern is paired with the
// precision it keeps, so that Format then Parse must give back the instant
// truncated to that precision.
var roundTripPatterns = []struct {
	pattern   string
	precision time.Duration
	hasOffset bool
}{
	{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", time.Millisecond, true},
	{"yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXXXX", time.Nanosecond, true},
	{"uuuu-MM-dd'T'HH:mm:ss.SSSSSSZ", time.Microsecond, true},
	{"EEE, dd MMM yyyy HH:mm:ss Z", time.Second, true},
	{"EEEE, d MMMM y h:mm:ss a xxx", time.Second, true},
	{"yyyyMMddHHmmssSSSX", time.Millisecond, true},
	{"yyyyDDDHHmmssxx", time.Second, true},
	{"yyyy-MM-dd HH:mm:ss", time.Second, false},
	{"dd.MM.yyyy HH:mm", time.Minute, false},
	{"M/d/yy h:mm a", time.Minute, false},
	{"yyyyMMdd", 24 * time.Hour, false},
}

func TestRoundTrip(t *testing.T) {
	times := []time.Time{
		ref,
		time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", -(9*3600+30*60))),
		time.Date(2026, 3, 29, 1, 59, 59, 1, time.FixedZone("", 5*3600+45*60)),
		time.Date(2099, 12, 31, 12, 0, 0, 123_456_789, time.FixedZone("", 14*3600)),
		time.Date(2001, 6, 30, 12, 30, 0, 0, time.FixedZone("", -12*3600)),
	}
	for _, rt := range roundTripPatterns {
		l := MustCompile(rt.pattern)
		for _, tm := range times {
			// Without an offset in the text, the location must come from
			// the caller; with one, the location passed must not matter.
			loc := time.UTC
			if !rt.hasOffset {
				loc = tm.Location()
			}
			s := l.Format(tm)
			got, err := l.Parse(s, loc)
			if err != nil {
				t.Errorf("Compile(%q): Parse(Format(%v) = %q): %v", rt.pattern, tm, s, err)
				continue
			}
			want := truncateWall(tm, rt.precision)
			if !got.Equal(want) {
				t.Errorf("Compile(%q): Parse(%q) = %v, want %v", rt.pattern, s, got, want)
			}
		}
	}
}

// truncateWall truncates t to precision in its own wall-clock time (days
// start at local midnight).
func truncateWall(t time.Time, precision time.Duration) time.Time {
	y, mo, d := t.Date()
	wall := time.Date(y, mo, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	var trunc time.Time
	if precision >= 24*time.Hour {
		trunc = time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	} else {
		trunc = wall.Truncate(precision)
	}
	return t.Add(trunc.Sub(wall))
}
