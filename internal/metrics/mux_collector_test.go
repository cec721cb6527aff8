package metrics

import "testing"

type fakeMux struct{ in, out uint64 }

func (f fakeMux) AuthFailures() (uint64, uint64) { return f.in, f.out }

func TestMuxCollector(t *testing.T) {
	check(t, NewMuxCollector(fakeMux{in: 3, out: 1}), `
# HELP shoal_cluster_auth_failures_total Cluster-port connections closed because they failed the cluster-secret handshake, by direction.
# TYPE shoal_cluster_auth_failures_total counter
shoal_cluster_auth_failures_total{direction="inbound"} 3
shoal_cluster_auth_failures_total{direction="outbound"} 1
`, "shoal_cluster_auth_failures_total")
}
