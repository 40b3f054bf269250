package mapping

// Target paths: where a node writes in the result (Contacts[0].DateOfBirth)
// and where it is written in the template, for run-time errors.

import (
	"fmt"
	"strconv"
	"strings"
)

// pathSeg is one step of a target path: a key, a literal list index, or
// the index of a $for_each (known only at run time).
type pathSeg struct {
	key   string
	index int
	kind  uint8 // segKey, segIndex, segLoop
}

const (
	segKey = iota
	segIndex
	segLoop
)

// target says where a node writes in the result and where it is written
// in the template, for run-time errors.
type target struct {
	path []pathSeg
	at   string // template file:line
}

// execError is a run-time failure of a template: the target path, the
// template's file:line, and what went wrong.
type execError struct {
	path string
	at   string
	err  error
}

func (e *execError) Error() string { return "map: " + e.path + " (" + e.at + "): " + e.err.Error() }
func (e *execError) Unwrap() error { return e.err }

func (t *target) fail(r *runState, err error) error {
	return &execError{path: formatPath(t.path, r.idx), at: t.at, err: err}
}

func (t *target) failf(r *runState, format string, args ...any) error {
	return t.fail(r, fmt.Errorf(format, args...))
}

// formatPath renders a target path as Contacts[0].DateOfBirth.
func formatPath(path []pathSeg, loops []int) string {
	if len(path) == 0 {
		return "(root)"
	}
	var b strings.Builder
	loop := 0
	for _, s := range path {
		switch s.kind {
		case segKey:
			if plainKey(s.key) {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(s.key)
			} else {
				b.WriteString("[")
				b.WriteString(strconv.Quote(s.key))
				b.WriteString("]")
			}
		case segIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		case segLoop:
			if loop < len(loops) {
				fmt.Fprintf(&b, "[%d]", loops[loop])
			} else {
				b.WriteString("[]")
			}
			loop++
		}
	}
	return b.String()
}

// withSeg returns path with s appended, in a new slice: nodes keep their
// paths, so siblings must not share a backing array.
func withSeg(path []pathSeg, s pathSeg) []pathSeg {
	out := make([]pathSeg, len(path)+1)
	copy(out, path)
	out[len(path)] = s
	return out
}

// plainKey reports whether k can be written after a dot in a path;
// others are written ["k"].
func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c == '.' || c == '[' || c == ']' || c == '"' || c == ' ' || c < ' ' {
			return false
		}
	}
	return true
}
