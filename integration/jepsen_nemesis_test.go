package integration

// Node processes and nemeses for the Jepsen harness. A jNode is a real
// `shoal server` process with a fixed id, address, ports and data directory,
// so that it can be killed (SIGKILL), paused (SIGSTOP/SIGCONT) and restarted
// with the same identity and log. In namespace mode each node runs inside its
// own network namespace (`ip netns exec`) on its own address; otherwise all
// nodes share 127.0.0.1 on free ports (kill and pause only).

import (
	"bufio"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/proc"
	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// jNode is one Shoal process the harness controls.
type jNode struct {
	idx     int
	ns      string // network namespace, "" in loopback mode
	ip      string
	port    int
	cport   int
	gport   int
	tport   int // the TLS client port of a secure phase
	id      string
	dataDir string
	logPath string
	bin     string
	args    []string

	mu     sync.Mutex
	p      *proc.Process // nil while down
	starts int
	// up is true once the node has started: its ports are its own from
	// then on, and a restart must wait for them rather than give up.
	up bool
}

// errAddrInUse marks a start that failed because another socket holds one
// of the node's ports (the node's log says so).
var errAddrInUse = errors.New("address already in use")

func (n *jNode) addr() string { return net.JoinHostPort(n.ip, strconv.Itoa(n.port)) }

// start launches the process and waits until it answers PING.
func (n *jNode) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p != nil {
		return nil
	}
	var err error
	for attempt := 0; attempt < 40; attempt++ {
		if err = n.startOnce(); err == nil {
			n.up = true
			return nil
		}
		if !n.up && errors.Is(err, errAddrInUse) {
			// A first start: another socket took a probed port; the
			// cluster start tries new ones.
			break
		}
		time.Sleep(250 * time.Millisecond) // the port may linger briefly
	}
	return fmt.Errorf("n%d: %w", n.idx, err)
}

func (n *jNode) startOnce() error {
	n.starts++
	lf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(lf, "=== jepsen: start #%d of n%d at %s: %s %s\n", n.starts, n.idx,
		time.Now().Format(time.RFC3339Nano), n.bin, strings.Join(n.args, " "))
	var cmd *exec.Cmd
	if n.ns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", n.ns, n.bin}, n.args...)...)
	} else {
		cmd = exec.Command(n.bin, n.args...)
	}
	from, _ := lf.Seek(0, io.SeekCurrent)
	cmd.Dir = n.dataDir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.WaitDelay = 2 * time.Second
	// Do not outlive the test binary (a timeout panic skips cleanups).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p, err := proc.Start(cmd, n.addr(), proc.StartTimeout)
	lf.Close()
	if err != nil {
		if logSince(n.logPath, from, "address already in use") {
			return fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		return err
	}
	n.p = p
	return nil
}

// logSince reports whether the file at path holds text after offset from.
func logSince(path string, from int64, text string) bool {
	b, err := os.ReadFile(path)
	if err != nil || from > int64(len(b)) {
		return false
	}
	return strings.Contains(string(b[from:]), text)
}

// stop sends SIGTERM, waits up to grace for the process to exit (then
// SIGKILL) and reports whether it had to be killed.
func (n *jNode) stop(grace time.Duration) (forced bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return false
	}
	forced = n.p.Stop(grace)
	n.p = nil
	return forced
}

// kill sends SIGKILL and waits for the process to exit.
func (n *jNode) kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return
	}
	n.p.Kill()
	n.p = nil
}

// signal sends SIGSTOP or SIGCONT to a running node.
func (n *jNode) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return fmt.Errorf("n%d is not running", n.idx)
	}
	if sig == syscall.SIGSTOP {
		return n.p.Pause()
	}
	return n.p.Resume()
}

// usable reports whether the node runs and is not paused.
func (n *jNode) usable() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p != nil && !n.p.Paused()
}

// jCluster is the nodes of one phase.
type jCluster struct {
	t     *testing.T
	nodes []*jNode
	net   *jNet // nil in loopback mode
	// noDataDir: nodes run without --data-dir (a restart loses state).
	noDataDir bool
}

// nodeID derives a stable 40-hex node id from the seed.
func nodeID(seed uint64, phase, i int) string {
	h := sha1.Sum([]byte(fmt.Sprintf("shoal-jepsen-%d-%d-%d", seed, phase, i)))
	return hex.EncodeToString(h[:])
}

