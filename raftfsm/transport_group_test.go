package raftfsm

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// TestTransportGroup runs a 3-voter group over Shoal's transport on real
// TCP Muxes: it elects a leader (through the vote guard's fast election),
// replicates thousands of entries to every replica, and elects another
// leader that keeps replicating after the first shuts down. It runs with
// the default one AppendEntries at a time per follower, and with
// pipelines and several entries in flight.
func TestTransportGroup(t *testing.T) {
	for _, pipeline := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipeline=%v", pipeline), func(t *testing.T) {
			testTransportGroup(t, pipeline)
		})
	}
}

func testTransportGroup(t *testing.T, pipeline bool) {
	gs := startTransportGroups(t, &fakeExec{}, func(cfg *Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 2*time.Second, 2*time.Second, time.Second
		cfg.ReadLease, cfg.SuspectAfter = 0, time.Second
		if pipeline {
			cfg.MaxInflight = 4
		}
	}, pipeline)
	for _, g := range gs {
		if g.guard == nil {
			t.Fatal("no vote guard over Shoal's transport")
		}
	}
	defer func() {
		opened := int64(0)
		for _, g := range gs {
			opened += g.guard.RaftTransport.(*Transport).pipelines.Load()
		}
		if pipeline != (opened > 0) {
			t.Errorf("pipeline=%v, but raft opened %d pipelines", pipeline, opened)
		}
	}()
	leader := func(among []*Group) *Group { return readyLeader(t, among) }
	write := func(g *Group, from, n int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for w := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + w; i < from+n; i += 20 {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					_, err := g.Propose(ctx, [][][]byte{{[]byte("SET"), fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i)}})
					cancel()
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Propose: %v", err)
		}
	}
	has := func(among []*Group, n int) {
		t.Helper()
		for _, g := range among {
			testutil.Eventually(t, 30*time.Second, "every entry on a replica", func() error {
				st := g.Store()
				st.RLock()
				defer st.RUnlock()
				for i := range n {
					if e := st.Peek(fmt.Appendf(nil, "k%d", i)); e == nil || string(e.Value) != fmt.Sprintf("v%d", i) {
						return fmt.Errorf("k%d missing", i)
					}
				}
				if got := st.Len(); got != int64(n) {
					return fmt.Errorf("%d keys, want %d", got, n)
				}
				return nil
			})
		}
	}
	l := leader(gs)
	write(l, 0, 3000)
	has(gs, 3000)
	var rest []*Group
	for _, g := range gs {
		if g != l {
			rest = append(rest, g)
		}
	}
	shutdown(t, l)
	l2 := leader(rest)
	write(l2, 3000, 1000)
	has(rest, 4000)
}

// startTransportGroups starts the 3 voters of group g1 over Shoal's
// transport on loopback Muxes, each with DefaultConfig changed by tune, and
// shuts them down at the end of the test. With pipeline the transports
// offer raft pipelined replication (TransportConfig.Pipeline); without it
// they are Mux.Transport's, as in a node.
func startTransportGroups(tb testing.TB, exec Executor, tune func(*Config), pipeline bool) []*Group {
	tb.Helper()
	muxes := make([]*Mux, 3)
	var voters []raft.Server
	for i := range muxes {
		muxes[i] = newTestMux(tb)
		voters = append(voters, raft.Server{ID: raft.ServerID(fmt.Sprintf("n%d", i+1)), Address: raft.ServerAddress(muxes[i].Addr().String())})
	}
	gs := make([]*Group, 3)
	for i := range gs {
		var tr RaftTransport
		var err error
		if pipeline {
			tc := DefaultTransportConfig()
			tc.Pipeline, tc.Logger = true, testutil.Logger(tb)
			if tc.Stream, err = muxes[i].Layer("g1"); err == nil {
				tr, err = NewTransport(tc)
			}
		} else {
			tr, err = muxes[i].Transport("g1", testutil.Logger(tb))
		}
		if err != nil {
			tb.Fatal(err)
		}
		if _, ok := tr.(*Transport); !ok {
			tb.Fatalf("Mux.Transport returned %T, want Shoal's", tr)
		}
		cfg := DefaultConfig()
		cfg.GroupID, cfg.NodeID, cfg.Transport, cfg.Bootstrap = "g1", voters[i].ID, tr, voters
		cfg.Logger = testutil.Logger(tb).With("node", string(cfg.NodeID))
		if tune != nil {
			tune(&cfg)
		}
		g, err := NewGroup(cfg, shard.New(), exec)
		if err != nil {
			tb.Fatalf("NewGroup %s: %v", cfg.NodeID, err)
		}
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := g.Shutdown(ctx); err != nil {
				tb.Errorf("Shutdown: %v", err)
			}
			tr.Close()
		})
		gs[i] = g
	}
	return gs
}

// readyLeader waits up to 30 s for one of among to lead and be ready.
func readyLeader(tb testing.TB, among []*Group) *Group {
	tb.Helper()
	var l *Group
	testutil.Until(tb, 30*time.Second, "a ready leader", func() bool {
		for _, g := range among {
			if g.Ready() {
				l = g
				return true
			}
		}
		return false
	})
	return l
}
