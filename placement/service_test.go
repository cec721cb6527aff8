package placement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/proc"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/raftfsm"
)

// testLogger logs to t.Log at Info (Debug with SHOAL_TEST_DEBUG=1). Call it
// before registering other cleanups: its own cleanup must run last.
func testLogger(t testing.TB) *slog.Logger { return testutil.Logger(t) }

type testNode struct {
	id        string
	svc       *Service
	mux       *raftfsm.Mux
	serveDone chan struct{}
}

func nodeID(c byte) string { return strings.Repeat(string(c), 40) }

// newTestNode starts a Service over its own Mux on 127.0.0.1 with an
// OS-chosen gossip port. mux may be nil (a new one is made); cleanup shuts
// the service down and closes the mux.
func newTestNode(t *testing.T, lg *slog.Logger, id string, mux *raftfsm.Mux, edit func(*Config)) *testNode {
	t.Helper()
	n := &testNode{id: id, mux: mux}
	if mux == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n.mux = raftfsm.NewMux(ln, nil, lg)
		n.serveDone = make(chan struct{})
		go func() {
			defer close(n.serveDone)
			_ = n.mux.Serve()
		}()
		t.Cleanup(func() {
			n.mux.Close()
			<-n.serveDone
		})
	}
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.RESPAddr = "127.0.0.1:" + fmt.Sprint(7000+int(id[0]))
	cfg.GossipBind = "127.0.0.1:0"
	cfg.Mux = n.mux
	cfg.Logger = lg.With("node", id[:4])
	if edit != nil {
		edit(&cfg)
	}
	// GossipBind "" asks for a concrete free port (found by listening and
	// closing; retried on a conflict), and a Join entry "self" for this
	// node's own gossip address.
	fixed := cfg.GossipBind == ""
	join := cfg.Join
	var svc *Service
	for attempt := 0; ; attempt++ {
		if fixed {
			cfg.GossipBind = freeAddr(t)
			cfg.Join = nil
			for _, j := range join {
				if j == "self" {
					j = cfg.GossipBind
				}
				cfg.Join = append(cfg.Join, j)
			}
		}
		var err error
		if svc, err = New(cfg); err != nil {
			t.Fatal(err)
		}
		err = svc.Start(context.Background())
		if err == nil {
			break
		}
		if !fixed || attempt == 4 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
	n.svc = svc
	t.Cleanup(func() { shutdownOrDump(t, svc, id) })
	return n
}

// shutdownOrDump shuts svc down within 10 s, or fails the test with every
// goroutine's stack (to find what the shutdown waits for).
func shutdownOrDump(t *testing.T, svc *Service, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Shutdown(ctx); err != nil {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
		t.Errorf("shutdown %s: %v; goroutines:\n%s", id[:4], err, b.String())
	}
}

// freeAddr returns 127.0.0.1:port with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	return proc.LocalAddr(testutil.FreePort(t))
}

func mapJSON(m *Map) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// checkSameMap checks that every node holds the same map of epoch epoch;
// its error says what each node sees (describeNodes).
func checkSameMap(nodes []*testNode, epoch uint64) error {
	if err := sameMapAt(nodes, epoch); err != nil {
		return fmt.Errorf("%w; %s", err, describeNodes(nodes))
	}
	return nil
}

func sameMapAt(nodes []*testNode, epoch uint64) error {
	var first string
	for i, n := range nodes {
		m := n.svc.Map()
		if m == nil {
			return fmt.Errorf("node %s has no map", n.id[:4])
		}
		if m.Epoch != epoch {
			return fmt.Errorf("node %s has epoch %d", n.id[:4], m.Epoch)
		}
		if i == 0 {
			first = mapJSON(m)
		} else if mapJSON(m) != first {
			return fmt.Errorf("node %s's map differs", n.id[:4])
		}
	}
	return nil
}

func metaLeader(nodes []*testNode) (*testNode, error) {
	var leaders []*testNode
	for _, n := range nodes {
		if n.svc.IsMetaLeader() {
			leaders = append(leaders, n)
		}
	}
	if len(leaders) != 1 {
		return nil, fmt.Errorf("%d meta leaders", len(leaders))
	}
	return leaders[0], nil
}

