package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalcache/shoal/raftfsm"
)

// MuxSource is the cluster-port multiplexer as the mux collector reads
// it; *raftfsm.Mux implements it. AuthFailures is called from scrape
// goroutines and must be safe for concurrent use.
type MuxSource interface {
	// AuthFailures returns the connections that failed the cluster-secret
	// handshake: accepted ones whose dialer did not prove the secret, and
	// dialed ones whose acceptor did not.
	AuthFailures() (inbound, outbound uint64)
}

var _ MuxSource = (*raftfsm.Mux)(nil)

var descAuthFailures = newDesc("cluster_auth_failures_total",
	"Cluster-port connections closed because they failed the cluster-secret handshake, by direction.", "direction")

// muxCollector exports the cluster port's authentication failures.
type muxCollector struct{ src MuxSource }

// NewMuxCollector returns a collector over src.
func NewMuxCollector(src MuxSource) prometheus.Collector { return &muxCollector{src: src} }

// Describe implements prometheus.Collector.
func (c *muxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descAuthFailures }

// Collect implements prometheus.Collector.
func (c *muxCollector) Collect(ch chan<- prometheus.Metric) {
	in, out := c.src.AuthFailures()
	ch <- counter(descAuthFailures, float64(in), "inbound")
	ch <- counter(descAuthFailures, float64(out), "outbound")
}
