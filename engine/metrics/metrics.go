// Package metrics exposes Stride's measurements in the Prometheus text
// format (GET /metrics), with client_golang. It implements
// flow.Observer for what happens per message, and collects gauges
// (queue depth, oldest message, datastore size) from the store when
// Prometheus scrapes.
package metrics

import (
	"context"
	"net/http"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// Metrics is one registry of Stride's metrics (not the global one, so
// tests can run several side by side).
type Metrics struct {
	reg       *prometheus.Registry
	messages  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	steps     *prometheus.HistogramVec
	inbound   *prometheus.CounterVec
	outbound  *prometheus.CounterVec
	outDur    *prometheus.HistogramVec
	reloads   *prometheus.CounterVec
	reloadDur prometheus.Histogram
}

// New returns the metrics with badger's gauges (queue depths, store
// size); db may be nil (no store gauges). NewFor serves other stores.
func New(db *store.DB) *Metrics {
	if db == nil {
		return NewFor(nil, nil)
	}
	return NewFor(db.Queues(), db)
}

// NewFor returns the metrics with the queue gauges of queues (nil for
// none) and the size gauges of a badger db (nil on another store).
func NewFor(queues store.Queues, db *store.DB) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stride_messages_total", Help: "Message attempts ended, by flow, trigger and final status."}, []string{"flow", "trigger", "status"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stride_message_duration_seconds", Help: "Time from the start to the end of a message attempt.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"flow"})
	m.steps = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stride_step_duration_seconds", Help: "Step latency by flow and step kind.", Buckets: prometheus.ExponentialBuckets(0.00005, 4, 11)}, []string{"flow", "kind"})
	m.inbound = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stride_http_requests_total", Help: "Requests to http triggers, by flow and status code."}, []string{"flow", "code"})
	m.outbound = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stride_http_client_requests_total", Help: "Requests sent by request steps, by target host and status code (0: no answer)."}, []string{"host", "code"})
	m.outDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stride_http_client_duration_seconds", Help: "Latency of requests sent by request steps.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, []string{"host"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stride_reloads_total", Help: "Flow reloads by result: ok, invalid (a flow file or the env file has errors), refused (it would stop running flows), failed (anything else)."}, []string{"result"})
	m.reloadDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stride_reload_duration_seconds", Help: "Time to load, validate and swap the flows.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8)})
	m.reg.MustRegister(m.messages, m.duration, m.steps, m.inbound, m.outbound, m.outDur, m.reloads, m.reloadDur,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queues != nil {
		m.reg.MustRegister(&storeCollector{queues: queues, db: db})
	}
	return m
}

// ReloadOutcome counts a reload attempt by its result (runtime.Result*:
// ok, invalid, refused, failed) and observes its duration.
func (m *Metrics) ReloadOutcome(result string, took time.Duration) {
	m.reloads.WithLabelValues(result).Inc()
	m.reloadDur.Observe(took.Seconds())
}

// BuildInfo exports stride_build_info{version, commit, goversion} = 1, so
// dashboards can tell which build runs where.
func (m *Metrics) BuildInfo(version, commit string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "stride_build_info", Help: "The running build: always 1, with its version, commit and Go version as labels.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": goruntime.Version()}})
	g.Set(1)
	m.reg.MustRegister(g)
}

// WatchDisk exports stride_data_free_bytes, read from free at each scrape,
// and stride_message_log_dropped_total, the message-log entries dropped
// instead of written, read from dropped: runtime.DiskGuard.Dropped counts
// both causes, the data disk nearly full and the log writer fallen
// behind (the runtime adds its drops to its guard's count).
func (m *Metrics) WatchDisk(free func() uint64, dropped func() int64) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stride_data_free_bytes", Help: "Bytes free on the data directory's file system, as last read by the disk guard."},
			func() float64 { return float64(free()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stride_message_log_dropped_total", Help: droppedHelp},
			func() float64 { return float64(dropped()) }))
}

