package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// testConfig is DefaultConfig for a single-voter group on an in-memory
// transport, with short timeouts so that it elects itself quickly.
func testConfig(dataDir string) Config {
	cfg := DefaultConfig()
	cfg.GroupID = "g0"
	cfg.NodeID = "n1"
	addr, trans := raft.NewInmemTransport("n1")
	cfg.Transport = trans
	cfg.Bootstrap = []raft.Server{{Suffrage: raft.Voter, ID: cfg.NodeID, Address: addr}}
	cfg.DataDir = dataDir
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.ReadLease = 40 * time.Millisecond
	return cfg
}

func shutdown(t testing.TB, g *Group) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// startGroup starts a group and waits until it is ready. It is shut down at
// the end of the test (a second Shutdown is harmless).
func startGroup(t *testing.T, cfg Config) (*Group, *fakeExec) {
	t.Helper()
	x := &fakeExec{}
	return startGroupExec(t, cfg, x), x
}

// startGroupExec is startGroup with the executor x, for tests and
// benchmarks.
func startGroupExec(tb testing.TB, cfg Config, x Executor) *Group {
	tb.Helper()
	g, err := NewGroup(cfg, shard.New(), x)
	if err != nil {
		tb.Fatalf("NewGroup: %v", err)
	}
	tb.Cleanup(func() { shutdown(tb, g) })
	testutil.Eventually(tb, 10*time.Second, "the group to become ready", func() error {
		if !g.Ready() {
			return errors.New("not ready")
		}
		return nil
	})
	return g
}

func propose(t *testing.T, g *Group, cmds ...[][]byte) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := g.Propose(ctx, cmds)
	if err != nil {
		t.Fatalf("Propose: %v", err)
	}
	if r.Len() != len(cmds) {
		t.Fatalf("%d replies for %d commands", r.Len(), len(cmds))
	}
	out := make([]string, r.Len())
	for i := range out {
		out[i] = string(r.Get(i))
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	base := testConfig("")
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"valid", func(*Config) {}, true},
		{"no group", func(c *Config) { c.GroupID = "" }, false},
		{"no node", func(c *Config) { c.NodeID = "" }, false},
		{"no transport", func(c *Config) { c.Transport = nil }, false},
		{"lease above heartbeat", func(c *Config) { c.LeaderLeaseTimeout = c.HeartbeatTimeout + 1 }, false},
		{"heartbeat above election", func(c *Config) { c.HeartbeatTimeout = c.ElectionTimeout + 1 }, false},
		{"read lease at heartbeat", func(c *Config) { c.ReadLease = c.HeartbeatTimeout }, false},
		{"negative read lease", func(c *Config) { c.ReadLease = -1 }, false},
		{"no read lease", func(c *Config) { c.ReadLease = 0 }, true},
		{"zero batch", func(c *Config) { c.MaxBatchCommands = 0 }, false},
		{"zero inflight", func(c *Config) { c.MaxInflight = 0 }, false},
		{"negative cohort wait", func(c *Config) { c.CohortWait = -1 }, false},
		{"no cohort wait", func(c *Config) { c.CohortWait = 0 }, true},
		{"negative sole compaction floor", func(c *Config) { c.CompactMinBytesSole = -1 }, false},
		{"append entries too large", func(c *Config) { c.MaxAppendEntries = 2000 }, false},
	}
	for _, tt := range tests {
		c := base
		tt.mutate(&c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
	}
	if _, err := NewGroup(Config{}, shard.New(), &fakeExec{}); err == nil {
		t.Error("NewGroup accepted an empty Config")
	}
}

