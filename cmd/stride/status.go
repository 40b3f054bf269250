package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/stride-engine/stride/engine/admin"
)

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "", "Shows the flows a running stride serves (id, trigger, status, version, file) and, when the last reload\n"+
		"failed or was refused, why. Exit 1 then (the flows shown keep running), or when stride cannot be reached.", stderr)
	adminAddr := fs.String("admin-addr", envOr("STRIDE_ADMIN_ADDR", "127.0.0.1:8081"), "admin API of the running stride (env STRIDE_ADMIN_ADDR)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	client := newAdminClient(*adminAddr, 30*time.Second)
	out, err := client.Flows(context.Background())
	if err != nil {
		fmt.Fprintln(stderr, "stride status:", adminError(err))
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FLOW\tTRIGGER\tSTATUS\tVERSION\tFILE")
	for _, f := range out.Flows {
		status := f.Status
		if f.Reason != "" {
			status += " (" + f.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.ID, f.Trigger, status, f.Version, f.File)
	}
	tw.Flush()
	if sz, err := client.StoreSize(context.Background()); err == nil {
		fmt.Fprintf(stdout, "\nStore: log %s, queues %s, data stores %s (live keys and values); files on disk %s\n",
			mib(sz.Parts.Log), mib(sz.Parts.Queues), mib(sz.Parts.DataStores), mib(sz.LSMBytes+sz.VlogBytes))
	}
	if len(out.Errors) > 0 {
		// A failed reload (invalid files, an unreadable env file) and a
		// refused one (it would stop running flows) both leave the flows
		// above running, and both need the operator: exit 1.
		fmt.Fprintf(stdout, "\nThe last reload failed or was refused; the flows above keep running. Errors:\n")
		for _, e := range out.Errors {
			fmt.Fprintln(stdout, loadErrorLine(e))
		}
		return 1
	}
	return 0
}

// loadErrorLine formats a load error as file:line:col: message, or
// file: message for one that is about a whole file (an env file that
// cannot be read, a flow a refused reload would stop).
func loadErrorLine(e admin.LoadError) string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Message)
}

// mib words a byte count for people.
func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
