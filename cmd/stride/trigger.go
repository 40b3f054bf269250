package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

func cmdTrigger(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("trigger", "FLOW-ID", "Runs a timer flow of a running stride now (POST /admin/flows/{id}/run) and prints the message id.\n"+
		"A run never overlaps a run of the same flow still going (exit 1).", stderr)
	adminAddr := fs.String("admin-addr", envOr("STRIDE_ADMIN_ADDR", "127.0.0.1:8081"), "admin API of the running stride (env STRIDE_ADMIN_ADDR)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	out, err := newAdminClient(*adminAddr, 10*time.Second).RunNow(context.Background(), fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "stride trigger:", adminError(err))
		return 1
	}
	fmt.Fprintf(stdout, "started %s: message %s (see `stride messages show %s`)\n", fs.Arg(0), out.MessageID, out.MessageID)
	return 0
}
