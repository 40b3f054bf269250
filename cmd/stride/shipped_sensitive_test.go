package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/internal/demo"
)

// TestShippedFlowsStoreTokensSensitive: the shipped Fitbit and Google
// Health flows, against the sandbox, store users' OAuth tokens declared
// sensitive — when a user connects (callback) and when a token is
// refreshed — so `stride store get` through the admin API shows them as
// ***, --reveal is refused while stride runs, and once it stopped
// --reveal on the data directory shows them.
func TestShippedFlowsStoreTokensSensitive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the stride binary and the sandbox")
	}
	data := t.TempDir()
	e, err := demo.Start(strideBin, "../../flows", data)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			e.Stop()
		}
		if t.Failed() {
			t.Logf("stride's log:\n%s", e.Log())
		}
	})
	if status, page, err := e.Connect("ADA1", "", false); err != nil || status != 200 {
		t.Fatalf("connect ADA1 to Fitbit: %d %v\n%s", status, err, page)
	}
	if status, page, err := e.ConnectGoogle("NOVA7", "", false); err != nil || status != 200 {
		t.Fatalf("connect NOVA7 to Google Health: %d %v\n%s", status, err, page)
	}
	// A refresh: the access token expires, a notification needs it.
	e.Fitbit.ExpireAccessToken("ADA1")
	if code, err := e.Notify(demo.Update("ADA1", time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02"), "activities")); err != nil || code != 204 {
		t.Fatalf("notify: %d %v", code, err)
	}
	if !demo.WaitFor(20*time.Second, func() bool {
		msgs, _ := e.Messages()
		for _, m := range msgs {
			if m.Flow == "fitbit-notifications" && m.Status == "COMPLETED" {
				return true
			}
		}
		return false
	}) {
		t.Fatal("the notification was not processed")
	}
	if n := e.Fitbit.State("ADA1").Refreshes; n < 1 {
		t.Fatalf("ADA1's token was refreshed %d times, want at least once", n)
	}

	t.Setenv("STRIDE_DATA_KEY", e.Key)
	googleIDs := func(admin bool) []string {
		args := []string{"store", "ls", "google-health-users", "--data", data}
		if admin {
			args = append(args, "--admin-addr", e.Admin)
		}
		code, out, errOut := runCmd(args...)
		if code != 0 || len(lines(out)) != 1 {
			t.Fatalf("ls google-health-users: %d %q %q", code, out, errOut)
		}
		return lines(out)
	}
	users := map[string]string{"fitbit-users": "ADA1", "google-health-users": googleIDs(true)[0]}
	for storeName, id := range users {
		code, out, errOut := runCmd("store", "get", storeName, id, "--data", data, "--admin-addr", e.Admin)
		if code != 0 || !strings.Contains(errOut, "asking its admin API") {
			t.Fatalf("get %s/%s through the admin API: %d %q", storeName, id, code, errOut)
		}
		b := storedBody(t, out)
		if b["access_token"] != "***" || b["refresh_token"] != "***" || b["scope"] == "***" || b["scope"] == nil {
			t.Errorf("%s/%s through the admin API shows %v; want the tokens as *** and the rest as stored", storeName, id, b)
		}
		code, out, errOut = runCmd("store", "get", "--reveal", storeName, id, "--data", data, "--admin-addr", e.Admin)
		if code != 1 || out != "" || !strings.Contains(errOut, "never goes through the admin API") {
			t.Errorf("--reveal while stride runs: %d %q %q, want a refusal", code, out, errOut)
		}
	}

	if code := e.Stop(); code != 0 {
		t.Errorf("stride exited %d after SIGTERM", code)
	}
	stopped = true
	for storeName, id := range users {
		code, out, errOut := runCmd("store", "get", storeName, id, "--data", data)
		if b := storedBody(t, out); code != 0 || b["access_token"] != "***" || b["refresh_token"] != "***" {
			t.Errorf("get %s/%s on the directory: %d %v %q", storeName, id, code, b, errOut)
		}
		code, out, errOut = runCmd("store", "get", "--reveal", storeName, id, "--data", data)
		if code != 0 {
			t.Fatalf("--reveal %s/%s: %d %q", storeName, id, code, errOut)
		}
		b := storedBody(t, out)
		for _, f := range []string{"access_token", "refresh_token"} {
			if v, _ := b[f].(string); v == "" || v == "***" {
				t.Errorf("--reveal %s/%s: %s = %q, want the token", storeName, id, f, v)
			}
		}
	}
}
