package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// datastoreSelectConfig reads many entries of a data store.
type datastoreSelectConfig struct {
	Store              string         `yaml:"store" required:"true" doc:"The data store's name."`
	Prefix             *flow.Template `yaml:"prefix" doc:"Only ids starting with this text."`
	Limit              int            `yaml:"limit" default:"1000" doc:"The most entries to read (CPI's Number of Polled Messages)."`
	Format             string         `yaml:"format" default:"xml" enum:"xml,json" doc:"xml: CPI's envelope <messages><message id=\"...\">body</message></messages>; json: [{\"id\": ..., \"body\": ...}] with JSON bodies decoded."`
	DeleteOnCompletion bool           `yaml:"delete_on_completion" doc:"Delete the selected entries once the message completed successfully (never when it fails)."`
}

type datastoreSelectStep struct{ c *datastoreSelectConfig }

func init() {
	flow.RegisterStep(flow.StepKind[datastoreSelectConfig]{
		Name:    "datastore_select",
		Summary: "Reads the entries of a data store, ordered by id, into the body (CPI's Data Store Select).",
		Doc: "The body becomes CPI's XML envelope (an XML body is embedded as XML, other text escaped) or a JSON array. " +
			"With delete_on_completion the entries are deleted only after the whole message completed successfully. An empty store gives an empty envelope.",
		Example: "- datastore_select: {store: fitbit-users, format: json, limit: 10000}\n- split:\n    jsonpath: '$[*]'\n    steps:\n      - log: 'user ${jsonpath(\"$.id\")}'",
		Build: func(b *flow.Builder, c *datastoreSelectConfig) (flow.Step, error) {
			if err := checkStore(c.Store); err != nil {
				return nil, err
			}
			if c.Limit < 1 {
				return nil, errorf("limit must be at least 1")
			}
			return &datastoreSelectStep{c}, nil
		},
	})
}

func (s *datastoreSelectStep) Run(ctx context.Context, x *flow.Exchange) error {
	kv, err := x.KV()
	if err != nil {
		return err
	}
	opt := store.SelectOptions{Limit: s.c.Limit}
	if s.c.Prefix != nil {
		if opt.Prefix, err = s.c.Prefix.String(x); err != nil {
			return errorf("prefix: %w", err)
		}
	}
	entries, err := kv.Select(ctx, s.c.Store, opt)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if s.c.Format == "json" {
		err = writeJSONEnvelope(&out, entries)
	} else {
		err = writeXMLEnvelope(&out, entries)
	}
	if err != nil {
		return errorf("%s: %w", s.c.Store, err)
	}
	ct := "application/xml"
	if s.c.Format == "json" {
		ct = "application/json"
	}
	x.Msg.SetBody(out.Bytes(), ct)
	x.Msg.Property["datastore_count"] = len(entries)
	if s.c.DeleteOnCompletion && len(entries) > 0 {
		ids := make([]string, len(entries))
		for i, e := range entries {
			ids[i] = e.ID
		}
		name := s.c.Store
		x.OnSuccess(func(ctx context.Context) error {
			var errs []error
			for _, id := range ids {
				if err := kv.Delete(ctx, name, id); err != nil && !errors.Is(err, store.ErrNotFound) {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		})
	}
	return nil
}

func writeXMLEnvelope(out *bytes.Buffer, entries []store.Entry) error {
	out.WriteString("<messages>")
	for _, e := range entries {
		_, body, err := decodeStored(e.Value)
		if err != nil {
			return err
		}
		out.WriteString(`<message id="`)
		_ = xml.EscapeText(out, []byte(e.ID))
		out.WriteString(`">`)
		if isXMLDocument(body) {
			out.Write(stripXMLDecl(body))
		} else {
			_ = xml.EscapeText(out, body)
		}
		out.WriteString("</message>")
	}
	out.WriteString("</messages>")
	return nil
}

func writeJSONEnvelope(out *bytes.Buffer, entries []store.Entry) error {
	type item struct {
		ID   string `json:"id"`
		Body any    `json:"body"`
	}
	items := make([]item, 0, len(entries))
	for _, e := range entries {
		_, body, err := decodeStored(e.Value)
		if err != nil {
			return err
		}
		v, err := flow.DecodeJSON(body)
		if err != nil {
			v = string(body)
		}
		items = append(items, item{e.ID, v})
	}
	return json.NewEncoder(out).Encode(items)
}

// isXMLDocument reports whether body is well-formed XML with no DOCTYPE,
// safe to embed as elements.
func isXMLDocument(body []byte) bool {
	t := bytes.TrimSpace(body)
	if len(t) == 0 || t[0] != '<' || flow.CheckXMLSafe(t) != nil {
		return false
	}
	d := xml.NewDecoder(bytes.NewReader(t))
	for {
		if _, err := d.Token(); err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}

func stripXMLDecl(body []byte) []byte {
	t := bytes.TrimSpace(body)
	if bytes.HasPrefix(t, []byte("<?xml")) {
		if i := bytes.Index(t, []byte("?>")); i >= 0 {
			return bytes.TrimSpace(t[i+2:])
		}
	}
	return t
}
