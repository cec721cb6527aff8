package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestDirectApply: a sole replica in memory applies its entries without
// raft (direct.go). Concurrent proposals and typed entries all apply, in
// one order, with indexes that continue raft's; raft's log does not grow;
// Status reports the applied index as the last; SAVE succeeds without a
// snapshot. A group with a data directory still goes through raft.
func TestDirectApply(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dir    bool
		direct bool
	}{{"memory", false, true}, {"datadir", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := ""
			if tc.dir {
				dir = t.TempDir()
			}
			cfg := testConfig(dir)
			cfg.SoleReplica = true
			g, _ := startGroup(t, cfg)
			if g.direct != tc.direct {
				t.Fatalf("direct = %v, want %v", g.direct, tc.direct)
			}
			raftLast := g.raft.LastIndex()
			applied0 := g.AppliedIndex()

			const workers, each = 8, 50
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						if got := propose(t, g, cmd("INCR", "n"), cmd("SET", fmt.Sprintf("k%d-%d", w, i), "v")); got[0] == "" || got[1] != "+OK\r\n" {
							t.Errorf("replies %q", got)
							return
						}
					}
				}()
			}
			// Typed entries from another goroutine, in between.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			evicted := 0
			for i := 0; i < 20; i++ {
				n, err := g.ProposeEvict(ctx, 0, [][]byte{[]byte("k0-" + strconv.Itoa(i))})
				if err != nil {
					t.Fatalf("ProposeEvict: %v", err)
				}
				evicted += n
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}

			st := g.Store()
			st.RLock()
			n := st.Peek([]byte("n"))
			keys := int(st.Len())
			st.RUnlock()
			if n == nil || string(n.Value) != strconv.Itoa(workers*each) {
				t.Fatalf("counter %v, want %d", n, workers*each)
			}
			if keys != 1+workers*each-evicted {
				t.Fatalf("%d keys, want %d (%d evicted)", keys, 1+workers*each-evicted, evicted)
			}
			applied := g.AppliedIndex()
			if applied < applied0+20+1 {
				t.Fatalf("applied index %d after %d", applied, applied0)
			}
			if tc.direct {
				if last := g.raft.LastIndex(); last != raftLast {
					t.Fatalf("raft's last index %d -> %d: entries went through raft", raftLast, last)
				}
				if s := g.Status(); s.LastIndex != applied || s.CommitIndex != applied {
					t.Fatalf("Status last %d commit %d, want the applied index %d", s.LastIndex, s.CommitIndex, applied)
				}
			} else if last := g.raft.LastIndex(); last < applied {
				t.Fatalf("raft's last index %d below the applied %d", last, applied)
			}
			if err := g.Snapshot(ctx); err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
		})
	}
}

// TestDirectApplyShutdown: proposals racing a shutdown of a direct group
// all return, each applied or failed with ErrShutdown (or
// ErrIndeterminate), and the group's goroutines stop.
func TestDirectApplyShutdown(t *testing.T) {
	cfg := testConfig("")
	cfg.SoleReplica = true
	g, _ := startGroup(t, cfg)
	start := g.AppliedIndex()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i := 0; ; i++ {
				var err error
				if i%4 == 3 {
					_, err = g.ProposeEvict(ctx, 0, [][]byte{[]byte("k")})
				} else {
					_, err = g.Propose(ctx, [][][]byte{cmd("SET", "k", "v")})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	testutil.Eventually(t, 10*time.Second, "proposals to apply", func() error {
		if a := g.AppliedIndex(); a < start+50 {
			return fmt.Errorf("applied %d from %d", a, start)
		}
		return nil
	})
	shutdown(t, g)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("proposals still blocked 10 s after Shutdown")
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrShutdown) && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrIndeterminate) {
			t.Errorf("proposal after shutdown: %v", err)
		}
	}
}
