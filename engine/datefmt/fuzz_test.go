package datefmt

import (
	"testing"
	"time"
)

// FuzzCompile checks that no pattern makes Compile, Format or Parse panic,
// and that whatever Compile accepts can format and read back a few instants.
func FuzzCompile(f *testing.F) {
	for _, p := range []string{
		"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "EEE, dd MMM yyyy HH:mm:ss Z", "yyyyMMdd", "hh:mm a", "''yy''",
		"'''yy'''", "''''", "'", "yyyy-QQ", "yyyy-MM-ddTHH", "[yyyy]", "#", "uuuuDDDHHmmssSSSSSSSSS",
		"X XX XXX XXXX XXXXX x xx xxx xxxx xxxxx Z ZZ ZZZ ZZZZZ z", "yMd", "yyyyyyyyy", "d'5'", "Xmm", "XXXXX':'ss",
		"年", "\xff",
	} {
		f.Add(p)
	}
	times := []time.Time{
		ref,
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(12345, 12, 31, 23, 59, 59, 999_999_999, time.FixedZone("", -(5*3600+30*60+15))),
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		l, err := Compile(pattern)
		if err != nil {
			if _, ok := err.(*PatternError); !ok {
				t.Fatalf("Compile(%q) error %T, want *PatternError", pattern, err)
			}
			return
		}
		if l.String() != pattern {
			t.Fatalf("String() = %q, want %q", l.String(), pattern)
		}
		for _, tm := range times {
			s := l.Format(tm)
			if got := string(l.AppendFormat(nil, tm)); got != s {
				t.Fatalf("Compile(%q): AppendFormat %q != Format %q", pattern, got, s)
			}
			_, _ = l.Parse(s, time.UTC)
			_, _ = l.Parse(pattern, time.UTC)
		}
	})
}

// FuzzParse checks that Parse never panics and that whatever it accepts is
// canonical enough: formatting the result and parsing that again gives the
// same instant.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ pattern, input string }{
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2026-11-22T07:05:09.042+01:00"},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2026-11-22T07:05:09.042Z"},
		{"EEE, dd MMM yyyy HH:mm:ss Z", "Sun, 22 Nov 2026 07:05:09 +0100"},
		{"EEE, dd MMM yyyy HH:mm:ss z", "Sun, 22 Nov 2026 07:05:09 GMT"},
		{"yyyyMMdd", "20261122"},
		{"yyyyMMddHHmmssSSS", "20261122070509042"},
		{"hh:mm a", "07:05 PM"},
		{"''yy''", "'26'"},
		{"d.M.yyyy", "05.1.2026"},
		{"yyyy-DDD", "2024-366"},
		{"uuuu", "-0005"},
		{"yyyy", "+12026"},
		{"X", "+0530"},
		{"Xmm", "+053045"},
		{"XXXXX", "-05:30:15"},
		{"d'5'", "155"},
		{"yMd", "202611"},
		{"EEEE, MMMM d, yyyy", "sunday, november 22, 2026"},
		{"yyyy-MM-dd", "2026-02-30"},
		{"HH:mm", "25:00"},
	} {
		f.Add(seed.pattern, seed.input)
	}
	f.Fuzz(func(t *testing.T, pattern, input string) {
		l, err := Compile(pattern)
		if err != nil {
			return
		}
		got, err := l.Parse(input, time.UTC)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("Parse error %T, want *ParseError", err)
			}
			return
		}
		s := l.Format(got)
		again, err := l.Parse(s, time.UTC)
		if err != nil {
			t.Fatalf("Compile(%q): Parse(%q) = %v, but its Format %q does not parse: %v", pattern, input, got, s, err)
		}
		if !again.Equal(got) {
			t.Fatalf("Compile(%q): Parse(%q) = %v, Format = %q, Parse again = %v", pattern, input, got, s, again)
		}
	})
}

// FuzzParseODataDate checks that ParseODataDate never panics and that what
// it accepts survives FormatODataDate.
func FuzzParseODataDate(f *testing.F) {
	for _, s := range []string{"/Date(1700000000000)/", "/Date(1700000000000+0060)/", "/Date(-1-1439)/", "/Date(9223372036854775807)/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseODataDate(s)
		if err != nil {
			return
		}
		again, err := ParseODataDate(FormatODataDate(got))
		if err != nil || !again.Equal(got) {
			t.Fatalf("ParseODataDate(%q) = %v; after FormatODataDate: %v, %v", s, got, again, err)
		}
	})
}
