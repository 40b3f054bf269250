// Package sandbox provides local fakes of the two APIs the shipped Fitbit
// flows talk to: the Fitbit Web API with its OAuth 2.0 server, and the
// SAP Marketing Cloud import service CUAN_IMPORT_SRV.
//
// The fakes follow the real services' documented behaviour, not the flows'
// convenience: authorization codes are single-use and live 10 minutes, PKCE
// is S256 only, refresh tokens rotate and a spent one answers 400
// invalid_grant (after Fitbit's documented grace for an identical repeat),
// the API is rate limited per user, notifications are signed like Fitbit's,
// and Marketing Cloud wants Basic auth plus a CSRF token bound to a session
// cookie and validates ImportHeaders like an OData service.
//
// The package imports only the standard library and nothing of the engine:
// it must not share code (and so bugs) with the flows it checks.
//
// Both fakes are http.Handlers. Start listens on loopback (127.0.0.1:0 or
// a given loopback address) and sets URL; Serve runs both, as
// `stride sandbox` does. Every fake has control endpoints under /sandbox/
// (no auth) for scripts, and Go methods for tests.
package sandbox
