package flowtest

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Result is the outcome of one case.
type Result struct {
	Case     *Case
	Failures []failure
	Duration time.Duration
	Log      string

	out *outcome
}

// Passed reports whether the case met every expectation.
func (r *Result) Passed() bool { return len(r.Failures) == 0 }

const indent = "    "

// write prints a result: one line for a pass (only when verbose), the
// failures with diffs and where the run diverged for a failure.
func (r *Result) write(w io.Writer, verbose bool) {
	c := r.Case
	took := r.Duration.Round(time.Millisecond)
	if r.Passed() {
		if verbose {
			fmt.Fprintf(w, "--- PASS: %s (%s, %v)\n", c.ID(), c.At.FileLine(), took)
		}
		return
	}
	fmt.Fprintf(w, "--- FAIL: %s (%s, %v)\n", c.ID(), c.At.FileLine(), took)
	for _, f := range r.Failures {
		where := ""
		if f.At.Line > 0 && f.At != c.At {
			where = fmt.Sprintf(" (line %d)", f.At.Line)
		}
		if f.Detail != "" {
			fmt.Fprintf(w, "%s%s%s:\n%s\n", indent, f.What, where, indentLines(f.Detail, indent+indent))
			continue
		}
		fmt.Fprintf(w, "%s%s%s:\n", indent, f.What, where)
		for _, l := range lineDiff(f.Want, f.Got) {
			fmt.Fprintf(w, "%s%s%s\n", indent, indent, l)
		}
	}
	if o := r.out; o != nil && o.problem == "" {
		for _, l := range o.story() {
			fmt.Fprintf(w, "%s%s\n", indent, l)
		}
	}
	if verbose && r.Log != "" {
		fmt.Fprintf(w, "%slog:\n%s\n", indent, indentLines(strings.TrimRight(r.Log, "\n"), indent+indent))
	}
}

// story says how the run went: what answered, the final status, and the
// flow file:line where it diverged (the failing step, or the last step
// that ran), with the last steps of the trace.
func (o *outcome) story() []string {
	var lines []string
	switch {
	case o.input == "request" && !o.ran:
		lines = append(lines, fmt.Sprintf("run: the runtime answered %d by itself: no flow ran (no enabled http trigger takes this method and path)", o.httpStatus))
	case o.input == "request":
		lines = append(lines, fmt.Sprintf("run: flow %s answered %d; message %s", o.flow, o.httpStatus, o.msgStatus))
	default:
		lines = append(lines, fmt.Sprintf("run: flow %s (%s) ended %s", o.flow, o.input, o.msgStatus))
	}
	if len(o.followed) > 0 {
		lines = append(lines, "followed: "+strings.Join(o.followed, ", "))
	}
	if o.errText != "" {
		lines = append(lines, "error: "+firstLine(o.errText, 400))
		if o.input == "queue" {
			if o.permanent {
				lines = append(lines, "the queue would not retry it: a permanent failure ("+o.errClass+"); it goes to the dead letters at once")
			} else {
				lines = append(lines, "the queue would retry it with back-off; a test runs it once")
			}
		}
	}
	// Where the run left the path the test expected: the failing step
	// (the message's error, else the last step that failed and was
	// handled by on_error), and where it ended: the step that ended the
	// message (respond, filter, complete, a policy; recorded before the
	// steps around it), else the last step.
	var failed, ended *traceStep
	for i := range o.trace {
		t := &o.trace[i]
		switch {
		case t.Outcome == "error":
			failed = t
		case t.Outcome == "ok" && failed != nil && t.At == failed.At:
			failed = nil // run again by retry, and it worked
		}
		if t.Outcome == "stopped" && ended == nil {
			ended = t
		}
	}
	switch {
	case o.errAt != "":
		lines = append(lines, fmt.Sprintf("diverged at %s: step %s failed", o.errAt, o.errStep))
	case failed != nil:
		lines = append(lines, fmt.Sprintf("diverged at %s: step %s failed: %s", failed.At, failed.Step, firstLine(failed.Error, 300)))
	}
	switch {
	case ended != nil:
		lines = append(lines, fmt.Sprintf("ended at %s: step %s ended the message", ended.At, ended.Step))
	case o.errAt == "" && len(o.trace) > 0:
		t := o.trace[len(o.trace)-1]
		lines = append(lines, fmt.Sprintf("ended at %s: the run ended after step %s", t.At, t.Step))
	}
	if len(o.trace) > 0 {
		from := max(0, len(o.trace)-8)
		var steps []string
		prevFile := ""
		for _, t := range o.trace[from:] {
			at := t.At
			if file, line, ok := strings.Cut(at, ":"); ok && file == prevFile {
				at = ":" + line
			} else {
				prevFile = file
			}
			s := t.Step + " " + at
			if t.Outcome != "ok" {
				s += " " + t.Outcome
			}
			steps = append(steps, s)
		}
		prefix := "trace: "
		if from > 0 {
			prefix = fmt.Sprintf("trace (last %d of %d): ", len(o.trace)-from, len(o.trace))
		}
		lines = append(lines, prefix+strings.Join(steps, " → "))
	}
	if o.input == "request" && !o.ran {
		for _, d := range o.disabled {
			lines = append(lines, "disabled http flow: "+d)
		}
	}
	return lines
}

func indentLines(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// maxDiffLines bounds what one diff prints.
const maxDiffLines = 200

// lineDiff is a line diff of want and got: "- " lines are only in want,
// "+ " lines only in got, "  " lines in both.
func lineDiff(want, got string) []string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	if len(a)*len(b) > 1_000_000 || len(a) == 1 && len(b) == 1 {
		for _, l := range a {
			out = append(out, "- "+l)
		}
		for _, l := range b {
			out = append(out, "+ "+l)
		}
		return capLines(out)
	}
	// Longest common subsequence, then a walk that prints it.
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, "  "+a[i])
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, "- "+a[i])
	}
	for ; j < len(b); j++ {
		out = append(out, "+ "+b[j])
	}
	return capLines(out)
}

func capLines(lines []string) []string {
	if len(lines) <= maxDiffLines {
		return lines
	}
	return append(lines[:maxDiffLines], fmt.Sprintf("... %d more lines", len(lines)-maxDiffLines))
}
