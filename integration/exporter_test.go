package integration

import (
	"context"
	"testing"
	"time"

	"github.com/oliver006/redis_exporter/exporter"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestRedisExporter runs oliver006/redis_exporter, the exporter Redis
// dashboards are built on, against a Shoal cluster node after a workload,
// and checks that its main metrics come out with real values: the server
// is up, INFO's clients, memory, stats and keyspace sections parse, and the
// per-command families come from INFO commandstats, latencystats and
// errorstats.
func TestRedisExporter(t *testing.T) {
	tc := startCluster(t, 3)
	c := tc.clusterClient(nil)
	ctx := context.Background()
	for i := 0; i < 300; i++ {
		k := "exp:" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if err := c.Set(ctx, k, i, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 60; i++ { // misses in every node's slots
		_ = c.Get(ctx, "exp:missing:"+string(rune('a'+i%26))+string(rune('a'+i/26))).Err()
	}
	_ = c.Do(ctx, "INCR", "exp:aa", "extra").Err() // an error reply: errorstats

	// With Registry set, the exporter registers itself there.
	reg := prometheus.NewRegistry()
	_, err := exporter.NewRedisExporter("redis://"+tc.Nodes[0].Addr, exporter.Options{
		Namespace: "redis", Registry: reg, IsCluster: true, ConnectionTimeouts: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		mf := byName[name]
		if mf == nil {
			return 0, false
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Summary != nil:
				return float64(m.GetSummary().GetSampleCount()), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
		return 0, false
	}
	for _, w := range []struct {
		name   string
		labels map[string]string
	}{
		{"redis_up", nil},
		{"redis_uptime_in_seconds", nil},
		{"redis_connected_clients", nil},
		{"redis_memory_used_bytes", nil},
		{"redis_commands_processed_total", nil},
		{"redis_connections_received_total", nil},
		{"redis_keyspace_hits_total", nil},
		{"redis_keyspace_misses_total", nil},
		{"redis_db_keys", map[string]string{"db": "db0"}},
		{"redis_db_keys_expiring", map[string]string{"db": "db0"}},
		{"redis_commands_total", map[string]string{"cmd": "get"}},
		{"redis_commands_duration_seconds_total", map[string]string{"cmd": "set"}},
		{"redis_errors_total", map[string]string{"err": "ERR"}},
		{"redis_cluster_enabled", nil},
		{"redis_cluster_known_nodes", nil},
	} {
		v, ok := value(w.name, w.labels)
		switch {
		case !ok:
			t.Errorf("redis_exporter exported no %s%v", w.name, w.labels)
		case v <= 0:
			t.Errorf("redis_exporter's %s%v = %g, want > 0", w.name, w.labels, v)
		}
	}
	if v, ok := value("redis_latency_percentiles_usec", map[string]string{"cmd": "set"}); !ok || v <= 0 {
		t.Errorf("redis_exporter's latency percentiles for set (INFO latencystats): %g, %v", v, ok)
	}
	if t.Failed() {
		var names []string
		for n := range byName {
			names = append(names, n)
		}
		t.Logf("families exported: %v", names)
	}
}
