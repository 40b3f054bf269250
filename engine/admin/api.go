package admin

import "time"

// The request and response bodies of the admin API (CONTRACT.md). The
// handlers write these types and Client decodes them, so the server and
// `stride` (the CLI) cannot drift apart. The JSON field names are a fixed
// contract: a field may be added, never renamed. Fields are declared in the
// order the answers have always carried them.

// Error codes: the "code" of every error answer. A caller decides on the
// code, never on the "error" text, which is for people and may change.
const (
	// CodeUnauthorized (401): STRIDE_ADMIN_TOKEN is set and the request
	// lacks "Authorization: Bearer <token>" or carries another token.
	CodeUnauthorized = "unauthorized"
	// CodeNotFound (404): no such flow, message, dead letter or store
	// entry.
	CodeNotFound = "not_found"
	// CodeAlreadyRunning (409): a run of the timer flow is still going; a
	// timer flow never overlaps itself.
	CodeAlreadyRunning = "already_running"
	// CodeNotRunnable (422): the flow exists but does not run on demand:
	// its trigger is not a timer, or it is disabled (a missing variable).
	CodeNotRunnable = "not_runnable"
	// CodeUnavailable: the runtime does not run flows now. 503 from
	// /admin/health while starting; 422 from a run while stopping; 503
	// from /admin/backup while stopping.
	CodeUnavailable = "unavailable"
	// CodeInvalid (422): a reload found invalid flow files; the answer
	// lists them (ReloadInvalid) and the running flows keep serving.
	CodeInvalid = "invalid"
	// CodeWouldStopFlows (409): a reload would stop flows that are running
	// now (a flow file removed, a flow disabled by a missing variable);
	// it was refused and the running flows keep serving. The answer
	// (ReloadRefused) lists them; POST /admin/reload?force=true applies
	// it anyway.
	CodeWouldStopFlows = "would_stop_flows"
	// CodeBadRequest (400): an argument the store refuses, such as a store
	// name with a space.
	CodeBadRequest = "bad_request"
	// CodeInternal (500): the store failed.
	CodeInternal = "internal"
)

// Error is the body of every error answer but a failed or refused
// reload's (ReloadInvalid, ReloadRefused, which carry its fields too) and
// a starting health check's (HealthStarting).
type Error struct {
	// Message is for people: what went wrong, in a sentence.
	Message string `json:"error"`
	// Code is for programs: one of the Code constants.
	Code string `json:"code"`
	// MessageID names the message the error is about, when there is one.
	// Flows' own HTTP error answers carry it in the same field.
	MessageID string `json:"message_id,omitempty"`
}

// Health is GET /admin/health's 200 answer, once every flow is loaded and
// the listeners are up: {"flows": N, "status": "ok"}.
type Health struct {
	Flows  int    `json:"flows"`
	Status string `json:"status"`
}

// HealthStarting is GET /admin/health's 503 answer before Stride is ready:
// {"status": "starting", "code": "unavailable"}. It needs no token, so a
// supervisor can poll it.
type HealthStarting struct {
	Status string `json:"status"`
	Code   string `json:"code"`
}

// Liveness is GET /healthz's answer: the process is alive.
type Liveness struct {
	Status string `json:"status"`
}

// Readiness is GET /readyz's answer: {"status": "ready"} (200), or
// {"status": "not ready", "reasons": [...], "code": "unavailable"} (503).
type Readiness struct {
	Status  string   `json:"status"`
	Reasons []string `json:"reasons"`
	Code    string   `json:"code,omitempty"`
}

// FlowStatus is one entry of GET /admin/flows.
type FlowStatus struct {
	ID      string `json:"id"`
	File    string `json:"file"`
	Version string `json:"version"` // content hash of the file
	Trigger string `json:"trigger"` // the trigger kind: http, timer, queue, call
	Status  string `json:"status"`  // "running" or "disabled"
	Reason  string `json:"reason,omitempty"`
}

