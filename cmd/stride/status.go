package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "", "Shows the flows a running stride serves (id, trigger, status, version, file) and the files of the last failed load.", stderr)
	adminAddr := fs.String("admin-addr", envOr("STRIDE_ADMIN_ADDR", "127.0.0.1:8081"), "admin API of the running stride (env STRIDE_ADMIN_ADDR)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	out, err := newAdminClient(*adminAddr, 30*time.Second).Flows(context.Background())
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
	if len(out.Errors) > 0 {
		fmt.Fprintf(stdout, "\nThe last reload failed; the flows above keep running. Errors:\n")
		for _, e := range out.Errors {
			fmt.Fprintf(stdout, "%s:%d:%d: %s\n", e.File, e.Line, e.Col, e.Message)
		}
		return 1
	}
	return 0
}

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("reload", "", "Asks a running stride to reload its flows now (POST /admin/reload). Exit 1 with the errors when\n"+
		"the files are invalid: the running flows keep serving.", stderr)
	adminAddr := fs.String("admin-addr", envOr("STRIDE_ADMIN_ADDR", "127.0.0.1:8081"), "admin API of the running stride (env STRIDE_ADMIN_ADDR)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	out, err := newAdminClient(*adminAddr, 30*time.Second).Reload(context.Background())
	if err != nil {
		fmt.Fprintln(stderr, "stride reload:", adminError(err))
		return 1
	}
	fmt.Fprintf(stdout, "reloaded %d flows in %.1f ms\n", len(out.Versions), out.TookMS)
	return 0
}
