package demo

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/stride-engine/stride/sandbox"
)

// Check is one expectation of the scenario.
type Check struct {
	Name string
	OK   bool
	Got  string
}

// Report is what the scenario saw.
type Report struct {
	Checks       []Check
	Contacts     []sandbox.Contact
	Interactions []sandbox.Interaction
	Statuses     map[string]int
	Refused      []string
	Took         time.Duration
}

// Failed counts the checks that did not hold.
func (r *Report) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if !c.OK {
			n++
		}
	}
	return n
}

func (r *Report) check(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Got: fmt.Sprintf(format, args...)})
}

// Scenario runs the seed's three scenarios against a started Env:
// authorization (three users, one without the profile scope, one who
// declines), notifications (one with an expired token, one duplicate, one
// with a bad signature, one malformed) and the daily collection.
func Scenario(e *Env) *Report {
	start := time.Now()
	r := &Report{Statuses: map[string]int{}}
	today := time.Now().UTC()
	day := func(n int) string { return today.AddDate(0, 0, -n).Format("2006-01-02") }

	// Authorization.
	for _, u := range []struct{ id, scopes string }{{"ADA1", ""}, {"ALAN2", ""}} {
		status, page, err := e.Connect(u.id, u.scopes, false)
		r.check("connect "+u.id+" (all scopes)", err == nil && status == 200 && strings.Contains(page, u.id), "%d %v", status, err)
	}
	status, page, err := e.Connect("GRACE3", "activity weight sleep nutrition", false)
	r.check("connect GRACE3 without profile → 403 naming it", err == nil && status == 403 && strings.Contains(page, "profile"), "%d %v", status, err)
	r.Refused = append(r.Refused, fmt.Sprintf("GRACE3: consent without the profile scope → %d, token revoked, nothing stored", status))
	status, _, err = e.Connect("KATH4", "", true)
	r.check("KATH4 declines consent → 4xx, nothing stored", err == nil && status >= 400 && status < 500, "%d %v", status, err)
	r.Refused = append(r.Refused, fmt.Sprintf("KATH4: declined on Fitbit's consent page → %d", status))
	users, err := e.StoredUsers()
	r.check("tokens stored for ADA1 and ALAN2 only", err == nil && strings.Join(users, ",") == "ADA1,ALAN2", "%v %v", users, err)
	subs := len(e.Fitbit.State("ADA1").Subscriptions)
	r.check("ADA1 subscribed to the 4 granted collections and userRevokedAccess", subs == 5, "%d", subs)

	// Verification handshake.
	resp, err := e.Fitbit.Verify("http://"+e.Addr+"/fitbit/webhook", e.VerifyCode)
	ok := err == nil && resp.StatusCode == 204
	if resp != nil {
		resp.Body.Close()
	}
	resp2, err2 := e.Fitbit.Verify("http://"+e.Addr+"/fitbit/webhook", "wrong")
	ok2 := err2 == nil && resp2.StatusCode == 404
	if resp2 != nil {
		resp2.Body.Close()
	}
	r.check("subscriber verification: right code 204, wrong 404", ok && ok2, "%v %v", ok, ok2)

	// Notifications.
	code, err := e.Notify(Update("ADA1", day(3), "activities"))
	r.check("signed notification accepted (204)", err == nil && code == 204, "%d %v", code, err)
	e.Fitbit.ExpireAccessToken("ALAN2")
	code, _ = e.Notify(Update("ALAN2", day(3), "activities"))
	r.check("notification for a user whose token expired accepted", code == 204, "%d", code)
	dup := Update("ADA1", day(2), "activities")
	c1, _ := e.Notify(dup)
	c2, _ := e.Notify(dup)
	r.check("duplicate notification accepted twice", c1 == 204 && c2 == 204, "%d %d", c1, c2)
	bad, err := e.Fitbit.NotifyWithSignature("http://"+e.Addr+"/fitbit/webhook", []byte(`[{"collectionType":"activities","date":"`+day(1)+`","ownerId":"ADA1","ownerType":"user","subscriptionId":"x"}]`), "bm90IHRoZSBzaWduYXR1cmU=")
	badStatus := 0
	if err == nil {
		badStatus = bad.StatusCode
		bad.Body.Close()
	}
	r.check("bad signature → 404, nothing processed", badStatus == 404, "%d", badStatus)
	r.Refused = append(r.Refused, fmt.Sprintf("a notification with a bad signature → %d", badStatus))
	e.Notify(Update("ADA1", day(4), "sleep"))
	body := []byte(`{"not":"an array"}`)
	mac := hmac.New(sha1.New, []byte(e.Fitbit.ClientSecret()+"&"))
	mac.Write(body)
	malformed, err := e.Fitbit.NotifyWithSignature("http://"+e.Addr+"/fitbit/webhook", body, base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	if err == nil {
		malformed.Body.Close()
	}

	want := map[string]bool{"ADA1|" + day(3): true, "ALAN2|" + day(3): true, "ADA1|" + day(2): true}
	arrived := WaitFor(30*time.Second, func() bool {
		for k := range want {
			u, d, _ := strings.Cut(k, "|")
			if e.InteractionFor(u, d) == nil {
				return false
			}
		}
		return true
	})
	r.check("3 interactions from notifications in Marketing Cloud", arrived, "%d interactions", len(e.MKC.Interactions()))
	for k := range want {
		u, d, _ := strings.Cut(k, "|")
		if in := e.InteractionFor(u, d); in != nil {
			steps := float64(e.Fitbit.StepsFor(u, d))
			r.check(fmt.Sprintf("%s %s: Quantifier = Fitbit's steps", u, d), in.Quantifier != nil && *in.Quantifier == steps, "%v want %v", deref(in.Quantifier), steps)
		}
	}
	if in := e.InteractionFor("ADA1", day(2)); in != nil {
		r.check("duplicate notification imported once", in.Imports == 1, "imports %d", in.Imports)
	}
	r.check("ALAN2's expired token refreshed once", e.Fitbit.RefreshCount("ALAN2") == 1, "%d", e.Fitbit.RefreshCount("ALAN2"))

	// The daily collection.
	before := e.Fitbit.RefreshCount("ADA1") + e.Fitbit.RefreshCount("ALAN2")
	id, err := e.RunDaily()
	r.check("daily collection started", err == nil && id != "", "%v", err)
	daily := WaitFor(30*time.Second, func() bool {
		return e.InteractionFor("ADA1", day(1)) != nil && e.InteractionFor("ALAN2", day(1)) != nil
	})
	r.check("daily: yesterday's interaction for every stored user", daily, "ADA1 %v, ALAN2 %v", e.InteractionFor("ADA1", day(1)) != nil, e.InteractionFor("ALAN2", day(1)) != nil)
	after := e.Fitbit.RefreshCount("ADA1") + e.Fitbit.RefreshCount("ALAN2")
	r.check("daily: each user's token refreshed", after-before == 2, "%d refreshes", after-before)
	r.check("no refresh token spent twice", e.Fitbit.SpentRefreshTokenReused() == 0, "%d", e.Fitbit.SpentRefreshTokenReused())

	// A user revokes access on Fitbit: the userRevokedAccess notification
	// deletes the stored tokens.
	updates := e.Fitbit.RevokeUser("ALAN2")
	if len(updates) > 0 {
		e.Notify(updates...)
	}
	gone := WaitFor(15*time.Second, func() bool {
		u, err := e.StoredUsers()
		return err == nil && strings.Join(u, ",") == "ADA1"
	})
	r.check("ALAN2 revokes access on Fitbit → tokens deleted", len(updates) > 0 && gone, "%d updates, deleted %v", len(updates), gone)
	r.Refused = append(r.Refused, "ALAN2 revoked access on Fitbit → stored tokens deleted")

	// The successor: Google Health API v4, added as YAML only.
	st, pg, err := e.ConnectGoogle("ADA1", "", false)
	r.check("Google Health: connect ADA1 (a migrated Fitbit user)", err == nil && st == 200 && strings.Contains(pg, "ADA1"), "%d %v", st, err)
	st, pg, err = e.ConnectGoogle("NOVA7", "", false)
	nova := e.Google.HealthUserID("NOVA7")
	r.check("Google Health: connect NOVA7 (new to Google: contact = healthUserId)", err == nil && st == 200 && strings.Contains(pg, nova), "%d %v", st, err)
	st, _, _ = e.ConnectGoogle("ORION8", "activity_and_fitness.readonly", false)
	r.check("Google Health: consent without the profile scope → 403", st == 403, "%d", st)
	r.Refused = append(r.Refused, fmt.Sprintf("ORION8 (Google): consent without the profile scope → %d, nothing stored", st))
	verr := e.Google.VerifySubscriber("http://"+e.Addr+"/google-health/webhook", e.GoogleAuth)
	r.check("Google Health: webhook verification (201 with the header, 401 without)", verr == nil, "%v", verr)
	hook := "http://" + e.Addr + "/google-health/webhook"
	resp3, err := e.Google.Notify(hook, e.GoogleAuth, e.Google.NotificationFor("ADA1", day(5)))
	code3 := 0
	if err == nil {
		code3 = resp3.StatusCode
		resp3.Body.Close()
	}
	e.Google.ExpireAccessToken("NOVA7")
	resp4, err := e.Google.Notify(hook, e.GoogleAuth, e.Google.NotificationFor("NOVA7", day(5)))
	code4 := 0
	if err == nil {
		code4 = resp4.StatusCode
		resp4.Body.Close()
	}
	resp5, err := e.Google.Notify(hook, "Bearer wrong", e.Google.NotificationFor("ADA1", day(6)))
	code5 := 0
	if err == nil {
		code5 = resp5.StatusCode
		resp5.Body.Close()
	}
	r.check("Google Health: notifications 204, wrong Authorization 401", code3 == 204 && code4 == 204 && code5 == 401, "%d %d %d", code3, code4, code5)
	r.Refused = append(r.Refused, fmt.Sprintf("a Google notification with the wrong Authorization header → %d", code5))
	gotGoogle := WaitFor(30*time.Second, func() bool { return e.InteractionFor("ADA1", day(5)) != nil && e.InteractionFor(nova, day(5)) != nil })
	r.check("Google Health: interactions for ADA1 (same contact as Fitbit) and NOVA7", gotGoogle, "ADA1 %v, NOVA7 %v", e.InteractionFor("ADA1", day(5)) != nil, e.InteractionFor(nova, day(5)) != nil)
	if in := e.InteractionFor(nova, day(5)); in != nil {
		want := float64(e.Google.StepsFor("NOVA7", day(5)))
		r.check("Google Health: NOVA7's Quantifier = Google's countSum, after a token refresh", in.Quantifier != nil && *in.Quantifier == want && e.Google.RefreshCount("NOVA7") == 1 && in.ContactIDOrigin == "GOOGLE_HEALTH",
			"%v want %v, refreshes %d, origin %s", deref(in.Quantifier), want, e.Google.RefreshCount("NOVA7"), in.ContactIDOrigin)
	}
	if _, err := e.RunFlow("google-health-daily"); err == nil {
		okDaily := WaitFor(30*time.Second, func() bool { return e.InteractionFor("ADA1", day(1)) != nil && e.InteractionFor(nova, day(1)) != nil })
		r.check("Google Health: daily collection for every Google user", okDaily, "%v", okDaily)
	} else {
		r.check("Google Health: daily collection for every Google user", false, "%v", err)
	}

	// The message log settles.
	WaitFor(10*time.Second, func() bool {
		msgs, err := e.Messages()
		if err != nil {
			return false
		}
		for _, m := range msgs {
			if m.Status == "PROCESSING" || m.Status == "RETRY" {
				return false
			}
		}
		return true
	})
	msgs, _ := e.Messages()
	failedMalformed := false
	for _, m := range msgs {
		if m.Flow == "fitbit-notifications" && m.Status == "FAILED" && strings.Contains(m.Error, "not a Fitbit notification") {
			failedMalformed = true
		}
		r.Statuses[m.Status]++
	}
	r.check("malformed notification FAILED with the reason, not retried", failedMalformed, "%v", r.Statuses)
	r.Refused = append(r.Refused, "a signed but malformed notification → FAILED (not retried)")
	contacts := e.MKC.Contacts()
	var names []string
	for _, c := range contacts {
		names = append(names, c.ID)
	}
	sort.Strings(names)
	want3 := []string{"ADA1", "ALAN2", e.Google.HealthUserID("NOVA7")}
	sort.Strings(want3)
	r.check("contacts ADA1, ALAN2 (Fitbit) and NOVA7 (Google) in Marketing Cloud", strings.Join(names, ",") == strings.Join(want3, ","), "%v", names)
	r.Contacts, r.Interactions = contacts, e.MKC.Interactions()
	r.Took = time.Since(start)
	return r
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}
