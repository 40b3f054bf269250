package flow

// Scope is what an expression sees. Field tags give the names a flow
// writes: body, json, header, property, query, request, env, secret,
// error (inside on_error), split (inside split), item (inside a
// for_each of a mapping) and message (its id and correlation id).
//
// A typed struct rather than a map lets the expression compiler reject an
// unknown name, or a misspelled field such as error.mesage, when the flow
// loads.
type Scope struct {
	Body     string            `expr:"body"`
	JSON     any               `expr:"json"`
	Header   map[string]string `expr:"header"`
	Property map[string]any    `expr:"property"`
	Query    map[string]string `expr:"query"`
	Request  *RequestInfo      `expr:"request"`
	Env      map[string]string `expr:"env"`
	Secret   map[string]string `expr:"secret"`
	Error    *ErrorInfo        `expr:"error"`
	Split    *SplitInfo        `expr:"split"`
	Item     any               `expr:"item"`
	Message  MessageInfo       `expr:"message"`

	x *Exchange
}

// RequestInfo describes the inbound HTTP request of an http-triggered flow.
type RequestInfo struct {
	Method        string            `expr:"method"`
	Path          string            `expr:"path"`
	URI           string            `expr:"uri"`  // path and query as received, e.g. /hook?a=1
	Host          string            `expr:"host"` // the Host header
	RemoteAddress string            `expr:"remote_address"`
	Params        map[string]string `expr:"params"` // path parameters, e.g. {id} of /users/{id}
}

// ErrorInfo is error.* inside an on_error subprocess.
type ErrorInfo struct {
	Message string `expr:"message"`
	Step    string `expr:"step"`
	// Status is the HTTP status of the failure (a request's answer, a
	// fail step's status), or nil when there was none: never a 0 that
	// looks like a status.
	Status any    `expr:"status"`
	Body   string `expr:"body"`
	File   string `expr:"file"` // file:line of the failed step
	// Attempt counts the failures of this step in this message: 1 the
	// first time, 2 after on_error ran it again once, and so on.
	Attempt int `expr:"attempt"`
	// RetriesLeft is how many more times on_error's retry may run the
	// step (its max minus the retries used): a repair (a token refresh)
	// is worth running only when it is more than 0.
	RetriesLeft int `expr:"retries_left"`
}

// SplitInfo is split.* inside the steps of a split.
type SplitInfo struct {
	Index int  `expr:"index"`
	Size  int  `expr:"size"`
	Last  bool `expr:"last"`
}
