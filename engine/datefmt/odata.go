package datefmt

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// FormatODataDate returns t in the OData V2 JSON notation /Date(ms)/, where
// ms is the number of milliseconds since 1970-01-01T00:00:00Z (negative
// before). Sub-millisecond precision is truncated towards the past. No offset
// is written, as Apache Olingo (behind SAP's OData adapters) does.
func FormatODataDate(t time.Time) string {
	var buf [32]byte
	b := append(buf[:0], "/Date("...)
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	b = append(b, ")/"...)
	return string(b)
}

// ParseODataDate parses the OData V2 JSON notation /Date(ms)/ or
// /Date(ms+mmmm)/ (also with '-').
//
// Without an offset, ms is milliseconds since 1970-01-01T00:00:00Z and the
// result is in UTC. With an offset, the number after the sign is the offset
// in minutes (one to four digits, below 1440), as the OData V2 JSON format
// and Apache Olingo define it; ms is then the local wall-clock time in that
// offset, so /Date(1700000000000+0060)/ is 1700000000000 ms minus one hour,
// and the result is in a fixed zone of +01:00. Note that +0100 is therefore
// 100 minutes (+01:40), not one hour: services that follow the older WCF
// convention (+HHMM, informational only) are read differently.
//
// The string must already be JSON-decoded: "\/Date(...)\/" is rejected.
func ParseODataDate(s string) (time.Time, error) {
	const prefix, suffix = "/Date(", ")/"
	bad := func(msg string) (time.Time, error) {
		return time.Time{}, errors.New("parsing OData date " + quotePrefix(s) + ": " + msg)
	}
	if !strings.HasPrefix(s, prefix) || !strings.HasSuffix(s, suffix) || len(s) < len(prefix)+len(suffix) {
		return bad("expected /Date(milliseconds)/ or /Date(milliseconds+minutes)/")
	}
	body := s[len(prefix) : len(s)-len(suffix)]
	i := 0
	if i < len(body) && body[i] == '-' {
		i++
	}
	j := i
	for j < len(body) && isDigit(body[j]) {
		j++
	}
	if j == i {
		return bad("expected milliseconds since 1970 after /Date(")
	}
	ms, err := strconv.ParseInt(body[:j], 10, 64)
	if err != nil {
		return bad("milliseconds " + body[:j] + " out of range")
	}
	rest := body[j:]
	if rest == "" {
		return time.UnixMilli(ms).UTC(), nil
	}
	if rest[0] != '+' && rest[0] != '-' {
		return bad("unexpected " + quotePrefix(rest) + " after the milliseconds")
	}
	digits := rest[1:]
	if len(digits) == 0 || len(digits) > 4 {
		return bad("expected an offset of one to four digits (minutes) after " + rest[:1])
	}
	for k := 0; k < len(digits); k++ {
		if !isDigit(digits[k]) {
			return bad("expected an offset of one to four digits (minutes) after " + rest[:1])
		}
	}
	mins := atoi(digits)
	if mins >= 24*60 {
		return bad("offset of " + digits + " minutes is a day or more")
	}
	if rest[0] == '-' {
		mins = -mins
	}
	shift := int64(mins) * 60000
	if shift > 0 && ms < math.MinInt64+shift || shift < 0 && ms > math.MaxInt64+shift {
		return bad("milliseconds " + body[:j] + " out of range")
	}
	t := time.UnixMilli(ms - shift)
	if mins == 0 {
		return t.UTC(), nil
	}
	return t.In(time.FixedZone("", mins*60)), nil
}
