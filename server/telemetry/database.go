package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/inferiallm/orgserver/server/database"
)

// poolCollector reads the request path's connection pools and statement caches at each
// scrape: database/sql keeps the counters, so nothing is counted on the request path.
type poolCollector struct {
	stats func() []database.PoolStats

	open, inUse, idle, max, waits, waitSeconds, closed *prometheus.Desc
	cached, hits, misses, evictions                    *prometheus.Desc
}

// NewPoolCollector returns a collector of the pools whose counters stats returns
// (database.DB.PoolStats), labelled by pool: "main" on PostgreSQL, "write" and "read" on SQLite.
func NewPoolCollector(stats func() []database.PoolStats) prometheus.Collector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "db", name), help, append([]string{"pool"}, labels...), nil)
	}
	return &poolCollector{
		stats:       stats,
		open:        desc("connections_open", "Connections open, in use or idle."),
		inUse:       desc("connections_in_use", "Connections in use."),
		idle:        desc("connections_idle", "Idle connections."),
		max:         desc("connections_max", "Most connections the pool opens (DB_MAX_CONNS; SQLite's writer: 1)."),
		waits:       desc("connection_waits_total", "Times a statement waited for a free connection."),
		waitSeconds: desc("connection_wait_seconds_total", "Time statements waited for a free connection."),
		closed:      desc("connections_closed_total", "Connections closed by the pool, by reason: max_idle, max_idle_time, max_lifetime.", "reason"),
		cached:      desc("statement_cache_statements", "Prepared statements the pool's statement cache holds."),
		hits:        desc("statement_cache_hits_total", "Statements run that found their prepared statement in the cache."),
		misses:      desc("statement_cache_misses_total", "Statements run that were not prepared yet."),
		evictions:   desc("statement_cache_evictions_total", "Prepared statements closed to make room in the cache."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.inUse, c.idle, c.max, c.waits, c.waitSeconds, c.closed,
		c.cached, c.hits, c.misses, c.evictions} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	for _, s := range c.stats() {
		p := s.Pool
		ch <- prometheus.MustNewConstMetric(c.open, gauge, float64(s.OpenConnections), p)
		ch <- prometheus.MustNewConstMetric(c.inUse, gauge, float64(s.InUse), p)
		ch <- prometheus.MustNewConstMetric(c.idle, gauge, float64(s.Idle), p)
		ch <- prometheus.MustNewConstMetric(c.max, gauge, float64(s.MaxOpenConnections), p)
		ch <- prometheus.MustNewConstMetric(c.waits, counter, float64(s.WaitCount), p)
		ch <- prometheus.MustNewConstMetric(c.waitSeconds, counter, s.WaitDuration.Seconds(), p)
		ch <- prometheus.MustNewConstMetric(c.closed, counter, float64(s.MaxIdleClosed), p, "max_idle")
		ch <- prometheus.MustNewConstMetric(c.closed, counter, float64(s.MaxIdleTimeClosed), p, "max_idle_time")
		ch <- prometheus.MustNewConstMetric(c.closed, counter, float64(s.MaxLifetimeClosed), p, "max_lifetime")
		ch <- prometheus.MustNewConstMetric(c.cached, gauge, float64(s.Statements.Cached), p)
		ch <- prometheus.MustNewConstMetric(c.hits, counter, float64(s.Statements.Hits), p)
		ch <- prometheus.MustNewConstMetric(c.misses, counter, float64(s.Statements.Misses), p)
		ch <- prometheus.MustNewConstMetric(c.evictions, counter, float64(s.Statements.Evictions), p)
	}
}
