package datefmt

import (
	"fmt"
	"strconv"
	"strings"
)

// Layout is a compiled Java-style date pattern. Compile once (at flow load)
// and use many times; a Layout is immutable and safe for concurrent use.
type Layout struct {
	pattern string
	toks    []token
	need    needs // which parts of a time.Time Format must compute
	maxLen  int   // usual upper bound of a formatted length, to size buffers
}

// kind is what a token formats or parses.
type kind uint8

const (
	kLiteral   kind = iota
	kYearOfEra      // y: year of era (1 BC is 1)
	kYear           // u: proleptic year (1 BC is 0)
	kMonth          // M, MM
	kMonthText      // MMM, MMMM
	kDay            // d, dd
	kYearDay        // D, DD, DDD
	kHour           // H, HH: 0-23
	kClockHour      // h, hh: 1-12
	kAMPM           // a
	kMinute         // m, mm
	kSecond         // s, ss
	kFraction       // S…: fraction of second
	kWeekday        // E…
	kOffset         // X…, x…, Z…
	kZoneName       // z…
)

// token is one compiled element of a pattern.
type token struct {
	kind   kind
	letter byte   // pattern letter, for error messages
	count  int    // number of pattern letters
	text   string // literal text; for offsets the text printed at UTC
	// Numbers: digits accepted when parsing, and digits that adjacent
	// fixed-width fields after this one need (see linkAdjacent).
	minW, maxW, reserve int
	off                 offsetStyle
}

// offsetStyle describes one of Java's offset patterns (+HH, +HHmm, +HHMM,
// +HH:MM, +HHMMss, +HH:MM:ss).
type offsetStyle struct {
	colon      bool // separate fields with ':'
	optMinutes bool // minutes printed only if non-zero (+HHmm)
	optSeconds bool // seconds printed only if non-zero (+HHMMss)
	// strictOpt is set when the token after this one may start with the
	// character that begins the optional part; the optional part is then
	// parsed only if it is non-zero, so that parsing reads back exactly what
	// Format writes.
	strictOpt bool
}

// needs records which calendar and clock values Format must compute.
type needs uint8

const (
	needDate needs = 1 << iota
	needYearDay
	needClock
	needNano
	needWeekday
	needZone
)

func (tk *token) isNumber() bool {
	switch tk.kind {
	case kYearOfEra, kYear, kMonth, kDay, kYearDay, kHour, kClockHour, kMinute, kSecond, kFraction:
		return true
	}
	return false
}

func (tk *token) fixedWidth() bool { return tk.minW == tk.maxW }

// PatternError reports a pattern that cannot be compiled.
type PatternError struct {
	Pattern string
	Offset  int    // byte offset in Pattern of the offending letter or character
	Msg     string // what is wrong, including the offset
}

func (e *PatternError) Error() string {
	return "date pattern " + strconv.Quote(e.Pattern) + ": " + e.Msg
}

// MustCompile is like [Compile] but panics if the pattern cannot be compiled.
// It is meant for patterns that are constants in Go code.
func MustCompile(pattern string) *Layout {
	l, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return l
}

