package metrics

import (
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	gmprom "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// raft v1.7.3, serf v0.10.2 and memberlist v0.5.2 emit their metrics
// through github.com/hashicorp/go-metrics/compat, which forwards to
// github.com/armon/go-metrics's global unless the binary is built with
// the hashicorpmetrics tag (then to github.com/hashicorp/go-metrics's).
// Installing the sink through the same compat packages puts it where the
// three libraries emit, whichever way the binary is built.

// gometricsExpiry is how long a go-metrics figure that is no longer
// updated stays in the scrape.
const gometricsExpiry = 5 * time.Minute

var (
	sinkOnce sync.Once
	sink     *gmprom.PrometheusSink
	sinkErr  error
)

// hashicorpSink returns the process's go-metrics Prometheus sink,
// installing it as go-metrics' global sink on first use. go-metrics has
// one global per process, so every registry of the process (several nodes
// in one test binary) shares this one sink and sees the metrics of every
// raft, serf and memberlist instance of the process, prefixed shoal_ and
// without a per-group label. The sink is a prometheus.Collector that each
// registry registers.
func hashicorpSink() (*gmprom.PrometheusSink, error) {
	sinkOnce.Do(func() {
		opts := gmprom.PrometheusOpts{
			Expiration: gometricsExpiry,
			// The sink registers itself here; each node's registry
			// registers it again. Its Describe only names this dummy.
			Registerer: prometheus.NewRegistry(),
			Name:       "shoal_gometrics_sink",
		}
		sink, sinkErr = gmprom.NewPrometheusSinkFrom(opts)
		if sinkErr != nil {
			return
		}
		cfg := gometrics.DefaultConfig(namespace)
		cfg.EnableHostname = false
		cfg.EnableRuntimeMetrics = false // the Go collector has them
		cfg.EnableServiceLabel = false
		_, sinkErr = gometrics.NewGlobal(cfg, sink)
	})
	return sink, sinkErr
}
