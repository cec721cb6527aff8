package raftfsm

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
)

// TestRaftMetricsLabelPeers replicates through a 3-voter group with an
// in-memory go-metrics sink installed, and checks that raft reports its
// per-follower figures with a peer_id label only: no metric key carries a
// peer's ID in its name (raft's legacy telemetry, off by
// Config.raftConfig).
func TestRaftMetricsLabelPeers(t *testing.T) {
	sink := gometrics.NewInmemSink(time.Minute, time.Minute)
	cfg := gometrics.DefaultConfig("")
	cfg.EnableHostname, cfg.EnableRuntimeMetrics, cfg.EnableServiceLabel = false, false, false
	if _, err := gometrics.NewGlobal(cfg, sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = gometrics.NewGlobal(gometrics.DefaultConfig(""), &gometrics.BlackholeSink{}) })

	gs := startTransportGroups(t, &fakeExec{}, nil, false)
	l := readyLeader(t, gs)
	for i := range 50 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := l.Propose(ctx, [][][]byte{{[]byte("SET"), fmt.Appendf(nil, "k%d", i), []byte("v")}})
		cancel()
		if err != nil {
			t.Fatalf("Propose: %v", err)
		}
	}
	var peers []string
	for _, g := range gs {
		if g != l {
			peers = append(peers, string(g.cfg.NodeID))
		}
	}
	labelled := false
	for _, iv := range sink.Data() {
		iv.RLock()
		keys := make([]string, 0, len(iv.Counters)+len(iv.Samples)+len(iv.Gauges))
		for k := range iv.Counters {
			keys = append(keys, k)
		}
		for k := range iv.Samples {
			keys = append(keys, k)
		}
		for k := range iv.Gauges {
			keys = append(keys, k)
		}
		iv.RUnlock()
		for _, k := range keys {
			name, _, _ := strings.Cut(k, ";") // the inmem sink appends labels after ';'
			for _, p := range peers {
				if strings.HasSuffix(name, "."+p) {
					t.Errorf("metric %q names peer %s", k, p)
				}
			}
			if name == "raft.replication.appendEntries.rpc" && strings.Contains(k, "peer_id=") {
				labelled = true
			}
		}
	}
	if !labelled {
		t.Error("no raft.replication.appendEntries.rpc figure with a peer_id label: the sink saw no replication")
	}
}
