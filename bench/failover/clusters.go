// The two targets: a Redis Cluster of 3 masters with a replica each, and a
// 3-node Shoal cluster; how each starts and what "healthy" means for it.

package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/shard"
)

// cluster is a set of server processes forming one cluster.
type cluster interface {
	// start launches every node and forms the cluster (it need not be
	// healthy yet when start returns).
	start(ctx context.Context) error
	nodes() []*node
	// healthy returns nil when the cluster is fully healthy, else why not.
	healthy(ctx context.Context) error
	// commands lists the command lines that set the cluster up, in order.
	commands() []string
	describe() string
}

const checkTimeout = time.Second // per health-check request

// infoField returns field of an INFO-style "k:v" text.
func infoField(text, field string) string {
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == field {
			return v
		}
	}
	return ""
}

func textOf(ctx context.Context, addr string, args ...any) (string, error) {
	v, err := quickDo(ctx, addr, checkTimeout, args...)
	if err != nil {
		return "", err
	}
	s, ok := v.Text()
	if !ok {
		return "", fmt.Errorf("%s: unexpected reply %s", addr, v.String())
	}
	return s, nil
}

func slotsOf(ctx context.Context, addr string) ([]slotRange, error) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	c, err := respclient.Dial(ctx, addr, checkTimeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return clusterSlots(ctx, c)
}

// mastersSignature renders the slot-to-master part of a slot map, and
// checks that it covers every slot exactly once.
func mastersSignature(m []slotRange) (string, error) {
	var b strings.Builder
	next := 0
	for _, r := range m {
		if r.Start != next {
			return "", fmt.Errorf("slots %d-%d not covered", next, r.Start-1)
		}
		fmt.Fprintf(&b, "%d-%d=%s ", r.Start, r.End, r.Master)
		next = r.End + 1
	}
	if next != shard.NumSlots {
		return "", fmt.Errorf("slots %d-%d not covered", next, shard.NumSlots-1)
	}
	return b.String(), nil
}

// ---- Redis Cluster ----

type redisCluster struct {
	server, cli string
	timeoutMS   int
	ns          []*node
	create      []string
	createLog   string
}

func newRedisCluster(o *options, pa *portAllocator, dir string) (*redisCluster, error) {
	rc := &redisCluster{server: o.redisServer, cli: o.redisCLI, timeoutMS: o.nodeTimeout,
		createLog: filepath.Join(dir, "create.log")}
	for i := 0; i < 6; i++ {
		p, err := pa.alloc(true)
		if err != nil {
			return nil, err
		}
		nd := filepath.Join(dir, fmt.Sprintf("redis-%d", i))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return nil, err
		}
		ps := strconv.Itoa(p)
		rc.ns = append(rc.ns, &node{
			name: fmt.Sprintf("r%d", i), addr: "127.0.0.1:" + ps, bin: o.redisServer, dir: nd,
			logPath: filepath.Join(dir, fmt.Sprintf("redis-%d.log", i)),
			args: []string{"--port", ps, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
				"--cluster-config-file", "nodes-" + ps + ".conf", "--cluster-node-timeout", strconv.Itoa(o.nodeTimeout),
				"--dir", nd, "--save", "", "--appendonly", "no", "--daemonize", "no"},
		})
	}
	rc.create = []string{o.redisCLI, "--cluster", "create"}
	for _, n := range rc.ns {
		rc.create = append(rc.create, n.addr)
	}
	rc.create = append(rc.create, "--cluster-replicas", "1", "--cluster-yes")
	return rc, nil
}

func (rc *redisCluster) nodes() []*node { return rc.ns }

