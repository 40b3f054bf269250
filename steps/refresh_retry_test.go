package steps_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
)

// TestOn401RefreshAndRetry is the seed's pattern: the API answers 401 for
// an expired token; on_error calls a refresh sub-flow, which gets a new
// token, and retries the failed request once.
func TestOn401RefreshAndRetry(t *testing.T) {
	var apiCalls, tokenCalls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			tokenCalls.Add(1)
			if r.FormValue("grant_type") != "refresh_token" || r.FormValue("refresh_token") != "rt-1" {
				w.WriteHeader(400)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"fresh","refresh_token":"rt-2"}`)
		case "/data":
			apiCalls.Add(1)
			if r.Header.Get("Authorization") != "Bearer fresh" {
				w.WriteHeader(401)
				fmt.Fprint(w, `{"errors":[{"errorType":"expired_token"}]}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"steps":15720}`)
		}
	}))
	defer srv.Close()
	set, err := flow.Load([]flow.Source{
		{Name: "fetch.yaml", Data: []byte(fmt.Sprintf(`
flow: fetch
trigger: {call: {}}
steps:
  - set: {properties: {token: stale, refresh_token: rt-1}}
  - name: activities
    request: {url: '%s/data', auth: {bearer: '${property.token}'}, into: property.summary}
  - set: {properties: {steps: '${property.summary.steps}'}}
on_error:
  - route:
      - when: error.status == 401 && error.step == "activities"
        steps:
          - call: refresh
          - retry: {max: 1}
`, srv.URL))},
		{Name: "refresh.yaml", Data: []byte(fmt.Sprintf(`
flow: refresh
trigger: {call: {}}
steps:
  - request:
      method: POST
      url: '%s/token'
      form: {grant_type: refresh_token, refresh_token: '${property.refresh_token}'}
      into: property.tokens
  - set: {properties: {token: '${property.tokens.access_token}', refresh_token: '${property.tokens.refresh_token}'}}
`, srv.URL))},
	})
	if err != nil {
		t.Fatal(err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	x := newExchange("m", flow.NewMessage(nil, ""), set, nil)
	if err := set.Run(context.Background(), "fetch", x); err != nil {
		t.Fatal(err)
	}
	if x.Msg.Property["steps"] != int64(15720) || x.Msg.Property["refresh_token"] != "rt-2" {
		t.Fatalf("properties %v", x.Msg.Property)
	}
	if apiCalls.Load() != 2 || tokenCalls.Load() != 1 {
		t.Fatalf("api called %d times (want 2: expired, then fresh), token %d (want 1)", apiCalls.Load(), tokenCalls.Load())
	}
}