const droppedHelp = "Message-log entries dropped instead of written: the data disk was nearly full, or the log writer had fallen behind (its buffer full)."

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// MessageDone implements flow.Observer.
func (m *Metrics) MessageDone(flow, trigger, status string, took time.Duration, trace []flow.TraceEntry) {
	m.messages.WithLabelValues(flow, trigger, status).Inc()
	m.duration.WithLabelValues(flow).Observe(took.Seconds())
	for _, t := range trace {
		m.steps.WithLabelValues(flow, t.Kind).Observe(t.Duration.Seconds())
	}
}

// InboundHTTP implements flow.Observer.
func (m *Metrics) InboundHTTP(flow string, status int) {
	m.inbound.WithLabelValues(flow, strconv.Itoa(status)).Inc()
}

// OutboundHTTP implements flow.Observer.
func (m *Metrics) OutboundHTTP(host string, status int, took time.Duration) {
	m.outbound.WithLabelValues(host, strconv.Itoa(status)).Inc()
	m.outDur.WithLabelValues(host).Observe(took.Seconds())
}

// Reload implements flow.Observer.
func (m *Metrics) Reload(ok bool, took time.Duration) {
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.reloads.WithLabelValues(result).Inc()
	m.reloadDur.Observe(took.Seconds())
}

// storeCollector reads queue depths and the database size at scrape time.
type storeCollector struct {
	queues store.Queues
	db     *store.DB // nil when the store is not badger: no size gauges
}

var (
	queueDepth  = prometheus.NewDesc("stride_queue_messages", "Messages in a durable queue, by state (ready, in_flight, delayed, dead).", []string{"queue", "state"}, nil)
	queueOldest = prometheus.NewDesc("stride_queue_oldest_message_age_seconds", "Age of the oldest live message of a queue.", []string{"queue"}, nil)
	gcReclaimed = prometheus.NewDesc("stride_store_gc_reclaimed_bytes_total", "Bytes of value-log files the store's garbage collection freed (runs on a schedule and after the message log's retention deletes).", nil, nil)
	gcRuns      = prometheus.NewDesc("stride_store_gc_runs_total", "Value-log garbage collection runs of the store.", nil, nil)
	storeBytes  = prometheus.NewDesc("stride_store_bytes", "Size of the store: badger's files (lsm, vlog), and the live keys and values of each part (log, queues, datastores).", []string{"part"}, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepth
	ch <- queueOldest
	ch <- storeBytes
	ch <- gcReclaimed
	ch <- gcRuns
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	names, _ := c.queues.Names(ctx)
	for _, q := range names {
		st, err := c.queues.Stats(ctx, q)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(st.Ready), q, "ready")
		ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(st.InFlight), q, "in_flight")
		ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(st.Delayed), q, "delayed")
		ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(st.Dead), q, "dead")
		age := 0.0
		if !st.OldestEnqueued.IsZero() {
			age = time.Since(st.OldestEnqueued).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(queueOldest, prometheus.GaugeValue, age, q)
	}
	if c.db == nil {
		return
	}
	gc := c.db.GCStats()
	ch <- prometheus.MustNewConstMetric(gcReclaimed, prometheus.CounterValue, float64(gc.ReclaimedBytes))
	ch <- prometheus.MustNewConstMetric(gcRuns, prometheus.CounterValue, float64(gc.Runs))
	lsm, vlog := c.db.Size()
	ch <- prometheus.MustNewConstMetric(storeBytes, prometheus.GaugeValue, float64(lsm), "lsm")
	ch <- prometheus.MustNewConstMetric(storeBytes, prometheus.GaugeValue, float64(vlog), "vlog")
	if p, err := c.db.BytesByPart(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(storeBytes, prometheus.GaugeValue, float64(p.Log), "log")
		ch <- prometheus.MustNewConstMetric(storeBytes, prometheus.GaugeValue, float64(p.Queues), "queues")
		ch <- prometheus.MustNewConstMetric(storeBytes, prometheus.GaugeValue, float64(p.DataStores), "datastores")
	}
}
