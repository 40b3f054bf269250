package datefmt

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

var cet = time.FixedZone("", 3600)

// ref is the instant of the task's example: 2026-11-22T07:05:09.042+01:00,
// a Sunday.
var ref = time.Date(2026, 11, 22, 7, 5, 9, 42_000_000, cet)

func TestFormat(t *testing.T) {
	utc := time.Date(2026, 1, 5, 0, 7, 3, 5_000_000, time.UTC)
	for _, tc := range []struct {
		pattern string
		t       time.Time
		want    string
	}{
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", ref, "2026-11-22T07:05:09.042+01:00"},
		{"EEE, dd MMM yyyy HH:mm:ss Z", ref, "Sun, 22 Nov 2026 07:05:09 +0100"},
		{"yyyyMMdd", ref, "20261122"},
		{"hh:mm a", ref, "07:05 AM"},
		{"''yy''", ref, "'26'"},
		{"'''yy'''", ref, "'yy'"}, // one quoted section containing ''yy''
		{"''''", ref, "'"},
		{"h 'o''clock' a", ref, "7 o'clock AM"},
		{"", ref, ""},
		{"-/:., ", ref, "-/:., "},
		{"yyyy年MM月dd日", ref, "2026年11月22日"}, // non-ASCII passes through unquoted
		{"'T'", ref, "T"},
		{"'yyyy'", ref, "yyyy"},
		{"hh a", utc, "12 AM"},
		{"hh a", utc.Add(12 * time.Hour), "12 PM"},
		{"h a", utc.Add(23 * time.Hour), "11 PM"},
		{"XXX", utc, "Z"},
		{"xxx", utc, "+00:00"},
		{"Z", utc, "+0000"},
		{"S", utc, "0"},
		{"SS", utc, "00"},
		{"SSS", utc, "005"},
		{"D", utc, "5"},
		{"DDD", utc, "005"},
		{"z", utc, "UTC"},
		{"z", ref, "+01:00"}, // unnamed fixed zone: Java prints the offset ID
		{"yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSS", time.Date(2026, 1, 1, 0, 0, 0, 1, time.UTC), "2026-01-01T00:00:00.000000001"},
	} {
		l, err := Compile(tc.pattern)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.pattern, err)
		}
		if got := l.Format(tc.t); got != tc.want {
			t.Errorf("Compile(%q).Format(%v) = %q, want %q", tc.pattern, tc.t, got, tc.want)
		}
		if got := string(l.AppendFormat([]byte("x"), tc.t)); got != "x"+tc.want {
			t.Errorf("Compile(%q).AppendFormat(\"x\", %v) = %q, want %q", tc.pattern, tc.t, got, "x"+tc.want)
		}
		if l.String() != tc.pattern {
			t.Errorf("String() = %q, want %q", l.String(), tc.pattern)
		}
	}
}

