package mapping

// JSON Schema checks of results: compiled when the flow loads, and a
// violation lists every path of the result that is wrong.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is a compiled JSON Schema that results are checked against.
type Schema struct {
	s    *jsonschema.Schema
	name string // the schema file's name, for errors
}

// CompileSchema compiles the JSON Schema file at path. Errors name path
// as given and say what is wrong in one line.
func CompileSchema(path string) (*Schema, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("file %s not found", path)
		}
		return nil, err
	}
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(abs)
	if err != nil {
		msg := err.Error()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] + " …"
		}
		return nil, fmt.Errorf("%s is not a valid JSON Schema: %s", path, strings.ReplaceAll(msg, "file://"+filepath.ToSlash(abs), filepath.Base(path)))
	}
	return &Schema{s: sch, name: filepath.Base(path)}, nil
}

// Validate checks a JSON result against the schema. The error lists
// every violation by its path in the result, on one line:
// the result does not match x.schema.json: /a/0/b: got string, want number.
func (s *Schema) Validate(result []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(result))
	if err != nil {
		return fmt.Errorf("the result is not valid JSON: %w", err)
	}
	err = s.s.Validate(inst)
	if err == nil {
		return nil
	}
	return fmt.Errorf("the result does not match %s: %s", s.name, strings.Join(violations(err), "; "))
}

// violations lists the leaf errors of a JSON Schema validation as
// "/instance/path: message", sorted and without duplicates.
func violations(err error) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	var out []string
	seen := map[string]bool{}
	// names is set below a propertyNames check, whose errors are about
	// a key of the object at names and have no location of their own.
	var walk func(u *jsonschema.OutputUnit, names string)
	walk = func(u *jsonschema.OutputUnit, names string) {
		if strings.HasSuffix(u.KeywordLocation, "/propertyNames") && names == "" {
			names = u.InstanceLocation
			if names == "" {
				names = "/"
			}
		}
		if len(u.Errors) == 0 && u.Error != nil {
			msg := u.Error.String()
			if msg == "false schema" {
				msg = "not allowed by the schema"
			}
			var line string
			switch loc := u.InstanceLocation; {
			case names != "":
				line = names + ": property name " + msg
			case loc == "":
				line = "/: " + msg
			default:
				line = loc + ": " + msg
			}
			if !seen[line] {
				seen[line] = true
				out = append(out, line)
			}
		}
		for i := range u.Errors {
			walk(&u.Errors[i], names)
		}
	}
	walk(ve.DetailedOutput(), "")
	if len(out) == 0 {
		out = append(out, ve.Error())
	}
	sort.Strings(out)
	return out
}