// LoadError is one error of a flow file, with its position: an entry of
// the errors of GET /admin/flows and of a failed reload. An error that is
// not about one place in a file (an unreadable directory) has File set to
// the directory and Line and Col zero.
type LoadError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

// FlowsResponse is GET /admin/flows's answer. Errors lists the files of the
// last load that failed (the flows listed keep running). Both lists are
// always present, empty rather than null.
type FlowsResponse struct {
	Flows  []FlowStatus `json:"flows"`
	Errors []LoadError  `json:"errors"`
}

// ReloadResponse is POST /admin/reload's 200 answer.
type ReloadResponse struct {
	Status   string            `json:"status"` // "reloaded"
	TookMS   float64           `json:"took_ms"`
	Versions map[string]string `json:"versions"` // flow id → version
	// Forced is true for a reload with force=true; Stopped lists the
	// running flows it stopped (absent when none).
	Forced  bool          `json:"forced,omitempty"`
	Stopped []StoppedFlow `json:"stopped,omitempty"`
}

// ReloadQuery is the query of POST /admin/reload.
type ReloadQuery struct {
	// Force applies a valid set even when it stops running flows.
	Force bool
}

// StoppedFlow is a running flow that a reload stops (forced) or would
// stop (refused).
type StoppedFlow struct {
	ID   string `json:"id"`
	File string `json:"file"` // the file of the running version
	// Removed is true when no flow file declares the flow any more;
	// otherwise the new files have it disabled (Reason says why).
	Removed bool   `json:"removed,omitempty"`
	Reason  string `json:"reason"`
}

// ReloadRefused is POST /admin/reload's 409 answer: the new flows would
// stop running flows, so nothing was swapped in and the running flows
// keep serving. WouldStop lists them; Errors says the same as
// GET /admin/flows's errors do until the next reload.
type ReloadRefused struct {
	Message   string        `json:"error"`
	Code      string        `json:"code"`   // CodeWouldStopFlows
	Status    string        `json:"status"` // "refused; the running flows keep serving"
	WouldStop []StoppedFlow `json:"would_stop"`
	Errors    []LoadError   `json:"errors"`
}

// ReloadInvalid is POST /admin/reload's 422 answer: the files are invalid
// (or the directory or the env file could not be read: the entry names
// it), nothing was swapped in and the running flows keep serving.
type ReloadInvalid struct {
	Errors []LoadError `json:"errors"`
	Status string      `json:"status"` // "invalid; the running flows keep serving"
	Code   string      `json:"code"`   // CodeInvalid
}

// RunResponse is POST /admin/flows/{id}/run's 202 answer: the run started
// in the background as this message.
type RunResponse struct {
	MessageID string `json:"message_id"`
}

// MessagesQuery is the query of GET /admin/messages. A zero field means
// no filter: every flow, every status, the store's default limit.
type MessagesQuery struct {
	Flow   string // flow id
	Status string // a log status (COMPLETED, FAILED, ESCALATED, ...)
	Limit  int
}

// MessagesResponse is GET /admin/messages's answer, newest first.
type MessagesResponse struct {
	Messages []MessageJSON `json:"messages"`
}

// MessageResponse is GET /admin/messages/{id}'s answer: every attempt of
// the message, oldest first, with payloads.
type MessageResponse struct {
	Attempts []MessageJSON `json:"attempts"`
}

// MessageJSON is a message log entry as the admin API and `stride
// messages` show it.
type MessageJSON struct {
	ID string `json:"id"`
	// CorrelationID ties the messages one inbound request caused
	// together; it is ID when this message started the chain.
	CorrelationID string `json:"correlation_id,omitempty"`
	// TraceID is the run's OpenTelemetry trace id, when it had one.
	TraceID     string      `json:"trace_id,omitempty"`
	Flow        string      `json:"flow"`
	FlowVersion string      `json:"flow_version"`
	Trigger     string      `json:"trigger"`
	Queue       string      `json:"queue,omitempty"`
	Attempt     int         `json:"attempt"`
	Status      string      `json:"status"`
	Start       time.Time   `json:"start"`
	End         time.Time   `json:"end"`
	Error       string      `json:"error,omitempty"`
	Trace       []TraceJSON `json:"trace"`
	Payload     string      `json:"payload,omitempty"`
}

