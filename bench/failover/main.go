// Command failover measures how long writes to a group stop after its
// master is killed, for Shoal and for Redis Cluster.
//
// It starts a local cluster of real server processes on free loopback
// ports in a temporary directory (-target shoal: 3 Shoal nodes; -target
// redis: Redis Cluster with 3 masters and 3 replicas) and then, -kills
// times:
//
//  1. picks a probe key (rotating over one key per initial master, chosen by
//     CLUSTER KEYSLOT so that each lands in a different master's slots) and
//     the node that CLUSTER SLOTS names as master of its slot;
//  2. starts a writer that sends SET key <counter> every -interval, each
//     request bounded by -timeout, following -MOVED at once and refreshing
//     the slot map with CLUSTER SLOTS from the first node that answers after
//     any other error (connection refused or closed, timeout, CLUSTERDOWN,
//     TRYAGAIN...); waits for -warmup consecutive acknowledged writes on
//     that master;
//  3. sends SIGKILL to the master and measures the window from the kill to
//     the acknowledgement of the first SET that was sent after it;
//  4. restarts the killed process with the same arguments (same ports, node
//     id, nodes.conf or data directory), waits until the cluster is fully
//     healthy again (see each target's healthy method) and every probe key
//     can be written on its master, then pauses -settle.
//
// Per-kill lines go to stderr; a markdown summary (median, p99, max, min
// of the windows, a per-kill table and the exact server commands) to
// stdout. -json and -row write the results as JSON and as one markdown
// table row for bench/failover.sh.
//
//	go run ./bench/failover -target shoal -shoal-bin bin/shoal
//	go run ./bench/failover -target redis -node-timeout 1000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

type options struct {
	target        string
	kills         int
	nodeTimeout   int
	shoalBin      string
	shoalDataDir  bool
	shoalArgs     string
	shoalCheck    bool
	redisServer   string
	redisCLI      string
	interval      time.Duration
	timeout       time.Duration
	warmup        int
	settle        time.Duration
	maxWindow     time.Duration
	healthTimeout time.Duration
	dir           string
	keep          bool
	jsonPath      string
	rowPath       string
	label         string
}

// killResult is one kill.
type killResult struct {
	N          int            `json:"n"`
	Key        string         `json:"key"`
	Slot       int            `json:"slot"`
	Killed     string         `json:"killed"` // node name
	KilledAddr string         `json:"killed_addr"`
	KilledAt   time.Time      `json:"killed_at"`
	NewMaster  string         `json:"new_master"`
	WindowMS   float64        `json:"window_ms"`
	Attempts   int            `json:"attempts_after_kill"`
	Failures   map[string]int `json:"errors_after_kill"`
	Refreshes  int            `json:"slot_map_refreshes"`
	HealthyS   float64        `json:"healthy_after_restart_s"`
	Load1      string         `json:"load1_at_kill"` // 1-minute load average
}

type summary struct {
	Label    string       `json:"label"`
	Target   string       `json:"target"`
	Config   string       `json:"config"`
	Planned  int          `json:"kills_planned"`
	Kills    []killResult `json:"kills"`
	MedianMS float64      `json:"median_ms"`
	P99MS    float64      `json:"p99_ms"`
	MaxMS    float64      `json:"max_ms"`
	MinMS    float64      `json:"min_ms"`
	MeanMS   float64      `json:"mean_ms"`
	Error    string       `json:"error,omitempty"`
	Commands []string     `json:"commands"`
	Keys     []string     `json:"probe_keys"`
	LoadAt   [2]string    `json:"loadavg_start_end"`
}

