package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// cmdReady asks a running stride's GET /readyz: exit 0 when it is ready,
// 1 with the reasons when not. The container image's HEALTHCHECK runs it
// (the image has no curl).
func cmdReady(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("ready", "", "Asks a running stride whether it is ready (GET /readyz on the admin listener): exit 0 when it is, 1 with the reasons when not.", stderr)
	adminAddr := fs.String("admin-addr", envOr("STRIDE_ADMIN_ADDR", "127.0.0.1:8081"), "admin API of the running stride (env STRIDE_ADMIN_ADDR)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	addr := *adminAddr
	if host, port, ok := strings.Cut(addr, ":"); ok && (host == "" || host == "0.0.0.0") {
		addr = "127.0.0.1:" + port // the image listens on all interfaces; ask locally
	}
	ready, r, err := newAdminClient(addr, 5*time.Second).Ready(context.Background())
	if err != nil {
		fmt.Fprintln(stderr, "stride ready:", adminError(err))
		return 1
	}
	if !ready {
		fmt.Fprintln(stderr, "stride ready: not ready:", strings.Join(r.Reasons, "; "))
		return 1
	}
	fmt.Fprintln(stdout, "ready")
	return 0
}
