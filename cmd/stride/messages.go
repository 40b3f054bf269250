package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/stride-engine/stride/engine/admin"
)

func cmdMessages(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("messages", "[--flow F] [--status S] [--correlation ID] [--limit N] [--json] | show ID | replay ID",
		"Reads the message processing log (newest first): one line per attempt with its status and error.\n"+
			"`show ID` prints every attempt with its step trace; `replay ID` moves an ESCALATED message back to its queue.\n"+
			"Reads --data directly, or the running stride's admin API (--admin-addr) when it holds the directory\n"+
			"or the directory is not here. Options may come before or after the arguments (replay ID --data DIR).", stderr)
	dataDir := fs.String("data", envOr("STRIDE_DATA", "./data"), "data directory (env STRIDE_DATA)")
	adminAddr := fs.String("admin-addr", envOr("STRIDE_ADMIN_ADDR", "127.0.0.1:8081"), "admin API of a running stride (env STRIDE_ADMIN_ADDR)")
	flow := fs.String("flow", "", "only this flow")
	status := fs.String("status", "", "only this status (COMPLETED, FAILED, RETRY, ESCALATED, DISCARDED, ...)")
	correlation := fs.String("correlation", "", "only the messages of this correlation id (one inbound request's webhook and the messages its consumers ran)")
	limit := fs.Int("limit", 50, "at most this many entries")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] != "show" && rest[0] != "replay" {
		return unknownSubcommand(fs, "messages", rest[0], []string{"show", "replay"})
	}
	if len(rest) != 0 && len(rest) != 2 {
		fs.Usage()
		return 2
	}
	b, err := openBackend(*dataDir, *adminAddr, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "stride messages:", err)
		return 1
	}
	defer b.close()
	switch {
	case len(rest) == 0:
		var msgs []admin.MessageJSON
		var err error
		if *correlation != "" {
			msgs, err = b.search(admin.MessageSearchQuery{Flow: *flow, Status: strings.ToUpper(*status), Correlation: *correlation, Limit: *limit})
		} else {
			msgs, err = b.messages(*flow, strings.ToUpper(*status), *limit)
		}
		if err != nil {
			fmt.Fprintln(stderr, "stride messages:", err)
			return 1
		}
		if *asJSON {
			return printJSON(stdout, msgs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "START\tID\tCORRELATION\tFLOW\tATTEMPT\tSTATUS\tDURATION\tERROR")
		for _, m := range msgs {
			corr := m.CorrelationID
			if corr == m.ID || corr == "" {
				corr = "-" // the message started its chain
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%.1f ms\t%s\n", m.Start.Format("2006-01-02 15:04:05"), m.ID, corr, m.Flow, m.Attempt, m.Status,
				float64(m.End.Sub(m.Start).Microseconds())/1000, firstLine(m.Error, 100))
		}
		tw.Flush()
		return 0
	case len(rest) == 2 && rest[0] == "show":
		msgs, err := b.message(rest[1])
		if err != nil || len(msgs) == 0 {
			fmt.Fprintf(stderr, "stride messages: no message %s\n", rest[1])
			return 1
		}
		if *asJSON {
			return printJSON(stdout, msgs)
		}
		for _, m := range msgs {
			fmt.Fprintf(stdout, "%s  flow %s (version %s)  attempt %d  %s  %s → %s\n", m.ID, m.Flow, m.FlowVersion, m.Attempt, m.Status,
				m.Start.Format("15:04:05.000"), m.End.Format("15:04:05.000"))
			if m.CorrelationID != "" {
				fmt.Fprintf(stdout, "  correlation id: %s\n", m.CorrelationID)
			}
			if m.TraceID != "" {
				fmt.Fprintf(stdout, "  trace id: %s\n", m.TraceID)
			}
			if m.Error != "" {
				fmt.Fprintf(stdout, "  error: %s\n", m.Error)
			}
			for _, t := range m.Trace {
				fmt.Fprintf(stdout, "  %-8s %-24s %-28s %8.2f ms  %s\n", t.Outcome, t.Step, t.At, t.DurationMS, firstLine(t.Error, 120))
			}
			if len(m.Trace) == 0 && m.Error == "" {
				fmt.Fprintln(stdout, "  steps: not kept for an attempt that went well at log level info (a failed one keeps them; log: trace keeps all)")
			}
		}
		return 0
	case len(rest) == 2 && rest[0] == "replay":
		q, err := b.replay(rest[1])
		if err != nil {
			fmt.Fprintf(stderr, "stride messages replay: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "replayed %s: back on queue %s\n", rest[1], q)
		return 0
	}
	fs.Usage()
	return 2
}

func printJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return 1
	}
	return 0
}

func firstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