// loadAvg returns the first n fields of /proc/loadavg, or "unknown".
func loadAvg(n int) string {
	b, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if err != nil || len(f) < n {
		return "unknown"
	}
	return strings.Join(f[:n], " ")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[failover %s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func main() {
	o := &options{}
	flag.StringVar(&o.target, "target", "", "shoal or redis")
	flag.IntVar(&o.kills, "kills", 20, "number of master kills")
	flag.IntVar(&o.nodeTimeout, "node-timeout", 15000, "redis: cluster-node-timeout in ms")
	flag.StringVar(&o.shoalBin, "shoal-bin", "bin/shoal", "shoal: the shoal binary")
	flag.BoolVar(&o.shoalDataDir, "shoal-data-dir", true, "shoal: give every node a --data-dir (false: in memory)")
	flag.StringVar(&o.shoalArgs, "shoal-args", "", "shoal: extra server flags, space-separated")
	flag.BoolVar(&o.shoalCheck, "shoal-check", true, "shoal: also require `shoal cluster check` to pass before each kill")
	flag.StringVar(&o.redisServer, "redis-server", "redis-server", "redis: the redis-server binary")
	flag.StringVar(&o.redisCLI, "redis-cli", "redis-cli", "redis: the redis-cli binary")
	flag.DurationVar(&o.interval, "interval", 5*time.Millisecond, "time between the starts of two writes")
	flag.DurationVar(&o.timeout, "timeout", 200*time.Millisecond, "bound on each request (and dial) of the writer")
	flag.IntVar(&o.warmup, "warmup", 10, "consecutive acknowledged writes on the master before the kill")
	flag.DurationVar(&o.settle, "settle", time.Second, "pause after the cluster is healthy again, before the next kill")
	flag.DurationVar(&o.maxWindow, "max-window", 2*time.Minute, "give up if writes do not resume within this")
	flag.DurationVar(&o.healthTimeout, "health-timeout", 3*time.Minute, "give up if the cluster is not healthy within this")
	flag.StringVar(&o.dir, "dir", "", "working directory for logs and data (default: a new temporary directory)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (it is always kept after a failure)")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.rowPath, "row", "", "append one markdown summary row to this file")
	flag.StringVar(&o.label, "label", "", "name of this configuration in the summary (default: derived)")
	flag.Parse()
	os.Exit(run(o))
}

func run(o *options) int {
	if o.target != "shoal" && o.target != "redis" {
		fmt.Fprintln(os.Stderr, "failover: -target must be shoal or redis")
		return 2
	}
	if o.kills < 1 || o.interval <= 0 || o.timeout <= 0 {
		fmt.Fprintln(os.Stderr, "failover: -kills, -interval and -timeout must be positive")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir := o.dir
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "shoal-failover-"); err != nil {
			logf("%v", err)
			return 1
		}
	} else if err = os.MkdirAll(dir, 0o755); err != nil {
		logf("%v", err)
		return 1
	}
	if dir, err = filepath.Abs(dir); err != nil {
		logf("%v", err)
		return 1
	}
	pa := newPortAllocator()
	var c cluster
	if o.target == "shoal" {
		if o.shoalBin, err = filepath.Abs(o.shoalBin); err == nil {
			_, err = os.Stat(o.shoalBin)
		}
		if err == nil {
			c, err = newShoalCluster(o, pa, dir)
		}
	} else {
		c, err = newRedisCluster(o, pa, dir)
	}
	if err != nil {
		logf("setup: %v", err)
		return 1
	}
	s := &summary{Label: o.label, Target: o.target, Config: c.describe(), Planned: o.kills}
	if s.Label == "" {
		s.Label = defaultLabel(o)
	}
	logf("%s; working directory %s", s.Config, dir)
	defer func() {
		for _, n := range c.nodes() {
			n.kill()
		}
	}()

	s.LoadAt[0] = loadAvg(3)
	err = measure(ctx, o, c, s)
	s.LoadAt[1] = loadAvg(3)
	s.Commands = c.commands()
	for i, cmd := range s.Commands {
		s.Commands[i] = strings.ReplaceAll(cmd, dir, "$WORK")
	}
	if err != nil {
		s.Error = err.Error()
		logf("ERROR: %v", err)
	}
	s.stats()
	out := s.markdown(o)
	fmt.Print(out)
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(s, "", "  ")
		if werr := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); werr != nil {
			logf("%v", werr)
		}
	}
	if o.rowPath != "" {
		f, ferr := os.OpenFile(o.rowPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if ferr == nil {
			_, ferr = f.WriteString(s.row() + "\n")
			f.Close()
		}
		if ferr != nil {
			logf("%v", ferr)
		}
	}
	for _, n := range c.nodes() {
		n.kill()
	}
	if err != nil || o.keep {
		logf("logs kept in %s", dir)
	} else {
		os.RemoveAll(dir)
	}
	if err != nil {
		return 1
	}
	return 0
}