func TestGroupProposeConcurrent(t *testing.T) {
	g, x := startGroup(t, testConfig(""))
	const workers, perWorker = 32, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctr := fmt.Sprintf("ctr:%d", w)
			for i := 0; i < perWorker; i++ {
				id := fmt.Sprintf("%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				r, err := g.Propose(ctx, [][][]byte{cmd("INCR", ctr), cmd("ECHO", id), cmd("INCR", ctr)})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("worker %d proposal %d: %w", w, i, err)
					return
				}
				want := []string{
					":" + strconv.Itoa(2*i+1) + "\r\n",
					"$" + strconv.Itoa(len(id)) + "\r\n" + id + "\r\n",
					":" + strconv.Itoa(2*i+2) + "\r\n",
				}
				if r.Len() != 3 {
					errs <- fmt.Errorf("worker %d proposal %d: %d replies", w, i, r.Len())
					return
				}
				for j, wj := range want {
					if got := string(r.Get(j)); got != wj {
						errs <- fmt.Errorf("worker %d proposal %d reply %d = %q, want %q", w, i, j, got, wj)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	proposals := uint64(workers * perWorker)
	if n := len(x.recorded()); n != 3*int(proposals) {
		t.Errorf("executor ran %d commands, want %d", n, 3*proposals)
	}
	last := g.raft.LastIndex()
	t.Logf("%d proposals in %d log entries", proposals, last)
	if last >= proposals {
		t.Errorf("no group commit: raft LastIndex %d for %d proposals", last, proposals)
	}
	st := g.Store()
	st.RLock()
	defer st.RUnlock()
	for w := 0; w < workers; w++ {
		e := st.Peek([]byte(fmt.Sprintf("ctr:%d", w)))
		if e == nil || string(e.Value) != strconv.Itoa(2*perWorker) {
			t.Errorf("ctr:%d = %v", w, e)
		}
	}
}

// TestGroupTryPropose checks TryPropose: it proposes like Propose while the
// queue has room, proposes nothing and says so when the queue is full (the
// FSM is held, so entries stop committing and requests pile up), and
// refuses on a follower.
func TestGroupTryPropose(t *testing.T) {
	cfg := testConfig("")
	cfg.MaxInflight = 1
	g, _ := startGroup(t, cfg)
	r, queued, err := g.TryPropose([][][]byte{cmd("SET", "k", "v")})
	if err != nil || !queued || r.Len() != 1 || string(r.Get(0)) != "+OK\r\n" {
		t.Fatalf("TryPropose with room: queued %v, err %v, %d replies", queued, err, r.Len())
	}

	// Hold the FSM (it applies under the store's write lock) and fill the
	// queue behind the entries that wait for it.
	st := g.Store()
	st.RLock()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < 2*queueLen; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := g.Propose(context.Background(), [][][]byte{cmd("INCR", "n")}); err != nil {
				failed.Add(1)
			}
		}()
	}
	testutil.Until(t, 10*time.Second, "the queue to fill", func() bool { return len(g.reqs) == cap(g.reqs) })
	if _, queued, err := g.TryPropose([][][]byte{cmd("INCR", "n")}); queued || err != nil {
		t.Fatalf("TryPropose on a full queue: queued %v, err %v; want neither", queued, err)
	}
	st.RUnlock()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d proposals failed", failed.Load())
	}
	st.RLock()
	got := string(st.Peek([]byte("n")).Value)
	st.RUnlock()
	if want := strconv.Itoa(2 * queueLen); got != want {
		t.Fatalf("n = %s after the queue drained, want %s (the refused TryPropose must not count)", got, want)
	}

	follower := &Group{raft: g.raft}
	shutdown(t, g)
	if _, queued, err := follower.TryPropose([][][]byte{cmd("INCR", "n")}); queued || !errors.Is(err, ErrNotLeader) {
		t.Fatalf("TryPropose when not leading: queued %v, err %v; want ErrNotLeader", queued, err)
	}
}