func TestFormatLongPattern(t *testing.T) {
	// Longer than Format's stack buffer.
	p := strings.Repeat("EEEE, MMMM dd yyyy ", 10)
	l := MustCompile(p)
	want := strings.Repeat("Sunday, November 22 2026 ", 10)
	if got := l.Format(ref); got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		offset  int
		want    string // the whole message or, if it ends in "…", its start
	}{
		{"yyyy-QQ", 5, `date pattern "yyyy-QQ": unsupported letter 'Q' at offset 5 (quarter of year)`},
		{"yyyy-MM-ddTHH:mm", 10, `date pattern "yyyy-MM-ddTHH:mm": unsupported letter 'T' at offset 10; quote literal text, e.g. 'T'`},
		{"YYYY-MM-dd", 0, `date pattern "YYYY-MM-dd": unsupported letter 'Y' at offset 0 (week-based year, …`},
		{"GGG", 0, `date pattern "GGG": unsupported letter 'G' at offset 0 (era)`},
		{"kk:mm", 0, `…unsupported letter 'k' at offset 0 (clock hour 1-24; use H for 0-23)`},
		{"b", 0, `…unsupported letter 'b' at offset 0; quote literal text, e.g. 'b'`},
		{"ddd", 0, `date pattern "ddd": too many pattern letters 'd' (3) at offset 0; use d or dd`},
		{"HH:mmm", 3, `…too many pattern letters 'm' (3) at offset 3; use m or mm`},
		{"aa", 0, `…too many pattern letters 'a' (2) at offset 0; use a`},
		{"MMMMMM", 0, `…too many pattern letters 'M' (6)…`},
		{"MMMMM", 0, `…unsupported letters MMMMM (narrow month name) at offset 0; use MMM or MMMM`},
		{"EEEEE", 0, `…unsupported letters EEEEE…`},
		{"DDDD", 0, `…too many pattern letters 'D' (4)…`},
		{"SSSSSSSSSS", 0, `…too many pattern letters 'S' (10)…`},
		{"yyyyyyyyyy", 0, `…too many pattern letters 'y' (10)…`},
		{"XXXXXX", 0, `…too many pattern letters 'X' (6)…`},
		{"ZZZZ", 0, `…unsupported letters ZZZZ…`},
		{"zzzz", 0, `…unsupported letters zzzz…`},
		{"yyyy-MM-dd'T", 10, `…unterminated quoted text starting at offset 10…`},
		{"'''", 0, `…unterminated quoted text…`},
		{"yyyy[MM]", 4, `…optional sections ([ and ]) are not supported, found '[' at offset 4…`},
		{"#", 0, `…reserved character '#' at offset 0…`},
		{"}", 0, `…reserved character '}' at offset 0…`},
	} {
		_, err := Compile(tc.pattern)
		var pe *PatternError
		if !errors.As(err, &pe) {
			t.Errorf("Compile(%q) error = %v, want a *PatternError", tc.pattern, err)
			continue
		}
		if pe.Offset != tc.offset || pe.Pattern != tc.pattern {
			t.Errorf("Compile(%q): Offset %d, Pattern %q; want %d, %q", tc.pattern, pe.Offset, pe.Pattern, tc.offset, tc.pattern)
		}
		if !matchMsg(err.Error(), tc.want) {
			t.Errorf("Compile(%q) error:\n got %s\nwant %s", tc.pattern, err, tc.want)
		}
	}
}

// matchMsg reports whether got matches want, where a leading or trailing
// "…" in want stands for any text.
func matchMsg(got, want string) bool {
	prefix, suffix := strings.HasSuffix(want, "…"), strings.HasPrefix(want, "…")
	w := strings.TrimSuffix(strings.TrimPrefix(want, "…"), "…")
	switch {
	case prefix && suffix:
		return strings.Contains(got, w)
	case prefix:
		return strings.HasPrefix(got, w)
	case suffix:
		return strings.HasSuffix(got, w)
	}
	return got == w
}

func TestMustCompilePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustCompile(\"QQ\") did not panic")
		}
	}()
	MustCompile("QQ")
}

func TestFormatAllocs(t *testing.T) {
	l := MustCompile("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")
	if n := testing.AllocsPerRun(100, func() { _ = l.Format(ref) }); n > 1 {
		t.Errorf("Format allocates %v times, want at most 1", n)
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = l.AppendFormat(buf[:0], ref) }); n != 0 {
		t.Errorf("AppendFormat into a large enough buffer allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = l.Parse("2026-11-22T07:05:09.042+01:00", time.UTC) }); n != 0 {
		t.Errorf("Parse allocates %v times, want 0", n)
	}
}

// TestConcurrentUse lets the race detector check that a Layout is read-only.
func TestConcurrentUse(t *testing.T) {
	l := MustCompile("EEE, dd MMM yyyy HH:mm:ss.SSS XXX")
	want := l.Format(ref)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				s := l.Format(ref)
				got, err := l.Parse(s, nil)
				if s != want || err != nil || !got.Equal(ref) {
					t.Errorf("concurrent round trip: %q, %v, %v", s, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