func defaultLabel(o *options) string {
	if o.target == "redis" {
		return fmt.Sprintf("Redis Cluster, cluster-node-timeout %d ms", o.nodeTimeout)
	}
	l := "Shoal, 3 nodes, --data-dir"
	if !o.shoalDataDir {
		l = "Shoal, 3 nodes, in memory"
	}
	if o.shoalArgs != "" {
		l += ", " + o.shoalArgs
	}
	return l
}

// measure starts the cluster and runs the kills, appending to s.Kills.
func measure(ctx context.Context, o *options, c cluster, s *summary) error {
	t0 := time.Now()
	if err := c.start(ctx); err != nil {
		return err
	}
	if err := waitHealthy(ctx, o, c, nil); err != nil {
		return fmt.Errorf("cluster did not become healthy: %v", err)
	}
	keys, err := probeKeys(ctx, c)
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, o, c, keys); err != nil {
		return fmt.Errorf("cluster did not become healthy: %v", err)
	}
	for _, k := range keys {
		s.Keys = append(s.Keys, fmt.Sprintf("%s (slot %d)", k.key, k.slot))
	}
	logf("cluster healthy after %.1fs; probe keys %s", time.Since(t0).Seconds(), strings.Join(s.Keys, ", "))
	time.Sleep(o.settle)
	for i := 0; i < o.kills; i++ {
		if err := waitHealthy(ctx, o, c, keys); err != nil {
			return fmt.Errorf("before kill %d: cluster not healthy: %v", i+1, err)
		}
		r, err := killOnce(ctx, o, c, i+1, keys[i%len(keys)])
		if r != nil {
			s.Kills = append(s.Kills, *r)
		}
		if err != nil {
			return fmt.Errorf("kill %d: %v", i+1, err)
		}
		time.Sleep(o.settle)
	}
	return nil
}

type probeKey struct {
	key  string
	slot int
}