// startJCluster starts n nodes (in jn's namespaces when jn is not nil) and
// waits until they agree on a balanced map.
func startJCluster(t *testing.T, cfg *jConfig, jn *jNet, phase int, dir string) *jCluster {
	t.Helper()
	bin := testutil.ShoalBinary(t)
	c := &jCluster{t: t, net: jn, noDataDir: cfg.noDataDir}
	tmp := t.TempDir()
	for i := 0; i < cfg.nodes; i++ {
		n := &jNode{idx: i, bin: bin, id: nodeID(cfg.seed, phase, i),
			dataDir: filepath.Join(tmp, fmt.Sprintf("n%d", i)),
			logPath: filepath.Join(dir, fmt.Sprintf("n%d.log", i))}
		if jn != nil {
			n.ns, n.ip = jn.nodeNS[i], jn.nodeIPs[i]
			n.port, n.cport, n.gport, n.tport = 7000, 17000, 27000, 7443
		} else {
			n.ip = "127.0.0.1"
		}
		if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
	}
	t.Cleanup(c.stopAll)
	// On loopback another process may take a free port between probing and
	// binding: the first start then tries new ports (a restart later in
	// the phase must keep its node's ports, and retries them).
	for attempt := 1; ; attempt++ {
		if jn == nil {
			for _, n := range c.nodes {
				ports := testutil.FreePorts(t, 4)
				n.port, n.cport, n.gport, n.tport = ports[0], ports[1], ports[2], ports[3]
			}
		}
		c.setArgs(cfg)
		err := c.startAll()
		if err == nil {
			break
		}
		if jn != nil || attempt == maxStartAttempts || !errors.Is(err, errAddrInUse) {
			t.Fatalf("jepsen: start cluster: %v (node logs in %s)", err, dir)
		}
		t.Logf("jepsen: start attempt %d: %v; retrying on new ports", attempt, err)
		c.stopAll()
		for _, n := range c.nodes {
			n.up = false
			if err := os.RemoveAll(n.dataDir); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.waitHealthy(60*time.Second, true, nil); err != nil {
		t.Fatalf("jepsen: cluster did not form: %v (node logs in %s)", err, dir)
	}
	return c
}

// maxStartAttempts bounds the sets of ports a loopback cluster start tries.
const maxStartAttempts = 4

// setArgs sets every node's command line from its ports.
func (c *jCluster) setArgs(cfg *jConfig) {
	// Every node joins every node's gossip address, as an operator would
	// list them. With only node 0's (as in the other integration tests), a
	// restarted node 0 joins only itself: it used to report
	// cluster_state:fail until the others' serf reconnected to it (80 s in
	// one run); it now rejoins through the map's gossip addresses
	// (placement's joinLoop, TestSeedRestartRejoinsGossip).
	// SHOAL_JEPSEN_JOIN=first runs that way.
	var join []string
	for i, n := range c.nodes {
		if i == 0 || os.Getenv("SHOAL_JEPSEN_JOIN") != "first" {
			join = append(join, "--join", net.JoinHostPort(n.ip, strconv.Itoa(n.gport)))
		}
	}
	for _, n := range c.nodes {
		n.args = append([]string{"server", "--port", strconv.Itoa(n.port), "--bind", n.ip, "--advertise", n.ip,
			// Clients connect from jn.clientIP, not 127.0.0.1: no protected mode.
			"--protected-mode", "no",
			"--bootstrap-expect", strconv.Itoa(cfg.nodes)}, join...)
		n.args = append(n.args, "--cluster-port", strconv.Itoa(n.cport), "--gossip-port", strconv.Itoa(n.gport),
			"--id", n.id)
		if !cfg.noDataDir {
			n.args = append(n.args, "--data-dir", n.dataDir)
		}
		if len(cfg.secureArgs) > 0 {
			n.args = append(n.args, "--tls-port", strconv.Itoa(n.tport))
			n.args = append(n.args, cfg.secureArgs...)
		}
		n.args = append(n.args, cfg.serverArgs...)
	}
}

// startAll starts every node at once and returns the first failure.
func (c *jCluster) startAll() error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.nodes))
	for i, n := range c.nodes {
		wg.Add(1)
		go func(i int, n *jNode) {
			defer wg.Done()
			errs[i] = n.start()
		}(i, n)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stopAll kills every node (resuming paused ones is not needed for SIGKILL).
func (c *jCluster) stopAll() {
	for _, n := range c.nodes {
		n.kill()
	}
}

func (c *jCluster) addrs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.addr())
	}
	return out
}

