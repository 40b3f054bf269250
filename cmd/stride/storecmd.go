package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
)

func cmdStore(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("store", "ls [STORE] | get [--reveal] STORE ID | rm STORE ID | backup FILE | restore FILE",
		"Inspects the data stores: ls lists stores (or a store's ids), get prints an entry, rm deletes one.\n"+
			"Values are decrypted with STRIDE_DATA_KEY; without the right key they cannot be read.\n"+
			"get shows the fields a flow declared sensitive as ***; get --reveal shows them, reading --data itself:\n"+
			"never through the admin API, so only while no stride runs on it.\n"+
			"backup FILE writes a consistent backup of --data to FILE, through the admin API while stride runs;\n"+
			"sealed values stay sealed. restore FILE loads a backup into --data, which must be new or empty.\n"+
			"Options may come before or after the arguments (stride store restore FILE --data DIR).", stderr)
	dataDir := fs.String("data", envOr("STRIDE_DATA", "./data"), "data directory (env STRIDE_DATA)")
	adminAddr := fs.String("admin-addr", envOr("STRIDE_ADMIN_ADDR", "127.0.0.1:8081"), "admin API of a running stride (env STRIDE_ADMIN_ADDR)")
	prefix := fs.String("prefix", "", "ls: only ids starting with this")
	limit := fs.Int("limit", 1000, "ls: at most this many ids")
	reveal := fs.Bool("reveal", false, "get: show sensitive fields too (reads --data directly; refused while a stride runs on it)")
	rest, code, ok := parseInterspersed(fs, args)
	if !ok {
		return code
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

// parseInterspersed parses the flags wherever they stand among the
// arguments (`store get --reveal S ID`, `store backup FILE --data DIR`)
// and returns the other arguments in order; after "--" every argument is
// one. It returns an exit code and false when the command should stop.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var positional []string
	for {
		if code, ok := parseFlags(fs, args); !ok {
			return nil, code, false
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), 0, true
		}
		if len(rest) == 0 {
			return positional, 0, true
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}
