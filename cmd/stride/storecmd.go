package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

func cmdStore(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("store", "ls [STORE] | get STORE ID | rm STORE ID",
		"Inspects the data stores: ls lists stores (or a store's ids), get prints an entry, rm deletes one.\n"+
			"Values are decrypted with STRIDE_DATA_KEY; without the right key they cannot be read.", stderr)
	dataDir := fs.String("data", envOr("STRIDE_DATA", "./data"), "data directory (env STRIDE_DATA)")
	adminAddr := fs.String("admin-addr", envOr("STRIDE_ADMIN_ADDR", "127.0.0.1:8081"), "admin API of a running stride (env STRIDE_ADMIN_ADDR)")
	prefix := fs.String("prefix", "", "ls: only ids starting with this")
	limit := fs.Int("limit", 1000, "ls: at most this many ids")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	rest := fs.Args()
	valid := len(rest) >= 1 && (rest[0] == "ls" && len(rest) <= 2 || (rest[0] == "get" || rest[0] == "rm") && len(rest) == 3)
	if !valid {
		fs.Usage()
		return 2
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
		var pretty any
		if json.Unmarshal(v, &pretty) == nil {
			return printJSON(stdout, pretty)
		}
		_, _ = stdout.Write(v)
	case "rm":
		if err := b.remove(rest[1], rest[2]); err != nil {
			fmt.Fprintln(stderr, "stride store:", err)
			return 1
		}
		fmt.Fprintf(stdout, "deleted %s/%s\n", rest[1], rest[2])
	}
	return 0
}
