package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxGoogleRollupDays is the longest range dailyRollUp serves in the
// sandbox (a sandbox limit, to bound answers).
const MaxGoogleRollupDays = 366

const (
	googleRealm         = `Bearer realm="https://accounts.google.com/"`
	googleMsgMissing    = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	googleMsgInvalid    = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	googleMsgScope      = "Request had insufficient authentication scopes."
	googleMsgPermission = "The caller does not have permission"
)

// googleCall is an authenticated /v4 request.
type googleCall struct {
	user   string // the token's test user id
	scopes []string
}

// authenticate checks the bearer token and the per-user quota. It answers
// 401 or 429 itself and returns false.
func (g *GoogleHealth) authenticate(w http.ResponseWriter, r *http.Request) (googleCall, bool) {
	h := r.Header.Get("Authorization")
	g.mu.Lock()
	defer g.mu.Unlock()
	unauthorized := func(user, msg, reason, wwwError string) (googleCall, bool) {
		if user != "" {
			g.countersLocked(user).unauthorized++
		}
		g.stats.Unauthorized++
		v := googleRealm
		if wwwError != "" {
			v += `, error="` + wwwError + `"`
		}
		w.Header().Set("WWW-Authenticate", v)
		googleError(w, http.StatusUnauthorized, msg, googleErrorInfo(reason))
		return googleCall{}, false
	}
	if h == "" {
		return unauthorized("", googleMsgMissing, "CREDENTIALS_MISSING", "")
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return unauthorized("", googleMsgInvalid, "ACCESS_TOKEN_TYPE_UNSUPPORTED", "invalid_token")
	}
	a := g.access[token]
	if a == nil || a.g.revoked {
		return unauthorized("", googleMsgInvalid, "ACCESS_TOKEN_TYPE_UNSUPPORTED", "invalid_token")
	}
	now := g.now()
	if !now.Before(a.expires) {
		return unauthorized(a.g.user, googleMsgInvalid, "ACCESS_TOKEN_EXPIRED", "invalid_token")
	}
	user := a.g.user
	c := g.countersLocked(user)
	c.apiCalls++
	g.stats.APICalls++
	a.uses++

	rs := g.rateLocked(user)
	window := now.Truncate(time.Minute)
	if !rs.window.Equal(window) {
		rs.window, rs.count = window, 0
	}
	exhausted := false
	if rs.forced > 0 {
		rs.forced--
		exhausted = true
	} else if g.opts.RateLimit > 0 {
		if rs.count >= g.opts.RateLimit {
			exhausted = true
		} else {
			rs.count++
		}
	}
	if exhausted {
		c.rateLimited++
		g.stats.RateLimited++
		googleError(w, http.StatusTooManyRequests,
			"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'health.googleapis.com' for consumer 'project_number:123456789'.",
			googleErrorInfo("RATE_LIMIT_EXCEEDED"),
			map[string]any{
				"@type":      "type.googleapis.com/google.rpc.QuotaFailure",
				"violations": []map[string]string{{"subject": "project:123456789", "description": "Quota exceeded"}},
			})
		return googleCall{}, false
	}
	return googleCall{user: user, scopes: a.g.scopes}, true
}

