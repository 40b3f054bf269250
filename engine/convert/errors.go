package convert

import (
	"errors"
	"strconv"
)

// MaxDepth is the deepest nesting of JSON objects and arrays, or of XML
// elements, that the converters accept. Deeper input is rejected with an
// error wrapping ErrTooDeep instead of risking unbounded recursion.
const MaxDepth = 512

var (
	// ErrDoctype is wrapped by the error XMLToJSON returns for a document
	// that contains a document type declaration (<!DOCTYPE …>). DTDs are
	// refused outright, so entity declarations (internal, external or
	// recursive, as in "billion laughs") are never read or expanded.
	ErrDoctype = errors.New("DOCTYPE is not allowed")

	// ErrTooDeep is wrapped by the error returned for input nested more
	// than MaxDepth levels deep.
	ErrTooDeep = errors.New("nesting exceeds " + strconv.Itoa(MaxDepth) + " levels")
)

// A SyntaxError describes input that could not be converted: malformed
// JSON or XML, a refused construct (see ErrDoctype), or input nested too
// deeply (see ErrTooDeep).
type SyntaxError struct {
	Format string // "json" or "xml": the input format
	Msg    string // description of the problem
	Offset int64  // byte offset in the input at or just after the problem
	Line   int    // 1-based line of the problem in XML input; 0 if unknown
	Err    error  // ErrDoctype, ErrTooDeep or nil
}

func (e *SyntaxError) Error() string {
	s := "convert: " + e.Format + ": " + e.Msg
	if e.Line > 0 {
		s += " (line " + strconv.Itoa(e.Line) + ", offset " + strconv.FormatInt(e.Offset, 10) + ")"
	} else {
		s += " (offset " + strconv.FormatInt(e.Offset, 10) + ")"
	}
	return s
}

// Unwrap returns e.Err.
func (e *SyntaxError) Unwrap() error { return e.Err }
