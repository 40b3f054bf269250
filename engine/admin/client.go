package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Client calls the admin API of a running Stride. Its methods decode the
// answers into the types the handlers write; an answer with a status of
// 300 or more comes back as an *APIError, whose Code says what happened.
type Client struct {
	// Base is the root of the API, e.g. "http://127.0.0.1:8081".
	Base string
	// Token is sent as "Authorization: Bearer <Token>" (STRIDE_ADMIN_TOKEN);
	// empty sends none.
	Token string
	// HTTP sends the requests; nil means http.DefaultClient, which has no
	// timeout.
	HTTP *http.Client
}

// APIError is an error answer of the admin API. Callers decide on Code
// (errors.As, then switch on it), never on Message.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code is one of the Code constants. An answer that carries no code
	// (Go's mux answers an unknown path with a plain-text 404) gets the
	// code its status always means in this API, or "".
	Code string
	// Message is the answer's "error" text; for a failed reload or a
	// starting health check, its "status".
	Message string
	// MessageID is the message the error is about, if the answer names one.
	MessageID string
	// LoadErrors are the flow files' errors of a failed reload
	// (CodeInvalid), or what a refused one says (CodeWouldStopFlows).
	LoadErrors []LoadError
	// WouldStop lists the running flows a refused reload would have
	// stopped (CodeWouldStopFlows).
	WouldStop []StoppedFlow
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("admin API answered %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("admin API answered %d (%s): %s", e.Status, e.Code, e.Message)
}

// maxAnswer bounds what the client reads of one answer (a store value or a
// page of messages with payloads).
const maxAnswer = 64 << 20

// Health calls GET /admin/health. Before Stride is ready the error is an
// *APIError with CodeUnavailable.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var out Health
	_, err := c.do(ctx, http.MethodGet, "/admin/health", nil, &out)
	return out, err
}

