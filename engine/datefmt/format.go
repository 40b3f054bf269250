package datefmt

import "time"

var (
	shortMonthNames = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	longMonthNames  = [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	shortDayNames   = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"} // indexed by time.Weekday
	longDayNames    = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	ampmNames       = [2]string{"AM", "PM"}
)

// Format returns t formatted with the layout, in t's location.
func (l *Layout) Format(t time.Time) string {
	const bufSize = 64
	var b []byte
	if l.maxLen <= bufSize {
		var buf [bufSize]byte
		b = buf[:0]
	} else {
		b = make([]byte, 0, l.maxLen)
	}
	return string(l.AppendFormat(b, t))
}

// AppendFormat is like [Layout.Format] but appends to dst and returns the
// extended slice, so that callers that reuse a buffer do not allocate.
func (l *Layout) AppendFormat(dst []byte, t time.Time) []byte {
	var (
		year, day, yday, hour, min, sec, nsec, offset int
		month                                         time.Month
		weekday                                       time.Weekday
		zone                                          string
	)
	// Each of these walks from the instant to the calendar again, so compute
	// only what the pattern uses.
	if l.need&needDate != 0 {
		year, month, day = t.Date()
	}
	if l.need&needYearDay != 0 {
		yday = t.YearDay()
	}
	if l.need&needClock != 0 {
		hour, min, sec = t.Clock()
	}
	if l.need&needNano != 0 {
		nsec = t.Nanosecond()
	}
	if l.need&needWeekday != 0 {
		weekday = t.Weekday()
	}
	if l.need&needZone != 0 {
		zone, offset = t.Zone()
	}
	b := dst
	for i := range l.toks {
		tk := &l.toks[i]
		switch tk.kind {
		case kLiteral:
			b = append(b, tk.text...)
		case kYearOfEra:
			y := year
			if y <= 0 {
				y = 1 - y // 1 BC is year 1 of the BC era
			}
			b = appendYear(b, y, tk.count)
		case kYear:
			b = appendYear(b, year, tk.count)
		case kMonth:
			b = appendInt(b, int(month), tk.count)
		case kMonthText:
			if tk.count == 3 {
				b = append(b, shortMonthNames[month-1]...)
			} else {
				b = append(b, longMonthNames[month-1]...)
			}
		case kDay:
			b = appendInt(b, day, tk.count)
		case kYearDay:
			b = appendInt(b, yday, tk.count)
		case kHour:
			b = appendInt(b, hour, tk.count)
		case kClockHour:
			h := hour % 12
			if h == 0 {
				h = 12
			}
			b = appendInt(b, h, tk.count)
		case kAMPM:
			b = append(b, ampmNames[hour/12]...)
		case kMinute:
			b = appendInt(b, min, tk.count)
		case kSecond:
			b = appendInt(b, sec, tk.count)
		case kFraction:
			b = appendInt(b, nsec/pow10[9-tk.count], tk.count)
		case kWeekday:
			if tk.count == 4 {
				b = append(b, longDayNames[weekday]...)
			} else {
				b = append(b, shortDayNames[weekday]...)
			}
		case kOffset:
			b = appendOffset(b, offset, tk.off, tk.text)
		case kZoneName:
			if zone != "" {
				b = append(b, zone...)
			} else {
				// An unnamed fixed zone; Java prints a ZoneOffset's ID.
				b = appendOffset(b, offset, offsetStyle{colon: true, optSeconds: true}, "Z")
			}
		}
	}
	return b
}

var pow10 = [...]int{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// appendInt appends v >= 0 in decimal, zero-padded to width digits.
func appendInt(b []byte, v, width int) []byte {
	if v < 100 && width <= 2 {
		if v >= 10 || width == 2 {
			b = append(b, byte('0'+v/10))
		}
		return append(b, byte('0'+v%10))
	}
	var tmp [20]byte
	i := len(tmp)
	for v >= 10 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	tmp[i] = byte('0' + v)
	for n := len(tmp) - i; n < width; n++ {
		b = append(b, '0')
	}
	return append(b, tmp[i:]...)
}

// appendYear prints a year for count pattern letters as DateTimeFormatter
// does: two letters print the last two digits; otherwise at least count
// digits, a '-' for negative years and, for four or more letters, a '+' for
// years wider than count digits.
func appendYear(b []byte, y, count int) []byte {
	if count == 2 {
		if y < 0 {
			y = -y
		}
		return appendInt(b, y%100, 2)
	}
	switch {
	case y < 0:
		b = append(b, '-')
		y = -y
	case count >= 4 && count < len(pow10) && y >= pow10[count]:
		b = append(b, '+')
	}
	return appendInt(b, y, count)
}

// appendOffset prints a UTC offset in seconds east of UTC in the given
// style, or zero when the offset is zero. Like Java, it truncates the parts
// the style cannot show.
func appendOffset(b []byte, offset int, st offsetStyle, zero string) []byte {
	if offset == 0 {
		return append(b, zero...)
	}
	sign := byte('+')
	if offset < 0 {
		sign, offset = '-', -offset
	}
	h, m, s := offset/3600, offset/60%60, offset%60
	b = append(b, sign)
	b = appendInt(b, h, 2)
	if st.optMinutes && m == 0 {
		return b
	}
	if st.colon {
		b = append(b, ':')
	}
	b = appendInt(b, m, 2)
	if st.optSeconds && s != 0 {
		if st.colon {
			b = append(b, ':')
		}
		b = appendInt(b, s, 2)
	}
	return b
}
