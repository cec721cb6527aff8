package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/logging/logtest"
	"github.com/shoalcache/shoal/internal/testutil"
)

func TestTrailingFor(t *testing.T) {
	cfg := DefaultConfig() // TrailingLogs 4096, TrailingBytes 8 MB
	cases := []struct {
		name              string
		trailingBytes     int64
		logBytes, entries int64
		want              uint64
	}{
		{"small entries: the count binds", 8 << 20, 1700 * 1000, 1000, 4096},
		{"pipelined entries: the bytes bind", 8 << 20, 27 << 10 * 1000, 1000, 303},
		{"huge entries: never below the floor", 8 << 20, 1 << 30, 100, minTrailingLogs},
		{"too few entries to judge: keep the setting", 8 << 20, 1 << 30, minTrailingSample - 1, 0},
		{"no applied bytes: keep the setting", 8 << 20, 0, 1000, 0},
		{"bytes bound off", 0, 1 << 30, 1000, 4096},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg.TrailingBytes = c.trailingBytes
			if got := trailingFor(&cfg, c.logBytes, c.entries); got != c.want {
				t.Fatalf("trailingFor(%d bytes, %d entries) = %d, want %d", c.logBytes, c.entries, got, c.want)
			}
		})
	}
}

func TestGroupTrailingLogsByBytes(t *testing.T) { dataDirs(t, testTrailingLogsByBytes) }

// testTrailingLogsByBytes: with entries of about 4 KB, 64 KB of trailing
// bytes keep about 16 entries after a snapshot, not TrailingLogs' 4096.
func testTrailingLogsByBytes(t *testing.T, dir string) {
	cfg := testConfig(dir)
	cfg.SnapshotThreshold = 1 << 30 // only the compactor's byte rule snapshots
	cfg.SnapshotInterval = time.Hour
	cfg.TrailingLogs = 4096
	cfg.TrailingBytes = 64 << 10
	cfg.CompactMinBytes = 256 << 10
	cfg.CompactMinBytesMemory = 256 << 10
	cfg.CompactCheckInterval = 10 * time.Millisecond
	g, _ := startGroup(t, cfg)
	logs := logStoreOf(t, g.raft)
	val := strings.Repeat("v", 4096)
	const entries = 300 // 1.2 MB of log: several snapshots
	for i := range entries {
		propose(t, g, cmd("SET", fmt.Sprintf("k%d", i%8), val))
	}
	waitCompacted(t, g, logs, 1)
	// After a snapshot the log keeps about TrailingBytes (16 entries) plus
	// what was applied since (under CompactMinBytes: 64 entries).
	const bound = 16 + 64 + 8
	testutil.Eventually(t, 10*time.Second, "the log to keep about TrailingBytes after a snapshot", func() error {
		first, err1 := logs.FirstIndex()
		last, err2 := logs.LastIndex()
		if err1 != nil || err2 != nil || last-first+1 > bound {
			return fmt.Errorf("log %d..%d (%v, %v), %d entries, want at most %d; raft's TrailingLogs %d",
				first, last, err1, err2, last-first+1, bound, g.raft.ReloadableConfig().TrailingLogs)
		}
		return nil
	})
	if got := g.raft.ReloadableConfig().TrailingLogs; got > 32 {
		t.Fatalf("raft's TrailingLogs %d, want about 16", got)
	}
}

// TestFreeOSMemoryOncePerInterval: every group of a node ends a write
// burst at the same moment; the process frees its memory once.
func TestFreeOSMemoryOncePerInterval(t *testing.T) {
	log := testutil.Logger(t)
	lastFreeOS.Store(0)
	freeOSMemory(log)
	first := lastFreeOS.Load()
	if first == 0 {
		t.Fatal("freeOSMemory did not run")
	}
	freeOSMemory(log)
	freeOSMemory(log)
	if got := lastFreeOS.Load(); got != first {
		t.Fatalf("freeOSMemory ran again %v after the first, within freeOSInterval (%v)", time.Duration(got-first), freeOSInterval)
	}
	lastFreeOS.Store(first - int64(freeOSInterval) - 1)
	freeOSMemory(log)
	if got := lastFreeOS.Load(); got == first-int64(freeOSInterval)-1 {
		t.Fatal("freeOSMemory did not run once freeOSInterval had passed")
	}
}

