package bot

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the bot's Prometheus metrics. None carries personal data:
// labels are update types, report kinds, methods and outcomes.
type Metrics struct {
	Registry       *prometheus.Registry
	updates        *prometheus.CounterVec
	reports        *prometheus.CounterVec
	sends          *prometheus.CounterVec
	handlerSeconds prometheus.Histogram
	panics         prometheus.Counter
	dropped        *prometheus.CounterVec
	partial        prometheus.Counter
	adminChecks    prometheus.Counter
	outboxPending  prometheus.Gauge
	outboxAge      prometheus.Gauge
	pollErrors     prometheus.Counter
}

// NewMetrics registers the bot's metrics in a registry of their own (plus
// the Go runtime's and the process's).
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridbot_updates_total", Help: "Telegram updates received, by type.",
		}, []string{"type"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridbot_reports_total", Help: "Reports recorded, by kind and outcome (valid, invalid, duplicate).",
		}, []string{"kind", "outcome"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridbot_sends_total", Help: "Calls to Telegram from the outbox, by action and result.",
		}, []string{"action", "result"}),
		handlerSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gridbot_handler_seconds", Help: "Time from receiving an update to its effects being durable.",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{Name: "gridbot_handler_panics_total", Help: "Updates whose handler panicked."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridbot_updates_dropped_total", Help: "Updates given up on and confirmed, by reason: undecodable, permanent (an error no retry can mend), retries (the same error on every attempt).",
		}, []string{"reason"}),
		partial:       prometheus.NewCounter(prometheus.CounterOpts{Name: "gridbot_updates_partial_total", Help: "Updates the Telegram library could not decode, read with only the fields the bot uses."}),
		adminChecks:   prometheus.NewCounter(prometheus.CounterOpts{Name: "gridbot_admin_checks_failed_total", Help: "Commands answered \"try again later\" because Telegram could not say who the chat's admins are."}),
		outboxPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gridbot_outbox_pending", Help: "Messages waiting in the outbox."}),
		outboxAge:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "gridbot_outbox_oldest_seconds", Help: "Age of the oldest message waiting in the outbox."}),
		pollErrors:    prometheus.NewCounter(prometheus.CounterOpts{Name: "gridbot_poll_errors_total", Help: "Failed getUpdates calls."}),
	}
	r.MustRegister(m.updates, m.reports, m.sends, m.handlerSeconds, m.panics, m.dropped, m.partial, m.adminChecks, m.outboxPending, m.outboxAge, m.pollErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, reason := range []string{reasonUndecodable, reasonPermanent, reasonRetries} {
		m.dropped.WithLabelValues(reason) // shown as 0 from the start
	}
	return m
}

// Reasons an update is given up on (gridbot_updates_dropped_total).
const (
	reasonUndecodable = "undecodable"
	reasonPermanent   = "permanent"
	reasonRetries     = "retries"
)

// Report counts a recorded report; handlers call it through their config.
func (m *Metrics) Report(kind, outcome string) { m.reports.WithLabelValues(kind, outcome).Inc() }

// WatchStoreWrites exports whether the store refuses writes (the embedded
// store does while its disk is full) and how many it has refused:
// gridbot_store_writes_refusing (1 while refusing) and
// gridbot_store_writes_refused_total, read from state at every scrape.
func (m *Metrics) WatchStoreWrites(state func() (refusing bool, total int64)) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gridbot_store_writes_refusing", Help: "1 while the store refuses writes because its disk is full (reads go on), else 0.",
		}, func() float64 {
			if refusing, _ := state(); refusing {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gridbot_store_writes_refused_total", Help: "Commits the store refused because its disk was full.",
		}, func() float64 {
			_, n := state()
			return float64(n)
		}),
	)
}
