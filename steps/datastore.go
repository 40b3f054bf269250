package steps

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// storedMessage is what datastore_put writes: the body with its content
// type and the chosen properties, so datastore_get can restore them. Text
// bodies are kept as text (readable with `stride store get`), anything
// else as base64.
type storedMessage struct {
	Text        *string        `json:"text,omitempty"`
	Data        []byte         `json:"data,omitempty"`
	ContentType string         `json:"content_type,omitempty"`
	Properties  map[string]any `json:"properties,omitempty"`
}

func encodeStored(body []byte, contentType string, props map[string]any) ([]byte, error) {
	m := storedMessage{ContentType: contentType, Properties: props}
	if utf8.Valid(body) {
		s := string(body)
		m.Text = &s
	} else {
		m.Data = body
	}
	return json.Marshal(m)
}

func decodeStored(v []byte) (storedMessage, []byte, error) {
	var m storedMessage
	if err := json.Unmarshal(v, &m); err != nil {
		return m, nil, fmt.Errorf("stored entry is not a Stride message: %w", err)
	}
	if m.Text != nil {
		return m, []byte(*m.Text), nil
	}
	return m, m.Data, nil
}

// checkStore validates a store name at load.
func checkStore(name string) error {
	if err := store.ValidStoreName(name); err != nil {
		return errorf("store %q: %v", name, err)
	}
	return nil
}

// parseExpiry reads 30d, 12h, 90m or never (0: never expires).
func parseExpiry(s string) (time.Duration, error) {
	if s == "never" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, errorf("expires %q: write e.g. 30d, 12h or never", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errorf("expires %q: write e.g. 30d, 12h or never", s)
	}
	return d, nil
}

// intoTarget is where a step puts a value: the body, or a property.
type intoTarget struct {
	property string // "" for the body
}

func parseInto(s string) (intoTarget, error) {
	if s == "" || s == "body" {
		return intoTarget{}, nil
	}
	if name, ok := strings.CutPrefix(s, "property."); ok && name != "" {
		return intoTarget{property: name}, nil
	}
	return intoTarget{}, errorf("into %q: write body or property.NAME", s)
}

// setValue puts data into the target: the body (with its content type),
// or a property holding decoded JSON when data is JSON, else the text.
func (t intoTarget) setValue(x *flow.Exchange, data []byte, contentType string) {
	if t.property == "" {
		x.Msg.SetBody(data, contentType)
		return
	}
	if v, err := flow.DecodeJSON(data); err == nil {
		x.Msg.Property[t.property] = v
		return
	}
	x.Msg.Property[t.property] = string(data)
}
