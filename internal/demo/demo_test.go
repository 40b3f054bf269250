package demo

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var strideBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stride-e2e-")
	if err != nil {
		panic(err)
	}
	strideBin = filepath.Join(dir, "stride")
	if out, err := exec.Command("go", "build", "-o", strideBin, "../../cmd/stride").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func start(t *testing.T) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: starts the stride binary")
	}
	e, err := Start(strideBin, "../../flows", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if code := e.Stop(); code != 0 && !t.Failed() {
			t.Errorf("stride exited %d after SIGTERM", code)
		}
		if t.Failed() {
			t.Logf("stride's log:\n%s", e.Log())
		}
	})
	return e
}

// TestEndToEnd is `make demo`'s scenario as a test: the shipped flows
// against the sandbox, through the real binary.
func TestEndToEnd(t *testing.T) {
	e := start(t)
	r := Scenario(e)
	for _, c := range r.Checks {
		if !c.OK {
			t.Errorf("%s: %s", c.Name, c.Got)
		}
	}
}

// TestBurstWithFailuresAndACrash: 20 users, 200 notifications sent
// concurrently while tokens expire at random, Marketing Cloud answers 503
// for a while, Fitbit answers 429 with Retry-After, and stride is killed
// with SIGKILL mid-burst and restarted. Every interaction arrives exactly
// once and no refresh token is spent twice.
func TestBurstWithFailuresAndACrash(t *testing.T) {
	e := start(t)
	var users []string
	for i := range 20 {
		u := fmt.Sprintf("BURST%02d", i)
		status, page, err := e.Connect(u, "", false)
		if err != nil || status != 200 {
			t.Fatalf("connect %s: %d %v %s", u, status, err, page)
		}
		users = append(users, u)
	}
	today := time.Now().UTC()
	type note struct{ user, day string }
	var notes []note
	for _, u := range users {
		for d := range 10 {
			notes = append(notes, note{u, today.AddDate(0, 0, -(d + 2)).Format("2006-01-02")})
		}
	}
	rand.Shuffle(len(notes), func(i, j int) { notes[i], notes[j] = notes[j], notes[i] })

	e.MKC.FailNext(15, 503)
	for _, u := range users[:5] {
		e.Fitbit.ForceRateLimit(u, 2)
	}
	send := func(batch []note) {
		var wg sync.WaitGroup
		ch := make(chan note)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range ch {
					if rand.IntN(10) == 0 {
						e.Fitbit.ExpireAccessToken(n.user)
					}
					for attempt := 0; ; attempt++ { // as Fitbit does: resend until 204
						code, err := e.Notify(Update(n.user, n.day, "activities"))
						if err == nil && code == 204 {
							break
						}
						if attempt > 100 {
							t.Errorf("notification %v never accepted: %d %v", n, code, err)
							break
						}
						time.Sleep(50 * time.Millisecond)
					}
				}
			}()
		}
		for _, n := range batch {
			ch <- n
		}
		close(ch)
		wg.Wait()
	}
	send(notes[:100])
	e.Kill() // mid-burst: queued and in-flight notifications must survive
	if err := e.Restart(); err != nil {
		t.Fatal(err)
	}
	send(notes[100:])

	complete := WaitFor(90*time.Second, func() bool {
		for _, n := range notes {
			if e.InteractionFor(n.user, n.day) == nil {
				return false
			}
		}
		return true
	})
	if !complete {
		missing := 0
		for _, n := range notes {
			if e.InteractionFor(n.user, n.day) == nil {
				missing++
			}
		}
		t.Fatalf("%d of %d interactions never arrived", missing, len(notes))
	}
	byKey := map[string]int{}
	for _, in := range e.MKC.Interactions() {
		byKey[in.SourceObjectID]++
		want := float64(e.Fitbit.StepsFor(in.ContactID, strings.TrimPrefix(in.SourceObjectID, in.ContactID+"-")))
		if in.Quantifier == nil || *in.Quantifier != want {
			t.Errorf("%s: quantifier %v, want %v", in.SourceObjectID, deref(in.Quantifier), want)
		}
	}
	if len(byKey) != len(notes) {
		t.Errorf("%d distinct interactions, want %d", len(byKey), len(notes))
	}
	for k, n := range byKey {
		if n != 1 {
			t.Errorf("interaction %s exists %d times", k, n)
		}
	}
	if n := e.Fitbit.SpentRefreshTokenReused(); n != 0 {
		t.Errorf("a dead refresh token was presented %d times", n)
	}
	t.Logf("%d notifications, %d interactions, %d imports in Marketing Cloud, refreshes %d", len(notes), len(byKey), e.MKC.ImportCount(), refreshes(e, users))
}

func refreshes(e *Env, users []string) int {
	n := 0
	for _, u := range users {
		n += e.Fitbit.RefreshCount(u)
	}
	return n
}