// describeNodes says, for a failure message, what each node sees: its
// meta Raft state and term, its map's epoch and node count, and the
// gossip status of each member (a=alive, s=suspect, f=failed, l=left; u:
// lacks the addresses registration needs).
func describeNodes(nodes []*testNode) string {
	var b strings.Builder
	for i, n := range nodes {
		if i > 0 {
			b.WriteString("; ")
		}
		epoch, count := uint64(0), 0
		if m := n.svc.Map(); m != nil {
			epoch, count = m.Epoch, len(m.Nodes)
		}
		fmt.Fprintf(&b, "%s: %v term %d, map %d/%d nodes, sees", n.id[:1], n.svc.raft.State(), n.svc.raft.CurrentTerm(), epoch, count)
		for _, mem := range n.svc.Members() {
			st := map[MemberStatus]string{StatusAlive: "a", StatusSuspect: "s", StatusFailed: "f", StatusLeft: "l"}[mem.Status]
			if !mem.usable() || mem.GossipAddr == "" {
				st += "u"
			}
			fmt.Fprintf(&b, " %s=%s", mem.ID[:1], st)
		}
	}
	return b.String()
}

func memberOf(ms []Member, id string) (Member, bool) {
	for _, m := range ms {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

func shutdownAll(t *testing.T, nodes []*testNode) {
	t.Helper()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shutdownOrDump(t, n.svc, n.id)
		}()
	}
	wg.Wait()
}