// handleAPI serves /v4/users/{me or healthUserId}/...
func (g *GoogleHealth) handleAPI(w http.ResponseWriter, r *http.Request) {
	notFound := func() {
		googleError(w, http.StatusNotFound, "Requested entity was not found: "+r.URL.Path)
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v4/users/")
	if !ok {
		notFound()
		return
	}
	userSeg, tail, _ := strings.Cut(rest, "/")
	if userSeg == "" {
		notFound()
		return
	}
	var method, scope, dataType string
	switch {
	case tail == "identity":
		method, scope = http.MethodGet, GoogleScopeProfile
	case strings.HasPrefix(tail, "dataTypes/") && strings.HasSuffix(tail, "/dataPoints:dailyRollUp"):
		method, scope = http.MethodPost, GoogleScopeActivity
		dataType = strings.TrimSuffix(strings.TrimPrefix(tail, "dataTypes/"), "/dataPoints:dailyRollUp")
		if dataType != "steps" {
			googleError(w, http.StatusNotFound, "Data type "+strconv.Quote(dataType)+" is not served by the sandbox (it serves steps).")
			return
		}
	default:
		notFound()
		return
	}
	if r.Method != method {
		googleError(w, http.StatusNotFound, "Method not found: "+r.Method+" "+r.URL.Path+" (use "+method+").")
		return
	}
	call, ok := g.authenticate(w, r)
	if !ok {
		return
	}
	g.mu.Lock()
	u := g.userLocked(call.user)
	forbidden := func() { g.stats.Forbidden++ }
	if userSeg != "me" && userSeg != u.HealthUserID {
		forbidden()
		g.mu.Unlock()
		googleError(w, http.StatusForbidden, googleMsgPermission, googleErrorInfo("PERMISSION_DENIED"))
		return
	}
	if !slices.Contains(call.scopes, scope) {
		forbidden()
		g.mu.Unlock()
		w.Header().Set("WWW-Authenticate", googleRealm+`, error="insufficient_scope", scope="`+scope+`"`)
		googleError(w, http.StatusForbidden, googleMsgScope, googleErrorInfo("ACCESS_TOKEN_SCOPE_INSUFFICIENT"))
		return
	}
	g.mu.Unlock()
	if tail == "identity" {
		body := map[string]any{"name": "users/me/identity", "healthUserId": u.HealthUserID}
		if u.LegacyUserID != "" {
			body["legacyUserId"] = u.LegacyUserID
		}
		writeJSON(w, http.StatusOK, body)
		return
	}
	g.dailyRollUp(w, r, call.user)
}

// googleFieldError is a 400 INVALID_ARGUMENT about one request field.
type googleFieldError struct{ field, desc string }

func (e *googleFieldError) Error() string {
	if e.field == "" {
		return e.desc
	}
	return "Invalid value at '" + e.field + "': " + e.desc
}

func badField(field, format string, args ...any) *googleFieldError {
	return &googleFieldError{field: field, desc: fmt.Sprintf(format, args...)}
}

// googleObject decodes a JSON object strictly, as Google's JSON parser
// does: every key must be a field name (lowerCamelCase, or the proto
// snake_case name), and null means absent. It returns the present fields
// by their lowerCamelCase name.
func googleObject(raw json.RawMessage, path string, fields ...string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		where := ""
		if path != "" {
			where = " at '" + path + "'"
		}
		return nil, &googleFieldError{field: "", desc: "Invalid JSON payload received. Expected an object" + where + "."}
	}
	out := map[string]json.RawMessage{}
	for k, v := range m {
		name := ""
		for _, f := range fields {
			if k == f || k == snakeCase(f) {
				name = f
			}
		}
		if name == "" {
			where := ""
			if path != "" {
				where = " at '" + path + "'"
			}
			return nil, &googleFieldError{desc: "Invalid JSON payload received. Unknown name " + strconv.Quote(k) + where + ": Cannot find field."}
		}
		if string(bytes.TrimSpace(v)) != "null" {
			out[name] = v
		}
	}
	return out, nil
}

func snakeCase(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// googleInt32 reads a proto3 JSON int32: a number or a decimal string.
func googleInt32(raw json.RawMessage, path string) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, badField(path, "not a string")
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f == float64(int64(f)) && f >= -1<<31 && f < 1<<31 {
			return int64(f), nil // 2026.0 is an integer too
		}
		return 0, badField(path, "Invalid value %s: want an int32.", s)
	}
	return n, nil
}

// googleCivil reads a CivilDateTime {"date":{year,month,day},"time":{...}}
// that must be a whole day (time absent or midnight).
func googleCivil(raw json.RawMessage, path string) (time.Time, error) {
	obj, err := googleObject(raw, path, "date", "time")
	if err != nil {
		return time.Time{}, err
	}
	dateRaw, ok := obj["date"]
	if !ok {
		return time.Time{}, badField(path+".date", "required field is missing.")
	}
	d, err := googleObject(dateRaw, path+".date", "year", "month", "day")
	if err != nil {
		return time.Time{}, err
	}
	var ymd [3]int64
	for i, f := range []string{"year", "month", "day"} {
		v, ok := d[f]
		if !ok {
			return time.Time{}, badField(path+".date."+f, "required field is missing.")
		}
		if ymd[i], err = googleInt32(v, path+".date."+f); err != nil {
			return time.Time{}, err
		}
	}
	y, m, day := int(ymd[0]), int(ymd[1]), int(ymd[2])
	t := time.Date(y, time.Month(m), day, 0, 0, 0, 0, time.UTC)
	if y < 1 || y > 9999 || m < 1 || m > 12 || day < 1 || t.Day() != day {
		return time.Time{}, badField(path+".date", "%04d-%02d-%02d is not a valid date.", y, m, day)
	}
	if tr, ok := obj["time"]; ok {
		tm, err := googleObject(tr, path+".time", "hours", "minutes", "seconds", "nanos")
		if err != nil {
			return time.Time{}, err
		}
		for f, v := range tm {
			n, err := googleInt32(v, path+".time."+f)
			if err != nil {
				return time.Time{}, err
			}
			if n != 0 {
				return time.Time{}, badField(path+".time", "the sandbox rolls up whole days: the time must be 00:00:00 or absent.")
			}
		}
	}
	return t, nil
}

type googleRollupRequest struct {
	start, end time.Time
	window     int
}

