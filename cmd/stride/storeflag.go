package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
	"github.com/stride-engine/stride/engine/store/natsstore"
)

// storeOptions say which store `stride run --store` opens and how.
type storeOptions struct {
	// Store is --store: empty for the badger database under DataDir, a
	// directory for a badger database there, or nats://host:port (several
	// servers of one cluster separated by commas; tls:// for TLS) for
	// NATS JetStream, shared by every Stride instance given the same
	// servers and prefix.
	Store string
	// DataDir is --data, the badger directory when Store is empty.
	DataDir string
	// Durability and Memory configure the badger database.
	Durability store.Durability
	Memory     store.Memory
	// LogRetention and LogMaxBytes bound the message log (0: the
	// backend's defaults, 7 days and 256 MiB).
	LogRetention time.Duration
	LogMaxBytes  int64
	// NATSCreds is a NATS credentials file (user JWT and nkey seed).
	NATSCreds string
	// NATSCA is a PEM file of the CA that signed the NATS servers' TLS
	// certificates; giving it turns TLS on.
	NATSCA string
	// NATSPrefix names the buckets, stream and subjects (default
	// "stride"): deployments sharing a NATS account need different ones.
	NATSPrefix string
	// NATSReplicas is how many servers keep each bucket and the log
	// stream (default 1; 3 on a 3-node cluster).
	NATSReplicas int
	// Instance is a stable name of this instance (a pod name): with it, a
	// restarted instance ends the queue leases it held before.
	Instance string
	// Log receives warnings (an unset data key, NATS disconnects).
	Log *slog.Logger
}

// openedStore is the open store: the three interfaces the runtime uses,
// and the badger database when that is the store.
type openedStore struct {
	KV     store.KV
	Queues store.Queues
	Log    store.Log
	// DB is the badger database, nil on NATS. Backups (GET /admin/backup),
	// the store size metrics and the disk guard of --data need it.
	DB *store.DB
	// Where says where the state is, for log lines: the directory, or the
	// NATS servers (without credentials).
	Where string
	// Instance names this instance among those sharing a NATS store; ""
	// for badger, which one process has to itself.
	Instance string
	close    func() error
}

// Services are the store as flows see it.
func (o *openedStore) Services() *flow.Services {
	return &flow.Services{KV: o.KV, Queues: o.Queues, Log: o.Log, Instance: o.Instance}
}

// Close closes the store (and the NATS connection).
func (o *openedStore) Close() error { return o.close() }

// isNATSStore reports whether a --store value names NATS servers.
func isNATSStore(spec string) bool {
	s := strings.ToLower(strings.TrimSpace(spec))
	return strings.HasPrefix(s, "nats://") || strings.HasPrefix(s, "tls://")
}

// openStoreFlag opens the store o.Store names, sealed with STRIDE_DATA_KEY
// when it is set.
func openStoreFlag(ctx context.Context, o storeOptions) (*openedStore, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if !isNATSStore(o.Store) {
		if o.NATSCreds != "" || o.NATSCA != "" {
			return nil, fmt.Errorf("--store %q is not a nats:// URL: NATS credentials and CA do not apply", o.Store)
		}
		dir := o.Store
		if dir == "" {
			dir = o.DataDir
		}
		db, err := openStore(dir, o)
		if err != nil {
			return nil, err
		}
		return &openedStore{KV: db.KV(), Queues: db.Queues(), Log: db.Log(), DB: db, Where: dir, close: db.Close}, nil
	}
	key, err := dataKey()
	if err != nil {
		return nil, err
	}
	urls, where, err := natsURLs(o.Store)
	if err != nil {
		return nil, err
	}
	if key == nil {
		o.Log.Warn("STRIDE_DATA_KEY is not set: datastore values, queued messages and traced payloads are stored unencrypted on the NATS servers " + where)
	}
	nc, err := nats.Connect(urls, natsOptions(o)...)
	if err != nil {
		return nil, fmt.Errorf("--store %s: cannot connect: %w", where, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ns, err := natsstore.Open(ctx, nc, natsstore.Options{
		Prefix: o.NATSPrefix, Key: key, Replicas: o.NATSReplicas, Logger: o.Log, Instance: o.Instance,
		LogRetention: o.LogRetention, LogMaxBytes: o.LogMaxBytes,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("--store %s: %w", where, err)
	}
	// Instances sharing the store tell each other apart by name (lock
	// leases, timer ticks): --instance, else one made up for this run.
	instance := o.Instance
	if instance == "" {
		instance = defaultInstanceName()
	}
	return &openedStore{KV: ns.KV(), Queues: ns.Queues(), Log: ns.Log(), Where: where, Instance: instance, close: func() error {
		err := ns.Close()
		nc.Close()
		return err
	}}, nil
}

// natsURLs checks a --store value of NATS servers and returns it for
// nats.Connect, and with any user and password left out, for messages.
func natsURLs(spec string) (urls, where string, err error) {
	var parts, shown []string
	scheme := ""
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "://") {
			if scheme == "" {
				return "", "", fmt.Errorf("--store %q: want nats://host:port[,host:port]", spec)
			}
			p = scheme + "://" + p // the first server's scheme
		}
		u, err := url.Parse(p)
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") || (u.Path != "" && u.Path != "/") {
			return "", "", fmt.Errorf("--store %q: want nats://host:port[,host:port]", redactURLs(spec))
		}
		if scheme == "" {
			scheme = u.Scheme
		}
		parts = append(parts, p)
		u.User = nil
		shown = append(shown, u.String())
	}
	if len(parts) == 0 {
		return "", "", fmt.Errorf("--store %q: no NATS server given", spec)
	}
	return strings.Join(parts, ","), strings.Join(shown, ","), nil
}

// redactURLs drops user information from a comma-separated URL list.
func redactURLs(spec string) string {
	var out []string
	for _, p := range strings.Split(spec, ",") {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = nil
			p = u.String()
		}
		out = append(out, p)
	}
	return strings.Join(out, ",")
}

// natsOptions are the connection's options: reconnect forever (the store
// waits for the cluster to come back rather than exit), credentials and
// CA when given, and connection events in the log.
func natsOptions(o storeOptions) []nats.Option {
	log := o.Log
	opts := []nats.Option{
		nats.Name("stride"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS connection lost; reconnecting", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS connection back", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("NATS error", "subject", subject, "error", err)
		}),
	}
	if o.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(o.NATSCreds))
	}
	if o.NATSCA != "" {
		opts = append(opts, nats.RootCAs(o.NATSCA))
	}
	return opts
}

// defaultInstanceName is a name for an instance that was given none: the
// host's name and a random suffix, unique per run.
func defaultInstanceName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "stride"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}
