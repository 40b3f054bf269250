package steps

import (
	"bytes"
	"context"

	"github.com/stride-engine/stride/engine/convert"
	"github.com/stride-engine/stride/engine/flow"
)

// xmlToJSONConfig converts the XML body to JSON.
type xmlToJSONConfig struct {
	ArrayPaths []string `yaml:"array_paths" doc:"Elements always written as JSON arrays, even when they occur once: /root/a/b, or a bare name b for anywhere."`
	Typed      bool     `yaml:"typed" doc:"Keep numbers and booleans (\"12\" becomes 12, \"true\" true); otherwise every value is a string."`
	DropRoot   bool     `yaml:"drop_root" doc:"Write only the root element's content, without its name as the top-level key."`
}

type xmlToJSONStep struct{ opt convert.XMLToJSONOptions }

func init() {
	flow.RegisterStep(flow.StepKind[xmlToJSONConfig]{
		Name:    "xml_to_json",
		Summary: "Converts the XML body to JSON (explicit array paths, typed values).",
		Doc: "Repeated elements become arrays; attributes become @name keys and mixed text #text. " +
			"XML with a DOCTYPE is refused: entities are never expanded.",
		Example: "- xml_to_json: {array_paths: [/messages/message], typed: true}",
		Build: func(b *flow.Builder, c *xmlToJSONConfig) (flow.Step, error) {
			for _, p := range c.ArrayPaths {
				if p == "" || p == "/" {
					return nil, errorf("array_paths: %q is not an element path", p)
				}
			}
			return &xmlToJSONStep{convert.XMLToJSONOptions{ArrayPaths: c.ArrayPaths, Typed: c.Typed, DropRoot: c.DropRoot}}, nil
		},
	})
}

func (s *xmlToJSONStep) Run(_ context.Context, x *flow.Exchange) error {
	src := x.Msg.Body()
	var out bytes.Buffer
	out.Grow(len(src))
	if err := convert.XMLToJSON(&out, src, s.opt); err != nil {
		return &flow.PayloadError{Err: errorf("body is not XML that can be converted: %w", err)}
	}
	x.Msg.SetBody(out.Bytes(), "application/json")
	return nil
}
