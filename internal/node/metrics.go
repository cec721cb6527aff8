package node

import (
	"context"
	"net"

	"github.com/shoalcache/shoal/internal/metrics"
)

// startMetrics serves the node's Prometheus metrics on cfg.MetricsAddr
// (internal/metrics). Called by Start once the front end exists; the
// collectors read the front end, the hosted groups and, in cluster mode,
// the placement service at each scrape.
func (n *Node) startMetrics() error {
	src := metrics.Sources{Server: n.srv, Groups: n.metricsGroups,
		Commands:  metrics.CommandSourceOf(n.srv.CommandStats, n.srv.ErrorStats),
		Libraries: n.cfg.MetricsLibraries}
	if n.cluster != nil {
		src.Placement = n.cluster.pl
		src.Mux = n.cluster.mux
	}
	reg, err := metrics.NewRegistry(src)
	if err != nil {
		return err
	}
	n.metrics, err = metrics.Listen(n.cfg.MetricsAddr, reg, n.log)
	return err
}

// metricsGroups returns the replicas this node hosts. Called from scrape
// goroutines: the cluster's routing table is read through its atomic
// pointer.
func (n *Node) metricsGroups() []metrics.GroupSource {
	if n.group != nil {
		return []metrics.GroupSource{n.group}
	}
	if n.cluster == nil {
		return nil
	}
	hosted := n.cluster.rt.Load().hosted
	out := make([]metrics.GroupSource, len(hosted))
	for i, g := range hosted {
		out[i] = g
	}
	return out
}

// stopMetrics stops the metrics server, if any.
func (n *Node) stopMetrics(ctx context.Context) error {
	if n.metrics == nil {
		return nil
	}
	return n.metrics.Shutdown(ctx)
}

// MetricsAddr returns the address the metrics server listens on, or nil
// when the node serves no metrics.
func (n *Node) MetricsAddr() net.Addr {
	if n.metrics == nil {
		return nil
	}
	return n.metrics.Addr()
}
