package metrics

import (
	"fmt"
	"math"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shoalcache/shoal/raftfsm"
)

// namespace prefixes every family.
const namespace = "shoal"

// Sources are what the collectors of a node's registry read at scrape time.
// A nil source leaves its families out.
type Sources struct {
	// Server is the RESP front end (*server.Server).
	Server ServerSource
	// Groups returns this node's replicas of its Raft groups, at scrape
	// time (the set changes in cluster mode). Called from scrape
	// goroutines: it must be safe for concurrent use.
	Groups func() []GroupSource
	// Placement is the placement service (*placement.Service); nil on a
	// standalone node.
	Placement PlacementSource
	// Mux is the cluster-port multiplexer (*raftfsm.Mux); nil on a
	// standalone node.
	Mux MuxSource
	// Commands reports per-command statistics (see CommandSource).
	Commands CommandSource
	// Libraries adds raft's, serf's and memberlist's own go-metrics
	// (hashicorpSink). Off by default: raft then records several figures
	// per log entry through the sink, which cost about 10% of a cluster's
	// SET throughput at pipeline 1 (BENCHMARKS.md); everything else is
	// read at scrape time.
	Libraries bool
}

// NewRegistry returns a registry (not Prometheus's global one) with the
// collectors of src, the Go runtime and process collectors, and, with
// src.Libraries, the go-metrics sink that receives raft's, serf's and
// memberlist's metrics (installed process-wide on first use; see
// hashicorpSink).
func NewRegistry(src Sources) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if src.Server != nil {
		cs = append(cs, NewServerCollector(src.Server))
	}
	if src.Groups != nil {
		cs = append(cs, NewGroupCollector(src.Groups))
	}
	if src.Placement != nil {
		cs = append(cs, NewPlacementCollector(src.Placement))
	}
	if src.Mux != nil {
		cs = append(cs, NewMuxCollector(src.Mux))
	}
	if src.Commands != nil {
		cs = append(cs, NewCommandCollector(src.Commands))
	}
	if src.Libraries {
		sink, err := hashicorpSink()
		if err != nil {
			return nil, err
		}
		cs = append(cs, sink)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register %T: %w", c, err)
		}
	}
	return reg, nil
}

// newDesc returns the descriptor of family shoal_<name>.
func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// pow2Histogram turns a power-of-two histogram (per-bucket counts: bucket
// i counts the values in (2^(i-1), 2^i], bucket 0 those <= 1, the last one
// also every larger value) into a Prometheus histogram with upper bounds
// 2^lo..2^hi divided by unit (1e6 for microseconds to seconds). The first
// bound takes the buckets below it; the values above 2^hi are only in
// +Inf (count).
func pow2Histogram(desc *prometheus.Desc, h raftfsm.Histogram, unit float64, lo, hi int, labels ...string) prometheus.Metric {
	hi = min(hi, raftfsm.HistogramBuckets-2) // the last bucket has no upper bound
	buckets := make(map[float64]uint64, hi-lo+1)
	var cum uint64
	for i := 0; i <= hi; i++ {
		cum += h.Buckets[i]
		if i >= lo {
			buckets[pow2(i)/unit] = cum
		}
	}
	return prometheus.MustNewConstHistogram(desc, h.Count, float64(h.Sum)/unit, buckets, labels...)
}

// pow2 returns 2^i.
func pow2(i int) float64 { return math.Ldexp(1, i) }

// gauge and counter shorten the const metrics of the collectors.
func gauge(desc *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
}

func counter(desc *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
}