// probeKeys picks, for each master of the current slot map (in slot order),
// a key whose slot lies in the middle of that master's first range.
func probeKeys(ctx context.Context, c cluster) ([]probeKey, error) {
	addr := c.nodes()[0].addr
	m, err := slotsOf(ctx, addr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []probeKey
	for _, r := range m {
		if seen[r.Master] {
			continue
		}
		seen[r.Master] = true
		lo, hi := r.Start+(r.End-r.Start)/4, r.End-(r.End-r.Start)/4
		found := false
		for i := 0; i < 100000 && !found; i++ {
			key := fmt.Sprintf("failover:{%d}", i)
			v, err := quickDo(ctx, addr, checkTimeout, "CLUSTER", "KEYSLOT", key)
			if err != nil {
				return nil, err
			}
			if sl := int(v.Int); sl >= lo && sl <= hi {
				out = append(out, probeKey{key, sl})
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("no probe key found for slots %d-%d", lo, hi)
		}
	}
	return out, nil
}

// waitHealthy polls c.healthy (and, with keys, a direct SET of each probe
// key on its master) until it passes or -health-timeout.
func waitHealthy(ctx context.Context, o *options, c cluster, keys []probeKey) error {
	deadline := time.Now().Add(o.healthTimeout)
	var last error
	for {
		last = c.healthy(ctx)
		if last == nil && keys != nil {
			last = writeProbes(ctx, c, keys)
		}
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeProbes writes every probe key on the master CLUSTER SLOTS names.
func writeProbes(ctx context.Context, c cluster, keys []probeKey) error {
	m, err := slotsOf(ctx, c.nodes()[0].addr)
	if err != nil {
		return err
	}
	for _, k := range keys {
		owner := ownerOf(m, k.slot)
		if _, err := quickDo(ctx, owner, checkTimeout, "SET", k.key, "healthy"); err != nil {
			return fmt.Errorf("SET %s on %s: %v", k.key, owner, err)
		}
	}
	return nil
}

// killOnce kills the master of k's slot and measures the write window,
// then restarts the node and waits for the cluster to be healthy.
func killOnce(ctx context.Context, o *options, c cluster, n int, k probeKey) (*killResult, error) {
	m, err := slotsOf(ctx, c.nodes()[0].addr)
	if err != nil {
		return nil, err
	}
	master := ownerOf(m, k.slot)
	var victim *node
	var seeds []string
	for _, nd := range c.nodes() {
		seeds = append(seeds, nd.addr)
		if nd.addr == master {
			victim = nd
		}
	}
	if victim == nil {
		return nil, fmt.Errorf("master %q of slot %d is none of the cluster's nodes", master, k.slot)
	}
	r := &killResult{N: n, Key: k.key, Slot: k.slot, Killed: victim.name, KilledAddr: victim.addr, Load1: loadAvg(1)}

	w := newWriter(k.key, k.slot, seeds, o.interval, o.timeout)
	wctx, wcancel := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		w.run(wctx)
	}()
	stopWriter := func() {
		wcancel()
		<-wdone
	}
	warm := time.Now().Add(10 * time.Second)
	for {
		streak, addr := w.state()
		if streak >= o.warmup && addr == victim.addr {
			break
		}
		if time.Now().After(warm) || ctx.Err() != nil {
			stopWriter()
			return nil, fmt.Errorf("writer not steady on %s before the kill (streak %d, last ack from %q)", victim.addr, streak, addr)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// The kill time is taken while the writer cannot record an ack, so no
	// ack of a write sent after the kill is missed.
	w.mu.Lock()
	r.KilledAt = victim.sigkill()
	w.killAt = r.KilledAt
	w.mu.Unlock()
	victim.reapKilled()

	timer := time.NewTimer(o.maxWindow)
	select {
	case <-w.recovered:
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	a, attempts, failures, refreshes := w.result()
	stopWriter()
	r.Attempts, r.Failures, r.Refreshes = attempts, failures, refreshes
	if a == nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("writes to %s did not resume within %v after killing %s (%s)", k.key, o.maxWindow, victim.name, failureText(failures))
	}
	r.NewMaster = nodeName(c, a.Addr)
	r.WindowMS = float64(a.Acked.Sub(r.KilledAt).Microseconds()) / 1000
	if a.Addr == victim.addr {
		return r, fmt.Errorf("the killed node %s acknowledged a write sent after the kill", victim.name)
	}

	t0 := time.Now()
	if err := victim.start(ctx); err != nil {
		return r, fmt.Errorf("restart: %v", err)
	}
	if err := waitHealthy(ctx, o, c, nil); err != nil {
		return r, fmt.Errorf("not healthy within %v after restarting %s: %v", o.healthTimeout, victim.name, err)
	}
	r.HealthyS = time.Since(t0).Seconds()
	logf("kill %d/%d: SIGKILL %s (%s, master of slot %d, key %s): writes back after %.1f ms on %s; "+
		"%d attempts after the kill (errors/redirects: %s; %d slot map refreshes); restarted, healthy after %.1f s",
		n, o.kills, victim.name, victim.addr, k.slot, k.key, r.WindowMS, r.NewMaster, r.Attempts,
		failureText(r.Failures), r.Refreshes, r.HealthyS)
	return r, nil
}

func nodeName(c cluster, addr string) string {
	for _, n := range c.nodes() {
		if n.addr == addr {
			return n.name
		}
	}
	return addr
}

// stats fills the summary figures from the kills. The median of an even
// count is the mean of the two middle windows; p99 is the nearest-rank
// 99th percentile (the ceil(0.99*n)-th smallest), which is the maximum
// for fewer than 100 kills.
func (s *summary) stats() {
	var w []float64
	for _, k := range s.Kills {
		w = append(w, k.WindowMS)
	}
	if len(w) == 0 {
		return
	}
	sort.Float64s(w)
	n := len(w)
	if n%2 == 1 {
		s.MedianMS = w[n/2]
	} else {
		s.MedianMS = (w[n/2-1] + w[n/2]) / 2
	}
	s.P99MS = w[int(math.Ceil(0.99*float64(n)))-1]
	s.MaxMS, s.MinMS = w[n-1], w[0]
	var sum float64
	for _, x := range w {
		sum += x
	}
	s.MeanMS = sum / float64(n)
}

func ms(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

// row is the configuration's line of the comparison table.
func (s *summary) row() string {
	if len(s.Kills) == 0 {
		return fmt.Sprintf("| %s | 0 of %d | n/a | n/a | n/a | n/a |", s.Label, s.Planned)
	}
	kills := fmt.Sprint(len(s.Kills))
	if len(s.Kills) != s.Planned || s.Error != "" {
		kills = fmt.Sprintf("%d of %d (failed)", len(s.Kills), s.Planned)
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s |", s.Label, kills, ms(s.MedianMS), ms(s.P99MS), ms(s.MaxMS), ms(s.MinMS))
}

func (s *summary) markdown(o *options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Failover: %s\n\n", s.Label)
	fmt.Fprintf(&b, "- target: %s\n", s.Config)
	fmt.Fprintf(&b, "- kills: %d of %d planned; probe keys (one per initial master, used in turn): %s\n",
		len(s.Kills), s.Planned, strings.Join(s.Keys, ", "))
	fmt.Fprintf(&b, "- writer: SET <probe key> <counter> every %v, %v timeout per request; -MOVED followed at once; "+
		"CLUSTER SLOTS from the first node that answers after any other error\n", o.interval, o.timeout)
	b.WriteString("- window: from the SIGKILL of the probe key's master to the acknowledgement of the first SET sent after it\n")
	fmt.Fprintf(&b, "- load average (1/5/15 min) at start: %s; at end: %s\n", s.LoadAt[0], s.LoadAt[1])
	if s.Error != "" {
		fmt.Fprintf(&b, "- **run failed**: %s\n", s.Error)
	}
	b.WriteString("\n| configuration | kills | median ms | p99 ms | max ms | min ms |\n|---|---:|---:|---:|---:|---:|\n")
	b.WriteString(s.row() + "\n\n")
	if len(s.Kills) > 0 && len(s.Kills) < 100 {
		fmt.Fprintf(&b, "p99 is the nearest-rank 99th percentile; with %d kills it is the maximum. Mean %s ms.\n\n", len(s.Kills), ms(s.MeanMS))
	}
	if len(s.Kills) > 0 {
		b.WriteString("| # | killed | probe key (slot) | writes resumed on | window ms | attempts after kill | errors and redirects after kill | healthy again after restart s | load 1 min |\n")
		b.WriteString("|---:|---|---|---|---:|---:|---|---:|---:|\n")
		for _, k := range s.Kills {
			fmt.Fprintf(&b, "| %d | %s | %s (%d) | %s | %s | %d | %s | %.1f | %s |\n", k.N, k.Killed, k.Key, k.Slot,
				k.NewMaster, ms(k.WindowMS), k.Attempts, failureText(k.Failures), k.HealthyS, k.Load1)
		}
		b.WriteString("\n")
	}
	b.WriteString("Server commands, in order (nodes are named " + nodeNames(len(s.Commands), s.Target) + "; `$WORK` is the run's temporary directory; a killed node is restarted with the same command):\n\n```sh\n")
	for _, c := range s.Commands {
		b.WriteString(c + "\n")
	}
	b.WriteString("```\n\n")
	return b.String()
}

func nodeNames(n int, target string) string {
	if target == "redis" {
		return "r0-r5 in this order; the last line forms the cluster"
	}
	return fmt.Sprintf("s0-s%d in this order", n-1)
}