func TestClusterBootstrap(t *testing.T) {
	lg := testLogger(t)
	baseline := runtime.NumGoroutine()
	expect3 := func(c *Config) { c.BootstrapExpect, c.Groups, c.Replicas = 3, 3, 3 }

	// The first node's Join names only itself: harmless.
	n1 := newTestNode(t, lg, nodeID('1'), nil, func(c *Config) {
		expect3(c)
		c.GossipBind, c.Join = "", []string{"self"}
	})
	seed := n1.svc.GossipAddr()
	if seed != n1.svc.cfg.GossipBind {
		t.Fatalf("GossipAddr %s, bound %s", seed, n1.svc.cfg.GossipBind)
	}
	// The others join through the first; the second also names itself.
	join := func(c *Config) { expect3(c); c.Join = []string{seed} }
	nodes := []*testNode{n1,
		newTestNode(t, lg, nodeID('2'), nil, func(c *Config) {
			join(c)
			c.GossipBind, c.Join = "", []string{"self", seed}
		}),
		newTestNode(t, lg, nodeID('3'), nil, join),
	}

	start := time.Now()
	testutil.Eventually(t, 15*time.Second, "three nodes agree on the initial map", func() error {
		return checkSameMap(nodes, 1)
	})
	t.Logf("initial map everywhere after %v", time.Since(start))
	m := n1.svc.Map()
	if len(m.Nodes) != 3 || len(m.Groups) != 3 || m.AssignedSlots() != NumSlots {
		t.Fatalf("map: %d nodes, %d groups, %d slots", len(m.Nodes), len(m.Groups), m.AssignedSlots())
	}
	for _, g := range m.Groups {
		if len(g.Members) != 3 {
			t.Fatalf("group %s: %v", g.ID, g.Members)
		}
	}
	for i, nd := range m.Nodes {
		if nd.ID != nodes[i].id || nd.ClusterAddr != nodes[i].mux.Addr().String() ||
			nd.RESPAddr != nodes[i].svc.cfg.RESPAddr || nd.GossipAddr != nodes[i].svc.GossipAddr() {
			t.Fatalf("node %d in map: %+v", i, nd)
		}
	}
	testutil.Eventually(t, 10*time.Second, "one meta leader", func() error {
		_, err := metaLeader(nodes)
		return err
	})

	// Every node gossips its epoch. 10 s: a tag update that memberlist
	// dropped is sent again after BroadcastTimeout (2 s) and
	// tagRetryInterval.
	testutil.Eventually(t, 10*time.Second, "epoch tags", func() error {
		for _, n := range nodes {
			for _, id := range []string{nodeID('1'), nodeID('2'), nodeID('3')} {
				m, ok := memberOf(n.svc.Members(), id)
				if !ok || m.Epoch != 1 || m.Status != StatusAlive || !m.MetaState {
					return fmt.Errorf("%s sees %s as %+v", n.id[:4], id[:4], m)
				}
			}
		}
		return nil
	})

	// A late node with the smallest id must not bootstrap a cluster of its
	// own: it is added as a non-voter, registered in the map (one more
	// epoch) and gets the map.
	n0 := newTestNode(t, lg, nodeID('0'), nil, join)
	nodes = append(nodes, n0)
	testutil.Eventually(t, 10*time.Second, "late node gets the map that lists it", func() error {
		return checkSameMap(nodes, 2)
	})
	if m := n0.svc.Map(); len(m.Nodes) != 4 || m.Nodes[0].ID != n0.id || len(m.GroupsOf(n0.id)) != 0 {
		t.Fatalf("map after the late node: %s", mapJSON(m))
	}
	// Every replica's configuration has the three voters and the late node
	// as a non-voter.
	testutil.Eventually(t, 10*time.Second, "late node is a meta non-voter", func() error {
		for _, n := range nodes {
			cf := n.svc.raft.GetConfiguration()
			if err := cf.Error(); err != nil {
				return err
			}
			suffrage := make(map[string]raft.ServerSuffrage)
			for _, s := range cf.Configuration().Servers {
				suffrage[string(s.ID)] = s.Suffrage
			}
			if len(suffrage) != 4 || suffrage[n0.id] != raft.Nonvoter ||
				suffrage[nodeID('1')] != raft.Voter || suffrage[nodeID('2')] != raft.Voter || suffrage[nodeID('3')] != raft.Voter {
				return fmt.Errorf("%s: meta configuration %v", n.id[:4], cf.Configuration().Servers)
			}
		}
		return nil
	})

	// Leader hints: a claim shows up on the other nodes; the latest claim
	// of a group wins.
	nodes[1].svc.SetLeading([]string{"g1"})
	checkHint := func(group, want string) func() error {
		return func() error {
			for _, n := range nodes {
				if got, ok := n.svc.LeaderHint(group); !ok || got != want {
					return fmt.Errorf("%s: LeaderHint(%s) = %q, %v", n.id[:4], group, got, ok)
				}
			}
			return nil
		}
	}
	testutil.Eventually(t, 5*time.Second, "lead tag of node 2", checkHint("g1", nodes[1].id))
	nodes[2].svc.SetLeading([]string{"g1", "g2"})
	testutil.Eventually(t, 5*time.Second, "newer claim of node 3", checkHint("g1", nodes[2].id))
	testutil.Eventually(t, 5*time.Second, "g2 hint", checkHint("g2", nodes[2].id))
	if _, ok := n0.svc.LeaderHint("g0"); ok {
		t.Fatal("hint for a group nobody leads")
	}
	if m, _ := memberOf(n0.svc.Members(), nodes[2].id); strings.Join(m.LeadGroups, ",") != "g1,g2" {
		t.Fatalf("LeadGroups %v", m.LeadGroups)
	}
	// A member gossiping that it leads a group (which a data group's leader
	// does once its configuration holds every member) makes the meta
	// leader mark the group formed in the map; g0 is led by nobody.
	var formedEpoch uint64
	testutil.Eventually(t, 10*time.Second, "g1 and g2 marked formed", func() error {
		m := n0.svc.Map()
		if !m.Groups[1].Formed || !m.Groups[2].Formed {
			return fmt.Errorf("groups %+v", m.Groups)
		}
		formedEpoch = m.Epoch
		return checkSameMap(nodes, formedEpoch)
	})
	if m := n0.svc.Map(); m.Groups[0].Formed || formedEpoch < 3 {
		t.Fatalf("g0 formed without a leader, or epoch %d did not grow", formedEpoch)
	}

	// UpdateMap runs fn on any node (forwarding is tested in
	// forward_test.go); compare-and-set bumps the epoch. Leadership may
	// move under a loaded machine: the checks retry.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errRan := errors.New("fn ran")
	for _, n := range nodes {
		if err := n.svc.UpdateMap(ctx, func(*Map) (*Map, error) { return nil, errRan }); !errors.Is(err, errRan) {
			t.Fatalf("UpdateMap on %s: %v", n.id[:4], err)
		}
	}
	var waited *Map
	waitDone := make(chan error, 1)
	go func() {
		var err error
		waited, err = n0.svc.Wait(ctx, formedEpoch)
		waitDone <- err
	}()
	// The change is idempotent (nil when already made), so retrying after an
	// indeterminate outcome cannot make a second epoch.
	move := func(m *Map) (*Map, error) {
		if m.Slots[0] == 2 {
			return nil, nil
		}
		for s := 0; s < 100; s++ {
			m.Slots[s] = 2
		}
		return m, nil
	}
	var leader *testNode
	testutil.Eventually(t, 15*time.Second, "update on the meta leader", func() error {
		var err error
		if leader, err = metaLeader(nodes); err != nil {
			return err
		}
		return leader.svc.UpdateMap(ctx, move)
	})
	if err := <-waitDone; err != nil || waited.Epoch != formedEpoch+1 || waited.Slots[0] != 2 {
		t.Fatalf("Wait: %v, epoch %d", err, waited.Epoch)
	}
	testutil.Eventually(t, 5*time.Second, "next epoch everywhere", func() error { return checkSameMap(nodes, formedEpoch+1) })
	// A no-op, a refusal by fn and an invalid map change nothing (retried
	// only when leadership moved).
	onLeader := func(what string, fn func(*Map) (*Map, error), want error) {
		t.Helper()
		testutil.Eventually(t, 15*time.Second, what, func() error {
			leader, err := metaLeader(nodes)
			if err != nil {
				return err
			}
			if err := leader.svc.UpdateMap(ctx, fn); !errors.Is(err, want) {
				if errors.Is(err, ErrNotMetaLeader) || errors.Is(err, ErrIndeterminate) {
					return err
				}
				t.Fatalf("%s: %v, want %v", what, err, want)
			}
			return nil
		})
	}
	onLeader("no-op update", func(*Map) (*Map, error) { return nil, nil }, nil)
	onLeader("fn error", func(*Map) (*Map, error) { return nil, errRan }, errRan)
	onLeader("invalid update", func(m *Map) (*Map, error) {
		m.Groups[0].Members = append(m.Groups[0].Members, m.Groups[0].Members[0])
		return m, nil
	}, ErrBadMap)
	if err := checkSameMap(nodes, formedEpoch+1); err != nil {
		t.Fatal(err)
	}

	// Failure detection: the late node's gossip dies without leaving.
	if err := n0.svc.serfAgent().Shutdown(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	testutil.Eventually(t, 10*time.Second, "failure detected", func() error {
		for _, n := range nodes[:3] {
			if m, _ := memberOf(n.svc.Members(), n0.id); m.Status != StatusFailed {
				return fmt.Errorf("%s sees %s as %v", n.id[:4], n0.id[:4], m.Status)
			}
		}
		return nil
	})
	t.Logf("failure detected by all after %v", time.Since(start))

	// A graceful shutdown shows as left.
	shutdownAll(t, nodes[2:])
	testutil.Eventually(t, 10*time.Second, "leave seen", func() error {
		for _, n := range nodes[:2] {
			if m, _ := memberOf(n.svc.Members(), nodes[2].id); m.Status != StatusLeft {
				return fmt.Errorf("%s sees %s as %v", n.id[:4], nodes[2].id[:4], m.Status)
			}
		}
		return nil
	})
	shutdownAll(t, nodes[:2])
	for _, n := range nodes {
		if err := n.svc.UpdateMap(ctx, nil); !errors.Is(err, ErrShutdown) {
			t.Fatalf("UpdateMap after shutdown: %v", err)
		}
		n.mux.Close()
		<-n.serveDone
	}
	defer func() { t.Logf("goroutines: %d before, %d after", baseline, runtime.NumGoroutine()) }()
	testutil.Eventually(t, 10*time.Second, "goroutines end", func() error {
		if g := runtime.NumGoroutine(); g > baseline+5 {
			buf := make([]byte, 1<<20)
			return fmt.Errorf("%d goroutines, %d before the test:\n%s", g, baseline, buf[:runtime.Stack(buf, true)])
		}
		return nil
	})
}

func TestSingleNodeBootstrap(t *testing.T) {
	lg := testLogger(t)
	dir := t.TempDir()
	single := func(c *Config) {
		c.BootstrapExpect, c.Groups, c.Replicas = 1, 2, 1
		c.DataDir = dir
	}
	n := newTestNode(t, lg, nodeID('a'), nil, single)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := n.svc.Wait(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.Epoch != 1 || len(m.Nodes) != 1 || len(m.Groups) != 2 || m.AssignedSlots() != NumSlots ||
		len(m.Groups[0].Members) != 1 || m.Groups[1].Members[0] != n.id {
		t.Fatalf("map %s", mapJSON(m))
	}
	testutil.Eventually(t, 5*time.Second, "meta leader", func() error {
		if !n.svc.IsMetaLeader() {
			return errors.New("not meta leader")
		}
		return nil
	})
	if id, addr := n.svc.MetaLeader(); id != n.id || addr != n.mux.Addr().String() {
		t.Fatalf("MetaLeader = %s %s", id, addr)
	}
	ch := n.svc.Changes()
	if err := n.svc.UpdateMap(ctx, func(m *Map) (*Map, error) {
		m.Slots[0] = 1
		return m, nil
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("Changes channel not closed")
	}
	if got := n.svc.Map(); got.Epoch != 2 || got.Slots[0] != 1 {
		t.Fatalf("after update: %s", mapJSON(got))
	}

	// Restart on the same data dir (and cluster address): the map comes
	// back from the log and the node does not bootstrap again.
	if err := n.svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := n.svc.Wait(ctx, 2); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Wait after shutdown: %v", err)
	}
	if err := n.svc.Start(ctx); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Start after shutdown: %v", err)
	}
	r := newTestNode(t, lg, n.id, n.mux, single)
	m, err = r.svc.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Epoch != 2 || m.Slots[0] != 1 {
		t.Fatalf("restored map %s", mapJSON(m))
	}
}

// loopbackMux returns a Mux on an OS-chosen loopback port, closed at the
// end of the test.
func loopbackMux(t *testing.T) *raftfsm.Mux {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := raftfsm.NewMux(ln, nil, nil)
	t.Cleanup(func() { mux.Close() })
	return mux
}

// unstartedService returns a Service made by New (not started) for node id
// over its own loopback Mux, with DefaultConfig changed by edit (may be nil).
func unstartedService(t *testing.T, id string, edit func(*Config)) *Service {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeID, cfg.RESPAddr, cfg.Mux = id, "127.0.0.1:7000", loopbackMux(t)
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfigValidate(t *testing.T) {
	mux := loopbackMux(t)
	good := func() Config {
		c := DefaultConfig()
		c.NodeID = nodeID('c')
		c.RESPAddr = "127.0.0.1:7000"
		c.GossipBind = "127.0.0.1:0"
		c.Join = []string{"10.0.0.1:7946"}
		c.BootstrapExpect = 3
		c.Mux = mux
		return c
	}
	c := good()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Config){
		"short id":         func(c *Config) { c.NodeID = "abc" },
		"upper-case id":    func(c *Config) { c.NodeID = strings.Repeat("A", 40) },
		"no resp addr":     func(c *Config) { c.RESPAddr = "" },
		"resp port 0":      func(c *Config) { c.RESPAddr = "127.0.0.1:0" },
		"bad gossip bind":  func(c *Config) { c.GossipBind = "localhost" },
		"bad advertise":    func(c *Config) { c.GossipAdvertise = "1.2.3.4:0" },
		"bad join":         func(c *Config) { c.Join = []string{"nope"} },
		"negative expect":  func(c *Config) { c.BootstrapExpect = -1 },
		"no groups":        func(c *Config) { c.Groups = 0 },
		"too many groups":  func(c *Config) { c.Groups = NumSlots + 1 },
		"no replicas":      func(c *Config) { c.Replicas = 0 },
		"replicas > nodes": func(c *Config) { c.BootstrapExpect = 2 },
		"no mux":           func(c *Config) { c.Mux = nil },
		"lease > hb":       func(c *Config) { c.LeaderLeaseTimeout = time.Second },
		"hb > election":    func(c *Config) { c.HeartbeatTimeout = 2 * time.Second; c.LeaderLeaseTimeout = time.Second },
		"zero reconcile":   func(c *Config) { c.ReconcileInterval = 0 },
		"probe timeout":    func(c *Config) { c.ProbeTimeout = time.Second },
		"no suspicion":     func(c *Config) { c.SuspicionMult = 0 },
		"no gossip":        func(c *Config) { c.GossipInterval = 0 },
		"no reconnect":     func(c *Config) { c.ReconnectInterval = 0 },
		"zero snapshots":   func(c *Config) { c.SnapshotThreshold = 0 },
		"suspect < hb/2":   func(c *Config) { c.SuspectAfter = c.HeartbeatTimeout/2 - time.Millisecond },
		"negative suspect": func(c *Config) { c.SuspectAfter = -1 },
	} {
		c := good()
		edit(&c)
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: Validate = %v, want ErrBadConfig", name, err)
		}
		if _, err := New(c); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: New = %v, want ErrBadConfig", name, err)
		}
	}
	s, err := New(good())
	if err != nil {
		t.Fatal(err)
	}
	if s.Map() != nil || s.Members() != nil || s.IsMetaLeader() || s.GossipAddr() != "" {
		t.Fatal("unstarted service reports state")
	}
	if err := s.UpdateMap(context.Background(), nil); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("UpdateMap before Start: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestBootstrapSet(t *testing.T) {
	mk := func(ids ...byte) []Member {
		var out []Member
		for _, c := range ids {
			out = append(out, Member{ID: nodeID(c), RESPAddr: "r", ClusterAddr: "c", Status: StatusAlive})
		}
		return out
	}
	for n, want := range map[int]int{1: 1, 2: 2, 3: 3, 4: 3, 5: 5, 7: 5} {
		if got := votersFor(n); got != want {
			t.Errorf("votersFor(%d) = %d, want %d", n, got, want)
		}
	}
	if _, _, reason := bootstrapSet(mk('1', '2'), 3); reason == "" {
		t.Fatal("bootstrapped with too few members")
	}
	ms := mk('1', '2', '3', '4', '5')
	ms[1].Status = StatusSuspect
	set, voters, reason := bootstrapSet(ms, 3)
	if reason != "" || len(set) != 3 || set[1].ID != nodeID('3') || len(voters) != 3 {
		t.Fatalf("set %v voters %v reason %q", set, voters, reason)
	}
	ms = mk('1', '2', '3', '4')
	ms[3].MetaState = true
	if _, _, reason := bootstrapSet(ms, 3); reason == "" {
		t.Fatal("bootstrapped although a meta group exists outside the set")
	}
	ms[3].MetaState, ms[2].Epoch = false, 1
	if _, _, reason := bootstrapSet(ms, 3); reason == "" {
		t.Fatal("bootstrapped although a map exists")
	}
}