// Compile parses a DateTimeFormatter pattern such as
// yyyy-MM-dd'T'HH:mm:ss.SSSXXX. The package documentation lists the
// supported letters. Errors are of type *PatternError.
func Compile(pattern string) (*Layout, error) {
	l := &Layout{pattern: pattern}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			l.toks = append(l.toks, token{kind: kLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '\'':
			// As in DateTimeFormatter: a quoted section runs to the next
			// single quote that is not doubled; '' inside it is a quote, and
			// an empty section ('') is a quote too.
			j := i + 1
			for ; j < len(pattern); j++ {
				if pattern[j] == '\'' {
					if j+1 < len(pattern) && pattern[j+1] == '\'' {
						j++
						continue
					}
					break
				}
			}
			if j >= len(pattern) {
				return nil, patternErr(pattern, i, "unterminated quoted text starting at offset %d; write '' for a single quote", i)
			}
			if s := pattern[i+1 : j]; s == "" {
				lit.WriteByte('\'')
			} else {
				lit.WriteString(strings.ReplaceAll(s, "''", "'"))
			}
			i = j + 1
		case isLetter(c):
			n := 1
			for i+n < len(pattern) && pattern[i+n] == c {
				n++
			}
			tk, err := letterToken(pattern, i, c, n)
			if err != nil {
				return nil, err
			}
			flush()
			l.toks = append(l.toks, tk)
			i += n
		case c == '[' || c == ']':
			return nil, patternErr(pattern, i, "optional sections ([ and ]) are not supported, found %q at offset %d; quote literal text, e.g. '%c'", c, i, c)
		case c == '{' || c == '}' || c == '#':
			return nil, patternErr(pattern, i, "reserved character %q at offset %d; quote literal text, e.g. '%c'", c, i, c)
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	l.linkAdjacent()
	for i := range l.toks {
		tk := &l.toks[i]
		l.need |= tk.needs()
		l.maxLen += tk.maxLen()
	}
	return l, nil
}

// String returns the pattern the Layout was compiled from.
func (l *Layout) String() string { return l.pattern }

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// letterToken compiles a run of n copies of letter c found at offset i.
func letterToken(pattern string, i int, c byte, n int) (token, error) {
	tk := token{letter: c, count: n}
	// number sets tk up as a number of minW to maxW digits.
	number := func(k kind, minW, maxW int) {
		tk.kind, tk.minW, tk.maxW = k, minW, maxW
	}
	tooMany := func(forms string) (token, error) {
		return token{}, patternErr(pattern, i, "too many pattern letters '%c' (%d) at offset %d; use %s", c, n, i, forms)
	}
	switch c {
	case 'y', 'u':
		k := kYearOfEra
		if c == 'u' {
			k = kYear
		}
		switch {
		case n == 2:
			number(k, 2, 2)
		case n <= 9:
			number(k, n, 9)
		default:
			return tooMany(string(c) + " to " + strings.Repeat(string(c), 9))
		}
	case 'M':
		switch n {
		case 1, 2:
			number(kMonth, n, 2)
		case 3, 4:
			tk.kind = kMonthText
		case 5:
			return token{}, patternErr(pattern, i, "unsupported letters MMMMM (narrow month name) at offset %d; use MMM or MMMM", i)
		default:
			return tooMany("M, MM, MMM or MMMM")
		}
	case 'd', 'H', 'h', 'm', 's':
		if n > 2 {
			return tooMany(string(c) + " or " + string(c) + string(c))
		}
		k := kDay
		switch c {
		case 'H':
			k = kHour
		case 'h':
			k = kClockHour
		case 'm':
			k = kMinute
		case 's':
			k = kSecond
		}
		number(k, n, 2)
	case 'D':
		if n > 3 {
			return tooMany("D, DD or DDD")
		}
		number(kYearDay, n, 3)
	case 'S':
		if n > 9 {
			return tooMany("S to SSSSSSSSS (nanoseconds)")
		}
		number(kFraction, n, n)
	case 'E':
		switch {
		case n <= 4:
			tk.kind = kWeekday
		case n == 5:
			return token{}, patternErr(pattern, i, "unsupported letters EEEEE (narrow day name) at offset %d; use EEE or EEEE", i)
		default:
			return tooMany("E, EEE or EEEE")
		}
	case 'a':
		if n > 1 {
			return tooMany("a")
		}
		tk.kind = kAMPM
	case 'X', 'x':
		if n > 5 {
			return tooMany(string(c) + " to " + strings.Repeat(string(c), 5))
		}
		tk.kind = kOffset
		tk.off = offsetStyle{colon: n == 3 || n == 5, optMinutes: n == 1, optSeconds: n >= 4}
		if c == 'X' {
			tk.text = "Z"
		} else {
			tk.text = [...]string{"+00", "+0000", "+00:00", "+0000", "+00:00"}[n-1]
		}
	case 'Z':
		switch {
		case n <= 3:
			tk.kind, tk.text = kOffset, "+0000"
		case n == 4:
			return token{}, patternErr(pattern, i, "unsupported letters ZZZZ (localized offset such as GMT+01:00) at offset %d; use Z or XXX", i)
		case n == 5:
			tk.kind, tk.text = kOffset, "Z"
			tk.off = offsetStyle{colon: true, optSeconds: true}
		default:
			return tooMany("Z or XXX")
		}
	case 'z':
		switch {
		case n <= 3:
			tk.kind = kZoneName
		case n == 4:
			return token{}, patternErr(pattern, i, "unsupported letters zzzz (full zone name) at offset %d; use z or XXX", i)
		default:
			return tooMany("z or XXX")
		}
	default:
		if what := unsupportedLetter(c); what != "" {
			return token{}, patternErr(pattern, i, "unsupported letter '%c' at offset %d (%s)", c, i, what)
		}
		return token{}, patternErr(pattern, i, "unsupported letter '%c' at offset %d; quote literal text, e.g. '%c'", c, i, c)
	}
	return tk, nil
}

// unsupportedLetter says what a DateTimeFormatter letter this package does
// not implement means and, where there is one, what to use instead; it
// returns "" for letters Java does not know either.
func unsupportedLetter(c byte) string {
	switch c {
	case 'G':
		return "era"
	case 'Q':
		return "quarter of year"
	case 'q':
		return "quarter of year"
	case 'L':
		return "stand-alone month; use M or MMM"
	case 'Y':
		return "week-based year, which differs from the calendar year around New Year; use y"
	case 'w':
		return "week of week-based year"
	case 'W':
		return "week of month"
	case 'e':
		return "localized day of week; use E"
	case 'c':
		return "localized day of week; use E"
	case 'F':
		return "day of week in month"
	case 'k':
		return "clock hour 1-24; use H for 0-23"
	case 'K':
		return "hour of AM/PM 0-11; use h with a"
	case 'A':
		return "millisecond of day"
	case 'n':
		return "nanosecond of second; use SSSSSSSSS"
	case 'N':
		return "nanosecond of day"
	case 'V':
		return "zone ID; use XXX"
	case 'v':
		return "generic zone name; use z or XXX"
	case 'O':
		return "localized offset; use XXX or Z"
	case 'B':
		return "period of day"
	case 'g':
		return "modified Julian day"
	case 'p':
		return "pad modifier"
	}
	return ""
}

func patternErr(pattern string, offset int, format string, args ...any) error {
	return &PatternError{Pattern: pattern, Offset: offset, Msg: fmt.Sprintf(format, args...)}
}

// linkAdjacent prepares runs of numbers that follow each other without a
// separator (yyyyMMdd, HHmmssSSS) for parsing, the way DateTimeFormatter does
// ("adjacent value parsing"): within a run, fixed-width fields such as MM
// take exactly their width, and the last variable-width field (the base)
// takes all remaining digits minus those reserved for the fixed-width fields
// after it. Variable-width fields before the base are parsed at their minimum
// width. A literal made only of digits continues the run; digits at the start
// of any other literal are reserved as well, so d'5' reads "155" as 15 and
// "55" as 5.
func (l *Layout) linkAdjacent() {
	base := -1
	for i := range l.toks {
		tk := &l.toks[i]
		switch {
		case tk.isNumber():
			switch {
			case base < 0:
				if !tk.fixedWidth() {
					base = i
				}
			case tk.fixedWidth():
				l.toks[base].reserve += tk.minW
			default:
				b := &l.toks[base]
				b.maxW, b.reserve = b.minW, 0
				base = i
			}
		case tk.kind == kLiteral:
			lead := 0
			for lead < len(tk.text) && isDigit(tk.text[lead]) {
				lead++
			}
			if base >= 0 {
				l.toks[base].reserve += lead
			}
			if lead < len(tk.text) {
				base = -1
			}
		default:
			base = -1
		}
	}
	// Optional offset parts (X: +HH[mm], XXXX: +HHMM[ss]) are ambiguous when
	// the next token can start like them.
	for i := range l.toks {
		tk := &l.toks[i]
		if tk.kind != kOffset || !(tk.off.optMinutes || tk.off.optSeconds) || i+1 == len(l.toks) {
			continue
		}
		next := &l.toks[i+1]
		startsWithDigit := next.isNumber() || next.kind == kLiteral && isDigit(next.text[0])
		startsWithColon := next.kind == kLiteral && next.text[0] == ':'
		if tk.off.colon && startsWithColon || !tk.off.colon && startsWithDigit {
			tk.off.strictOpt = true
		}
	}
}

func (tk *token) needs() needs {
	switch tk.kind {
	case kYearOfEra, kYear, kMonth, kMonthText, kDay:
		return needDate
	case kYearDay:
		return needYearDay
	case kHour, kClockHour, kAMPM, kMinute, kSecond:
		return needClock
	case kFraction:
		return needNano
	case kWeekday:
		return needWeekday
	case kOffset, kZoneName:
		return needZone
	}
	return 0
}

// maxLen is the longest output of tk for years of up to nine digits and zone
// abbreviations of up to six characters; longer output only costs a
// reallocation.
func (tk *token) maxLen() int {
	switch tk.kind {
	case kLiteral:
		return len(tk.text)
	case kYearOfEra, kYear:
		return 10
	case kMonthText:
		return 9
	case kWeekday:
		return 9
	case kAMPM:
		return 2
	case kOffset:
		return 9
	case kZoneName:
		return 6
	}
	return max(tk.count, tk.maxW)
}
