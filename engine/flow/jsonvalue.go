package flow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// DecodeJSON decodes JSON into values expressions work with: objects as
// map[string]any, arrays as []any, strings, booleans, nil, and numbers
// as int64 when they are integers that fit (so an id such as 134815023
// stays 134815023 through paths, templates and JSON output, not
// 1.34815023e+08), else float64.
func DecodeJSON(data []byte) (any, error) {
	if v, ok := decodeJSONFast(data); ok {
		return v, nil
	}
	return decodeJSONStd(data)
}

// decodeJSONStd is DecodeJSON by encoding/json: what decodeJSONFast does
// not take (escapes, invalid UTF-8, errors) comes here.
func decodeJSONStd(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid character after top-level value")
	}
	return exactNumbers(v), nil
}

// exactNumbers replaces the json.Numbers of v, in place.
func exactNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return i
		}
		f, _ := strconv.ParseFloat(string(t), 64)
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = exactNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = exactNumbers(e)
		}
	}
	return v
}