func TestGroupProposeAfterShutdown(t *testing.T) {
	g, _ := startGroup(t, testConfig(""))
	propose(t, g, cmd("SET", "k", "v"))
	shutdown(t, g)
	if g.Ready() || g.IsLeader() {
		t.Error("a shut-down group reports leadership")
	}
	_, err := g.Propose(context.Background(), [][][]byte{cmd("SET", "k", "w")})
	if !errors.Is(err, ErrShutdown) && !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Propose after Shutdown: err = %v, want ErrShutdown or ErrNotLeader", err)
	}
	shutdown(t, g) // twice is harmless
}

// TestGroupProposeDuringShutdown proposes from many goroutines while the
// group shuts down: every Propose and TryPropose must return, with replies
// or an error.
func TestGroupProposeDuringShutdown(t *testing.T) {
	for round := 0; round < 5; round++ {
		g, _ := startGroup(t, testConfig(""))
		var wg sync.WaitGroup
		var mu sync.Mutex
		var unexpected []error
		var ok int
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					id := fmt.Sprintf("%d-%d", w, i)
					cmds := [][][]byte{cmd("ECHO", id)}
					// Half the workers take TryPropose's path first.
					var (
						r      Replies
						err    error
						queued bool
					)
					if w%2 == 1 {
						r, queued, err = g.TryPropose(cmds)
					}
					if err == nil && !queued {
						r, err = g.Propose(context.Background(), cmds)
					}
					mu.Lock()
					switch {
					case err == nil:
						ok++
						if got := string(r.Get(0)); got != "$"+strconv.Itoa(len(id))+"\r\n"+id+"\r\n" {
							unexpected = append(unexpected, fmt.Errorf("reply %q for %s", got, id))
						}
					case errors.Is(err, ErrShutdown), errors.Is(err, ErrNotLeader), errors.Is(err, ErrIndeterminate):
					default:
						unexpected = append(unexpected, err)
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
		testutil.Eventually(t, 10*time.Second, "some proposals to succeed", func() error {
			mu.Lock()
			defer mu.Unlock()
			if ok <= 50 {
				return fmt.Errorf("%d succeeded", ok)
			}
			return nil
		})
		shutdown(t, g)
		done := make(chan struct{})
		go func() {
			wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Propose calls still blocked 10s after Shutdown returned", round)
		}
		for _, err := range unexpected {
			t.Errorf("round %d: %v", round, err)
		}
	}
}

func storeHas(t *testing.T, st *shard.Store, want map[string]string) {
	t.Helper()
	st.RLock()
	defer st.RUnlock()
	if st.Len() != int64(len(want)) {
		t.Errorf("store has %d keys, want %d", st.Len(), len(want))
	}
	for k, v := range want {
		e := st.Peek([]byte(k))
		if e == nil || string(e.Value) != v {
			t.Errorf("key %q = %v, want %q", k, e, v)
			return
		}
	}
}

func TestGroupRestartFromDataDir(t *testing.T) {
	for _, withSnapshot := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", withSnapshot), func(t *testing.T) {
			dir := t.TempDir()
			want := map[string]string{}
			g, _ := startGroup(t, testConfig(dir))
			var wg sync.WaitGroup
			var mu sync.Mutex
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 25; i++ {
						k, v := fmt.Sprintf("k%d-%d", w, i), fmt.Sprintf("v%d", i)
						if _, err := g.Propose(context.Background(), [][][]byte{cmd("SET", k, v)}); err != nil {
							t.Errorf("Propose: %v", err)
							return
						}
						mu.Lock()
						want[k] = v
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if withSnapshot {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := g.Snapshot(ctx); err != nil {
					t.Fatalf("Snapshot: %v", err)
				}
				cancel()
				// Writes after the snapshot live only in the log.
				propose(t, g, cmd("SET", "after", "snap"), cmd("DEL", "k0-0"))
				want["after"] = "snap"
				delete(want, "k0-0")
			}
			storeHas(t, g.Store(), want)
			shutdown(t, g)

			g2, _ := startGroup(t, testConfig(dir))
			storeHas(t, g2.Store(), want)
			// And it keeps taking writes.
			if got := propose(t, g2, cmd("INCR", "n")); got[0] != ":1\r\n" {
				t.Fatalf("INCR after restart = %q", got[0])
			}
		})
	}
}