func (rc *redisCluster) describe() string {
	v := "redis-server"
	if out, err := exec.Command(rc.server, "--version").Output(); err == nil {
		v = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("Redis Cluster, 3 masters + 3 replicas, cluster-node-timeout %d ms (%s)", rc.timeoutMS, v)
}

func (rc *redisCluster) commands() []string {
	var out []string
	for _, n := range rc.ns {
		out = append(out, n.commandLine())
	}
	words := make([]string, len(rc.create))
	for i, w := range rc.create {
		words[i] = shellQuote(w)
	}
	return append(out, strings.Join(words, " "))
}

func (rc *redisCluster) start(ctx context.Context) error {
	for _, n := range rc.ns {
		if err := n.start(ctx); err != nil {
			return err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, rc.create[0], rc.create[1:]...).CombinedOutput()
	_ = os.WriteFile(rc.createLog, out, 0o644)
	if err != nil {
		return fmt.Errorf("redis-cli --cluster create: %v (output in %s)", err, rc.createLog)
	}
	return nil
}

// redisNode is one line of CLUSTER NODES.
type redisNode struct {
	id, addr, flags, master, link string
	slots                         bool
}

func parseClusterNodes(text string) ([]redisNode, error) {
	var out []redisNode
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("malformed CLUSTER NODES line %q", line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		addr, _, _ = strings.Cut(addr, ",")
		out = append(out, redisNode{id: f[0], addr: addr, flags: f[2], master: f[3], link: f[7], slots: len(f) > 8})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

func (n redisNode) hasFlag(flag string) bool {
	for _, f := range strings.Split(n.flags, ",") {
		if f == flag {
			return true
		}
	}
	return false
}

// healthy: every node is up and reports cluster_state:ok with all 16384
// slots ok and 6 known nodes; every node's CLUSTER NODES shows no node
// flagged fail, fail?, handshake or noaddr, every link connected, and the
// same roles; 3 masters with slots and one replica each; every replica
// reports master_link_status:up with no sync in progress; every node's
// CLUSTER SLOTS names the same master for every slot.
func (rc *redisCluster) healthy(ctx context.Context) error {
	var sig, slotSig string
	var view []redisNode
	for _, n := range rc.ns {
		if !n.running() {
			return fmt.Errorf("%s not running", n.name)
		}
		info, err := textOf(ctx, n.addr, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: %v", n.name, err)
		}
		for field, want := range map[string]string{"cluster_state": "ok", "cluster_slots_assigned": "16384",
			"cluster_slots_ok": "16384", "cluster_known_nodes": strconv.Itoa(len(rc.ns))} {
			if got := infoField(info, field); got != want {
				return fmt.Errorf("%s: %s:%s", n.name, field, got)
			}
		}
		text, err := textOf(ctx, n.addr, "CLUSTER", "NODES")
		if err != nil {
			return fmt.Errorf("%s: %v", n.name, err)
		}
		nodes, err := parseClusterNodes(text)
		if err != nil {
			return fmt.Errorf("%s: %v", n.name, err)
		}
		var b strings.Builder
		for _, x := range nodes {
			for _, bad := range []string{"fail", "fail?", "handshake", "noaddr"} {
				if x.hasFlag(bad) {
					return fmt.Errorf("%s sees %s flagged %s", n.name, x.addr, x.flags)
				}
			}
			if x.link != "connected" {
				return fmt.Errorf("%s: link to %s is %s", n.name, x.addr, x.link)
			}
			role := "master"
			if x.hasFlag("slave") {
				role = "slave"
			}
			fmt.Fprintf(&b, "%s %s %s %s %v\n", x.id, x.addr, role, x.master, x.slots)
		}
		if sig == "" {
			sig, view = b.String(), nodes
		} else if b.String() != sig {
			return fmt.Errorf("nodes disagree on CLUSTER NODES roles")
		}
		m, err := slotsOf(ctx, n.addr)
		if err != nil {
			return fmt.Errorf("%s: CLUSTER SLOTS: %v", n.name, err)
		}
		s, err := mastersSignature(m)
		if err != nil {
			return fmt.Errorf("%s: %v", n.name, err)
		}
		if slotSig == "" {
			slotSig = s
		} else if s != slotSig {
			return fmt.Errorf("nodes disagree on CLUSTER SLOTS")
		}
	}
	replicas := map[string]int{}
	masters := 0
	for _, x := range view {
		if x.hasFlag("master") && x.slots {
			masters++
		}
		if x.hasFlag("slave") {
			replicas[x.master]++
		}
	}
	if masters != 3 {
		return fmt.Errorf("%d masters with slots, want 3", masters)
	}
	for _, x := range view {
		if x.hasFlag("master") && replicas[x.id] != 1 {
			return fmt.Errorf("master %s has %d replicas, want 1", x.addr, replicas[x.id])
		}
		if !x.hasFlag("slave") {
			continue
		}
		repl, err := textOf(ctx, x.addr, "INFO", "replication")
		if err != nil {
			return fmt.Errorf("replica %s: %v", x.addr, err)
		}
		if r := infoField(repl, "role"); r != "slave" {
			return fmt.Errorf("replica %s: role:%s", x.addr, r)
		}
		if s := infoField(repl, "master_link_status"); s != "up" {
			return fmt.Errorf("replica %s: master_link_status:%s", x.addr, s)
		}
		if s := infoField(repl, "master_sync_in_progress"); s != "0" {
			return fmt.Errorf("replica %s: master_sync_in_progress:%s", x.addr, s)
		}
	}
	return nil
}

// ---- Shoal ----

type shoalCluster struct {
	bin     string
	check   bool
	dataDir bool
	extra   string
	ns      []*node
}

// shoalNodeID is the fixed node id of node i: 40 hex characters.
func shoalNodeID(i int) string {
	h := sha1.Sum([]byte(fmt.Sprintf("shoal-failover-bench-%d", i)))
	return hex.EncodeToString(h[:])
}

func newShoalCluster(o *options, pa *portAllocator, dir string) (*shoalCluster, error) {
	sc := &shoalCluster{bin: o.shoalBin, check: o.shoalCheck, dataDir: o.shoalDataDir, extra: strings.Join(strings.Fields(o.shoalArgs), " ")}
	const n = 3
	var ports, cports, gports []int
	for i := 0; i < n; i++ {
		for _, dst := range []*[]int{&ports, &cports, &gports} {
			p, err := pa.alloc(false)
			if err != nil {
				return nil, err
			}
			*dst = append(*dst, p)
		}
	}
	var join []string
	for _, g := range gports {
		join = append(join, net.JoinHostPort("127.0.0.1", strconv.Itoa(g)))
	}
	for i := 0; i < n; i++ {
		nd := filepath.Join(dir, fmt.Sprintf("shoal-%d", i))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return nil, err
		}
		args := []string{"server", "--port", strconv.Itoa(ports[i]), "--bind", "127.0.0.1",
			"--bootstrap-expect", strconv.Itoa(n), "--join", strings.Join(join, ","),
			"--cluster-port", strconv.Itoa(cports[i]), "--gossip-port", strconv.Itoa(gports[i]),
			"--id", shoalNodeID(i)}
		if o.shoalDataDir {
			args = append(args, "--data-dir", filepath.Join(nd, "data"))
		}
		args = append(args, strings.Fields(o.shoalArgs)...)
		sc.ns = append(sc.ns, &node{name: fmt.Sprintf("s%d", i), addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])),
			bin: o.shoalBin, args: args, dir: nd, logPath: filepath.Join(dir, fmt.Sprintf("shoal-%d.log", i))})
	}
	return sc, nil
}

