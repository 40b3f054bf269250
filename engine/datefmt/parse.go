package datefmt

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseError reports input that does not match a pattern.
type ParseError struct {
	Pattern string
	Input   string
	Offset  int    // byte offset in Input where the problem was found
	Msg     string // what is wrong
}

func (e *ParseError) Error() string {
	in := e.Input
	if len(in) > 80 {
		in = in[:80] + "..."
	}
	return "parsing " + strconv.Quote(in) + " with date pattern " + strconv.Quote(e.Pattern) +
		": at offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// field identifies a value a pattern can set while parsing.
type field uint8

const (
	fYear field = iota
	fMonth
	fDay
	fYearDay
	fHour
	fClockHour
	fAMPM
	fMinute
	fSecond
	fNano
	fWeekday
	fOffset
	fZoneName // offset came from a zone name (z)
	numFields
)

var fieldNames = [numFields]string{"year", "month", "day of month", "day of year", "hour", "clock hour (1-12)", "AM/PM",
	"minute", "second", "fraction of second", "day of week", "offset", "zone"}

// parsed collects the fields read from an input.
type parsed struct {
	set uint16
	val [numFields]int
	at  [numFields]int // input offset each field was read from
}

func (p *parsed) has(f field) bool { return p.set&(1<<f) != 0 }

// put records a field value, and reports whether it agrees with a value
// already read for the same field.
func (p *parsed) put(f field, v, at int) bool {
	if p.has(f) {
		return p.val[f] == v
	}
	p.set |= 1 << f
	p.val[f], p.at[f] = v, at
	return true
}

// Parse parses s, which must match the layout in full, and returns the time
// it denotes. If the pattern has no offset, s is wall-clock time in loc (UTC
// if loc is nil). Errors are of type *ParseError. The package documentation
// describes the rules.
func (l *Layout) Parse(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	var p parsed
	pos := 0
	for i := range l.toks {
		tk := &l.toks[i]
		var msg string
		pos, msg = l.parseToken(&p, tk, s, pos)
		if msg != "" {
			return time.Time{}, l.parseErr(s, pos, msg)
		}
	}
	if pos != len(s) {
		return time.Time{}, l.parseErr(s, pos, "unexpected text "+quotePrefix(s[pos:])+" after the end of the pattern")
	}
	return l.resolve(&p, s, loc)
}

// parseToken reads tk from s at pos and returns the position after it, or
// the position of the problem and a message.
func (l *Layout) parseToken(p *parsed, tk *token, s string, pos int) (int, string) {
	start := pos
	conflict := func(f field) (int, string) {
		return start, fmt.Sprintf("%s %s conflicts with the value given at offset %d", fieldNames[f], quotePrefix(s[start:pos]), p.at[f])
	}
	switch tk.kind {
	case kLiteral:
		if !strings.HasPrefix(s[pos:], tk.text) {
			return pos, "expected " + strconv.Quote(tk.text) + ", found " + found(s, pos)
		}
		return pos + len(tk.text), ""

	case kYearOfEra, kYear:
		y, end, msg := parseYear(tk, s, pos)
		if msg != "" {
			return end, msg
		}
		pos = end
		if !p.put(fYear, y, start) {
			return conflict(fYear)
		}
		return pos, ""

	case kMonth, kDay, kYearDay, kHour, kClockHour, kMinute, kSecond, kFraction:
		v, end, msg := parseNumber(tk, s, pos)
		if msg != "" {
			return end, msg
		}
		pos = end
		var f field
		lo, hi := 0, 59
		switch tk.kind {
		case kMonth:
			f, lo, hi = fMonth, 1, 12
		case kDay:
			f, lo, hi = fDay, 1, 31
		case kYearDay:
			f, lo, hi = fYearDay, 1, 366
		case kHour:
			f, hi = fHour, 23
		case kClockHour:
			f, lo, hi = fClockHour, 1, 12
		case kMinute:
			f = fMinute
		case kSecond:
			f = fSecond
		case kFraction:
			f, v, hi = fNano, v*pow10[9-tk.count], 999999999
		}
		if v < lo || v > hi {
			return start, fmt.Sprintf("%s %s out of range %d-%d", fieldNames[f], s[start:pos], lo, hi)
		}
		if !p.put(f, v, start) {
			return conflict(f)
		}
		return pos, ""

	case kMonthText, kWeekday, kAMPM:
		var names []string
		var f field
		switch {
		case tk.kind == kMonthText && tk.count == 3:
			names, f = shortMonthNames[:], fMonth
		case tk.kind == kMonthText:
			names, f = longMonthNames[:], fMonth
		case tk.kind == kWeekday && tk.count == 4:
			names, f = longDayNames[:], fWeekday
		case tk.kind == kWeekday:
			names, f = shortDayNames[:], fWeekday
		default:
			names, f = ampmNames[:], fAMPM
		}
		v, n := matchName(s[pos:], names)
		if v < 0 {
			return pos, "expected " + describeNames(names) + ", found " + found(s, pos)
		}
		pos += n
		if f == fMonth {
			v++
		}
		if !p.put(f, v, start) {
			return conflict(f)
		}
		return pos, ""

	case kOffset:
		off, end, msg := parseOffset(tk, s, pos)
		if msg != "" {
			return end, msg
		}
		pos = end
		if !p.put(fOffset, off, start) {
			return conflict(fOffset)
		}
		return pos, ""

	case kZoneName:
		for _, name := range [...]string{"UTC", "GMT", "Z"} {
			if strings.HasPrefix(s[pos:], name) {
				pos += len(name)
				p.put(fZoneName, 0, start)
				if !p.put(fOffset, 0, start) {
					return conflict(fOffset)
				}
				return pos, ""
			}
		}
		return pos, "zone names other than UTC, GMT and Z are ambiguous and cannot be parsed, found " + found(s, pos) +
			"; use an offset pattern such as XXX or Z"
	}
	return pos, "internal error: unknown token"
}

// digitSpan returns how many digits tk takes at pos: up to maxW, leaving
// tk.reserve digits for the fixed-width fields after it. It returns -1 if
// there are fewer than minW.
func digitSpan(tk *token, s string, pos int) int {
	limit := tk.maxW + tk.reserve
	n := 0
	for pos+n < len(s) && n < limit && isDigit(s[pos+n]) {
		n++
	}
	n -= tk.reserve
	if n < tk.minW {
		return -1
	}
	return n
}

// atoi converts a run of at most 9 ASCII digits.
func atoi(digits string) int {
	v := 0
	for i := 0; i < len(digits); i++ {
		v = v*10 + int(digits[i]-'0')
	}
	return v
}

func parseNumber(tk *token, s string, pos int) (v, end int, msg string) {
	n := digitSpan(tk, s, pos)
	if n < 0 {
		return 0, pos, "expected " + digitsWanted(tk) + ", found " + found(s, pos)
	}
	return atoi(s[pos : pos+n]), pos + n, ""
}

// parseYear reads a year with DateTimeFormatter's strict sign rules: yy is
// two digits in 2000-2099; yyyy and longer take a '+' exactly when the year
// is wider than the pattern; only u takes a '-'.
func parseYear(tk *token, s string, pos int) (v, end int, msg string) {
	start := pos
	var sign byte
	if tk.count != 2 && pos < len(s) && (s[pos] == '+' || s[pos] == '-') {
		sign = s[pos]
		switch {
		case sign == '-' && tk.kind == kYearOfEra:
			return 0, pos, "a year of era (y) cannot be negative; use u for years before 1 AD"
		case sign == '+' && tk.count < 4:
			return 0, pos, "unexpected '+' before the year"
		}
		pos++
	}
	n := digitSpan(tk, s, pos)
	if n < 0 {
		return 0, pos, "expected " + digitsWanted(tk) + ", found " + found(s, pos)
	}
	v = atoi(s[pos : pos+n])
	end = pos + n
	switch {
	case tk.count == 2:
		return 2000 + v, end, ""
	case sign == '+' && n <= tk.count:
		return 0, start, "a '+' is only allowed before years of more than " + strconv.Itoa(tk.count) + " digits"
	case sign == 0 && tk.count >= 4 && n > tk.count:
		return 0, start, "a year of more than " + strconv.Itoa(tk.count) + " digits must start with '+'"
	case sign == '-' && v == 0:
		return 0, start, "negative year zero"
	case sign == '-':
		v = -v
	case tk.kind == kYearOfEra && v == 0:
		return 0, start, "year of era 0 does not exist (1 BC is followed by 1 AD); use u for proleptic years"
	}
	return v, end, ""
}

// parseOffset reads +HH, +HHMM, +HH:MM and so on, or tk.text at UTC, and
// returns the offset in seconds east of UTC.
func parseOffset(tk *token, s string, pos int) (off, end int, msg string) {
	start := pos
	st := tk.off
	want := func() string {
		example := "+01"
		switch {
		case st.colon:
			example = "+01:00"
		case !st.optMinutes:
			example = "+0100"
		}
		return "expected an offset such as " + example + " or " + strconv.Quote(tk.text) + ", found " + found(s, start)
	}
	if tk.text == "Z" && strings.HasPrefix(s[pos:], "Z") {
		return 0, pos + 1, ""
	}
	if pos >= len(s) || s[pos] != '+' && s[pos] != '-' {
		return 0, pos, want()
	}
	neg := s[pos] == '-'
	pos++
	two := func(at int) (int, bool) {
		if at+2 > len(s) || !isDigit(s[at]) || !isDigit(s[at+1]) {
			return 0, false
		}
		return int(s[at]-'0')*10 + int(s[at+1]-'0'), true
	}
	// optional reads the optional part at pos: a separator if the style has
	// one, then two digits. Where the next token could be mistaken for it,
	// a zero part is left alone, as Format would not have written it.
	optional := func(pos int) (v, end int, ok bool) {
		if st.colon {
			if pos >= len(s) || s[pos] != ':' {
				return 0, pos, false
			}
			pos++
		}
		v, ok = two(pos)
		if !ok || st.strictOpt && v == 0 {
			return 0, pos, false
		}
		return v, pos + 2, true
	}
	h, ok := two(pos)
	if !ok {
		return 0, start, want()
	}
	pos += 2
	m := 0
	if st.optMinutes {
		if v, e, ok := optional(pos); ok {
			m, pos = v, e
		}
	} else {
		if st.colon {
			if pos >= len(s) || s[pos] != ':' {
				return 0, start, want()
			}
			pos++
		}
		if m, ok = two(pos); !ok {
			return 0, start, want()
		}
		pos += 2
	}
	sec := 0
	if st.optSeconds {
		if v, e, ok := optional(pos); ok {
			sec, pos = v, e
		}
	}
	if h > 18 || m > 59 || sec > 59 || h == 18 && (m > 0 || sec > 0) {
		return 0, start, "offset " + s[start:pos] + " out of range -18:00 to +18:00"
	}
	off = h*3600 + m*60 + sec
	if neg {
		off = -off
	}
	return off, pos, ""
}

// matchName returns the index of the name s starts with, ignoring ASCII
// case, and its length; or -1.
func matchName(s string, names []string) (int, int) {
	for i, name := range names {
		if len(s) >= len(name) && equalFoldASCII(s[:len(name)], name) {
			return i, len(name)
		}
	}
	return -1, 0
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// resolve turns the parsed fields into a time, checking that they describe
// one existing date and time.
func (l *Layout) resolve(p *parsed, s string, loc *time.Location) (time.Time, error) {
	year, month, day := 1970, 1, 1
	if p.has(fYear) {
		year = p.val[fYear]
	}
	if p.has(fMonth) {
		month = p.val[fMonth]
	}
	if p.has(fDay) {
		day = p.val[fDay]
	}
	if p.has(fYearDay) {
		yd := p.val[fYearDay]
		if n := daysInYear(year); yd > n {
			return time.Time{}, l.parseErr(s, p.at[fYearDay], fmt.Sprintf("day of year %d does not exist in %d, which has %d days", yd, year, n))
		}
		d := time.Date(year, 1, yd, 0, 0, 0, 0, time.UTC)
		if p.has(fMonth) && int(d.Month()) != month {
			return time.Time{}, l.parseErr(s, p.at[fYearDay], fmt.Sprintf("day of year %d is in %s, not in month %d", yd, d.Month(), month))
		}
		if p.has(fDay) && d.Day() != day {
			return time.Time{}, l.parseErr(s, p.at[fYearDay], fmt.Sprintf("day of year %d is day %d of %s, not day %d", yd, d.Day(), d.Month(), day))
		}
		month, day = int(d.Month()), d.Day()
	} else if n := daysIn(time.Month(month), year); day > n {
		msg := fmt.Sprintf("day of month %d does not exist in %s %d", day, time.Month(month), year)
		if !p.has(fYear) {
			msg += " (the pattern has no year, so the year is 1970)"
		}
		return time.Time{}, l.parseErr(s, p.at[fDay], msg)
	}
	if p.has(fWeekday) && p.has(fYear) && (p.has(fYearDay) || p.has(fMonth) && p.has(fDay)) {
		if wd := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC).Weekday(); int(wd) != p.val[fWeekday] {
			return time.Time{}, l.parseErr(s, p.at[fWeekday], fmt.Sprintf("%04d-%02d-%02d is a %s, not a %s",
				year, month, day, wd, time.Weekday(p.val[fWeekday])))
		}
	}

	hour := 0
	switch {
	case p.has(fHour):
		hour = p.val[fHour]
		if p.has(fClockHour) && p.val[fClockHour]%12 != hour%12 {
			return time.Time{}, l.parseErr(s, p.at[fClockHour], fmt.Sprintf("clock hour %d does not match hour of day %d", p.val[fClockHour], hour))
		}
		if p.has(fAMPM) && p.val[fAMPM] != hour/12 {
			return time.Time{}, l.parseErr(s, p.at[fAMPM], fmt.Sprintf("%s does not match hour of day %d", ampmNames[p.val[fAMPM]], hour))
		}
	case p.has(fClockHour):
		hour = p.val[fClockHour] % 12
		if p.has(fAMPM) {
			hour += 12 * p.val[fAMPM]
		}
	case p.has(fAMPM):
		hour = 12 * p.val[fAMPM]
	}
	min, sec, nsec := p.val[fMinute], p.val[fSecond], p.val[fNano] // zero if not set

	if !p.has(fOffset) {
		return time.Date(year, time.Month(month), day, hour, min, sec, nsec, loc), nil
	}
	off := p.val[fOffset]
	t := time.Date(year, time.Month(month), day, hour, min, sec, nsec, time.UTC).Add(-time.Duration(off) * time.Second)
	if !p.has(fZoneName) {
		if _, o := t.In(loc).Zone(); o == off {
			return t.In(loc), nil
		}
	}
	if off == 0 {
		return t, nil
	}
	return t.In(time.FixedZone("", off)), nil
}

func daysInYear(year int) int {
	if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		return 366
	}
	return 365
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		return daysInYear(year) - 337
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

func (l *Layout) parseErr(s string, pos int, msg string) error {
	return &ParseError{Pattern: l.pattern, Input: s, Offset: pos, Msg: msg}
}

// found describes the input at pos for an error message.
func found(s string, pos int) string {
	if pos >= len(s) {
		return "end of input"
	}
	return quotePrefix(s[pos:])
}

// quotePrefix quotes the start of s, shortened for error messages.
func quotePrefix(s string) string {
	if len(s) > 20 {
		return strconv.Quote(s[:20]) + "..."
	}
	return strconv.Quote(s)
}

func digitsWanted(tk *token) string {
	what := fieldNames[tokenField(tk)] + " (" + strings.Repeat(string(tk.letter), tk.count) + ")"
	switch {
	case tk.minW == tk.maxW:
		return strconv.Itoa(tk.minW) + " digits for " + what
	case tk.reserve > 0:
		return "at least " + strconv.Itoa(tk.minW+tk.reserve) + " digits for " + what + " and the fields after it"
	default:
		return strconv.Itoa(tk.minW) + " to " + strconv.Itoa(tk.maxW) + " digits for " + what
	}
}

func tokenField(tk *token) field {
	switch tk.kind {
	case kYearOfEra, kYear:
		return fYear
	case kMonth, kMonthText:
		return fMonth
	case kDay:
		return fDay
	case kYearDay:
		return fYearDay
	case kHour:
		return fHour
	case kClockHour:
		return fClockHour
	case kMinute:
		return fMinute
	case kSecond:
		return fSecond
	case kFraction:
		return fNano
	}
	return numFields - 1
}

func describeNames(names []string) string {
	if len(names) == 2 {
		return "AM or PM"
	}
	return "a name such as " + names[0] + " or " + names[len(names)-1]
}