// logStoreOf digs raft's log store out of r, to check compaction.
func logStoreOf(t *testing.T, r *raft.Raft) raft.LogStore {
	t.Helper()
	f := reflect.ValueOf(r).Elem().FieldByName("logs")
	if !f.IsValid() {
		t.Fatal("raft.Raft has no logs field any more: update logStoreOf")
	}
	ls, ok := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(raft.LogStore)
	if !ok {
		t.Fatal("raft.Raft.logs is not a LogStore")
	}
	return ls
}

func statUint(t *testing.T, g *Group, key string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(g.raft.Stats()[key], 10, 64)
	if err != nil {
		t.Fatalf("raft stat %s: %v", key, err)
	}
	return n
}

// dataDirs runs f for a group kept in memory and for one with a data
// directory (raft-boltdb log, file snapshots).
func dataDirs(t *testing.T, f func(t *testing.T, dir string)) {
	t.Run("memory", func(t *testing.T) { f(t, "") })
	t.Run("datadir", func(t *testing.T) { f(t, t.TempDir()) })
}

// waitCompacted waits until raft has taken a snapshot and the log store's
// first index is past minFirst.
func waitCompacted(t *testing.T, g *Group, logs raft.LogStore, minFirst uint64) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, "log compacted", func() error {
		idx, err := logs.FirstIndex()
		if err == nil && idx > minFirst && statUint(t, g, "last_snapshot_index") > 0 {
			return nil
		}
		return fmt.Errorf("FirstIndex %d (%v), raft stats %v", idx, err, g.raft.Stats())
	})
}

func TestGroupSnapshotsCompactLog(t *testing.T) { dataDirs(t, testSnapshotsCompactLog) }

func testSnapshotsCompactLog(t *testing.T, dir string) {
	cfg := testConfig(dir)
	cfg.SnapshotThreshold = 50
	cfg.TrailingLogs = 10
	cfg.SnapshotInterval = 10 * time.Millisecond
	cfg.MaxBatchCommands = 1 // one entry per proposal
	g, _ := startGroup(t, cfg)
	logs := logStoreOf(t, g.raft)
	first, err := logs.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		propose(t, g, cmd("SET", fmt.Sprintf("k%d", i%20), strconv.Itoa(i)))
	}
	waitCompacted(t, g, logs, first+100)
	// Without new writes, snapshots keep coming until the log is down to
	// less than SnapshotThreshold entries beyond TrailingLogs.
	testutil.Eventually(t, 10*time.Second, "the log to shrink to its bound", func() error {
		last, err1 := logs.LastIndex()
		firstNow, err2 := logs.FirstIndex()
		if err1 != nil || err2 != nil || last-firstNow+1 > cfg.SnapshotThreshold+cfg.TrailingLogs {
			return fmt.Errorf("log %d..%d (%v, %v)", firstNow, last, err1, err2)
		}
		return nil
	})
}

func TestGroupCompactsLogByBytes(t *testing.T) { dataDirs(t, testCompactsLogByBytes) }

// byteRuleConfig is testConfig(dir) where only the compactor's byte rule
// snapshots, checked every 10 ms.
func byteRuleConfig(dir string) Config {
	cfg := testConfig(dir)
	cfg.SnapshotThreshold = 1 << 30 // the entry-count rule never fires
	cfg.SnapshotInterval = time.Hour
	cfg.TrailingLogs = 5
	cfg.CompactCheckInterval = 10 * time.Millisecond
	return cfg
}

