package sandbox

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// collectionScope is the scope a subscription to a collection needs
// ("" for none).
var collectionScope = map[string]string{
	"activities": "activity", "body": "weight", "foods": "nutrition", "sleep": "sleep", "userRevokedAccess": "",
}

// allCollectionsScopes are needed by a subscription without a collection.
var allCollectionsScopes = []string{"activity", "nutrition", "profile", "settings", "sleep", "weight"}

// Subscription is a Fitbit subscription, in the API's JSON shape.
type Subscription struct {
	CollectionType string `json:"collectionType"` // "user" for all collections
	OwnerID        string `json:"ownerId"`
	OwnerType      string `json:"ownerType"`
	SubscriberID   string `json:"subscriberId"`
	SubscriptionID string `json:"subscriptionId"`
}

// Subscriptions lists the user's subscriptions by subscription id.
func (f *Fitbit) Subscriptions(user string) []Subscription {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subscriptionsLocked(user)
}

func (f *Fitbit) subscriptionsLocked(user string) []Subscription {
	out := []Subscription{}
	for _, s := range f.subs {
		if s.OwnerID == user {
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SubscriptionID < out[j].SubscriptionID })
	return out
}

func (f *Fitbit) rateLocked(user string) *rateState {
	rs := f.rate[user]
	if rs == nil {
		rs = &rateState{}
		f.rate[user] = rs
	}
	return rs
}

// apiCall is an authenticated /1/user request.
type apiCall struct {
	user   string // the token's user
	scopes []string
}

// authenticate checks the bearer token and the rate limit, writing the
// rate-limit headers. It answers 401 or 429 itself and returns false.
func (f *Fitbit) authenticate(w http.ResponseWriter, r *http.Request) (apiCall, bool) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	token = strings.TrimSpace(token)
	w.Header().Set("WWW-Authenticate", `Bearer realm="api.fitbit.com"`)
	if h == "" {
		fitbitError(w, http.StatusUnauthorized, "invalid_client", "Authorization header required."+oauthHelp)
		return apiCall{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.access[token]
	if !ok || a == nil || a.g.revoked {
		if a != nil {
			f.countersLocked(a.g.user).unauthorized++
		}
		f.stats.Unauthorized++
		fitbitError(w, http.StatusUnauthorized, "invalid_token", "Access token invalid: "+token+"."+oauthHelp)
		return apiCall{}, false
	}
	now := f.now()
	if !now.Before(a.expires) {
		f.countersLocked(a.g.user).unauthorized++
		f.stats.Unauthorized++
		fitbitError(w, http.StatusUnauthorized, "expired_token", "Access token expired: "+token+"."+oauthHelp)
		return apiCall{}, false
	}
	w.Header().Del("WWW-Authenticate")
	user := a.g.user
	c := f.countersLocked(user)
	c.apiCalls++
	f.stats.APICalls++
	a.uses++

	rs := f.rateLocked(user)
	window := now.Truncate(time.Hour)
	if !rs.window.Equal(window) {
		rs.window, rs.count = window, 0
	}
	limit := f.opts.RateLimit
	reset := int(window.Add(time.Hour).Sub(now).Seconds() + 0.999)
	hdr := w.Header()
	if rs.forced > 0 {
		rs.forced--
		after := int(f.opts.ForcedRetryAfter.Seconds() + 0.999)
		hdr.Set("Fitbit-Rate-Limit-Limit", strconv.Itoa(max(limit, 0)))
		hdr.Set("Fitbit-Rate-Limit-Remaining", "0")
		hdr.Set("Fitbit-Rate-Limit-Reset", strconv.Itoa(after))
		hdr.Set("Retry-After", strconv.Itoa(after))
		c.rateLimited++
		f.stats.RateLimited++
		fitbitError(w, http.StatusTooManyRequests, "system", "Too Many Requests")
		return apiCall{}, false
	}
	if limit > 0 {
		hdr.Set("Fitbit-Rate-Limit-Limit", strconv.Itoa(limit))
		hdr.Set("Fitbit-Rate-Limit-Reset", strconv.Itoa(reset))
		if rs.count >= limit {
			hdr.Set("Fitbit-Rate-Limit-Remaining", "0")
			hdr.Set("Retry-After", strconv.Itoa(reset))
			c.rateLimited++
			f.stats.RateLimited++
			fitbitError(w, http.StatusTooManyRequests, "system", "Too Many Requests")
			return apiCall{}, false
		}
		rs.count++
		hdr.Set("Fitbit-Rate-Limit-Remaining", strconv.Itoa(limit-rs.count))
	}
	return apiCall{user: user, scopes: a.g.scopes}, true
}

func insufficientScope(w http.ResponseWriter, what string) {
	fitbitError(w, http.StatusForbidden, "insufficient_scope",
		"This application does not have permission to access "+what+" data."+oauthHelp)
}

// handleAPI serves /1/user/{user-id}/...
func (f *Fitbit) handleAPI(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/1/user/")
	seg := strings.Split(rest, "/")
	if len(seg) < 2 || seg[0] == "" {
		fitbitError(w, http.StatusNotFound, "not_found", "The API you are requesting could not be found.")
		return
	}
	call, ok := f.authenticate(w, r)
	if !ok {
		return
	}
	if seg[0] != "-" && seg[0] != call.user {
		fitbitError(w, http.StatusForbidden, "insufficient_permissions",
			"The caller does not have permission to access the resources of user "+seg[0]+".")
		return
	}
	path := seg[1:]
	switch {
	case len(path) == 1 && path[0] == "profile.json":
		if !methodIs(w, r, http.MethodGet) {
			return
		}
		if !slices.Contains(call.scopes, "profile") {
			insufficientScope(w, "profile")
			return
		}
		f.mu.Lock()
		u := f.userLocked(call.user)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, profileJSON(u))
	case len(path) == 3 && path[0] == "activities" && path[1] == "date" && strings.HasSuffix(path[2], ".json"):
		if !methodIs(w, r, http.MethodGet) {
			return
		}
		if !slices.Contains(call.scopes, "activity") {
			insufficientScope(w, "activity")
			return
		}
		date := strings.TrimSuffix(path[2], ".json")
		if date == "today" {
			date = f.now().UTC().Format("2006-01-02")
		}
		if !validDate(date) {
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"errors":  []fitbitErr{{ErrorType: "validation", FieldName: "date", Message: "Invalid date:" + date}},
				"success": false,
			})
			return
		}
		f.mu.Lock()
		f.fetches[call.user+"/"+date]++
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, activityJSON(call.user, date))
	case len(path) == 1 && path[0] == "apiSubscriptions.json":
		f.listSubscriptions(w, r, call, "")
	case len(path) == 2 && path[1] == "apiSubscriptions.json":
		if _, known := collectionScope[path[0]]; !known {
			fitbitError(w, http.StatusNotFound, "not_found", "Unknown collection "+path[0]+".")
			return
		}
		f.listSubscriptions(w, r, call, path[0])
	case len(path) == 2 && path[0] == "apiSubscriptions" && strings.HasSuffix(path[1], ".json"):
		f.subscription(w, r, call, "", strings.TrimSuffix(path[1], ".json"))
	case len(path) == 3 && path[1] == "apiSubscriptions" && strings.HasSuffix(path[2], ".json"):
		if _, known := collectionScope[path[0]]; !known {
			fitbitError(w, http.StatusNotFound, "not_found", "Unknown collection "+path[0]+".")
			return
		}
		f.subscription(w, r, call, path[0], strings.TrimSuffix(path[2], ".json"))
	default:
		fitbitError(w, http.StatusNotFound, "not_found", "The API you are requesting could not be found.")
	}
}