// Ready calls GET /readyz. A "not ready" answer is no error: ready is
// false and the Readiness says why.
func (c *Client) Ready(ctx context.Context) (ready bool, r Readiness, err error) {
	resp, err := c.send(ctx, http.MethodGet, "/readyz", nil)
	if err != nil {
		return false, r, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return false, r, fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return false, r, apiError(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return false, r, fmt.Errorf("admin API: GET /readyz: %w", err)
	}
	return resp.StatusCode == http.StatusOK, r, nil
}

// Flows calls GET /admin/flows.
func (c *Client) Flows(ctx context.Context) (FlowsResponse, error) {
	var out FlowsResponse
	_, err := c.do(ctx, http.MethodGet, "/admin/flows", nil, &out)
	return out, err
}

// Reload calls POST /admin/reload. Invalid flow files give an *APIError
// with CodeInvalid and the files' errors in LoadErrors; a reload that
// would stop running flows, one with CodeWouldStopFlows and the flows in
// WouldStop.
func (c *Client) Reload(ctx context.Context) (ReloadResponse, error) {
	return c.ReloadWith(ctx, ReloadQuery{})
}

// ReloadWith calls POST /admin/reload with a query: Force applies a valid
// set even when it stops running flows.
func (c *Client) ReloadWith(ctx context.Context, q ReloadQuery) (ReloadResponse, error) {
	var v url.Values
	if q.Force {
		v = url.Values{"force": {"true"}}
	}
	var out ReloadResponse
	_, err := c.do(ctx, http.MethodPost, "/admin/reload", v, &out)
	return out, err
}

// RunNow calls POST /admin/flows/{id}/run: it starts a run of the timer
// flow id and returns its message id.
func (c *Client) RunNow(ctx context.Context, id string) (RunResponse, error) {
	var out RunResponse
	_, err := c.do(ctx, http.MethodPost, "/admin/flows/"+url.PathEscape(id)+"/run", nil, &out)
	return out, err
}

// Messages calls GET /admin/messages. The query names every parameter,
// empty or zero ones too: the server reads them as no filter and its
// default limit.
func (c *Client) Messages(ctx context.Context, q MessagesQuery) (MessagesResponse, error) {
	v := url.Values{"flow": {q.Flow}, "status": {q.Status}, "limit": {strconv.Itoa(q.Limit)}}
	var out MessagesResponse
	_, err := c.do(ctx, http.MethodGet, "/admin/messages", v, &out)
	return out, err
}

// Message calls GET /admin/messages/{id}.
func (c *Client) Message(ctx context.Context, id string) (MessageResponse, error) {
	var out MessageResponse
	_, err := c.do(ctx, http.MethodGet, "/admin/messages/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Replay calls POST /admin/messages/{id}/replay.
func (c *Client) Replay(ctx context.Context, id string) (ReplayResponse, error) {
	var out ReplayResponse
	_, err := c.do(ctx, http.MethodPost, "/admin/messages/"+url.PathEscape(id)+"/replay", nil, &out)
	return out, err
}

// SearchMessages calls GET /admin/messages/search. Pass the answer's Next
// as q.Before for the next page.
func (c *Client) SearchMessages(ctx context.Context, q MessageSearchQuery) (MessageSearchResponse, error) {
	v := url.Values{}
	for k, s := range map[string]string{"flow": q.Flow, "status": q.Status, "id": q.ID, "correlation": q.Correlation, "q": q.Text} {
		if s != "" {
			v.Set(k, s)
		}
	}
	for k, t := range map[string]time.Time{"since": q.Since, "until": q.Until, "before": q.Before} {
		if !t.IsZero() {
			v.Set(k, t.Format(time.RFC3339Nano))
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out MessageSearchResponse
	_, err := c.do(ctx, http.MethodGet, "/admin/messages/search", v, &out)
	return out, err
}

// Queues calls GET /admin/queues.
func (c *Client) Queues(ctx context.Context) (QueuesResponse, error) {
	var out QueuesResponse
	_, err := c.do(ctx, http.MethodGet, "/admin/queues", nil, &out)
	return out, err
}

// DeadLetters calls GET /admin/queues/{queue}/dead.
func (c *Client) DeadLetters(ctx context.Context, queue string) (DeadLettersResponse, error) {
	var out DeadLettersResponse
	_, err := c.do(ctx, http.MethodGet, "/admin/queues/"+url.PathEscape(queue)+"/dead", nil, &out)
	return out, err
}

// PurgeDeadLetters calls DELETE /admin/queues/{queue}/dead/{id}, or
// DELETE /admin/queues/{queue}/dead (all of them) when id is empty.
func (c *Client) PurgeDeadLetters(ctx context.Context, queue, id string) (PurgeResponse, error) {
	p := "/admin/queues/" + url.PathEscape(queue) + "/dead"
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	var out PurgeResponse
	_, err := c.do(ctx, http.MethodDelete, p, nil, &out)
	return out, err
}

// Connections calls GET /admin/connections.
func (c *Client) Connections(ctx context.Context) (ConnectionsResponse, error) {
	var out ConnectionsResponse
	_, err := c.do(ctx, http.MethodGet, "/admin/connections", nil, &out)
	return out, err
}

// Diagram calls GET /admin/flows/{id}/diagram.
func (c *Client) Diagram(ctx context.Context, id string) (FlowDiagram, error) {
	var out FlowDiagram
	_, err := c.do(ctx, http.MethodGet, "/admin/flows/"+url.PathEscape(id)+"/diagram", nil, &out)
	return out, err
}

// Stores calls GET /admin/stores.
func (c *Client) Stores(ctx context.Context) (StoresResponse, error) {
	var out StoresResponse
	_, err := c.do(ctx, http.MethodGet, "/admin/stores", nil, &out)
	return out, err
}

// StoreEntries calls GET /admin/stores/{store}, with every parameter of
// the query, as Messages does.
func (c *Client) StoreEntries(ctx context.Context, storeName string, q StoreEntriesQuery) (StoreEntriesResponse, error) {
	v := url.Values{"prefix": {q.Prefix}, "limit": {strconv.Itoa(q.Limit)}}
	if q.After != "" {
		v.Set("after", q.After)
	}
	var out StoreEntriesResponse
	_, err := c.do(ctx, http.MethodGet, "/admin/stores/"+url.PathEscape(storeName), v, &out)
	return out, err
}

// StoreGet calls GET /admin/stores/{store}/{id} and returns the value as
// stored, with the fields its write declared sensitive masked as "***"
// (the admin API never reveals them).
func (c *Client) StoreGet(ctx context.Context, storeName, id string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, "/admin/stores/"+url.PathEscape(storeName)+"/"+url.PathEscape(id), nil, nil)
}

// StoreDelete calls DELETE /admin/stores/{store}/{id}.
func (c *Client) StoreDelete(ctx context.Context, storeName, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/admin/stores/"+url.PathEscape(storeName)+"/"+url.PathEscape(id), nil, nil)
	return err
}

// Backup calls GET /admin/backup and copies the backup to w as it
// arrives; it returns the number of bytes copied. The answer may be large
// and slow: give the Client an HTTP client without an overall timeout. A
// backup cut short by the server is an error here (the connection is
// reset), and fails store.VerifyBackup in any case.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, http.MethodGet, "/admin/backup", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		return 0, apiError(resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != BackupContentType {
		return 0, fmt.Errorf("admin API: GET /admin/backup answered %q, not a backup", ct)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("admin API: backup cut short after %d bytes: %w", n, err)
	}
	return n, nil
}

// send sends a request with the token.
func (c *Client) send(ctx context.Context, method, path string, query url.Values) (*http.Response, error) {
	u := c.Base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	return resp, nil
}

// do sends a request and returns the answer's body; with out, it decodes
// a 2xx body into out.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, out any) ([]byte, error) {
	resp, err := c.send(ctx, method, path, query)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode >= 300 {
		return nil, apiError(resp.StatusCode, data)
	}
	if out != nil {
		return data, json.Unmarshal(data, out)
	}
	return data, nil
}

// apiError reads an error answer: an Error, a ReloadInvalid, a
// ReloadRefused, a HealthStarting, or text that is none of them.
func apiError(status int, data []byte) *APIError {
	var body struct {
		Error
		Status    string        `json:"status"`
		Errors    []LoadError   `json:"errors"`
		WouldStop []StoppedFlow `json:"would_stop"`
	}
	_ = json.Unmarshal(data, &body) // a text answer leaves it empty
	e := &APIError{Status: status, Code: body.Code, Message: body.Message, MessageID: body.MessageID, LoadErrors: body.Errors, WouldStop: body.WouldStop}
	if e.Message == "" {
		e.Message = body.Status
	}
	if e.Code == "" {
		e.Code = statusCode(status)
	}
	return e
}

// statusCode is the code an answer without one gets from its status: the
// statuses that have one meaning in this API.
func statusCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeBadRequest
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusConflict:
		return CodeAlreadyRunning
	case http.StatusInternalServerError:
		return CodeInternal
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	}
	return ""
}
