package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// testNodes builds n groups on connected in-memory transports, named n1..nN.
// Only n1 bootstraps (alone), so it leads; the others wait to be added.
func testNodes(t *testing.T, n int) []*Group {
	t.Helper()
	return testNodesWith(t, n, func(*Config) {})
}

// testNodesWith is testNodes with each node's Config changed by mutate.
func testNodesWith(t *testing.T, n int, mutate func(*Config)) []*Group {
	t.Helper()
	trans := make([]*raft.InmemTransport, n)
	for i := range trans {
		_, trans[i] = raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("n%d", i+1)))
	}
	for i := range trans {
		for j := range trans {
			if i != j {
				trans[i].Connect(trans[j].LocalAddr(), trans[j])
			}
		}
	}
	return startNodes(t, n, func(i int) raft.Transport { return trans[i] }, mutate)
}

// startNodes starts n groups n1..nN on the transports transport(i); only
// n1 bootstraps (alone), so it leads; the others wait to be added.
func startNodes(t *testing.T, n int, transport func(i int) raft.Transport, mutate func(*Config)) []*Group {
	t.Helper()
	groups := make([]*Group, n)
	for i := range groups {
		cfg := testConfig("")
		cfg.NodeID = raft.ServerID(fmt.Sprintf("n%d", i+1))
		cfg.Transport = transport(i)
		cfg.Bootstrap = nil
		if i == 0 {
			cfg.Bootstrap = []raft.Server{{ID: cfg.NodeID, Address: cfg.Transport.LocalAddr()}}
		}
		mutate(&cfg)
		g, err := NewGroup(cfg, shard.New(), &fakeExec{})
		if err != nil {
			t.Fatalf("NewGroup %s: %v", cfg.NodeID, err)
		}
		t.Cleanup(func() { shutdown(t, g) })
		groups[i] = g
	}
	testutil.Until(t, 10*time.Second, "n1 to lead", groups[0].Ready)
	return groups
}

func memberIDs(t *testing.T, g *Group) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ms, err := g.Members(ctx)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	var ids []string
	for _, m := range ms {
		if !m.Voter || m.Addr != m.ID { // the test's addresses equal the IDs
			t.Errorf("member %+v: want a voter at address %s", m, m.ID)
		}
		ids = append(ids, m.ID)
	}
	sort.Strings(ids)
	return ids
}

func equalIDs(a []string, b ...string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestGroupMembership(t *testing.T) {
	gs := testNodes(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n1, n2, n3 := gs[0], gs[1], gs[2]

	if id, addr := n1.Leader(); id != "n1" || addr != "n1" {
		t.Fatalf("Leader() = %q, %q; want n1, n1", id, addr)
	}
	if ids := memberIDs(t, n1); !equalIDs(ids, "n1") {
		t.Fatalf("members before adding: %v", ids)
	}
	// Followers refuse every change with ErrNotLeader.
	if err := n2.AddVoter(ctx, "n3", "n3"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("AddVoter on a non-member: %v, want ErrNotLeader", err)
	}
	for _, id := range []string{"n2", "n3"} {
		if err := n1.AddVoter(ctx, id, id); err != nil {
			t.Fatalf("AddVoter(%s): %v", id, err)
		}
	}
	if ids := memberIDs(t, n1); !equalIDs(ids, "n1", "n2", "n3") {
		t.Fatalf("members after adding: %v", ids)
	}
	// The followers learn the configuration and the leader.
	testutil.Until(t, 10*time.Second, "n3 to learn the leader and members", func() bool {
		id, _ := n3.Leader()
		return id == "n1" && equalIDs(memberIDs(t, n3), "n1", "n2", "n3")
	})
	if err := n2.RemoveVoter(ctx, "n3"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("RemoveVoter on a follower: %v, want ErrNotLeader", err)
	}
	if err := n3.TransferLeadership(ctx, "n2", "n2"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("TransferLeadership on a follower: %v, want ErrNotLeader", err)
	}

	if err := n1.TransferLeadership(ctx, "n2", "n2"); err != nil {
		t.Fatalf("TransferLeadership(n2): %v", err)
	}
	testutil.Until(t, 10*time.Second, "n2 to lead", n2.Ready)
	testutil.Until(t, 10*time.Second, "n1 to follow n2", func() bool {
		id, addr := n1.Leader()
		return id == "n2" && addr == "n2" && !n1.IsLeader()
	})
	if err := n1.AddVoter(ctx, "n4", "n4"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("AddVoter on the former leader: %v, want ErrNotLeader", err)
	}

	if err := n2.RemoveVoter(ctx, "n3"); err != nil {
		t.Fatalf("RemoveVoter(n3): %v", err)
	}
	if ids := memberIDs(t, n2); !equalIDs(ids, "n1", "n2") {
		t.Fatalf("members after removing n3: %v", ids)
	}

	// Transfer to any follower: the only one left is n1.
	if err := n2.TransferLeadership(ctx, "", ""); err != nil {
		t.Fatalf("TransferLeadership to any: %v", err)
	}
	testutil.Until(t, 10*time.Second, "n1 to lead again", n1.Ready)
}

func TestGroupMembershipContextAndShutdown(t *testing.T) {
	g, _ := startGroup(t, testConfig(""))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.AddVoter(ctx, "n9", "n9"); !errors.Is(err, context.Canceled) {
		t.Errorf("AddVoter with a canceled context: %v, want context.Canceled", err)
	}
	if _, err := g.Members(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Members with a canceled context: %v, want context.Canceled", err)
	}
	if err := g.TransferLeadership(context.Background(), "n9", "n9"); err == nil {
		t.Error("TransferLeadership to a non-member succeeded")
	}
	shutdown(t, g)
	if err := g.AddVoter(context.Background(), "n9", "n9"); !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrShutdown) {
		t.Errorf("AddVoter after shutdown: %v, want ErrNotLeader or ErrShutdown", err)
	}
	if id, _ := g.Leader(); id != "" {
		t.Errorf("Leader after shutdown = %q, want none", id)
	}
}
