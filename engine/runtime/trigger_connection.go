package runtime

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/oauth"
)

// connectionTimeout bounds a callback: the code exchange, the identity
// and the flow's steps.
const connectionTimeout = 60 * time.Second

func init() {
	RegisterTrigger(TriggerKind[oauth.Config]{
		TriggerKind: flow.TriggerKind[oauth.Config]{
			Name:    "connection",
			Summary: "Declares an OAuth2 connection to a provider (authorization code, PKCE S256) and serves its consent: GET connect answers 302 to the consent page, GET callback exchanges the code, stores the tokens and runs the flow's steps.",
			Doc: "The flow's id is the connection's name: request: {connection: NAME, user: ...} sends a user's access token, refreshed before it expires and once on a 401 (one refresh per user at a time; a rotated refresh token is stored before use and never sent twice). " +
				"The state is single use, valid state_ttl and bound to the browser by a cookie; a consent without a required scope is revoked and answered 403 naming it. " +
				"The steps run after the tokens are stored, with property.user_id, property.scope and (with identity) property.identity: a failing step forgets the tokens and answers 502; a respond answers the user, else a Connected page. " +
				"connection_refresh and disconnect act on a user's tokens.",
			Example: "trigger:\n  connection:\n    title: Fitbit\n    connect: /fitbit/connect\n    callback: /fitbit/callback\n" +
				"    authorize_url: '${env.FITBIT_AUTHORIZE_URL}'\n    token_url: '${env.FITBIT_API_URL}/oauth2/token'\n    revoke_url: '${env.FITBIT_API_URL}/oauth2/revoke'\n" +
				"    client_id: '${env.FITBIT_CLIENT_ID}'\n    client_secret: '${secret.FITBIT_CLIENT_SECRET}'\n    redirect_uri: '${env.FITBIT_REDIRECT_URI}'\n" +
				"    scopes: '${env.FITBIT_SCOPES}'\n    require: [activity, profile]\n    store: fitbit-users\n    refresh: {rotates: true, grace: 2m}",
			Validate: oauth.Validate,
		},
		New: func(h *Host, f *flow.Flow, c *oauth.Config) (Trigger, error) {
			ct := &connectionTrigger{r: h.rt, set: h.Set(), conn: &oauth.Conn{Flow: f, Cfg: c}}
			h.Handle("GET "+c.Connect, http.HandlerFunc(ct.connect))
			h.Handle("GET "+c.Callback, http.HandlerFunc(ct.callback))
			return nil, nil
		},
	})
}

type connectionTrigger struct {
	r    *Runtime
	set  *flow.FlowSet
	conn *oauth.Conn
}

func (ct *connectionTrigger) exchange(req *http.Request) *flow.Exchange {
	x := ct.r.NewExchange(NewMessageID(), ct.set, flow.NewMessage(nil, ""))
	x.Query = map[string]string{}
	for k, v := range req.URL.Query() {
		x.Query[k] = v[0]
	}
	x.Request = &flow.RequestInfo{Method: req.Method, Path: req.URL.Path, URI: req.RequestURI, Host: req.Host, RemoteAddress: req.RemoteAddr}
	return x
}

func (ct *connectionTrigger) connect(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := ct.r.requestContext(req.Context(), connectionTimeout)
	defer cancel()
	x := ct.exchange(req)
	loc, cookie, err := ct.conn.BeginConsent(ctx, x)
	if err != nil {
		x.Log.Error("connection: starting a consent failed", "flow", ct.conn.Flow.ID, "error", x.Redact(err.Error()))
		writeJSONError(w, http.StatusBadGateway, "could not start the consent", "")
		return
	}
	http.SetCookie(w, cookie)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusFound)
}

func (ct *connectionTrigger) callback(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := ct.r.requestContext(req.Context(), connectionTimeout)
	defer cancel()
	x := ct.exchange(req)
	f := ct.conn.Flow
	if f.Disabled != "" {
		writeJSONError(w, http.StatusServiceUnavailable, "flow "+f.ID+" is disabled", "")
		return
	}
	state := ""
	if c, err := req.Cookie(ct.conn.CookieName()); err == nil {
		state = c.Value
	}
	// Whatever the outcome, the state cookie has served.
	http.SetCookie(w, &http.Cookie{Name: ct.conn.CookieName(), Value: "", Path: ct.conn.Cfg.Callback, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	start := time.Now()
	consent, pg, err := ct.conn.FinishConsent(ctx, x, state)
	switch {
	case err != nil:
		x.Log.Error("connection: consent failed", "flow", f.ID, "error", x.Redact(err.Error()))
		pg = ct.conn.Failed("token-exchange")
		err = &flow.StatusError{Status: http.StatusBadGateway, Msg: x.Redact(err.Error())}
	case pg != nil:
		x.Stop("DISCARDED")
	default:
		x.Msg.Property["user_id"] = consent.UserID
		x.Msg.Property["scope"] = consent.Scope
		if consent.Identity != nil {
			x.Msg.Property["identity"] = consent.Identity
		}
		err = f.Run(ctx, x)
		if err != nil {
			if ferr := ct.conn.Forget(context.WithoutCancel(ctx), x, consent.UserID); ferr != nil {
				x.Log.Error("connection: forgetting the tokens after a failed consent", "flow", f.ID, "error", ferr)
			}
			step := "steps"
			var se *flow.StepError
			if errors.As(err, &se) {
				step = se.Step
			}
			pg = ct.conn.Failed(step)
		}
	}
	ct.r.Finish(ctx, x, f, "connection", 1, start, err)
	if pg == nil && x.Response != nil {
		for k, v := range x.Response.Header {
			w.Header().Set(k, v)
		}
		if x.Response.ContentType != "" && len(x.Response.Body) > 0 {
			w.Header().Set("Content-Type", x.Response.ContentType)
		}
		w.Header().Set("X-Stride-Message-Id", x.ID)
		writeBody(w, req, x.Response.Status, x.Response.Body)
		return
	}
	if pg == nil {
		pg = ct.conn.Connected(consent.UserID)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Stride-Message-Id", x.ID)
	writeBody(w, req, pg.Status, []byte(pg.Body))
}
