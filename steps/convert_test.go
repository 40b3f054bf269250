package steps_test

import (
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
)

func TestConverters(t *testing.T) {
	runCases(t, []stepCase{
		{name: "json_to_xml with a top-level array", steps: "  - json_to_xml: {root: updates, item: update}\n",
			body: `[{"ownerId":"A","date":"2026-11-22"},{"ownerId":"B","date":"2026-11-23"}]`,
			check: func(t *testing.T, x *flow.Exchange, err error) {
				noError(t, err)
				want := `<updates><update><ownerId>A</ownerId><date>2026-11-22</date></update><update><ownerId>B</ownerId><date>2026-11-23</date></update></updates>`
				if string(x.Msg.Body()) != want || x.Msg.ContentType() != "application/xml" {
					t.Errorf("got %s (%s)", x.Msg.Body(), x.Msg.ContentType())
				}
			}},
		{name: "round trip keeps odd keys and types", steps: "  - json_to_xml: {root: r}\n  - xml_to_json: {typed: true, drop_root: true, array_paths: [list]}\n",
			body: `{"1st key":"a","n":12,"ok":true,"list":["x"]}`,
			check: func(t *testing.T, x *flow.Exchange, err error) {
				noError(t, err)
				if string(x.Msg.Body()) != `{"1st key":"a","n":12,"ok":true,"list":["x"]}` {
					t.Errorf("got %s", x.Msg.Body())
				}
			}},
		{name: "xml_to_json then jsonpath", steps: "  - xml_to_json: {array_paths: [/messages/message]}\n  - set: {properties: {first: '${jsonpath(\"$.messages.message[0][\\\"@id\\\"]\")}'}}\n",
			body: `<messages><message id="u1"><token>t</token></message></messages>`, contentType: "application/xml",
			check: func(t *testing.T, x *flow.Exchange, err error) {
				noError(t, err)
				wantProp(t, x, "first", "u1")
			}},
		{name: "malformed JSON fails the step", steps: "  - json_to_xml\n", body: `{"a":`,
			check: func(t *testing.T, x *flow.Exchange, err error) {
				if err == nil || !strings.Contains(err.Error(), "json_to_xml (f.yaml:4)") {
					t.Errorf("got %v", err)
				}
			}},
		{name: "entity expansion is refused", steps: "  - xml_to_json\n", contentType: "application/xml",
			body: `<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>`,
			check: func(t *testing.T, x *flow.Exchange, err error) {
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), "doctype") {
					t.Errorf("got %v", err)
				}
			}},
	})
}
