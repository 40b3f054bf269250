package mapping

// The conversions of $convert, and the wording of values in errors.

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/stride-engine/stride/engine/datefmt"
	"github.com/stride-engine/stride/engine/flow"
)

// convertValue applies a $convert: number, int, bool, string, odata_date,
// iso_date, or date with its $format layout.
func convertValue(v any, conv string, layout *datefmt.Layout) (any, error) {
	switch conv {
	case "number":
		return toNumber(v)
	case "int":
		return toInt(v)
	case "bool":
		return toBool(v)
	case "string":
		return flow.Stringify(v), nil
	case "odata_date", "iso_date", "date":
		t, err := toTime(v)
		if err != nil {
			return nil, err
		}
		switch conv {
		case "odata_date":
			return datefmt.FormatODataDate(t), nil
		case "iso_date":
			return t.UTC().Format(time.RFC3339Nano), nil
		}
		return layout.Format(t.UTC()), nil
	}
	return nil, fmt.Errorf("unknown conversion %q", conv)
}

// toNumber converts a number or a text in JSON number syntax; an
// integer text stays exact beyond 2^53.
func toNumber(v any) (any, error) {
	switch n := v.(type) {
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, fmt.Errorf("%v is not a JSON number", n)
		}
		return n, nil
	case int, int64, int32, uint, uint64, uint32, float32:
		return n, nil
	case json.Number:
		return toNumber(string(n))
	case string:
		s := strings.TrimSpace(n)
		if !isJSONNumber(s) {
			return nil, fmt.Errorf("%s is not a number", describe(v))
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s is out of range", describe(v))
		}
		return f, nil
	}
	return nil, fmt.Errorf("%s is not a number", describe(v))
}

// toInt converts like toNumber and truncates toward zero.
func toInt(v any) (any, error) {
	n, err := toNumber(v)
	if err != nil {
		return nil, err
	}
	switch x := n.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		t := math.Trunc(x)
		if t < -9.223372036854775e18 || t >= 9.223372036854775e18 {
			return nil, fmt.Errorf("%v is out of the range of an integer", x)
		}
		return int64(t), nil
	}
	return toInt(flow.Stringify(n))
}

// toBool accepts a boolean, true/false, 1/0, yes/no, y/n or on/off.
func toBool(v any) (any, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(b)) {
		case "true", "1", "yes", "y", "on":
			return true, nil
		case "false", "0", "no", "n", "off":
			return false, nil
		}
	case float64:
		if b == 0 || b == 1 {
			return b == 1, nil
		}
	case int:
		if b == 0 || b == 1 {
			return b == 1, nil
		}
	case int64:
		if b == 0 || b == 1 {
			return b == 1, nil
		}
	}
	return nil, fmt.Errorf("%s is not true or false (accepted: true/false, 1/0, yes/no)", describe(v))
}

// toTime accepts a time, an RFC 3339 text, a yyyy-MM-dd date, a
// yyyy-MM-ddTHH:mm:ss[.SSS] local time (read as UTC), an OData
// /Date(ms)/, or a number of milliseconds since 1970.
func toTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case string:
		s := strings.TrimSpace(t)
		for _, layout := range []string{time.RFC3339Nano, time.DateOnly, "2006-01-02T15:04:05.999999999"} {
			if tt, err := time.Parse(layout, s); err == nil {
				return tt, nil
			}
		}
		if strings.HasPrefix(s, "/Date(") {
			return datefmt.ParseODataDate(s)
		}
		return time.Time{}, fmt.Errorf("%s is not a date (want yyyy-MM-dd, RFC 3339 or /Date(ms)/)", describe(v))
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e17 {
			return time.UnixMilli(int64(t)).UTC(), nil
		}
	case int:
		return time.UnixMilli(int64(t)).UTC(), nil
	case int64:
		return time.UnixMilli(t).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%s is not a date", describe(v))
}

// isJSONNumber reports whether s is a number in JSON syntax.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(s)
}

// describe words a value for an error: the text "x", an object, a
// list, or its Go type and value.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		if len(x) > 60 {
			x = x[:60] + "…"
		}
		return fmt.Sprintf("the text %q", x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case int, int64, float64:
		return "the number " + flow.Stringify(v)
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	}
	return fmt.Sprintf("%T %v", v, v)
}
