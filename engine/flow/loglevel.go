package flow

import "gopkg.in/yaml.v3"

// LogLevel says what a flow writes to the message log (the flow key
// `log`), like an iFlow's log level in SAP CPI.
type LogLevel uint8

// The log levels. The zero value is LogInfo, the default.
const (
	// LogInfo writes one compact entry per attempt: status, times and
	// error, and the step trace (step names, kinds, positions, durations,
	// outcomes) only of an attempt that failed.
	LogInfo LogLevel = iota
	// LogNone writes no entry.
	LogNone
	// LogErrors writes entries only for attempts that failed (FAILED,
	// RETRY, ESCALATED): an attempt that ended with an error.
	LogErrors
	// LogTrace writes the info entry with the step trace of every
	// attempt and the payload (size-capped, secrets redacted). `trace: true` is its older spelling.
	LogTrace
)

// String returns the level as written in a flow file.
func (l LogLevel) String() string {
	switch l {
	case LogNone:
		return "none"
	case LogErrors:
		return "errors"
	case LogTrace:
		return "trace"
	}
	return "info"
}

// parseLogLevel reads a level written in a flow file; the decoder has
// checked it against the key's enum.
func parseLogLevel(s string) LogLevel {
	switch s {
	case "none":
		return LogNone
	case "errors":
		return LogErrors
	case "trace":
		return LogTrace
	}
	return LogInfo
}

// logLevel is the flow's level from its `log` and `trace` keys: `trace:
// true` is `log: trace`, and giving both keys is an error.
func (l *loader) logLevel(file string, root *yaml.Node, ff *flowFile) LogLevel {
	var logKey, traceKey *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "log":
			logKey = root.Content[i]
		case "trace":
			traceKey = root.Content[i]
		}
	}
	if logKey != nil && traceKey != nil {
		l.errs.add(posOf(file, traceKey), "give either `log: %s` or `trace`, not both (`trace: true` is the older spelling of `log: trace`)", ff.Log)
	}
	if ff.Log == "" && ff.Trace {
		return LogTrace
	}
	return parseLogLevel(ff.Log)
}
