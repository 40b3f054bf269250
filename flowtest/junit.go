package flowtest

// JUnit XML, the report format CI systems read (GitLab, Jenkins, GitHub
// Actions' test reporters, Azure Pipelines): a testsuite per test file, a
// testcase per case.

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	File     string      `xml:"file,attr,omitempty"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the results of a run as JUnit XML: a testsuite per
// test file, a testcase per case that ran (named as in the file, its
// classname the file's name without .test.yaml, as --run sees it, with
// the file and line of the case). A failing case has a failure whose
// message is the first unmet expectation with its file:line, and whose
// text is what stride test prints for it; its log lines are its
// system-out. A test file that does not load, or whose flows do not, has
// errors instead.
func WriteJUnit(w io.Writer, sum Summary) error {
	report := junitSuites{Name: "stride test", Time: seconds(sum.Duration)}
	for _, fr := range sum.Files {
		s := junitSuite{Name: fr.Path, File: fr.Path}
		class := className(fr.Path)
		var took time.Duration
		for _, r := range fr.Results {
			took += r.Duration
			jc := junitCase{Name: r.Case.Name, Classname: class, File: r.Case.At.File, Line: r.Case.At.Line, Time: seconds(r.Duration)}
			if !r.Passed() {
				var text bytes.Buffer
				r.write(&text, false)
				jc.Failure = &junitProblem{Message: failureMessage(r), Type: "failure", Text: strings.TrimRight(text.String(), "\n")}
				jc.SystemOut = r.Log
				s.Failures++
			}
			s.Cases = append(s.Cases, jc)
		}
		var fl *flowsNotLoaded
		switch {
		case errors.As(fr.Err, &fl):
			msg := "not run: the flows under " + fl.root + " did not load"
			text := strings.TrimRight(errorText(fl.err), "\n")
			for _, c := range fr.NotRun {
				s.Cases = append(s.Cases, junitCase{Name: c.Name, Classname: class, File: c.At.File, Line: c.At.Line, Time: seconds(0),
					Error: &junitProblem{Message: msg, Type: "load error", Text: text}})
				s.Errors++
			}
		case fr.Err != nil: // the file itself did not load
			text := strings.TrimRight(errorText(fr.Err), "\n")
			s.Cases = append(s.Cases, junitCase{Name: "load", Classname: class, File: fr.Path, Time: seconds(0),
				Error: &junitProblem{Message: firstLine(text, 400), Type: "load error", Text: text}})
			s.Errors++
		}
		s.Tests = len(s.Cases)
		s.Time = seconds(took)
		report.Tests += s.Tests
		report.Failures += s.Failures
		report.Errors += s.Errors
		report.Suites = append(report.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(report); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// className is a test file's name without directories and .test.yaml,
// the first part of a case's ID.
func className(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		path = path[i+1:]
	}
	return strings.TrimSuffix(path, ".test.yaml")
}

// failureMessage is the first unmet expectation of a failed case, with
// the file:line where it is written, and how many more there are.
func failureMessage(r *Result) string {
	f := r.Failures[0]
	at := f.At
	if at.Line == 0 {
		at = r.Case.At
	}
	msg := fmt.Sprintf("%s: %s", at.FileLine(), f.What)
	if f.Detail != "" {
		msg += ": " + firstLine(f.Detail, 300)
	} else if f.Want != "" || f.Got != "" {
		msg += fmt.Sprintf(": want %s, got %s", firstLine(f.Want, 150), firstLine(f.Got, 150))
	}
	if n := len(r.Failures) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// errorText is an error as stride test prints it: a list of positioned
// errors one a line.
func errorText(err error) string {
	var b strings.Builder
	printError(&b, err)
	return b.String()
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
