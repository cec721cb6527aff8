package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/internal/topology"
	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/shard"
)

// scrapeMetrics fetches the node's /metrics and parses it.
func scrapeMetrics(t *testing.T, n *Node) map[string]*dto.MetricFamily {
	t.Helper()
	if n.MetricsAddr() == nil {
		t.Fatal("the node serves no metrics")
	}
	resp, err := http.Get("http://" + n.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s: %s", resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	return mfs
}

// metricValue returns the value of the series of family name whose labels
// include want (name=value pairs), summed over the matching series; a
// histogram's value is its sample count. ok is false when none matches.
func metricValue(mfs map[string]*dto.MetricFamily, name string, want ...string) (v float64, ok bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				found = found || lp.GetName() == want[i] && lp.GetValue() == want[i+1]
			}
			if !found {
				continue next
			}
		}
		ok = true
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Histogram != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		case m.Summary != nil:
			v += float64(m.GetSummary().GetSampleCount())
		case m.Untyped != nil:
			v += m.GetUntyped().GetValue()
		}
	}
	return v, ok
}

// wantPositive checks that each family (with optional labels) is in the
// scrape with a value above zero.
func wantPositive(t *testing.T, mfs map[string]*dto.MetricFamily, families ...[]string) {
	t.Helper()
	for _, f := range families {
		v, ok := metricValue(mfs, f[0], f[1:]...)
		if !ok {
			t.Errorf("scrape lacks %v", f)
		} else if v <= 0 {
			t.Errorf("%v = %g, want > 0", f, v)
		}
	}
}

