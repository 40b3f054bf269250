package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stride-engine/stride/engine/admin"
)

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("reload", "[--force] [--admin-addr HOST:PORT]",
		"Asks a running stride to reload its flows now (POST /admin/reload): it reads the flow files and\n"+
			"--env-file again. Exit 1 with the reason when the reload fails (invalid files, an unreadable env\n"+
			"file) or is refused because it would stop running flows (a flow file removed, a flow disabled by a\n"+
			"missing variable): the running flows keep serving. --force applies such a reload and stops them.", stderr)
	adminAddr := fs.String("admin-addr", envOr("STRIDE_ADMIN_ADDR", "127.0.0.1:8081"), "admin API of the running stride (env STRIDE_ADMIN_ADDR)")
	force := fs.Bool("force", false, "apply the reload even when it stops running flows (a flow file removed on purpose); never applies invalid files")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "stride reload: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	out, err := newAdminClient(*adminAddr, 30*time.Second).ReloadWith(context.Background(), admin.ReloadQuery{Force: *force})
	if err != nil {
		fmt.Fprintln(stderr, "stride reload:", reloadError(err))
		return 1
	}
	fmt.Fprintf(stdout, "reloaded %d flows in %.1f ms\n", len(out.Versions), out.TookMS)
	for _, s := range out.Stopped {
		fmt.Fprintf(stdout, "stopped flow %s (%s): %s\n", s.ID, s.File, s.Reason)
	}
	return 0
}

// reloadError words a failed or refused reload for the operator.
func reloadError(err error) error {
	var ae *admin.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case admin.CodeWouldStopFlows:
		msg := "refused: the new flows would stop running flows; the running flows keep serving:"
		for _, s := range ae.WouldStop {
			msg += fmt.Sprintf("\n  %s (%s): %s", s.ID, s.File, s.Reason)
		}
		return errors.New(msg + "\nFix the cause (a missing variable: set it in the environment or --env-file), or run `stride reload --force` to stop them (a flow file removed on purpose needs --force).")
	case admin.CodeInvalid:
		msg := "the reload failed; the running flows keep serving:"
		for _, e := range ae.LoadErrors {
			msg += "\n" + loadErrorLine(e)
		}
		return errors.New(msg)
	}
	return adminError(err)
}
