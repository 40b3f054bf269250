// Package datefmt formats and parses dates with the pattern letters of
// java.time.format.DateTimeFormatter, so that the patterns SAP CPI and
// Apache Camel consultants already write (for example
// yyyy-MM-dd'T'HH:mm:ss.SSSXXX) work unchanged in Stride's format_date and
// parse_date expression functions.
//
// A pattern is compiled once, typically when a flow is loaded, with
// [Compile]; the resulting [Layout] is immutable and safe for concurrent use.
// Formatting does not use fmt or reflection and, for patterns whose output
// fits in 64 bytes, allocates only the result string; parsing allocates only
// to report an error or to create a zone for an offset that is not a whole
// number of hours.
//
// # Pattern letters
//
// The examples show 2026-11-22 07:05:09.042 at UTC+01:00 (a Sunday).
//
//	Pattern        Meaning                                    Example
//	-------        -------                                    -------
//	y              year, as many digits as needed             2026
//	yy             year, last two digits (parsed as 20yy)     26
//	yyy            year, at least three digits                2026
//	yyyy           year, at least four digits                 2026
//	u uu uuu uuuu  like y; differs only for years <= 0 (below) 2026
//	M              month, one or two digits                   11 (3 for March)
//	MM             month, two digits                          11 (03 for March)
//	MMM            month, short English name                  Nov
//	MMMM           month, full English name                   November
//	d              day of month, one or two digits            22 (5 for the 5th)
//	dd             day of month, two digits                   22 (05 for the 5th)
//	D DD DDD       day of year, at least 1, 2 or 3 digits     326
//	E EE EEE       day of week, short English name            Sun
//	EEEE           day of week, full English name             Sunday
//	a              AM or PM                                   AM
//	H HH           hour of day 0-23, one or two digits        7 / 07
//	h hh           hour of AM/PM 1-12, one or two digits      7 / 07
//	m mm           minute                                     5 / 05
//	s ss           second                                     9 / 09
//	S … SSSSSSSSS  fraction of second, n letters = n digits   SSS: 042, S: 0, SSSSSS: 042000
//	X              offset +HH, or +HHMM if minutes; Z at UTC  +01 (+0530 for India)
//	XX             offset +HHMM; Z at UTC                     +0100
//	XXX            offset +HH:MM; Z at UTC                    +01:00
//	XXXX XXXXX     like XX and XXX, plus seconds if non-zero  +0100 / +01:00
//	x … xxxxx      like X … XXXXX, but +00, +0000 or +00:00 at UTC
//	Z ZZ ZZZ       offset +HHMM; +0000 at UTC                 +0100
//	ZZZZZ          offset +HH:MM, plus seconds if non-zero; Z at UTC
//	z zz zzz       zone abbreviation (see Parsing)            CET
//	'text'         literal text; letters must be quoted       'T' → T
//	''             a single quote, inside or outside quotes   'o''clock' → o'clock
//
// Any other character that is not an ASCII letter (such as - : / . , space or
// non-ASCII text) is copied literally. As in Java, every ASCII letter is a
// pattern letter: literal letters must be quoted, so write
// yyyy-MM-dd'T'HH:mm:ss, not yyyy-MM-ddTHH:mm:ss. The characters [ ] { } #
// are reserved by Java (optional sections and future use) and are rejected
// unquoted. A letter Java knows but this package does not support (for
// example G era, Q quarter, Y week-based year, w week of year, k, K, n, V, O)
// and a letter Java does not know at all are compile errors that name the
// letter and its offset in the pattern.
//
// # Differences from SimpleDateFormat
//
// CPI's ${date:...} expressions use java.text.SimpleDateFormat, Groovy
// scripts usually use DateTimeFormatter. The two agree on every letter above
// for ordinary dates, except:
//
//   - S is a fraction (n digits, truncated), as in DateTimeFormatter. In
//     SimpleDateFormat S is a millisecond count, so S on 42 ms prints "42"
//     there and "0" here; SSS is the same in both.
//   - yy parses into 2000-2099, as in DateTimeFormatter, not into the
//     "80 years before, 20 after today" window of SimpleDateFormat, which
//     would make a flow's result depend on the day it runs.
//   - u is the year, as in DateTimeFormatter; in SimpleDateFormat it is the
//     day-of-week number.
//   - Quoting follows DateTimeFormatter: ” is one quote, and a quoted section
//     whose content is only ” is also one quote (”” → ').
//
// Years before 1 AD: y is the year of era, so 1 BC (Go year 0) prints as 0001
// with yyyy, while u prints the proleptic year (0000, -0001, …), as in Java.
// yyyy and uuuu print a '+' sign before years of more than four digits.
//
// # Parsing
//
// [Layout.Parse] is strict, like DateTimeFormatter with ResolverStyle.STRICT
// in spirit:
//
//   - the whole input must be consumed, literals must match exactly;
//   - MM, dd, HH, hh, mm, ss and S… require exactly that many digits; M, d,
//     H, h, m and s accept one or two digits, D one to three; y, yyy and
//     yyyy take at least one, three and four digits, and yyyy needs a '+'
//     before a year of more than four digits, as Java prints it;
//   - each field must be in range (month 1-12, day valid for the month and
//     year, hour 0-23, clock hour 1-12, minute and second 0-59; there is no
//     leap second 60), and day of week, day of year, AM/PM and fields given
//     twice must agree with the rest of the date;
//   - month names, day names and AM/PM are English and matched without
//     regard to ASCII case (SimpleDateFormat behaviour), everything else
//     exactly.
//
// Adjacent numbers without separators, such as yyyyMMddHHmmss, are split the
// way Java splits them: the fixed-width fields (MM, dd, HH, …) take their
// digits from the end and the one variable-width field (yyyy) takes the rest.
//
// Fields the pattern does not mention default to 1970-01-01 00:00:00.0, as
// with SimpleDateFormat. A pattern without an offset is read as wall-clock
// time in the location passed to Parse (UTC if nil); wall-clock times that do
// not exist or occur twice because of a daylight saving change are resolved
// as [time.Date] resolves them. A pattern with an offset yields a time in
// that offset, or in the given location if it has the same offset at that
// instant. h without a is taken as AM. Zone abbreviations are ambiguous
// (CST is used for three different offsets), so z parses only UTC, GMT and
// Z; use an offset letter (XXX, Z) for anything else.
//
// # OData
//
// [FormatODataDate] and [ParseODataDate] handle the /Date(ms)/ notation of
// OData V2 JSON (Edm.DateTime and Edm.DateTimeOffset).
package datefmt