// hasPrefix reports whether some family's name starts with prefix.
func hasPrefix(mfs map[string]*dto.MetricFamily, prefix string) bool {
	for name := range mfs {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// dial connects a RESP client to the node.
func dial(t *testing.T, n *Node) *respclient.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := respclient.Dial(ctx, n.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func do(t *testing.T, c *respclient.Conn, args ...any) respclient.Value {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := c.Do(ctx, args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

func shutdownNode(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestMetricsStandalone starts a standalone node with --metrics-addr,
// writes and reads keys, and checks the scrape; the metrics port closes
// with the node.
func TestMetricsStandalone(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ID = nid('a')
	ports := testutil.FreePorts(t, 2)
	cfg.Port = ports[0]
	cfg.MetricsAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
	cfg.MetricsLibraries = true
	cfg.Group.HeartbeatTimeout, cfg.Group.ElectionTimeout, cfg.Group.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	cfg.Group.ReadLease = 80 * time.Millisecond
	cfg.Logger = testutil.Logger(t)
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			shutdownNode(t, n)
		}
	})
	c := dial(t, n)
	for i := range 10 {
		do(t, c, "SET", "k"+strconv.Itoa(i), "v", "EX", "1000")
	}
	do(t, c, "GET", "k1")
	do(t, c, "GET", "missing")

	mfs := scrapeMetrics(t, n)
	wantPositive(t, mfs,
		[]string{"shoal_keys"}, []string{"shoal_keys_with_ttl"},
		[]string{"shoal_keyspace_hits_total"}, []string{"shoal_keyspace_misses_total"},
		[]string{"shoal_commands_processed_total"}, []string{"shoal_connected_clients"},
		[]string{"shoal_commands_total", "command", "set"},
		[]string{"shoal_net_input_bytes_total"}, []string{"shoal_net_output_bytes_total"},
		[]string{"shoal_memory_used_bytes"}, []string{"shoal_memory_rss_bytes"},
		[]string{"shoal_proposals_total"},
		[]string{"shoal_groups"},
		[]string{"shoal_group_raft_state", "group", "g0", "state", "leader"},
		[]string{"shoal_group_raft_term", "group", "g0"},
		[]string{"shoal_group_raft_commit_index", "group", "g0"},
		[]string{"shoal_group_raft_applied_index", "group", "g0"},
		[]string{"shoal_group_raft_leader_changes_total", "group", "g0"},
		[]string{"shoal_group_proposal_duration_seconds", "group", "g0"},
		[]string{"shoal_group_batch_commands", "group", "g0"},
		[]string{"go_goroutines"}, []string{"process_resident_memory_bytes"},
	)
	if v, _ := metricValue(mfs, "shoal_keys"); v != 10 {
		t.Errorf("shoal_keys = %g, want 10", v)
	}
	// A standalone node has no placement service.
	if hasPrefix(mfs, "shoal_placement_") {
		t.Error("a standalone node exports placement families")
	}
	// raft's own go-metrics arrive through the sink.
	if !hasPrefix(mfs, "shoal_raft_") {
		t.Error("the scrape has no shoal_raft_* family from raft's go-metrics")
	}

	addr := n.MetricsAddr().String()
	shutdownNode(t, n)
	stopped = true
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("the metrics port still answers after the node shut down")
	}
}

// TestMetricsCluster starts a one-node cluster with two groups, writes
// keys, moves one key's slot to the other group, and checks the group,
// placement and migration families.
func TestMetricsCluster(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ID = nid('e')
	ports := testutil.FreePorts(t, 4)
	cfg.Port, cfg.ClusterPort, cfg.GossipPort = ports[0], ports[1], ports[2]
	cfg.MetricsAddr = "127.0.0.1:" + strconv.Itoa(ports[3])
	cfg.MetricsLibraries = true
	cfg.BootstrapExpect, cfg.Groups, cfg.Replicas = 1, 2, 1
	cfg.Controller.Interval = 20 * time.Millisecond
	cfg.Logger = testutil.Logger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdownNode(t, n) })
	cs := n.cluster
	testutil.Eventually(t, 30*time.Second, "g0 and g1 to be formed and led here", func() error {
		if cs.pl.Map() == nil {
			return errors.New("no map")
		}
		for _, gid := range []string{"g0", "g1"} {
			if g := cs.localGroup(gid); g == nil || !g.Ready() || !g.Formed() {
				return fmt.Errorf("group %s not ready here", gid)
			}
		}
		return nil
	})
	c := dial(t, n)
	testutil.Eventually(t, 30*time.Second, "a write to succeed", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err := c.Do(ctx, "SET", "k0", "v")
		if err != nil {
			return err
		}
		if v.Str != "OK" {
			return fmt.Errorf("SET: %+v", v)
		}
		return nil
	})
	// Keys of k0's slot, which the job moves.
	slot := shard.Slot([]byte("k0"))
	for i := range 20 {
		do(t, c, "SET", "{k0}"+strconv.Itoa(i), strings.Repeat("x", 100))
	}
	src := cs.pl.Map().SlotGroup(slot).ID
	dst := map[string]string{"g0": "g1", "g1": "g0"}[src]
	id, err := cs.Migrate(ctx, []topology.SlotRange{{Start: slot, End: slot}}, dst)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, "the job to finish", func() error {
		j := cs.pl.Map().Job(id)
		if j == nil || j.Phase != placement.JobDone {
			return fmt.Errorf("job %+v", j)
		}
		return nil
	})

	mfs := scrapeMetrics(t, n)
	wantPositive(t, mfs,
		[]string{"shoal_keys"}, []string{"shoal_commands_processed_total"},
		[]string{"shoal_groups"},
		[]string{"shoal_group_raft_state", "group", "g0", "state", "leader"},
		[]string{"shoal_group_raft_state", "group", "g1", "state", "leader"},
		[]string{"shoal_group_raft_term", "group", "g1"},
		[]string{"shoal_group_proposal_duration_seconds", "group", src},
		[]string{"shoal_placement_map_epoch"}, []string{"shoal_placement_meta_leader"},
		[]string{"shoal_placement_map_nodes"}, []string{"shoal_placement_map_groups"},
		[]string{"shoal_cluster_members", "state", "alive"},
		[]string{"shoal_migration_jobs", "phase", "done"},
		[]string{"shoal_migration_moved_keys_total"}, []string{"shoal_migration_moved_bytes_total"},
	)
	if v, _ := metricValue(mfs, "shoal_groups"); v != 2 {
		t.Errorf("shoal_groups = %g, want 2", v)
	}
	if v, _ := metricValue(mfs, "shoal_migration_moved_keys_total"); v < 21 {
		t.Errorf("shoal_migration_moved_keys_total = %g, want at least the 21 keys of the slot", v)
	}
	// serf's and memberlist's own go-metrics arrive through the sink.
	for _, p := range []string{"shoal_raft_", "shoal_memberlist_", "shoal_serf_"} {
		if !hasPrefix(mfs, p) {
			t.Errorf("the scrape has no %s* family", p)
		}
	}
}
