package server

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// startInmemGroups starts n in-memory replicas of one Raft group "g1"
// (node ids id0, id1, ...), connected by raft's in-memory transport; the
// first is bootstrapped as the only voter and the others join as voters
// once it leads, so that replica 0 is the leader when it returns (n > 1)
// or soon after (n == 1: callers that need a leader wait for it). Each is
// shut down when the test ends.
func startInmemGroups(t *testing.T, n int) []*raftfsm.Group {
	t.Helper()
	gs := make([]*raftfsm.Group, n)
	trans := make([]*raft.InmemTransport, n)
	addrs := make([]raft.ServerAddress, n)
	for i := range n {
		addrs[i], trans[i] = raft.NewInmemTransport(raft.ServerAddress("id" + strconv.Itoa(i)))
	}
	for i := range n {
		for j := range n {
			if i != j {
				trans[i].Connect(addrs[j], trans[j])
			}
		}
	}
	for i := range n {
		cfg := raftfsm.DefaultConfig()
		cfg.GroupID, cfg.NodeID = "g1", raft.ServerID(addrs[i])
		cfg.Transport = trans[i]
		if i == 0 {
			cfg.Bootstrap = []raft.Server{{Suffrage: raft.Voter, ID: cfg.NodeID, Address: addrs[0]}}
		}
		g, err := raftfsm.NewGroup(cfg, shard.New(), command.Executor())
		if err != nil {
			t.Fatal(err)
		}
		gs[i] = g
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = g.Shutdown(ctx)
		})
	}
	if n == 1 {
		return gs
	}
	waitReady(t, gs[0])
	for i := 1; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := gs[0].AddVoter(ctx, string(addrs[i]), string(addrs[i]))
		cancel()
		if err != nil {
			t.Fatalf("adding replica %d: %v", i, err)
		}
	}
	return gs
}

// waitReady waits until g leads and has applied its earlier terms' entries.
func waitReady(t *testing.T, g *raftfsm.Group) {
	t.Helper()
	testutil.Until(t, 10*time.Second, "group "+g.ID()+" ready", g.Ready)
}
