package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/signal"
	"slices"
	"sort"
	"syscall"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// storeSubcommands are the subcommands of stride store.
var storeSubcommands = []string{"ls", "get", "rm", "backup", "restore"}

func cmdStore(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("store", "ls [STORE] | get [--reveal] STORE ID | rm STORE ID | backup FILE | restore FILE",
		"Inspects the data stores: ls lists stores (or a store's ids), get prints an entry, rm deletes one.\n"+
			"They read --data directly, or the running stride's admin API (--admin-addr) when it holds the\n"+
			"directory or the directory is not here.\n"+
			"Values are decrypted with STRIDE_DATA_KEY; without the right key they cannot be read.\n"+
			"get shows the fields a flow declared sensitive as ***; get --reveal shows them, reading --data itself:\n"+
			"never through the admin API, so only while no stride runs on it.\n"+
			"backup FILE writes a consistent backup of --data to FILE, through the admin API while stride runs\n"+
			"on it or when it is not here;\n"+
			"sealed values stay sealed. restore FILE loads a backup into --data, which must be new or empty.\n"+
			"Options may come before or after the arguments (stride store restore FILE --data DIR).", stderr)
	dataDir := fs.String("data", envOr("STRIDE_DATA", "./data"), "data directory (env STRIDE_DATA)")
	adminAddr := fs.String("admin-addr", envOr("STRIDE_ADMIN_ADDR", "127.0.0.1:8081"), "admin API of a running stride (env STRIDE_ADMIN_ADDR)")
	prefix := fs.String("prefix", "", "ls: only ids starting with this")
	limit := fs.Int("limit", 1000, "ls: at most this many ids")
	reveal := fs.Bool("reveal", false, "get: show sensitive fields too (reads --data directly; refused while a stride runs on it)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	rest := fs.Args()
	if len(rest) >= 1 && !slices.Contains(storeSubcommands, rest[0]) {
		return unknownSubcommand(fs, "store", rest[0], storeSubcommands)
	}
	valid := len(rest) >= 1 && (rest[0] == "ls" && len(rest) <= 2 ||
		(rest[0] == "get" || rest[0] == "rm") && len(rest) == 3 ||
		(rest[0] == "backup" || rest[0] == "restore") && len(rest) == 2)
	if !valid {
		fs.Usage()
		return 2
	}
	if *reveal && rest[0] != "get" {
		fmt.Fprintf(stderr, "stride store %s: --reveal is an option of get\n", rest[0])
		return 2
	}
	switch {
	case rest[0] == "backup":
		if _, err := os.Stat(*dataDir); errors.Is(err, iofs.ErrNotExist) && adminUp(*adminAddr) {
			return storeBackupViaAdmin(*dataDir, *adminAddr, rest[1], stdout, stderr)
		}
		return storeBackup(*dataDir, *adminAddr, rest[1], stdout, stderr)
	case rest[0] == "restore":
		return storeRestore(*dataDir, rest[1], stdout, stderr)
	case *reveal:
		return storeReveal(*dataDir, rest[1], rest[2], stdout, stderr)
	}
	b, err := openBackend(*dataDir, *adminAddr, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "stride store:", err)
		return 1
	}
	defer b.close()
	switch rest[0] {
	case "ls":
		if len(rest) == 1 {
			counts, err := b.stores()
			if err != nil {
				fmt.Fprintln(stderr, "stride store:", err)
				return 1
			}
			names := make([]string, 0, len(counts))
			for n := range counts {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(stdout, "%s\t%d\n", n, counts[n])
			}
			return 0
		}
		ids, err := b.list(rest[1], *prefix, *limit)
		if err != nil {
			fmt.Fprintln(stderr, "stride store:", err)
			return 1
		}
		for _, id := range ids {
			fmt.Fprintln(stdout, id)
		}
	case "get":
		v, err := b.get(rest[1], rest[2])
		if err != nil {
			fmt.Fprintln(stderr, "stride store:", err)
			return 1
		}
		return printValue(stdout, v)
	case "rm":
		if err := b.remove(rest[1], rest[2]); err != nil {
			fmt.Fprintln(stderr, "stride store:", err)
			return 1
		}
		fmt.Fprintf(stdout, "deleted %s/%s\n", rest[1], rest[2])
	}
	return 0
}

// printValue prints a datastore value: indented when it is JSON, else as
// it is.
func printValue(stdout io.Writer, v []byte) int {
	var pretty any
	if json.Unmarshal(v, &pretty) == nil {
		return printJSON(stdout, pretty)
	}
	_, _ = stdout.Write(v)
	return 0
}

// storeBackupViaAdmin writes a backup of the running stride at adminAddr
// to file, for a data directory that is not on this machine; the file
// appears whole or not at all, as with storeBackup.
func storeBackupViaAdmin(dataDir, adminAddr, file string, stdout, stderr io.Writer) int {
	fmt.Fprintf(stderr, "stride: no data directory %s here; asking the admin API of the stride running at %s\n", dataDir, adminAddr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var info store.BackupInfo
	err := writeFileAtomic(file, func(f *os.File) error {
		if _, err := backupClient(adminAddr).Backup(ctx, f); err != nil {
			return adminError(err)
		}
		// Read back what reached the file: it must be whole.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		var err error
		info, err = store.VerifyBackup(bufio.NewReaderSize(f, 1<<20))
		return err
	})
	if err != nil {
		fmt.Fprintf(stderr, "stride store backup: %v; %s was not written\n", err, file)
		return 1
	}
	fmt.Fprintf(stdout, "backup of the stride at %s written to %s (%d bytes, taken %s, through the admin API)\n", adminAddr, file, info.Bytes, info.Created.Format(time.RFC3339))
	if info.Encrypted {
		fmt.Fprintln(stdout, "values are sealed: a store restored from it needs the same STRIDE_DATA_KEY")
	} else {
		fmt.Fprintln(stdout, "values are not encrypted (no STRIDE_DATA_KEY): keep the file as safe as the data")
	}
	return 0
}