// TestSerfConfigNoCompression: gossip packets go out uncompressed.
// memberlist's default LZW-compresses every packet, probes and acks
// included, with a fresh 64 KiB table each: most of an idle node's
// allocation (BENCHMARKS.md, "The replicated write path in one process").
func TestSerfConfigNoCompression(t *testing.T) {
	s := unstartedService(t, nodeID('c'), nil)
	sc, err := s.newSerfConfig()
	if err != nil {
		t.Fatal(err)
	}
	if sc.MemberlistConfig.EnableCompression {
		t.Error("memberlist compresses gossip packets")
	}
}

// TestSerfConfigReconnect: serf tries failed members again every
// Config.ReconnectInterval, not its default 30 s, which kept the two
// sides of a healed partition apart for up to 20 s in Jepsen runs.
func TestSerfConfigReconnect(t *testing.T) {
	s := unstartedService(t, nodeID('c'), nil)
	sc, err := s.newSerfConfig()
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig().ReconnectInterval; sc.ReconnectInterval != want || want > 5*time.Second {
		t.Errorf("serf ReconnectInterval %v, want the default %v (at most 5 s)", sc.ReconnectInterval, want)
	}
}

func TestBuildTagsFitsLimit(t *testing.T) {
	s := unstartedService(t, nodeID('d'), nil)
	var lead []string
	for i := 0; i < 200; i++ {
		lead = append(lead, fmt.Sprintf("g%d", i))
	}
	tags, truncated := s.buildTags(1<<60, true, lead)
	if truncated == 0 || tagsSize(tags) > maxTagBytes {
		t.Fatalf("truncated %d, size %d", truncated, tagsSize(tags))
	}
	if got := len(splitLead(tags[tagLead])); got != len(lead)-truncated {
		t.Fatalf("lead has %d groups, want %d", got, len(lead)-truncated)
	}
	tags, truncated = s.buildTags(0, false, []string{"g0", "g1"})
	if truncated != 0 || tags[tagLead] != "g0,g1" || tags[tagEpoch] != "0" || tags[tagMeta] != "" {
		t.Fatalf("tags %v", tags)
	}
}

