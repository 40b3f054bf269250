package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// MaskText is what Stride shows instead of a sensitive value.
const MaskText = "***"

// maskJSON is MaskText as a JSON value.
var maskJSON = []byte(`"` + MaskText + `"`)

// Sensitivity declares which parts of a datastore value are sensitive:
// wherever Stride shows the value (the admin API, `stride store get`) they
// are replaced by "***". The flows that read the entry get it whole; only
// `stride store get --reveal` on the data directory shows it to a person.
//
// It is kept with the entry (PutOptions.Sensitive, Entry.Sensitive) and
// bound to the sealed value: with a data key, a declaration changed or
// removed on disk makes the value fail to open.
//
// A path is a dotted path into the value read as JSON: "access_token" is
// a key of the top-level object, "token.refresh" a key of the object under
// "token". On the way:
//   - an array: a number selects that element ("items.0.secret"), any
//     other name applies the rest of the path to every element;
//   - a string that holds JSON is read as that JSON (the datastore steps
//     keep a message body as text inside a JSON envelope); a string that
//     does not is masked whole, since what the path names may be in it;
//   - a number, true, false or null has nothing inside: nothing is masked.
//
// A value that is not JSON at all is masked whole. Keys containing a dot
// cannot be named; declare the whole value (All) instead.
type Sensitivity struct {
	// All: the whole value is sensitive.
	All bool
	// Paths name the sensitive fields (ignored with All).
	Paths []string
}

// IsZero reports whether nothing is declared sensitive.
func (s Sensitivity) IsZero() bool { return !s.All && len(s.Paths) == 0 }

// String is "all", the paths joined with ", ", or "none".
func (s Sensitivity) String() string {
	switch {
	case s.All:
		return "all"
	case len(s.Paths) == 0:
		return "none"
	}
	return strings.Join(s.Paths, ", ")
}

// maxSensitivePaths and maxPathLen bound a declaration, which is stored
// with every write of the entry.
const (
	maxSensitivePaths = 64
	maxPathLen        = 256
)

// ValidSensitivePath reports whether p can name a field: non-empty names
// separated by single dots, without NUL, at most 256 bytes.
func ValidSensitivePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("sensitive path is empty: %w", ErrInvalid)
	case len(p) > maxPathLen:
		return fmt.Errorf("sensitive path %.40q... is %d bytes long, at most %d are allowed: %w", p, len(p), maxPathLen, ErrInvalid)
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("sensitive path %q contains a NUL byte: %w", p, ErrInvalid)
	}
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			return fmt.Errorf("sensitive path %q has an empty name (write a.b, not .a, a. or a..b): %w", p, ErrInvalid)
		}
	}
	return nil
}

// normalized checks s and returns it as stored: All alone, or the
// paths without duplicates in the order given.
func (s Sensitivity) normalized() (Sensitivity, error) {
	if s.All {
		return Sensitivity{All: true}, nil
	}
	if len(s.Paths) > maxSensitivePaths {
		return Sensitivity{}, fmt.Errorf("%d sensitive paths, at most %d are allowed: %w", len(s.Paths), maxSensitivePaths, ErrInvalid)
	}
	var out Sensitivity
	seen := map[string]bool{}
	for _, p := range s.Paths {
		if err := ValidSensitivePath(p); err != nil {
			return Sensitivity{}, err
		}
		if !seen[p] {
			seen[p] = true
			out.Paths = append(out.Paths, p)
		}
	}
	return out, nil
}

// encode appends the declaration's stored form: a byte (1 for All), the
// number of paths, the paths.
func (s Sensitivity) encode(e *encoder) {
	if s.All {
		e.Byte(1)
	} else {
		e.Byte(0)
	}
	e.Uvarint(uint64(len(s.Paths)))
	for _, p := range s.Paths {
		e.String(p)
	}
}

func decodeSensitivity(d *decoder) Sensitivity {
	var s Sensitivity
	s.All = d.Byte() == 1
	n := d.Uvarint()
	if d.Err != nil || n > maxSensitivePaths {
		d.Fail()
		return Sensitivity{}
	}
	for i := uint64(0); i < n && d.Err == nil; i++ {
		s.Paths = append(s.Paths, d.String())
	}
	return s
}

// Masked returns the entry's value as Stride shows it: Mask(e.Value,
// e.Sensitive).
func (e Entry) Masked() []byte { return Mask(e.Value, e.Sensitive) }

// Mask returns value with the parts s declares sensitive replaced by
// "***" (see Sensitivity): the JSON string "***" for the whole value.
// Nothing else changes: keys keep their order, and a value with nothing
// declared, or nothing found at the declared paths, is returned as it is.
func Mask(value []byte, s Sensitivity) []byte {
	if s.All {
		return bytes.Clone(maskJSON)
	}
	if len(s.Paths) == 0 {
		return value
	}
	if !json.Valid(value) {
		return bytes.Clone(maskJSON) // cannot find the fields: hide it all
	}
	out := json.RawMessage(value)
	for _, p := range s.Paths {
		if masked, changed := maskPath(out, strings.Split(p, ".")); changed {
			out = masked
		}
	}
	return out
}

// maskPath masks what path names in raw, a valid JSON value, and reports
// whether anything changed.
func maskPath(raw json.RawMessage, path []string) (json.RawMessage, bool) {
	if len(path) == 0 {
		return maskJSON, true
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return raw, false
	}
	switch raw[0] {
	case '{':
		keys, vals, ok := objectMembers(raw)
		if !ok {
			return maskJSON, true
		}
		changed := false
		for i, k := range keys {
			if k != path[0] {
				continue
			}
			if v, c := maskPath(vals[i], path[1:]); c {
				vals[i], changed = v, true
			}
		}
		if !changed {
			return raw, false
		}
		return encodeObject(keys, vals), true
	case '[':
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			return maskJSON, true
		}
		changed := false
		if i, err := strconv.Atoi(path[0]); err == nil {
			if i >= 0 && i < len(elems) {
				elems[i], changed = maskPath(elems[i], path[1:])
			}
		} else {
			for i := range elems {
				if v, c := maskPath(elems[i], path); c {
					elems[i], changed = v, true
				}
			}
		}
		if !changed {
			return raw, false
		}
		return encodeArray(elems), true
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return maskJSON, true
		}
		inner := bytes.TrimSpace([]byte(s))
		if len(inner) == 0 || (inner[0] != '{' && inner[0] != '[') || !json.Valid(inner) {
			return maskJSON, true // the field may be in this text: hide it
		}
		masked, changed := maskPath(inner, path)
		if !changed {
			return raw, false
		}
		return jsonString(string(masked)), true
	}
	return raw, false // a number, true, false or null holds nothing
}

// objectMembers splits a JSON object into its keys and raw values, in
// order.
func objectMembers(raw json.RawMessage) (keys []string, vals []json.RawMessage, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		k, isKey := t.(string)
		if !isKey {
			return nil, nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, false
		}
		keys, vals = append(keys, k), append(vals, v)
	}
	return keys, vals, true
}

func encodeObject(keys []string, vals []json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(k))
		b.WriteByte(':')
		b.Write(vals[i])
	}
	b.WriteByte('}')
	return b.Bytes()
}

func encodeArray(elems []json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// jsonString encodes s as a JSON string, leaving <, > and & as they are.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
