package placement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/raftfsm"
)

// formCluster starts three meta voters and extra non-voters (ids '4', ...)
// and waits until every node holds the same map, which lists every node
// (the extras are registered after the initial map: one epoch for all or
// one each), and there is one meta leader.
func formCluster(t *testing.T, extra int) []*testNode {
	t.Helper()
	lg := testLogger(t)
	expect3 := func(c *Config) { c.BootstrapExpect, c.Groups, c.Replicas = 3, 3, 3 }
	n1 := newTestNode(t, lg, nodeID('1'), nil, expect3)
	seed := n1.svc.GossipAddr()
	join := func(c *Config) { expect3(c); c.Join = []string{seed} }
	nodes := []*testNode{n1, newTestNode(t, lg, nodeID('2'), nil, join), newTestNode(t, lg, nodeID('3'), nil, join)}
	testutil.Eventually(t, 15*time.Second, "initial map", func() error { return checkSameMap(nodes, 1) })
	for i := 0; i < extra; i++ {
		nodes = append(nodes, newTestNode(t, lg, nodeID(byte('4'+i)), nil, join))
	}
	testutil.Eventually(t, 15*time.Second, "every node has the map of every node and a meta leader", func() error {
		m := n1.svc.Map()
		if len(m.Nodes) != len(nodes) {
			return fmt.Errorf("map at epoch %d lists %d nodes; %s", m.Epoch, len(m.Nodes), describeNodes(nodes))
		}
		if err := checkSameMap(nodes, m.Epoch); err != nil {
			return err
		}
		if _, err := metaLeader(nodes); err != nil {
			return fmt.Errorf("%w; %s", err, describeNodes(nodes))
		}
		return nil
	})
	return nodes
}

// setSlot returns an idempotent change that gives slot to group gi.
func setSlot(slot int, gi int16) func(*Map) (*Map, error) {
	return func(m *Map) (*Map, error) {
		if m.Slots[slot] == gi {
			return nil, nil
		}
		m.Slots[slot] = gi
		return m, nil
	}
}