func methodIs(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	fitbitError(w, http.StatusMethodNotAllowed, "request", "Method "+r.Method+" is not allowed here.")
	return false
}

func (f *Fitbit) listSubscriptions(w http.ResponseWriter, r *http.Request, call apiCall, collection string) {
	if !methodIs(w, r, http.MethodGet) {
		return
	}
	f.mu.Lock()
	list := f.subscriptionsLocked(call.user)
	f.mu.Unlock()
	if collection != "" {
		list = slices.DeleteFunc(list, func(s Subscription) bool { return s.CollectionType != collection })
	}
	writeJSON(w, http.StatusOK, map[string]any{"apiSubscriptions": list})
}

// subscription creates (POST) or deletes (DELETE) a subscription.
// collection "" is the all-collections subscription (collectionType "user").
func (f *Fitbit) subscription(w http.ResponseWriter, r *http.Request, call apiCall, collection, id string) {
	if !methodIs(w, r, http.MethodPost, http.MethodDelete) {
		return
	}
	if id == "" || len(id) > 50 {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"errors":  []fitbitErr{{ErrorType: "validation", FieldName: "subscription-id", Message: "The subscription id must have 1 to 50 characters."}},
			"success": false,
		})
		return
	}
	if collection == "" {
		for _, s := range allCollectionsScopes {
			if !slices.Contains(call.scopes, s) {
				insufficientScope(w, s)
				return
			}
		}
	} else if need := collectionScope[collection]; need != "" && !slices.Contains(call.scopes, need) {
		insufficientScope(w, need)
		return
	}
	collType := collection
	if collType == "" {
		collType = "user"
	}
	subscriber := r.Header.Get("X-Fitbit-Subscriber-Id")
	if subscriber == "" {
		subscriber = f.opts.DefaultSubscriberID
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	existing := f.subs[id]
	if r.Method == http.MethodDelete {
		if existing == nil || existing.OwnerID != call.user || existing.CollectionType != collType {
			fitbitError(w, http.StatusNotFound, "not_found", "Subscription "+id+" was not found for this user and collection.")
			return
		}
		delete(f.subs, id)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if existing != nil {
		if existing.OwnerID == call.user && existing.CollectionType == collType && existing.SubscriberID == subscriber {
			writeJSON(w, http.StatusOK, existing)
			return
		}
		writeJSON(w, http.StatusConflict, map[string]any{
			"errors": []fitbitErr{{ErrorType: "conflict", Message: "The subscription id " + id +
				" is already used by another stream (user " + existing.OwnerID + ", collection " + existing.CollectionType + ")."}},
			"success": false,
		})
		return
	}
	// Each subscriber has only one subscription per user and collection.
	for _, s := range f.subs {
		if s.OwnerID == call.user && s.CollectionType == collType && s.SubscriberID == subscriber {
			writeJSON(w, http.StatusConflict, map[string]any{
				"errors": []fitbitErr{{ErrorType: "conflict", Message: "Subscriber " + subscriber + " already has subscription " +
					s.SubscriptionID + " for this user and collection."}},
				"success": false,
			})
			return
		}
	}
	s := &Subscription{CollectionType: collType, OwnerID: call.user, OwnerType: "user", SubscriberID: subscriber, SubscriptionID: id}
	f.subs[id] = s
	writeJSON(w, http.StatusCreated, s)
}
