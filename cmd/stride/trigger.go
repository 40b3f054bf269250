package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
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
	b := &adminBackend{base: "http://" + *adminAddr, token: os.Getenv("STRIDE_ADMIN_TOKEN"), client: &http.Client{Timeout: 10 * time.Second}}
	var out struct {
		MessageID string `json:"message_id"`
	}
	if _, err := b.do("POST", "/admin/flows/"+url.PathEscape(fs.Arg(0))+"/run", &out); err != nil {
		fmt.Fprintln(stderr, "stride trigger:", err)
		return 1
	}
	fmt.Fprintf(stdout, "started %s: message %s (see `stride messages show %s`)\n", fs.Arg(0), out.MessageID, out.MessageID)
	return 0
}