// TestFreeOSMemoryKeepsGOMAXPROCS: at GOMAXPROCS 1 the call borrows a
// second P for its length and gives it back; at other settings it leaves
// GOMAXPROCS alone.
func TestFreeOSMemoryKeepsGOMAXPROCS(t *testing.T) {
	log := testutil.Logger(t)
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev); lastFreeOS.Store(0) })
	for _, procs := range []int{1, 3} {
		runtime.GOMAXPROCS(procs)
		lastFreeOS.Store(0)
		freeOSMemory(log)
		if lastFreeOS.Load() == 0 {
			t.Fatalf("GOMAXPROCS %d: freeOSMemory did not run", procs)
		}
		if got := runtime.GOMAXPROCS(0); got != procs {
			t.Fatalf("GOMAXPROCS %d before freeOSMemory, %d after", procs, got)
		}
	}
}

// TestLaggingFollowerCatchesUpBySnapshot: with the log kept after a
// snapshot bounded in bytes, a follower cut off while the leader wrote
// more than TrailingBytes of entries finds them compacted away when it
// comes back, gets a snapshot instead, and ends with the leader's data.
// With the byte bound off, the 4096 trailing entries would have held the
// whole gap and the follower would have caught up from the log.
func TestLaggingFollowerCatchesUpBySnapshot(t *testing.T) {
	trans := make([]*raft.InmemTransport, 3)
	for i := range trans {
		_, trans[i] = raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("n%d", i+1)))
	}
	connect := func(i, j int) {
		trans[i].Connect(trans[j].LocalAddr(), trans[j])
		trans[j].Connect(trans[i].LocalAddr(), trans[i])
	}
	for i := range trans {
		for j := i + 1; j < len(trans); j++ {
			connect(i, j)
		}
	}
	n3Log, n3Lines := logtest.New(t, slog.LevelInfo)
	gs := startNodes(t, 3, func(i int) raft.Transport { return trans[i] }, func(c *Config) {
		if c.NodeID == "n3" {
			c.Logger = n3Log
		}
		c.SnapshotThreshold = 1 << 30 // only the compactor's byte rule snapshots
		c.SnapshotInterval = time.Hour
		c.TrailingLogs = 4096
		c.TrailingBytes = 32 << 10
		c.CompactMinBytesMemory = 128 << 10
		c.CompactCheckInterval = 10 * time.Millisecond
	})
	n1, n3 := gs[0], gs[2]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, id := range []string{"n2", "n3"} {
		if err := n1.AddVoter(ctx, id, id); err != nil {
			t.Fatalf("AddVoter %s: %v", id, err)
		}
	}
	propose(t, n1, cmd("SET", "before", "1"))
	testutil.Until(t, 10*time.Second, "n3 to apply the first write", func() bool {
		st := n3.Store()
		st.RLock()
		defer st.RUnlock()
		return st.Peek([]byte("before")) != nil
	})

	// Cut n3 off; n1 and n2 still make a quorum.
	trans[0].Disconnect(trans[2].LocalAddr())
	trans[1].Disconnect(trans[2].LocalAddr())
	trans[2].DisconnectAll()
	n3Last := n3.raft.LastIndex()
	val := strings.Repeat("v", 4096)
	want := map[string]string{"before": "1"}
	for i := range 200 { // 800 KB of entries: several snapshots on n1
		k := fmt.Sprintf("k%d", i%50)
		v := fmt.Sprintf("%d-%s", i, val)
		propose(t, n1, cmd("SET", k, v))
		want[k] = v
	}
	// Both n1 and n2: either may lead when n3 comes back (a loaded
	// machine can cost n1 its leadership), and a leader whose log still
	// holds what n3 lacks sends entries, not a snapshot.
	for i, g := range gs[:2] {
		logs := logStoreOf(t, g.raft)
		testutil.Eventually(t, 10*time.Second, fmt.Sprintf("n%d to compact past what n3 has", i+1), func() error {
			first, err := logs.FirstIndex()
			if err != nil || first <= n3Last+1 {
				return fmt.Errorf("n%d's log starts at %d (%v); n3 has up to %d", i+1, first, err, n3Last)
			}
			return nil
		})
	}

	connect(0, 2)
	connect(1, 2)
	testutil.Eventually(t, 15*time.Second, "n3 to catch up with the leader's data", func() error {
		st := n3.Store()
		st.RLock()
		defer st.RUnlock()
		for k, v := range want {
			if e := st.Peek([]byte(k)); e == nil || string(e.Value) != v {
				return fmt.Errorf("key %q not yet at its last value", k)
			}
		}
		return nil
	})
	// raft records an installed snapshot in its stats only after the FSM
	// has restored it, so the data can show before last_snapshot_index
	// does; and n3's compactor may snapshot a log it caught up from. The
	// FSM's own line says which way n3 came.
	testutil.Eventually(t, 5*time.Second, "n3 to have restored a snapshot", func() error {
		if len(n3Lines.Lines(t, "snapshot restored")) == 0 {
			return errors.New("n3 caught up from the log, not by a snapshot")
		}
		return nil
	})
}