// growLogUntilCompacted overwrites one key 64 times with 4 KB (the data
// stays ~4 KB while the log grows by 256 KB) and waits for a compaction.
func growLogUntilCompacted(t *testing.T, g *Group) {
	t.Helper()
	logs := logStoreOf(t, g.raft)
	val := string(make([]byte, 4096))
	for i := 0; i < 64; i++ {
		propose(t, g, cmd("SET", "k", val))
	}
	waitCompacted(t, g, logs, 1)
}

func testCompactsLogByBytes(t *testing.T, dir string) {
	cfg := byteRuleConfig(dir)
	cfg.CompactMinBytes = 64 << 10
	cfg.CompactMinBytesMemory = 64 << 10
	g, _ := startGroup(t, cfg)
	growLogUntilCompacted(t, g)
	// The rule keeps firing until the log since the last snapshot is small.
	testutil.Eventually(t, 10*time.Second, "the log bytes since the last snapshot to drop below CompactMinBytes", func() error {
		if n := g.fsm.LogBytesSinceSnapshot(); n >= cfg.CompactMinBytes {
			return fmt.Errorf("%d bytes", n)
		}
		return nil
	})
}

// TestCompactRule: on disk the log is compacted against CompactMinBytes
// and the data's size; in memory against CompactMinBytesMemory, or, for a
// sole replica (whose snapshots keep no view), CompactMinBytesSole.
func TestCompactRule(t *testing.T) {
	def := DefaultConfig()
	for _, c := range []struct {
		name    string
		dir     string
		sole    bool
		min     int64
		ratio   float64
		minWant int64
	}{
		{"disk", "/data", false, def.CompactMinBytes, def.CompactRatio, 64 << 20},
		{"disk, sole", "/data", true, def.CompactMinBytes, def.CompactRatio, 64 << 20},
		{"memory, replicated", "", false, def.CompactMinBytesMemory, def.CompactRatioMemory, 64 << 20},
		{"memory, sole", "", true, def.CompactMinBytesSole, def.CompactRatioMemory, 16 << 20},
	} {
		cfg := def
		cfg.DataDir, cfg.SoleReplica = c.dir, c.sole
		if m, r := compactRule(&cfg); m != c.min || r != c.ratio || m != c.minWant {
			t.Errorf("%s: %d bytes, ratio %v; want %d (%d), %v", c.name, m, r, c.min, c.minWant, c.ratio)
		}
	}
}

// TestSoleReplicaCompactsAtItsFloor: a sole replica in memory snapshots
// once CompactMinBytesSole of log has passed, under a CompactMinBytesMemory
// it never reaches.
func TestSoleReplicaCompactsAtItsFloor(t *testing.T) {
	cfg := byteRuleConfig("")
	cfg.SoleReplica = true
	cfg.CompactMinBytesMemory = 1 << 30
	cfg.CompactMinBytesSole = 64 << 10
	g, _ := startGroup(t, cfg)
	growLogUntilCompacted(t, g)
}