// TraceJSON is one step of a message's trace.
type TraceJSON struct {
	Step       string  `json:"step"`
	Kind       string  `json:"kind"`
	At         string  `json:"at"` // file:line of the step
	DurationMS float64 `json:"duration_ms"`
	Outcome    string  `json:"outcome"`
	Error      string  `json:"error,omitempty"`
}

// ReplayResponse is POST /admin/messages/{id}/replay's 202 answer: the
// dead letter is back on its queue.
type ReplayResponse struct {
	MessageID string `json:"message_id"`
	Queue     string `json:"queue"`
}

// StoresResponse is GET /admin/stores's answer.
type StoresResponse struct {
	Stores []StoreInfo `json:"stores"`
}

// StoreInfo is one data store and its number of live entries.
type StoreInfo struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// StoreEntriesQuery is the query of GET /admin/stores/{store}. A zero
// field means no filter: every id, however many.
type StoreEntriesQuery struct {
	Prefix string // only ids that start with it
	After  string // only ids after it: the last id of the previous page
	Limit  int
}

// StoreEntriesResponse is GET /admin/stores/{store}'s answer: ids and
// times, never values (GET /admin/stores/{store}/{id} reads one).
type StoreEntriesResponse struct {
	Entries []StoreEntry `json:"entries"`
}

// StoreEntry is one entry of a data store, without its value.
type StoreEntry struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"` // zero: never expires
}

// BackupContentType is the type of GET /admin/backup's 200 answer: not a
// JSON body but the backup file itself (see store.Backup for its format),
// streamed while it is taken. `stride store backup` writes it to a file;
// `stride store restore` loads it into a new directory.
const BackupContentType = "application/vnd.stride.backup"

// CodeForbidden (403): a request authenticated by the monitor's session
// cookie changes state without the session's CSRF token in the
// X-CSRF-Token header.
const CodeForbidden = "forbidden"

// FlowDiagram is GET /admin/flows/{id}/diagram's answer: the flow's
// trigger, steps and on_error as a tree, each node with its file:line and
// YAML, built from the flow's file. The monitor page draws it.
type FlowDiagram struct {
	ID      string `json:"id"`
	File    string `json:"file"`
	Version string `json:"version"`
	// Stale is true when the file on disk is no longer the version that
	// runs (an edit not loaded yet, or one that failed to load): the
	// positions and YAML are the file's, the counts the running version's.
	Stale   bool          `json:"stale,omitempty"`
	Trigger DiagramNode   `json:"trigger"`
	Steps   []DiagramNode `json:"steps"`
	OnError []DiagramNode `json:"on_error"`
}

// DiagramNode is a trigger or a step of a flow diagram.
type DiagramNode struct {
	Kind string `json:"kind"`           // step or trigger kind: route, split, http...
	Name string `json:"name,omitempty"` // the step's name:, when it has one
	At   string `json:"at"`             // file:line, as in a message trace
	YAML string `json:"yaml"`           // the node's lines of the file
	// Branches are the nested step lists of a route, split, lock... in
	// file order: a route's when branches and otherwise, a split's steps.
	Branches []DiagramBranch `json:"branches,omitempty"`
}

// DiagramBranch is one nested list of steps with what selects it: "when
// json.x > 1", "otherwise", "steps".
type DiagramBranch struct {
	Label string        `json:"label"`
	Steps []DiagramNode `json:"steps"`
}