func parseGoogleRollup(body []byte) (googleRollupRequest, error) {
	var req googleRollupRequest
	if !json.Valid(body) {
		return req, &googleFieldError{desc: "Invalid JSON payload received. Unexpected token."}
	}
	top, err := googleObject(body, "", "range", "windowSizeDays")
	if err != nil {
		return req, err
	}
	rangeRaw, ok := top["range"]
	if !ok {
		return req, badField("range", "required field is missing.")
	}
	rng, err := googleObject(rangeRaw, "range", "start", "end")
	if err != nil {
		return req, err
	}
	for _, f := range []string{"start", "end"} {
		if _, ok := rng[f]; !ok {
			return req, badField("range."+f, "required field is missing.")
		}
	}
	if req.start, err = googleCivil(rng["start"], "range.start"); err != nil {
		return req, err
	}
	if req.end, err = googleCivil(rng["end"], "range.end"); err != nil {
		return req, err
	}
	if !req.end.After(req.start) {
		return req, badField("range", "range.end (%s) must be after range.start (%s); the end is exclusive.",
			req.end.Format("2006-01-02"), req.start.Format("2006-01-02"))
	}
	if days := int(req.end.Sub(req.start).Hours() / 24); days > MaxGoogleRollupDays {
		return req, badField("range", "the range has %d days; the sandbox serves at most %d.", days, MaxGoogleRollupDays)
	}
	req.window = 1
	if v, ok := top["windowSizeDays"]; ok {
		n, err := googleInt32(v, "window_size_days")
		if err != nil {
			return req, err
		}
		if n < 1 {
			return req, badField("window_size_days", "must be at least 1, got %d.", n)
		}
		req.window = int(n)
	}
	return req, nil
}

func googleDateJSON(t time.Time) map[string]any {
	return map[string]any{"date": map[string]int{"year": t.Year(), "month": int(t.Month()), "day": t.Day()}}
}

// GoogleDayTotals are the values dailyRollUp answers for one user and day.
type GoogleDayTotals struct {
	Steps       int64   // steps.countSum: Steps(user, date)
	Millimeters int64   // distance.millimetersSum: 762 mm a step
	Kcal        float64 // totalCalories.kcalSum: the Fitbit fake's summary.caloriesOut
}

// GoogleDay is what the Google Health fake answers for the test user id
// on date (yyyy-MM-dd). Steps and calories are the Fitbit fake's numbers
// for the same id and date, so a migrated user's data carries on.
func GoogleDay(user, date string) GoogleDayTotals {
	steps := Steps(user, date)
	h := hash64("activity", user, date)
	bmr := 1400 + int((h>>24)%400) // as activityJSON: caloriesOut = caloriesBMR + activityCalories
	return GoogleDayTotals{
		Steps:       int64(steps),
		Millimeters: int64(steps) * 762,
		Kcal:        float64(bmr + steps/20),
	}
}

// dailyRollUp serves POST .../dataTypes/steps/dataPoints:dailyRollUp.
func (g *GoogleHealth) dailyRollUp(w http.ResponseWriter, r *http.Request, user string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		googleError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
		return
	}
	req, err := parseGoogleRollup(body)
	if err != nil {
		fe, ok := err.(*googleFieldError)
		if !ok {
			fe = &googleFieldError{desc: err.Error()}
		}
		var details []map[string]any
		if fe.field != "" {
			details = append(details, map[string]any{
				"@type":           "type.googleapis.com/google.rpc.BadRequest",
				"fieldViolations": []map[string]string{{"field": fe.field, "description": fe.desc}},
			})
		}
		googleError(w, http.StatusBadRequest, fe.Error(), details...)
		return
	}
	points := []map[string]any{}
	var days []string
	for start := req.start; start.Before(req.end); start = start.AddDate(0, 0, req.window) {
		end := start.AddDate(0, 0, req.window)
		if end.After(req.end) {
			end = req.end
		}
		var sum GoogleDayTotals
		for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
			date := d.Format("2006-01-02")
			days = append(days, date)
			t := GoogleDay(user, date)
			sum.Steps += t.Steps
			sum.Millimeters += t.Millimeters
			sum.Kcal += t.Kcal
		}
		points = append(points, map[string]any{
			"civilStartTime": googleDateJSON(start),
			"civilEndTime":   googleDateJSON(end),
			"steps":          map[string]string{"countSum": strconv.FormatInt(sum.Steps, 10)},
			"distance":       map[string]string{"millimetersSum": strconv.FormatInt(sum.Millimeters, 10)},
			"totalCalories":  map[string]float64{"kcalSum": sum.Kcal},
		})
	}
	g.mu.Lock()
	for _, d := range days {
		g.dayReads[user+"/"+d]++
	}
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"rollupDataPoints": points})
}