func TestEpochLagWarning(t *testing.T) {
	var logs testutil.LockedBuffer
	s := unstartedService(t, nodeID('e'), func(cfg *Config) {
		cfg.EpochLagWarn = 20 * time.Millisecond
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	ahead := []Member{{ID: nodeID('f'), Status: StatusAlive, Epoch: 3}}
	s.checkEpochLag(ahead)
	if strings.Contains(logs.String(), "behind") {
		t.Fatal("warned at once")
	}
	testutil.Eventually(t, 5*time.Second, "lag warning", func() error {
		s.checkEpochLag(ahead)
		if !strings.Contains(logs.String(), "meta replica behind") || !strings.Contains(logs.String(), "member-epoch=3") {
			return errors.New("no warning yet")
		}
		return nil
	})
	m, _ := InitialMap(testNodes(1), 1, 1)
	m.Epoch = 3
	s.publish(m)
	s.checkEpochLag(ahead)
	if !strings.Contains(logs.String(), "caught up") || s.lagWarned || !s.lagSince.IsZero() {
		t.Fatalf("no recovery: %s", logs.String())
	}
}

// TestMetaFastElection checks that the meta group elects a new leader
// through the followers' watchers when its leader falls silent (its mux
// closed: no RPC in or out). Raft's own timers are slow (HeartbeatTimeout
// 3 s, so 3-9 s after the last contact), the watchers suspect after 2 s:
// the new leader within the wait comes from a watcher.
func TestMetaFastElection(t *testing.T) {
	lg := testLogger(t)
	slow := func(c *Config) {
		c.BootstrapExpect, c.Groups, c.Replicas = 3, 3, 3
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 3*time.Second, 3*time.Second, time.Second
		c.SuspectAfter = 2 * time.Second
	}
	n1 := newTestNode(t, lg, nodeID('1'), nil, func(c *Config) { slow(c); c.GossipBind, c.Join = "", []string{"self"} })
	seed := n1.svc.GossipAddr()
	join := func(c *Config) { slow(c); c.Join = []string{seed} }
	nodes := []*testNode{n1, newTestNode(t, lg, nodeID('2'), nil, join), newTestNode(t, lg, nodeID('3'), nil, join)}
	testutil.Eventually(t, 30*time.Second, "three nodes agree on the initial map", func() error {
		return checkSameMap(nodes, 1)
	})
	var old *testNode
	testutil.Eventually(t, 10*time.Second, "one meta leader", func() (err error) {
		old, err = metaLeader(nodes)
		return err
	})
	var rest []*testNode
	started := uint64(0)
	for _, n := range nodes {
		if n != old {
			rest = append(rest, n)
			started += n.svc.guard.FastElections()
		}
	}
	old.mux.Close()
	testutil.Eventually(t, 20*time.Second, "a new meta leader among the others", func() error {
		l, err := metaLeader(rest)
		if err == nil && l == old {
			err = errors.New("the old leader")
		}
		return err
	})
	after := uint64(0)
	for _, n := range rest {
		after += n.svc.guard.FastElections()
	}
	if after == started {
		t.Fatal("the new meta leader was not elected by a watcher")
	}
}
