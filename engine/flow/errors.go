package flow

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a place in a flow file. Every error a user sees at load time names
// one, so a consultant can jump straight to the line in an editor.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats the position as file:line:col, the form editors and
// terminals turn into links.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// FileLine formats the position as file:line, used at run time where the
// column adds nothing.
func (p Pos) FileLine() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

func posOf(file string, n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: file}
	}
	return Pos{File: file, Line: n.Line, Col: n.Column}
}

// Error is a positioned load error.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList collects every error of a load, so a user fixes a file in one
// pass instead of one error per run.
type ErrorList []*Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Err returns the list as an error, or nil when it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Sort orders errors by file and position, and drops exact duplicates.
func (l *ErrorList) Sort() {
	s := *l
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i].Pos, s[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := s[:0]
	for i, e := range s {
		if i > 0 && e.Pos == s[i-1].Pos && e.Msg == s[i-1].Msg {
			continue
		}
		out = append(out, e)
	}
	*l = out
}

func (l *ErrorList) add(p Pos, format string, args ...any) {
	*l = append(*l, &Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// StepError is a failure of one step at run time. It names the flow, the
// step and its file:line, and carries what an on_error subprocess needs.
type StepError struct {
	Flow   string
	Step   string // the step's name, or its kind when unnamed
	Pos    Pos
	Status int    // HTTP status when the failure came from an HTTP exchange
	Body   string // response body of that exchange, if any
	Err    error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s / %s (%s): %v", e.Flow, e.Step, e.Pos.FileLine(), e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// StatusError is an error that carries an HTTP status and response body.
// Steps that talk HTTP return it so that on_error can branch on
// error.status, and the http trigger can answer with the status.
type StatusError struct {
	Status int
	Body   string
	Msg    string
}

func (e *StatusError) Error() string { return e.Msg }

// PermanentError marks a failure that trying again cannot fix (a
// malformed payload): a queue consumer records the message FAILED and
// removes it instead of retrying it.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }
