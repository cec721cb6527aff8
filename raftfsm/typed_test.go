package raftfsm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

func TestGroupProposeExpireAndEvict(t *testing.T) {
	g, x := startGroup(t, testConfig(""))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := g.Store()
	past := time.Now().UnixMilli() - 1000
	st.Lock()
	st.Set([]byte("due"), []byte("v"), past, past-1000)
	st.Set([]byte("rewritten"), []byte("v"), past+1, past-1000)
	st.Set([]byte("victim"), []byte("v"), 0, past)
	st.Set([]byte("keep"), []byte("v"), 0, past)
	st.Unlock()

	n, err := g.ProposeExpire(ctx, 0, []shard.ExpiredKey{{Key: "due", ExpireAt: past}, {Key: "rewritten", ExpireAt: past}})
	if err != nil || n != 1 {
		t.Fatalf("ProposeExpire = %d, %v; want 1, nil", n, err)
	}
	n, err = g.ProposeEvict(ctx, 0, [][]byte{[]byte("victim"), []byte("missing")})
	if err != nil || n != 1 {
		t.Fatalf("ProposeEvict = %d, %v; want 1, nil", n, err)
	}
	if n, err := g.ProposeEvict(ctx, 0, nil); n != 0 || err != nil {
		t.Fatalf("ProposeEvict(nil) = %d, %v", n, err)
	}
	storeHas(t, st, map[string]string{"rewritten": "v", "keep": "v"})
	if len(x.recorded()) != 0 {
		t.Errorf("typed entries reached the executor")
	}
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := g.ProposeEvict(canceled, 0, [][]byte{[]byte("keep")}); !errors.Is(err, context.Canceled) {
		t.Errorf("ProposeEvict with a canceled context: %v", err)
	}
	shutdown(t, g)
	if _, err := g.ProposeExpire(ctx, 0, []shard.ExpiredKey{{Key: "rewritten", ExpireAt: past + 1}}); !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrShutdown) {
		t.Errorf("ProposeExpire after shutdown: %v", err)
	}
}

// TestGroupHaltsOnUnknownEntry: a group whose FSM meets an entry it cannot
// apply shuts itself down instead of applying what follows.
func TestGroupHaltsOnUnknownEntry(t *testing.T) {
	g, _ := startGroup(t, testConfig(""))
	propose(t, g, cmd("SET", "a", "1"))
	// As a newer leader would write it.
	if err := g.raft.Apply(hdr(entryIngest, 1, 0), 0).Error(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	testutil.Until(t, 10*time.Second, "the group to halt and stop leading", func() bool {
		return g.Halted() && !g.IsLeader()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := g.Propose(ctx, [][][]byte{cmd("SET", "b", "1")}); err == nil {
		t.Error("a halted group accepted a proposal")
	}
	select {
	case <-g.down:
	case <-time.After(10 * time.Second):
		t.Fatal("the halted group did not shut down")
	}
	storeHas(t, g.Store(), map[string]string{"a": "1"})
}
