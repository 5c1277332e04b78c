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
	dropped        prometheus.Counter
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
		panics:        prometheus.NewCounter(prometheus.CounterOpts{Name: "gridbot_handler_panics_total", Help: "Updates whose handler panicked."}),
		dropped:       prometheus.NewCounter(prometheus.CounterOpts{Name: "gridbot_updates_dropped_total", Help: "Updates given up on because they failed in a way retrying cannot mend."}),
		outboxPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gridbot_outbox_pending", Help: "Messages waiting in the outbox."}),
		outboxAge:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "gridbot_outbox_oldest_seconds", Help: "Age of the oldest message waiting in the outbox."}),
		pollErrors:    prometheus.NewCounter(prometheus.CounterOpts{Name: "gridbot_poll_errors_total", Help: "Failed getUpdates calls."}),
	}
	r.MustRegister(m.updates, m.reports, m.sends, m.handlerSeconds, m.panics, m.dropped, m.outboxPending, m.outboxAge, m.pollErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Report counts a recorded report; handlers call it through their config.
func (m *Metrics) Report(kind, outcome string) { m.reports.WithLabelValues(kind, outcome).Inc() }
