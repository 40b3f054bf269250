package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/admin/monitor"
	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/metrics"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "[--flows DIR] [--data DIR] [--addr HOST:PORT] [--admin-addr HOST:PORT] [--env-file FILE]",
		"Runs every flow under --flows: http triggers on --addr, the admin API on --admin-addr.\n"+
			"Edits of --flows reload; SIGHUP, `stride reload` and POST /admin/reload reload on demand, reading\n"+
			"--env-file again. A reload that would stop a running flow is refused unless forced (stride reload --force).\n"+
			"Exit 0 after a clean shutdown on SIGINT/SIGTERM; non-zero with a reason when flows are invalid or a port is taken.", stderr)
	flowsDir := fs.String("flows", envOr("STRIDE_FLOWS", "./flows"), "directory of flow files (env STRIDE_FLOWS)")
	dataDir := fs.String("data", envOr("STRIDE_DATA", "./data"), "data directory: datastores, queues, message log (env STRIDE_DATA)")
	storeSpec := fs.String("store", envOr("STRIDE_STORE", ""), "where durable state lives: empty for the badger database under --data, or nats://host:port[,host:port] (tls:// for TLS) for NATS JetStream shared by several instances (env STRIDE_STORE)")
	natsCreds := fs.String("nats-creds", envOr("STRIDE_NATS_CREDS", ""), "with --store nats://: a NATS credentials file (env STRIDE_NATS_CREDS)")
	natsCA := fs.String("nats-ca", envOr("STRIDE_NATS_CA", ""), "with --store nats://: PEM CA of the servers' certificates; turns TLS on (env STRIDE_NATS_CA)")
	natsPrefix := fs.String("nats-prefix", envOr("STRIDE_NATS_PREFIX", "stride"), "with --store nats://: prefix of the buckets, stream and subjects (env STRIDE_NATS_PREFIX)")
	natsReplicas := fs.Int("nats-replicas", 1, "with --store nats://: servers keeping each bucket and the log (3 on a 3-node cluster)")
	instance := fs.String("instance", envOr("STRIDE_INSTANCE", ""), "stable name of this instance (e.g. the pod name): a restart ends the queue leases it held (env STRIDE_INSTANCE)")
	addr := fs.String("addr", envOr("STRIDE_ADDR", "127.0.0.1:8080"), "listener of all http triggers (env STRIDE_ADDR)")
	adminAddr := fs.String("admin-addr", envOr("STRIDE_ADMIN_ADDR", "127.0.0.1:8081"), "listener of the admin API (env STRIDE_ADMIN_ADDR)")
	envFile := fs.String("env-file", "", "read flow variables from this KEY=VALUE file; the process environment wins")
	logFormat := fs.String("log-format", envOr("STRIDE_LOG_FORMAT", "text"), "log format: text or json (env STRIDE_LOG_FORMAT)")
	logLevel := fs.String("log-level", envOr("STRIDE_LOG_LEVEL", "info"), "the least important log lines written: debug, info, warn or error (env STRIDE_LOG_LEVEL)")
	durability := fs.String("durability", envOr("STRIDE_DURABILITY", "power-loss"), "what an enqueue or datastore write survives before it returns: power-loss (fsync; default) or process-crash (faster; survives kill -9, not a power cut) (env STRIDE_DURABILITY)")
	memoryLimit := fs.String("memory-limit", envOr("STRIDE_MEMORY_LIMIT", ""), "the process's memory budget, e.g. 512MiB: sets Go's soft memory limit and sizes the store's memtables and caches (default: the cgroup's limit, else 256MiB) (env STRIDE_MEMORY_LIMIT)")
	tlsCert := fs.String("tls-cert", envOr("STRIDE_TLS_CERT", ""), "serve --addr over HTTPS with this PEM certificate (chain) file; needs --tls-key (env STRIDE_TLS_CERT)")
	tlsKey := fs.String("tls-key", envOr("STRIDE_TLS_KEY", ""), "the PEM private key of --tls-cert (env STRIDE_TLS_KEY)")
	logMaxSize := fs.String("log-max-size", envOr("STRIDE_LOG_MAX_SIZE", "256MiB"), "the message log's size cap: past it the oldest entries are deleted (env STRIDE_LOG_MAX_SIZE)")
	logRetentionFlag := fs.String("log-retention", envOr("STRIDE_LOG_RETENTION", "168h"), "how long message log entries are kept, e.g. 72h (env STRIDE_LOG_RETENTION)")
	minFreeDisk := fs.String("min-free-disk", envOr("STRIDE_MIN_FREE_DISK", "512MiB"), "below this much free space on the data directory's file system, refuse durable writes (HTTP flows that write answer 503, queues pause) instead of risking a crash (env STRIDE_MIN_FREE_DISK)")
	otelEndpoint := fs.String("otel-endpoint", envOr("STRIDE_OTEL_ENDPOINT", ""), "send OpenTelemetry traces (a span per message and per step) over OTLP/HTTP to this URL, e.g. http://127.0.0.1:4318; OTEL_EXPORTER_OTLP_ENDPOINT works too; off when neither is set (env STRIDE_OTEL_ENDPOINT)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 20*time.Second, "how long in-flight messages may take to finish on shutdown")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}

	if (*tlsCert == "") != (*tlsKey == "") {
		fmt.Fprintln(stderr, "stride run: --tls-cert and --tls-key go together")
		return 2
	}
	if *tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey); err != nil {
			fmt.Fprintln(stderr, "stride run: --tls-cert/--tls-key:", err)
			return 1
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "stride run: --log-level %q: want debug, info, warn or error\n", *logLevel)
		return 2
	}
	opts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler
	switch *logFormat {
	case "text":
		handler = slog.NewTextHandler(stderr, opts)
	case "json":
		handler = slog.NewJSONHandler(stderr, opts)
	default:
		fmt.Fprintf(stderr, "stride run: --log-format %q: want text or json\n", *logFormat)
		return 2
	}
	log := slog.New(handler)

	lookup, err := envLookup(*envFile)
	if err != nil {
		fmt.Fprintln(stderr, "stride run:", err)
		return 1
	}
	set, err := flow.LoadPaths(*flowsDir)
	if err != nil {
		var el flow.ErrorList
		if errors.As(err, &el) {
			for _, e := range el {
				fmt.Fprintln(stderr, e)
			}
			fmt.Fprintf(stderr, "stride run: flows under %s are invalid (%d %s)\n", *flowsDir, len(el), plural(len(el), "error", "errors"))
		} else {
			fmt.Fprintln(stderr, "stride run:", err)
		}
		return 1
	}
	set.LogNotStarted(log, set.Bind(lookup))

	// Take over SIGINT/SIGTERM before anything listens: once health says
	// ok, a signal must mean a clean shutdown (exit 0), not the default
	// kill.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	appLn, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "stride run: cannot listen on --addr %s: %v\n", *addr, err)
		return 1
	}
	adminLn, err := net.Listen("tcp", *adminAddr)
	if err != nil {
		appLn.Close()
		fmt.Fprintf(stderr, "stride run: cannot listen on --admin-addr %s: %v\n", *adminAddr, err)
		return 1
	}
	// The ports are taken first: a second instance on the same ports
	// fails fast, before it touches (and locks) the data directory.
	// badFlag gives them back and refuses a flag's value (exit 2).
	badFlag := func(format string, a ...any) int {
		appLn.Close()
		adminLn.Close()
		fmt.Fprintf(stderr, "stride run: "+format+"\n", a...)
		return 2
	}
	var dur store.Durability
	switch *durability {
	case "power-loss":
		dur = store.SurvivePowerLoss
	case "process-crash":
		dur = store.SurviveProcessCrash
	default:
		return badFlag("--durability %q: want power-loss or process-crash", *durability)
	}
	minFree, err := flow.ParseByteSize(*minFreeDisk)
	if err != nil {
		return badFlag("--min-free-disk %q: %v", *minFreeDisk, err)
	}
	logMax, err := flow.ParseByteSize(*logMaxSize)
	if err == nil && logMax < 1<<20 {
		err = errors.New("at least 1MiB")
	}
	if err != nil {
		return badFlag("--log-max-size %q: %v", *logMaxSize, err)
	}
	logRetention, err := time.ParseDuration(*logRetentionFlag)
	if err == nil && logRetention < time.Minute {
		err = errors.New("at least 1m")
	}
	if err != nil {
		return badFlag("--log-retention %q: %v", *logRetentionFlag, err)
	}
	budget, budgetFrom, err := memoryBudget(*memoryLimit)
	if err != nil {
		return badFlag("%v", err)
	}
	// The Go heap (badger's memtables and caches are in it) collects
	// harder as it nears its share of the budget; the rest is for the
	// files badger maps, which the kernel can reclaim.
	goLimit := store.GoShare(budget)
	debug.SetMemoryLimit(goLimit)
	// Most of the live heap is badger's memtables and caches: long-lived
	// bytes without pointers, cheap to mark but counted in the heap goal.
	// At Go's default GOGC=100 they double it, and the heap meets the
	// soft limit, where the runtime collects and returns memory
	// continuously. A goal of 1.5× the live heap stays under it. GOGC,
	// when set, is the operator's.
	gcPercent := "GOGC"
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
		gcPercent = "50"
	}
	mem := store.MemoryFor(budget)
	log.Info("message log", "max_size", *logMaxSize, "retention", logRetention.String())
	log.Info("memory budget", "limit", fmt.Sprintf("%dMiB", budget>>20), "from", budgetFrom, "go_soft_limit", fmt.Sprintf("%dMiB", goLimit>>20), "gc_percent", gcPercent, "store", mem.String())
	st, err := openStoreFlag(context.Background(), storeOptions{Store: *storeSpec, DataDir: *dataDir, Durability: dur, Memory: mem,
		LogRetention: logRetention, LogMaxBytes: int64(logMax),
		NATSCreds: *natsCreds, NATSCA: *natsCA, NATSPrefix: *natsPrefix, NATSReplicas: *natsReplicas, Instance: *instance, Log: log})
	if err != nil {
		appLn.Close()
		adminLn.Close()
		fmt.Fprintln(stderr, "stride run:", err)
		return 1
	}
	defer st.Close()
	m := metrics.NewFor(st.Queues, st.DB)
	// The disk guard watches the badger directory; on NATS the servers
	// guard their own disks (JetStream refuses writes it cannot store).
	var guard *runtime.DiskGuard
	if st.DB != nil {
		guard = &runtime.DiskGuard{Dir: st.Where, MinFree: uint64(minFree), Log: log}
		guardCtx, stopGuard := context.WithCancel(context.Background())
		defer stopGuard()
		guard.Check()
		go guard.Run(guardCtx)
		m.WatchDisk(guard.Free, guard.Dropped)
	}
	m.BuildInfo(version, commit)
	var tracer trace.Tracer
	if ep := tracingEndpoint(*otelEndpoint); ep != "" {
		t, shutdownTracing, err := newTracer(context.Background(), *otelEndpoint, *instance, log)
		if err != nil {
			appLn.Close()
			adminLn.Close()
			fmt.Fprintln(stderr, "stride run:", err)
			return 1
		}
		tracer = t
		defer func() {
			// Flush what the last messages left, within a bound: a
			// collector that is gone must not hold the exit.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := shutdownTracing(ctx); err != nil {
				log.Warn("opentelemetry: last spans not exported", "error", err)
			}
		}()
		log.Info("tracing on", "otlp_endpoint", shownURL(ep))
	}
	rt := runtime.New(runtime.Options{Log: log, Observer: m, DiskGuard: guard, Services: st.Services(), Tracer: tracer})
	rt.Swap(set)
	if err := rt.Start(context.Background()); err != nil {
		appLn.Close()
		adminLn.Close()
		fmt.Fprintln(stderr, "stride run:", err)
		return 1
	}

	var ready atomic.Bool
	admin := admin.NewAdmin(rt, os.Getenv("STRIDE_ADMIN_TOKEN"), ready.Load)
	admin.AddStoreRoutes(rt.Services())
	admin.AddMonitorRoutes(rt.Services(), st.Queues)
	monitor.Mount(admin)
	admin.AddPprof()
	if st.DB != nil {
		admin.AddBackup(st.DB)
		admin.AddStoreSize(st.DB)
	}
	admin.Handle("GET /metrics", m.Handler())
	// Every reload reads the env file again; a reload that would stop a
	// running flow is refused unless forced (stride reload --force).
	reloader := &runtime.Reloader{Dir: *flowsDir, Env: envReloader(*envFile), RT: rt, Log: log,
		// counts stride_reloads_total{result} by the result itself.
		OnOutcome: m.ReloadOutcome}
	admin.AddReload(reloader)
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	if _, err := reloader.Watch(watchCtx); err != nil {
		log.Error("not watching the flows directory: edits need SIGHUP or POST /admin/reload", "dir", *flowsDir, "error", err)
	}
	appSrv := &http.Server{Handler: rt, ReadHeaderTimeout: 10 * time.Second, BaseContext: rt.BaseContext}
	adminSrv := &http.Server{Handler: admin, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() {
		if *tlsCert != "" {
			errc <- appSrv.ServeTLS(appLn, *tlsCert, *tlsKey)
			return
		}
		errc <- appSrv.Serve(appLn)
	}()
	go func() { errc <- adminSrv.Serve(adminLn) }()
	ready.Store(true)
	log.Info("stride running", "flows", len(set.Flows()), "addr", appLn.Addr().String(), "tls", *tlsCert != "", "admin", adminLn.Addr().String())

	for running := true; running; {
		select {
		case s := <-sig:
			log.Info("shutting down", "signal", s.String())
			running = false
		case <-hup:
			reloader.ReloadWith(runtime.ReloadOptions{By: "SIGHUP"}) // never forced: a refusal is logged
		case err := <-errc:
			fmt.Fprintln(stderr, "stride run: server stopped:", err)
			return 1
		}
	}
	stopWatch()
	ctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	code := 0
	if err := appSrv.Shutdown(ctx); err != nil {
		log.Error("in-flight requests did not finish in time", "error", err)
		code = 1
	}
	if err := rt.Stop(ctx); err != nil {
		// Still a clean shutdown: what was cut short stays queued.
		log.Warn("runs still going at the shutdown deadline were cancelled; unfinished queue messages stay queued", "error", err)
	}
	_ = adminSrv.Shutdown(ctx)
	log.Info("stopped")
	return code
}