// StepCountsResponse is GET /admin/stepcounts's answer: how often each
// step ran, and failed, since stride started, by its file:line. A called
// flow's steps count wherever they were called from.
type StepCountsResponse struct {
	// Loaded is when the running flows were loaded: the start or the
	// last reload.
	Loaded time.Time                `json:"loaded,omitzero"`
	Steps  map[string]StepCountJSON `json:"steps"`
}

// StepCountJSON is the runs and errors of one step.
type StepCountJSON struct {
	Runs   int64 `json:"runs"`
	Errors int64 `json:"errors"`
}

// MessageSearchQuery is the query of GET /admin/messages/search. A zero
// field means no filter.
type MessageSearchQuery struct {
	Flow   string // flow id (an index makes this fast)
	Status string // a log status, case-insensitive
	ID     string // a message id: its attempts, nothing else
	// Correlation keeps the messages of one correlation id: a webhook's
	// and those its consumers ran (correlation=).
	Correlation string
	Text        string    // words that the id, correlation or trace id, flow, status, error or a step's name or error contain, case-insensitive
	Since       time.Time // entries that started at or after it
	Until       time.Time // entries that started before it
	Before      time.Time // the cursor: Next of the previous page
	Limit       int       // entries per page; default 50, at most 500
}

// MessageSearchResponse is GET /admin/messages/search's answer, newest
// first. A search reads a bounded number of log entries per page (about
// 20,000 at most; Scanned says how many), never the whole log: Next, when set, is the
// cursor (the before= of the next page) from which older entries may
// still match.
type MessageSearchResponse struct {
	Messages []MessageJSON `json:"messages"`
	Scanned  int           `json:"scanned"`
	Next     string        `json:"next,omitempty"` // RFC 3339 with nanoseconds
}

// QueuesResponse is GET /admin/queues's answer.
type QueuesResponse struct {
	Queues []QueueInfo `json:"queues"`
}

// QueueInfo is one durable queue's state.
type QueueInfo struct {
	Name     string `json:"name"`
	Ready    int    `json:"ready"`
	InFlight int    `json:"in_flight"`
	Retrying int    `json:"retrying"` // waiting for a retry (or a delay)
	Dead     int    `json:"dead"`
	// Oldest is the enqueue time of the oldest live message, absent when
	// the queue is empty.
	Oldest time.Time `json:"oldest,omitzero"`
}

// DeadLettersResponse is GET /admin/queues/{queue}/dead's answer, oldest
// first.
type DeadLettersResponse struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
}

// DeadLetter is one dead letter of a queue. Body is the first
// DeadLetterBodyLimit bytes of the message (BodyBytes is its size).
type DeadLetter struct {
	ID          string            `json:"id"`
	Key         string            `json:"key,omitempty"`
	Attempts    int               `json:"attempts"`
	LastError   string            `json:"last_error,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	Body        string            `json:"body"`
	BodyBytes   int               `json:"body_bytes"`
}

// DeadLetterBodyLimit is how much of a dead letter's body the admin API
// shows.
const DeadLetterBodyLimit = 4096

// PurgeResponse is DELETE /admin/queues/{queue}/dead[/{id}]'s answer.
type PurgeResponse struct {
	Purged int `json:"purged"`
}

// ConnectionsResponse is GET /admin/connections's answer: the entries of
// the data stores written with sensitive fields (such as the OAuth tokens
// of a connected user), with those fields left out.
type ConnectionsResponse struct {
	Connections []Connection `json:"connections"`
	// More is true when a store held more connections than were read.
	More bool `json:"more,omitempty"`
}

// Connection is one store entry that holds secrets: its id (the user),
// when it was written (a token refresh writes it again), its expiry and
// its other fields (scope, ...). Hidden names the fields left out.
type Connection struct {
	Store   string         `json:"store"`
	ID      string         `json:"id"`
	Updated time.Time      `json:"updated"`
	Expires time.Time      `json:"expires,omitzero"`
	Fields  map[string]any `json:"fields"`
	Hidden  []string       `json:"hidden"`
}