func (c *jCluster) nodeByAddr(addr string) int {
	for i, n := range c.nodes {
		if n.addr() == addr {
			return i
		}
	}
	return -1
}

// quickDo sends one command with a short deadline.
func quickDo(addr string, args ...string) (respclient.Value, error) {
	return doWithin(addr, 2*time.Second, args...)
}

// slotMasters asks node i for CLUSTER SLOTS and returns the master address
// of each slot range.
func (c *jCluster) slotMasters(i int) ([]string, error) {
	v, err := quickDo(c.nodes[i].addr(), "CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	if v.IsError() {
		return nil, fmt.Errorf("CLUSTER SLOTS: %s", v.Str)
	}
	var out []string
	for _, r := range v.Elems() {
		if len(r.Elems()) < 3 || len(r.Elems()[2].Elems()) < 2 {
			return nil, fmt.Errorf("bad CLUSTER SLOTS entry")
		}
		out = append(out, net.JoinHostPort(r.Elems()[2].Elems()[0].Str, text(r.Elems()[2].Elems()[1])))
	}
	return out, nil
}

// waitHealthy waits until every node runs, says cluster_state:ok and (when
// balanced) all nodes report the same masters with one group per node. Each
// new reason for waiting is passed to logf.
func (c *jCluster) waitHealthy(timeout time.Duration, balanced bool, logf func(string, ...any)) error {
	deadline := time.Now().Add(timeout)
	var last error
	prev := ""
	for time.Now().Before(deadline) {
		if last = c.healthy(balanced); last == nil {
			return nil
		}
		if logf != nil && last.Error() != prev {
			prev = last.Error()
			logf("waiting for a healthy cluster: %v", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

func (c *jCluster) healthy(balanced bool) error {
	var first []string
	for i, n := range c.nodes {
		if !n.usable() {
			return fmt.Errorf("n%d not running", i)
		}
		v, err := quickDo(n.addr(), "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("n%d: %v", i, err)
		}
		if !strings.Contains(v.Str, "cluster_state:ok") {
			return fmt.Errorf("n%d: cluster state not ok", i)
		}
		m, err := c.slotMasters(i)
		if err != nil {
			return fmt.Errorf("n%d: %v", i, err)
		}
		if first == nil {
			first = m
		} else if !slices.Equal(first, m) {
			return fmt.Errorf("nodes disagree on CLUSTER SLOTS")
		}
	}
	if balanced {
		distinct := map[string]bool{}
		for _, a := range first {
			distinct[a] = true
		}
		if len(distinct) != len(c.nodes) {
			return fmt.Errorf("%d distinct masters, want %d", len(distinct), len(c.nodes))
		}
	}
	return nil
}

// leaderOfRandomGroup returns the node that a usable node believes leads a
// random slot range, or -1.
func (c *jCluster) leaderOfRandomGroup(rng *rand.Rand) int {
	for _, i := range rng.Perm(len(c.nodes)) {
		if !c.nodes[i].usable() {
			continue
		}
		m, err := c.slotMasters(i)
		if err != nil || len(m) == 0 {
			continue
		}
		if j := c.nodeByAddr(m[rng.IntN(len(m))]); j >= 0 {
			return j
		}
	}
	return -1
}

// nemesis injects one kind of fault. inject returns a description of what
// it did; heal undoes every fault of its kind.
type nemesis struct {
	name      string
	partition bool // needs network namespaces
	// rebalances: the phase ends with a wait for a balanced cluster (each
	// node leading a group), which the nemesis' heal set in motion.
	rebalances bool
	// secure: the phase's cluster runs with mutual TLS on its cluster
	// ports, a cluster secret and a gossip key (jConfig.secureArgs).
	secure bool
	// serverArgs are extra flags for the phase's nodes.
	serverArgs []string
	inject     func(c *jCluster, rng *rand.Rand) (string, error)
	heal       func(c *jCluster) (string, error)
}

// pickTargets chooses the nodes a kill or pause affects: the leader of a
// random group, a random node, or (one time in four) a random majority.
// Without --data-dir a majority is never chosen: killing a majority of a
// group's replicas at once loses the group's data for good, whatever the
// system does, so that case is out of scope there.
func pickTargets(c *jCluster, rng *rand.Rand) ([]int, string) {
	switch r := rng.IntN(4); {
	case r == 0 && !c.noDataDir:
		return rng.Perm(len(c.nodes))[:len(c.nodes)/2+1], "majority"
	case r == 1:
		if l := c.leaderOfRandomGroup(rng); l >= 0 {
			return []int{l}, "leader"
		}
	}
	return []int{rng.IntN(len(c.nodes))}, "one"
}

func killNemesis() *nemesis {
	return &nemesis{name: "kill",
		inject: func(c *jCluster, rng *rand.Rand) (string, error) {
			ts, why := pickTargets(c, rng)
			for _, i := range ts {
				c.nodes[i].kill()
			}
			return fmt.Sprintf("SIGKILL %s %s", why, nodeList(ts)), nil
		},
		heal: func(c *jCluster) (string, error) {
			var started []int
			for i, n := range c.nodes {
				n.mu.Lock()
				down := n.p == nil
				n.mu.Unlock()
				if down {
					if err := n.start(); err != nil {
						return "", err
					}
					started = append(started, i)
				}
			}
			return "restarted " + nodeList(started), nil
		}}
}

// restartNemesis is a rolling restart's step: SIGTERM to one node (the
// leader of a random group, or any node), which hands its leaderships
// over, drains its clients and exits; healing starts it again. With
// --data-dir it comes back with its state, without it empty.
func restartNemesis() *nemesis {
	return &nemesis{name: "restart",
		inject: func(c *jCluster, rng *rand.Rand) (string, error) {
			i, why := rng.IntN(len(c.nodes)), "one"
			if l := c.leaderOfRandomGroup(rng); l >= 0 && rng.IntN(2) == 0 {
				i, why = l, "leader"
			}
			forced := c.nodes[i].stop(10 * time.Second)
			what := fmt.Sprintf("SIGTERM %s n%d", why, i)
			if forced {
				return what, fmt.Errorf("n%d did not exit within 10 s of SIGTERM", i)
			}
			return what, nil
		},
		heal: killNemesis().heal}
}

func pauseNemesis() *nemesis {
	return &nemesis{name: "pause",
		inject: func(c *jCluster, rng *rand.Rand) (string, error) {
			ts, why := pickTargets(c, rng)
			for _, i := range ts {
				if err := c.nodes[i].signal(syscall.SIGSTOP); err != nil {
					return "", err
				}
			}
			return fmt.Sprintf("SIGSTOP %s %s", why, nodeList(ts)), nil
		},
		heal: func(c *jCluster) (string, error) {
			var resumed []int
			for i, n := range c.nodes {
				n.mu.Lock()
				p := n.p != nil && n.p.Paused()
				n.mu.Unlock()
				if p {
					if err := n.signal(syscall.SIGCONT); err != nil {
						return "", err
					}
					resumed = append(resumed, i)
				}
			}
			return "SIGCONT " + nodeList(resumed), nil
		}}
}

// partitionNemesis cuts the cluster as grid(c, rng) says.
func partitionNemesis(name string, grid func(c *jCluster, rng *rand.Rand) ([][]bool, string)) *nemesis {
	return &nemesis{name: name, partition: true,
		inject: func(c *jCluster, rng *rand.Rand) (string, error) {
			g, desc := grid(c, rng)
			return desc, c.net.partition(g)
		},
		heal: func(c *jCluster) (string, error) { return "healed network", c.net.heal() }}
}

// sidesGrid connects nodes on the same side only.
func sidesGrid(n int, side []int) [][]bool {
	g := make([][]bool, n)
	for i := range g {
		g[i] = make([]bool, n)
		for j := range g[i] {
			g[i][j] = side[i] == side[j]
		}
	}
	return g
}

func isolateGrid(n, lone int) [][]bool {
	side := make([]int, n)
	side[lone] = 1
	return sidesGrid(n, side)
}

func halvesNemesis() *nemesis {
	return partitionNemesis("partition-halves", func(c *jCluster, rng *rand.Rand) ([][]bool, string) {
		n := len(c.nodes)
		perm := rng.Perm(n)
		side := make([]int, n)
		for _, i := range perm[:n/2] {
			side[i] = 1
		}
		return sidesGrid(n, side), fmt.Sprintf("partition %s | %s", nodeList(perm[:n/2]), nodeList(perm[n/2:]))
	})
}

func isolateLeaderNemesis() *nemesis {
	return partitionNemesis("partition-leader", func(c *jCluster, rng *rand.Rand) ([][]bool, string) {
		l := c.leaderOfRandomGroup(rng)
		if l < 0 {
			l = rng.IntN(len(c.nodes))
			return isolateGrid(len(c.nodes), l), fmt.Sprintf("isolate n%d (no leader known)", l)
		}
		return isolateGrid(len(c.nodes), l), fmt.Sprintf("isolate leader n%d", l)
	})
}

func isolateSingleNemesis() *nemesis {
	return partitionNemesis("partition-single", func(c *jCluster, rng *rand.Rand) ([][]bool, string) {
		l := rng.IntN(len(c.nodes))
		return isolateGrid(len(c.nodes), l), fmt.Sprintf("isolate n%d", l)
	})
}

// ringNemesis is Jepsen's majorities ring: in a random ring every node sees
// itself and its nearest neighbours, a majority, but no two nodes see the
// same majority.
func ringNemesis() *nemesis {
	return partitionNemesis("partition-ring", func(c *jCluster, rng *rand.Rand) ([][]bool, string) {
		n := len(c.nodes)
		perm := rng.Perm(n)
		pos := make([]int, n)
		for p, i := range perm {
			pos[i] = p
		}
		reach := n / 2 / 2 // neighbours on each side; 1 for 5 nodes
		if reach < 1 {
			reach = 1
		}
		g := make([][]bool, n)
		for i := range g {
			g[i] = make([]bool, n)
			for j := range g[i] {
				d := (pos[i] - pos[j] + n) % n
				g[i][j] = d <= reach || n-d <= reach
			}
		}
		return g, fmt.Sprintf("majorities ring %s", nodeList(perm))
	})
}

// mixedNemesis picks one of the others at random each time.
func mixedNemesis(all []*nemesis) *nemesis {
	var current *nemesis
	return &nemesis{name: "mixed", partition: true,
		inject: func(c *jCluster, rng *rand.Rand) (string, error) {
			current = all[rng.IntN(len(all))]
			d, err := current.inject(c, rng)
			return current.name + ": " + d, err
		},
		heal: func(c *jCluster) (string, error) {
			var parts []string
			for _, nm := range all {
				d, err := nm.heal(c)
				if err != nil {
					return "", err
				}
				parts = append(parts, d)
			}
			return strings.Join(parts, "; "), nil
		}}
}

// transferNemesis is "leader transfers": each fault moves the leadership
// of a random group with SHOAL LEADER-TRANSFER, sent to the node its
// members name as leader, to a random other member or (one time in three)
// to the member Raft picks. There is nothing to heal: Shoal hands the
// leadership back to the group's preferred leader by itself about a second
// later, a second leader change. A refused or failed transfer (a transfer
// already in progress, leadership that moved meanwhile) is logged as the
// event's error; it is not a test failure.
func transferNemesis() *nemesis {
	return &nemesis{name: "transfer",
		inject: func(c *jCluster, rng *rand.Rand) (string, error) {
			g, leader, err := c.randomGroupLeader(rng)
			if err != nil {
				return "transfer: no group leader found", err
			}
			args := []string{"SHOAL", "LEADER-TRANSFER", g.ID}
			what := fmt.Sprintf("transfer %s from n%d to any member", g.ID, leader)
			var others []string
			for _, m := range g.Members {
				if m != g.Leader {
					others = append(others, m)
				}
			}
			if len(others) > 0 && rng.IntN(3) != 0 {
				to := others[rng.IntN(len(others))]
				args = append(args, to)
				what = fmt.Sprintf("transfer %s from n%d to n%d", g.ID, leader, c.nodeByID(to))
			}
			v, err := doWithin(c.nodes[leader].addr(), 8*time.Second, args...)
			switch {
			case err != nil:
				return what, err
			case v.IsError():
				return what, errors.New(v.Str)
			}
			return what + ": OK", nil
		},
		heal: func(c *jCluster) (string, error) { return "no-op (leadership returns by itself)", nil }}
}

// randomGroupLeader picks a random group in the SHOAL GROUPS reply of a
// usable node and returns it with the index of its leader, a usable node.
// The leader is taken from a member's reply: a member knows it from Raft,
// others only from gossip.
func (c *jCluster) randomGroupLeader(rng *rand.Rand) (shoalGroup, int, error) {
	err := errors.New("no usable node")
	for _, i := range rng.Perm(len(c.nodes)) {
		if !c.nodes[i].usable() {
			continue
		}
		var gs []shoalGroup
		if gs, err = queryGroups(c.nodes[i].addr()); err != nil || len(gs) == 0 {
			continue
		}
		g := gs[rng.IntN(len(gs))]
		for _, m := range rng.Perm(len(g.Members)) {
			j := c.nodeByID(g.Members[m])
			if j < 0 || !c.nodes[j].usable() {
				continue
			}
			mgs, err := queryGroups(c.nodes[j].addr())
			if err != nil {
				continue
			}
			if mg, ok := groupByID(mgs, g.ID); ok && mg.Leader != "" {
				if l := c.nodeByID(mg.Leader); l >= 0 && c.nodes[l].usable() {
					return mg, l, nil
				}
			}
		}
		err = fmt.Errorf("group %s: no usable leader known", g.ID)
	}
	return shoalGroup{}, -1, err
}

func (c *jCluster) nodeByID(id string) int {
	for i, n := range c.nodes {
		if n.id == id {
			return i
		}
	}
	return -1
}

// doWithin sends one command and waits up to d for its reply.
func doWithin(addr string, d time.Duration, args ...string) (respclient.Value, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return respclient.Value{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(d))
	if _, err := conn.Write(encodeCommand(args)); err != nil {
		return respclient.Value{}, err
	}
	_, v, err := readReply(bufio.NewReader(conn))
	return v, err
}

// allNemeses returns the nemeses by name.
func allNemeses() map[string]*nemesis {
	basic := []*nemesis{killNemesis(), pauseNemesis(), halvesNemesis(), isolateLeaderNemesis(),
		isolateSingleNemesis(), ringNemesis(), transferNemesis(), migrateNemesis(),
		migrateFaultNemesis(false), migrateFaultNemesis(true), replaceNemesis(), restartNemesis()}
	m := map[string]*nemesis{"none": {name: "none"}}
	for _, nm := range basic {
		m[nm.name] = nm
	}
	// pause-snapshot: the pause nemesis on nodes that snapshot after 32 KB
	// of commands and keep 4 KB of log after a snapshot (the floor of 16
	// entries binds), so that a node paused for seconds finds its leaders'
	// logs compacted past it and catches up by a snapshot (raftfsm's
	// TrailingBytes).
	pauseSnap := pauseNemesis()
	pauseSnap.name = "pause-snapshot"
	pauseSnap.serverArgs = []string{"--raft-compact-min-bytes", "32kb", "--raft-trailing-bytes", "4kb"}
	m[pauseSnap.name] = pauseSnap
	secure := mixedNemesis([]*nemesis{killNemesis(), halvesNemesis(), transferNemesis()})
	secure.name, secure.secure = "secure", true
	m["secure"] = secure
	m["mixed"] = mixedNemesis([]*nemesis{killNemesis(), pauseNemesis(), halvesNemesis(),
		isolateLeaderNemesis(), isolateSingleNemesis(), ringNemesis(), transferNemesis(), migrateNemesis(),
		migrateFaultNemesis(false), migrateFaultNemesis(true), restartNemesis()})
	return m
}

func nodeList(idx []int) string {
	var parts []string
	for _, i := range idx {
		parts = append(parts, "n"+strconv.Itoa(i))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// jEvent is a nemesis event in the history.
type jEvent struct {
	Start int64  `json:"start"`
	End   int64  `json:"end"` // when the fault was healed
	What  string `json:"what"`
	Heal  string `json:"heal"`
	Err   string `json:"error,omitempty"`
}

// runNemesis alternates quiet periods and faults until stop is closed, then
// heals. Timings come from rng so that a seed replays the schedule.
func runNemesis(c *jCluster, nm *nemesis, rng *rand.Rand, clock func() int64, stop <-chan struct{},
	quiet, fault [2]time.Duration, logf func(string, ...any)) []jEvent {
	var events []jEvent
	if nm.inject == nil {
		<-stop
		return nil
	}
	between := func(r [2]time.Duration) time.Duration {
		return r[0] + time.Duration(rng.Int64N(int64(r[1]-r[0])+1))
	}
	sleep := func(d time.Duration) bool {
		select {
		case <-stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	for sleep(between(quiet)) {
		ev := jEvent{Start: clock()}
		what, err := nm.inject(c, rng)
		ev.What = what
		if err != nil {
			ev.Err = err.Error()
		}
		logf("nemesis %s: %s %v", nm.name, what, errOrEmpty(err))
		sleep(between(fault))
		heal, err := nm.heal(c)
		ev.End, ev.Heal = clock(), heal
		if err != nil {
			ev.Err += " heal: " + err.Error()
		}
		logf("nemesis %s: %s %v", nm.name, heal, errOrEmpty(err))
		events = append(events, ev)
	}
	return events
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return "error: " + err.Error()
}
