package flow_test

import (
	"strings"
	"testing"
)

// The time functions a new source needs: unix seconds and milliseconds
// both ways, durations, and the start of a day in a zone. The exchange's
// clock is fixed at 2026-11-23T07:05:09Z.
func TestTimeFunctions(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`unix(now())`, "1795417509"},
		{`unix_ms(now())`, "1795417509000"},
		{`unix("2026-11-22")`, "1795305600"},
		{`from_unix(1795417509)`, "2026-11-23T07:05:09Z"},
		{`from_unix("1795417509")`, "2026-11-23T07:05:09Z"},
		{`from_unix_ms(1795417509123)`, "2026-11-23T07:05:09.123Z"},
		{`add(now(), "-1h30m")`, "2026-11-23T05:35:09Z"},
		{`add(now(), duration("15s"))`, "2026-11-23T07:05:24Z"},
		{`start_of_day(now())`, "2026-11-23T00:00:00Z"},
		{`start_of_day(now(), "Europe/Berlin")`, "2026-11-22T23:00:00Z"},
		{`start_of_day(now(), "America/Los_Angeles")`, "2026-11-22T08:00:00Z"},
		{`format_date(start_of_day(now(), "Asia/Tokyo"), "yyyy-MM-dd HH:mm", "Asia/Tokyo")`, "2026-11-23 00:00"},
		{`unix(parse_date("23.11.2026 08:05", "dd.MM.yyyy HH:mm", "Europe/Berlin"))`, "1795417500"},
		{`format_date(add_days(from_unix(0), 1), "yyyy-MM-dd")`, "1970-01-02"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			set := load(t, "f.yaml", "flow: f\ntrigger: {call: {}}\nsteps:\n  - set: {body: '${"+tc.expr+"}'}\n")
			x, err := runFlow(t, set, "f", "{}")
			if err != nil {
				t.Fatal(err)
			}
			if got := string(x.Msg.Body()); got != tc.want {
				t.Errorf("%s = %s, want %s", tc.expr, got, tc.want)
			}
		})
	}
	for _, bad := range []struct{ expr, want string }{
		{`add(now(), "soon")`, `"soon" is not a duration`},
		{`from_unix("yesterday")`, "is not a whole number"},
		{`start_of_day(now(), "Mars/Olympus")`, "unknown time zone"},
	} {
		set := load(t, "f.yaml", "flow: f\ntrigger: {call: {}}\nsteps:\n  - set: {body: '${"+bad.expr+"}'}\n")
		if _, err := runFlow(t, set, "f", "{}"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want an error with %q", bad.expr, err, bad.want)
		}
	}
}
