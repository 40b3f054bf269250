package steps

import (
	"bytes"
	"context"

	"github.com/stride-engine/stride/engine/convert"
	"github.com/stride-engine/stride/engine/flow"
)

// jsonToXMLConfig converts the JSON body to XML.
type jsonToXMLConfig struct {
	Root        string `yaml:"root" doc:"An element that always wraps the document; default: the single top-level key when there is one, else root."`
	Item        string `yaml:"item" default:"item" doc:"The element name of items of a top-level array or of an array inside an array."`
	Declaration bool   `yaml:"declaration" doc:"Start the output with <?xml version=\"1.0\" encoding=\"UTF-8\"?>."`
}

type jsonToXMLStep struct{ opt convert.JSONToXMLOptions }

func init() {
	flow.RegisterStep(flow.StepKind[jsonToXMLConfig]{
		Name:    "json_to_xml",
		Summary: "Converts the JSON body to XML (top-level arrays and any key accepted).",
		Doc: "Object keys become elements in document order; an array under key k becomes repeated <k> elements; keys starting with @ become attributes " +
			"and #text the element's text. A key that is not an XML name is escaped as _xHHHH_ (xml_to_json reverses it) instead of failing.",
		Example: "- json_to_xml: {root: notifications, item: update}",
		Build: func(b *flow.Builder, c *jsonToXMLConfig) (flow.Step, error) {
			return &jsonToXMLStep{convert.JSONToXMLOptions{Root: c.Root, Item: c.Item, Declaration: c.Declaration}}, nil
		},
	})
}

func (s *jsonToXMLStep) Run(_ context.Context, x *flow.Exchange) error {
	src := x.Msg.Body()
	var out bytes.Buffer
	out.Grow(len(src) + len(src)/2)
	if err := convert.JSONToXML(&out, src, s.opt); err != nil {
		return &flow.PayloadError{Err: errorf("body is not valid JSON: %w", err)}
	}
	x.Msg.SetBody(out.Bytes(), "application/xml")
	return nil
}