func TestUpdateMapFromFollower(t *testing.T) {
	nodes := formCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Node 4 is a meta non-voter: it never leads, so it always forwards.
	nv := nodes[3]
	base := nv.svc.Map().Epoch
	if err := nv.svc.UpdateMap(ctx, setSlot(0, 2)); err != nil {
		t.Fatalf("UpdateMap on a non-voter: %v", err)
	}
	// The caller's own replica may lag; every node gets the next epoch.
	testutil.Eventually(t, 10*time.Second, "next epoch everywhere", func() error { return checkSameMap(nodes, base+1) })
	if m := nv.svc.Map(); m.Slots[0] != 2 {
		t.Fatalf("slot 0 in group %d", m.Slots[0])
	}
	// A follower voter forwards too (unless it became leader meanwhile).
	var follower *testNode
	for _, n := range nodes[:3] {
		if !n.svc.IsMetaLeader() {
			follower = n
			break
		}
	}
	if err := follower.svc.UpdateMap(ctx, setSlot(1, 2)); err != nil {
		t.Fatalf("UpdateMap on a follower: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, "epoch after next everywhere", func() error { return checkSameMap(nodes, base+2) })

	// fn's errors and invalid maps come back from any node.
	errRan := errors.New("fn ran")
	if err := nv.svc.UpdateMap(ctx, func(*Map) (*Map, error) { return nil, errRan }); !errors.Is(err, errRan) {
		t.Fatalf("fn error: %v", err)
	}
	if err := nv.svc.UpdateMap(ctx, func(m *Map) (*Map, error) {
		m.Groups[0].Members = nil
		return m, nil
	}); !errors.Is(err, ErrBadMap) {
		t.Fatalf("invalid map: %v", err)
	}
	// A context that has ended proposes nothing.
	done, stop := context.WithCancel(ctx)
	stop()
	if err := nv.svc.UpdateMap(done, setSlot(2, 2)); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v", err)
	}
	if err := checkSameMap(nodes, base+2); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateMapCASConflicts(t *testing.T) {
	nodes := formCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader, err := metaLeader(nodes)
	if err != nil {
		t.Fatal(err)
	}
	nv := nodes[3]

	// A stale compare-and-set is refused with the leader's epoch, on the
	// wire and by the leader itself.
	m := nv.svc.Map()
	next := m.Clone()
	next.Epoch = m.Epoch + 1
	next.Slots[0] = 1
	cmd := metaCommand{Op: opSet, Expect: m.Epoch, Map: next}
	addr := leader.mux.Addr().String()
	if _, err := nv.svc.forwardCAS(ctx, addr, cmd); err != nil {
		t.Fatalf("first CAS: %v", err)
	}
	// The same change again: already the current map, so it succeeds (an
	// attempt whose answer was lost is retried this way).
	if _, err := nv.svc.forwardCAS(ctx, addr, cmd); err != nil {
		t.Fatalf("repeated CAS: %v", err)
	}
	other := m.Clone()
	other.Epoch = m.Epoch + 1
	other.Slots[1] = 1
	res, err := nv.svc.forwardCAS(ctx, addr, metaCommand{Op: opSet, Expect: m.Epoch, Map: other})
	if !errors.Is(err, ErrEpochMismatch) || res.Epoch != m.Epoch+1 {
		t.Fatalf("stale CAS: %v, leader epoch %d", err, res.Epoch)
	}
	if err := leader.svc.casOnLeader(ctx, metaCommand{Op: opSet, Expect: m.Epoch, Map: other}); !errors.Is(err, ErrEpochMismatch) {
		t.Fatalf("stale CAS on the leader: %v", err)
	}
	// A follower refuses, naming the leader.
	for _, n := range nodes[:3] {
		if n == leader {
			continue
		}
		res, err := nv.svc.forwardCAS(ctx, n.mux.Addr().String(), cmd)
		if errors.Is(err, ErrNotMetaLeader) && res.Leader != leader.id && res.Leader != "" {
			t.Fatalf("not-leader answer names %q", res.Leader)
		}
	}
	// The epoch request: the leader answers with its epoch, a follower
	// with not-leader; leaderEpoch finds the leader from any node.
	for _, n := range nodes {
		b, err := raftfsm.Call(ctx, n.mux.Addr().String(), raftfsm.StreamMetaRPC, []byte(`{"op":"epoch"}`), 0)
		var res rpcResponse
		if err != nil || json.Unmarshal(b, &res) != nil {
			t.Fatalf("epoch request to %s: %s, %v", n.id[:4], b, err)
		}
		switch {
		case n == leader && (res.Status != statusOK || res.Epoch != m.Epoch+1):
			t.Fatalf("leader's epoch answer %+v, want epoch %d", res, m.Epoch+1)
		case n != leader && res.Status != statusNotLeader:
			t.Fatalf("%s's epoch answer %+v", n.id[:4], res)
		}
		if e, err := n.svc.leaderEpoch(ctx); err != nil || e != m.Epoch+1 {
			t.Fatalf("leaderEpoch on %s: %d, %v", n.id[:4], e, err)
		}
	}
	// Malformed requests are refused without effect.
	for _, req := range []string{`{"op":"nope"}`, `{"op":"cas","cmd":{"op":"init","map":null}}`, `garbage`} {
		b, err := raftfsm.Call(ctx, addr, raftfsm.StreamMetaRPC, []byte(req), 0)
		var res rpcResponse
		if err != nil || json.Unmarshal(b, &res) != nil || res.Status == statusOK {
			t.Fatalf("request %s: %s, %v", req, b, err)
		}
	}

	// Concurrent updates from every node, each on its own slot: the
	// compare-and-set makes the losers re-run fn on the newer map, so
	// every change lands exactly once, one epoch each.
	base := leader.svc.Map().Epoch
	var wg sync.WaitGroup
	var runs atomic.Int64
	const perNode = 3
	for i, n := range nodes {
		for j := 0; j < perNode; j++ {
			slot := 100 + i*perNode + j
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := n.svc.UpdateMap(ctx, func(m *Map) (*Map, error) {
					runs.Add(1)
					return setSlot(slot, 2)(m)
				})
				if err != nil {
					t.Errorf("update of slot %d on %s: %v", slot, n.id[:4], err)
				}
			}()
		}
	}
	wg.Wait()
	want := base + uint64(len(nodes)*perNode)
	testutil.Eventually(t, 10*time.Second, "every update applied once", func() error { return checkSameMap(nodes, want) })
	final := nv.svc.Map()
	for s := 100; s < 100+len(nodes)*perNode; s++ {
		if final.Slots[s] != 2 {
			t.Fatalf("slot %d in group %d", s, final.Slots[s])
		}
	}
	t.Logf("%d updates, fn ran %d times", len(nodes)*perNode, runs.Load())
}

func TestUpdateMapLeaderChange(t *testing.T) {
	nodes := formCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nv := nodes[3]
	base := nv.svc.Map().Epoch
	old, err := metaLeader(nodes)
	if err != nil {
		t.Fatal(err)
	}
	// fn's first run happens with the old leader in place; before the
	// request goes out, the old leader shuts down (handing leadership to
	// another voter).
	first := make(chan struct{})
	resume := make(chan struct{})
	var runs atomic.Int64
	errc := make(chan error, 1)
	go func() {
		errc <- nv.svc.UpdateMap(ctx, func(m *Map) (*Map, error) {
			if runs.Add(1) == 1 {
				close(first)
				<-resume
			}
			return setSlot(7, 1)(m)
		})
	}()
	<-first
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	if err := old.svc.Shutdown(sctx); err != nil {
		t.Fatalf("shut down the meta leader: %v", err)
	}
	scancel()
	close(resume)
	if err := <-errc; err != nil {
		t.Fatalf("UpdateMap across a leader change: %v", err)
	}
	var rest []*testNode
	for _, n := range nodes {
		if n != old {
			rest = append(rest, n)
		}
	}
	testutil.Eventually(t, 10*time.Second, "next epoch on the survivors", func() error { return checkSameMap(rest, base+1) })
	if m := nv.svc.Map(); m.Slots[7] != 1 {
		t.Fatalf("slot 7 in group %d", m.Slots[7])
	}
	newLeader, err := metaLeader(rest)
	if err != nil || newLeader == old {
		t.Fatalf("leader after the change: %v", err)
	}

	// Leadership moves again just before the call: the non-voter may
	// still name the old leader, which answers not-leader with a hint.
	if err := newLeader.svc.raft.LeadershipTransfer().Error(); err != nil {
		t.Logf("transfer from %s: %v", newLeader.id[:4], err)
	}
	if err := nv.svc.UpdateMap(ctx, setSlot(8, 1)); err != nil {
		t.Fatalf("UpdateMap after a transfer: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, "epoch after next on the survivors", func() error { return checkSameMap(rest, base+2) })
}