func (sc *shoalCluster) nodes() []*node { return sc.ns }

func (sc *shoalCluster) describe() string {
	d := "Shoal, 3 nodes, 3 groups of 3 Raft voters, "
	if sc.dataDir {
		d += "--data-dir per node"
	} else {
		d += "in memory (no --data-dir)"
	}
	if sc.extra != "" {
		d += ", extra flags " + sc.extra
	}
	return d
}

func (sc *shoalCluster) commands() []string {
	var out []string
	for _, n := range sc.ns {
		out = append(out, n.commandLine())
	}
	return out
}

// start launches the three nodes at once: each waits for the others over
// gossip before the cluster forms.
func (sc *shoalCluster) start(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(sc.ns))
	for i, n := range sc.ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.start(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// healthy: every node is up and reports cluster_state:ok; every node's
// CLUSTER SLOTS covers every slot and names the same master for each
// range; there is one master per node (each node leads one group again,
// as Shoal moves leadership back to a group's preferred node); and
// `shoal cluster check` exits 0.
func (sc *shoalCluster) healthy(ctx context.Context) error {
	var sig string
	for _, n := range sc.ns {
		if !n.running() {
			return fmt.Errorf("%s not running", n.name)
		}
		info, err := textOf(ctx, n.addr, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: %v", n.name, err)
		}
		if s := infoField(info, "cluster_state"); s != "ok" {
			return fmt.Errorf("%s: cluster_state:%s", n.name, s)
		}
		m, err := slotsOf(ctx, n.addr)
		if err != nil {
			return fmt.Errorf("%s: CLUSTER SLOTS: %v", n.name, err)
		}
		s, err := mastersSignature(m)
		if err != nil {
			return fmt.Errorf("%s: %v", n.name, err)
		}
		if sig == "" {
			sig = s
			distinct := map[string]bool{}
			for _, r := range m {
				distinct[r.Master] = true
			}
			if len(distinct) != len(sc.ns) {
				return fmt.Errorf("%d distinct masters, want %d (leadership not balanced yet)", len(distinct), len(sc.ns))
			}
		} else if s != sig {
			return fmt.Errorf("nodes disagree on CLUSTER SLOTS")
		}
	}
	if !sc.check {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, sc.bin, "cluster", "check", "--addr", sc.ns[0].addr, "--timeout", "2s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var bad []string
		for _, l := range lines {
			if strings.Contains(strings.ToLower(l), "fail") {
				bad = append(bad, strings.TrimSpace(l))
			}
		}
		return fmt.Errorf("shoal cluster check: %v: %s", err, strings.Join(bad, "; "))
	}
	return nil
}
