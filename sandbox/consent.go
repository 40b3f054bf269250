package sandbox

import (
	"fmt"
	"html"
	"net/http"
	"strings"
)

// consentPage is the provider's consent page for a browser (an Approval
// with Page set): it names the user and the scopes asked for, each a
// checked box, and its Allow and Deny buttons send the authorization
// request again with sandbox_user and sandbox_scopes (or sandbox_deny),
// so that the same handler answers as for any other client.
func consentPage(w http.ResponseWriter, r *http.Request, provider, user string, scopes []string) {
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, "<!doctype html><html><head><title>%s: allow access?</title></head><body>\n", esc(provider))
	fmt.Fprintf(&b, "<h1>%s</h1>\n<form id=\"consent\" method=\"get\" action=\"%s\">\n", esc(provider), esc(r.URL.Path))
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			fmt.Fprintf(&b, "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n", esc(k), esc(v))
		}
	}
	fmt.Fprintf(&b, "<p>Signed in as <strong id=\"user\">%s</strong>. The app asks for:</p>\n", esc(user))
	fmt.Fprintf(&b, "<input type=\"hidden\" name=\"sandbox_user\" value=\"%s\">\n<ul>\n", esc(user))
	for _, s := range scopes {
		fmt.Fprintf(&b, "<li><label><input type=\"checkbox\" name=\"sandbox_scopes\" value=\"%s\" checked> %s</label></li>\n", esc(s), esc(s))
	}
	b.WriteString("</ul>\n<button id=\"allow\" type=\"submit\">Allow</button>\n")
	b.WriteString("<button id=\"deny\" type=\"submit\" name=\"sandbox_deny\" value=\"1\">Deny</button>\n</form></body></html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(b.String()))
}

// formScopes reads sandbox_scopes: one space-separated value, or one
// value per checked box of the consent page.
func formScopes(vs []string) []string { return strings.Fields(strings.Join(vs, " ")) }