// TestMapRaftError: raft's refusals of entries it never took are "not
// leader" (the caller may redirect and retry); only a loss after the entry
// entered raft's log is indeterminate.
func TestMapRaftError(t *testing.T) {
	cases := []struct {
		in   error
		want error
	}{
		{raft.ErrNotLeader, ErrNotLeader},
		{raft.ErrLeadershipTransferInProgress, ErrNotLeader},
		{raft.ErrEnqueueTimeout, ErrNotLeader},
		{raft.ErrRaftShutdown, ErrShutdown},
		{raft.ErrLeadershipLost, ErrIndeterminate},
		{ErrHalted, ErrIndeterminate},
	}
	for _, c := range cases {
		if got := mapRaftError(c.in); !errors.Is(got, c.want) {
			t.Errorf("mapRaftError(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestSoleReplicaKeepsNoView: a sole replica in memory releases each
// snapshot's view at once, so a write after a snapshot updates the entry in
// place (no copy-on-write) and the snapshot cannot be opened; a group that
// may have followers keeps the view, and the write copies the entry.
func TestSoleReplicaKeepsNoView(t *testing.T) {
	for _, sole := range []bool{true, false} {
		t.Run(fmt.Sprintf("sole=%v", sole), func(t *testing.T) {
			cfg := testConfig("")
			cfg.SoleReplica = sole
			g, _ := startGroup(t, cfg)
			propose(t, g, cmd("SET", "k", "v1"))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := g.Snapshot(ctx); err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			st := g.Store()
			st.RLock()
			before := st.Peek([]byte("k"))
			st.RUnlock()
			propose(t, g, cmd("SET", "k", "v2"))
			st.RLock()
			after := st.Peek([]byte("k"))
			st.RUnlock()
			if string(after.Value) != "v2" {
				t.Fatalf("value %q after SET", after.Value)
			}
			if inPlace := before == after; inPlace != sole {
				t.Fatalf("entry updated in place: %v, want %v (a view is open: %v)", inPlace, sole, !sole)
			}
			snaps, err := g.fsm.snaps.List()
			if err != nil || len(snaps) != 1 {
				t.Fatalf("List: %d snapshots, %v", len(snaps), err)
			}
			_, rc, err := g.fsm.snaps.Open(snaps[0].ID)
			if sole {
				if err == nil {
					t.Fatal("a sole replica's snapshot opened")
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			rc.Close()
		})
	}
}

// TestGatherLetsRunnableProposersJoin checks the batcher's yield: requests
// of goroutines that are runnable when an entry is cut join it. With one
// processor, the proposers started here have not run when gather is
// called, so only the yield lets them queue their requests first. The
// scheduler takes a goroutine from its global queue first one time in 61,
// which can put gather back ahead of them: the test asks for a majority
// of rounds, where no yield gives none.
func TestGatherLetsRunnableProposersJoin(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	cfg := DefaultConfig()
	g := &Group{cfg: cfg, reqs: make(chan *request, 64)}
	set := [][][]byte{{[]byte("SET"), []byte("k"), []byte("v")}}
	const rounds, proposers = 20, 8
	joined := 0
	for range rounds {
		var wg sync.WaitGroup
		for range proposers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.reqs <- &request{cmds: set}
			}()
		}
		var p pack
		g.gather(&p, &request{cmds: set})
		if len(p.batch) != p.ncmds {
			t.Fatalf("batch of %d requests counts %d commands, want one each", len(p.batch), p.ncmds)
		}
		if len(p.batch) == 1+proposers {
			joined++
		}
		wg.Wait()
		for len(g.reqs) > 0 {
			<-g.reqs
		}
	}
	if joined < rounds/2 {
		t.Fatalf("all %d runnable proposers joined the batch in %d of %d rounds, want at least %d", proposers, joined, rounds, rounds/2)
	}
	t.Logf("all proposers joined in %d of %d rounds", joined, rounds)
}

// TestBarrierAfterElectionRetries: a new leader whose barrier is refused
// (raft refuses it while a leadership transfer is in progress) tries again
// while it leads in the same term, instead of staying unready, and so
// answering reads with CLUSTERDOWN, until its next election.
func TestBarrierAfterElectionRetries(t *testing.T) {
	g, _ := startGroup(t, testConfig(""))
	term := g.raft.CurrentTerm()
	real := g.barrier
	var calls atomic.Int32
	g.barrier = func() error {
		if calls.Add(1) <= 3 {
			return raft.ErrLeadershipTransferInProgress
		}
		return real()
	}
	if !g.barrierAfterElection(term) {
		t.Fatal("barrierAfterElection gave up while this replica led in its term")
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("barrier called %d times, want 4 (3 refusals, then success)", n)
	}

	// Another term: the barrier is not retried, the next notification of
	// raft's leader channel starts over.
	calls.Store(0)
	if g.barrierAfterElection(term + 1) {
		t.Fatal("barrierAfterElection succeeded for a term this replica does not lead in")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("barrier called %d times for a stale term, want 1", n)
	}
}
