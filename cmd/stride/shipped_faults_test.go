package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stride-engine/stride/internal/demo"
)

// The shipped Fitbit flows, the real binary and the sandbox: a poison
// notification (a date the API refuses) and a hostile one (a date that is
// a path) for a user, then a normal one for the same user. The normal one
// is imported within 5 s; the two others are FAILED after one attempt,
// never retried, never sent as URL syntax, and replayable.
func TestShippedFlowsPoisonAndHostileNotifications(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the stride binary and the sandbox")
	}
	data := t.TempDir()
	e, err := demo.Start(strideBin, "../../flows", data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("stride's log:\n%s", e.Log())
		}
	})
	if status, page, err := e.Connect("ADA1", "", false); err != nil || status != 200 {
		t.Fatalf("connect ADA1: %d %v\n%s", status, err, page)
	}
	callsBefore := e.Fitbit.APICalls("ADA1")
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	for _, day := range []string{"2026-13-45", "2026-07-01/../../../profile", yesterday} {
		if code, err := e.Notify(demo.Update("ADA1", day, "activities")); err != nil || code != 204 {
			t.Fatalf("notify %s: %d %v", day, code, err)
		}
	}
	if !demo.WaitFor(5*time.Second, func() bool { return e.InteractionFor("ADA1", yesterday) != nil }) {
		t.Fatal("the normal notification was not imported within 5 s behind the poison ones")
	}
	var failed []demo.Message
	if !demo.WaitFor(5*time.Second, func() bool {
		msgs, _ := e.Messages()
		failed = failed[:0]
		for _, m := range msgs {
			if m.Flow == "fitbit-notifications" && m.Status == "FAILED" {
				failed = append(failed, m)
			}
		}
		return len(failed) == 2
	}) {
		t.Fatalf("FAILED notifications: %+v, want the two bad ones", failed)
	}
	var reasons []string
	for _, m := range failed {
		if m.Attempt != 1 {
			t.Errorf("%s: attempt %d, want 1 (no retry)", m.ID, m.Attempt)
		}
		reasons = append(reasons, m.Error)
	}
	all := strings.Join(reasons, "\n")
	if !strings.Contains(all, "answered 400") || !strings.Contains(all, `date "2026-07-01/../../../profile" is not what Fitbit sends`) {
		t.Errorf("reasons:\n%s", all)
	}
	// The API saw the refused date once and the normal one; the hostile
	// date never left Stride.
	if calls := e.Fitbit.APICalls("ADA1") - callsBefore; calls != 2 {
		t.Errorf("%d calls to the Fitbit API, want 2 (the refused date once, the normal day)", calls)
	}
	// Both wait in the dead letters and can be replayed.
	for _, m := range failed {
		if code, out, errOut := runCmd("messages", "--admin-addr", e.Admin, "--data", data, "replay", m.ID); code != 0 {
			t.Errorf("replay %s: %d %q %q", m.ID, code, out, errOut)
		}
	}
}
