package datefmt

import (
	"strings"
	"testing"
	"time"
)

func TestFormatODataDate(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.UnixMilli(1700000000000), "/Date(1700000000000)/"},
		{time.UnixMilli(1700000000000).In(cet), "/Date(1700000000000)/"}, // the instant, not the wall clock
		{time.Unix(0, 0), "/Date(0)/"},
		{time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC), "/Date(-1)/"},
		{time.Date(1969, 12, 31, 23, 59, 59, 999_999_999, time.UTC), "/Date(-1)/"}, // truncated towards the past
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "/Date(-62135596800000)/"},
		{ref, "/Date(1795327509042)/"},
	} {
		if got := FormatODataDate(tc.t); got != tc.want {
			t.Errorf("FormatODataDate(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestParseODataDate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		off  int // offset of the result's zone
	}{
		{"/Date(1700000000000)/", time.UnixMilli(1700000000000), 0},
		{"/Date(-62135596800000)/", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{"/Date(0)/", time.Unix(0, 0), 0},
		{"/Date(1700000000000+0000)/", time.UnixMilli(1700000000000), 0},
		// OData V2 / Olingo: the offset is in minutes and ms is local time.
		{"/Date(1700000000000+0060)/", time.UnixMilli(1700000000000 - 3600_000), 3600},
		{"/Date(1700000000000+60)/", time.UnixMilli(1700000000000 - 3600_000), 3600},
		{"/Date(1700000000000-0330)/", time.UnixMilli(1700000000000 + 330*60_000), -330 * 60},
		{"/Date(1700000000000+0100)/", time.UnixMilli(1700000000000 - 100*60_000), 100 * 60},
	} {
		got, err := ParseODataDate(tc.in)
		if err != nil {
			t.Errorf("ParseODataDate(%q): %v", tc.in, err)
			continue
		}
		if _, off := got.Zone(); !got.Equal(tc.want) || off != tc.off {
			t.Errorf("ParseODataDate(%q) = %v, want %v with offset %d", tc.in, got, tc.want, tc.off)
		}
	}
	// The wall clock in the returned zone is ms read as UTC, as Olingo has it.
	got, _ := ParseODataDate("/Date(1700000000000+0060)/")
	if want := time.UnixMilli(1700000000000).UTC().Format("2006-01-02T15:04:05"); got.Format("2006-01-02T15:04:05") != want {
		t.Errorf("wall clock %v, want %s", got, want)
	}
}

func TestParseODataDateErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "expected /Date(milliseconds)/"},
		{"/Date(", "expected /Date(milliseconds)/"},
		{"/Date()/", "expected milliseconds since 1970"},
		{"/Date(-)/", "expected milliseconds since 1970"},
		{"/Date(+1)/", "expected milliseconds since 1970"},
		{"/Date(abc)/", "expected milliseconds since 1970"},
		{"/Date(1 )/", `unexpected " "`},
		{"/Date(1)/x", "expected /Date(milliseconds)/"},
		{"Date(1)", "expected /Date(milliseconds)/"},
		{`\/Date(1)\/`, "expected /Date(milliseconds)/"},
		{"/date(1)/", "expected /Date(milliseconds)/"},
		{"/Date(1+)/", "expected an offset of one to four digits"},
		{"/Date(1+00600)/", "expected an offset of one to four digits"},
		{"/Date(1+01:00)/", "expected an offset of one to four digits"},
		{"/Date(1+1440)/", "offset of 1440 minutes is a day or more"},
		{"/Date(99999999999999999999)/", "out of range"},
		{"/Date(-9223372036854775808+0001)/", "out of range"},
		{"/Date(9223372036854775807-0001)/", "out of range"},
	} {
		_, err := ParseODataDate(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseODataDate(%q) error = %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}
