package integration

// TestJepsen is a Jepsen-style test of a Shoal cluster made of real node
// processes: concurrent clients run the register (linearizability, checked
// with porcupine; two thirds of its registers are hash fields, HSET/HGET,
// two per hash), set, counter (strings, hash fields with HINCRBY and sorted
// set members with ZINCRBY, in turn) and
// bank (MULTI/EXEC transfers between the fields of a hash, some under
// WATCH; every read sums to zero) workloads while a nemesis kills, pauses
// or partitions nodes, moves group leaderships or migrates slots between
// groups. Each nemesis is a phase with a fresh cluster; all workloads run
// in every phase, and every phase ends with the history checks and a check
// that every slot has an owner and every key lives in exactly one group.
//
// Environment:
//
//	SHOAL_JEPSEN_PROFILE   ci (default, about 7 minutes) or long (`make jepsen`)
//	SHOAL_JEPSEN_SEED      replay a run's schedule (node ids, fault choices and
//	                       timings, operation mix); printed at the start
//	SHOAL_JEPSEN_DURATION  total workload time over all phases (Go duration);
//	                       default 5m for ci, 12m for long
//	SHOAL_JEPSEN_NEMESES   comma-separated phases, e.g. kill,pause (default:
//	                       the profile's); none kill pause partition-halves
//	                       partition-leader partition-single partition-ring
//	                       transfer (leader transfers) migrate (slot
//	                       migrations between random groups) migrate-kill
//	                       migrate-pause (a migration, then its source or
//	                       target leader killed or stopped) replace (a node
//	                       drained with SHOAL REMOVE-NODE, restarted empty as a
//	                       new node, then a rebalance) restart (SIGTERM: a
//	                       graceful stop with leadership hand-off, then a
//	                       start) secure (kills, halves and transfers on a
//	                       cluster with mutual TLS on its cluster ports, a
//	                       cluster secret and a gossip key) pause-snapshot
//	                       (pause on nodes that compact their logs after 32 KB
//	                       and keep 4 KB of log after a snapshot: a paused
//	                       node catches up by a snapshot) mixed
//	SHOAL_JEPSEN_WORKLOADS comma-separated subset of register,set,counter,bank
//	SHOAL_JEPSEN_NODES     cluster size (default 5)
//	SHOAL_JEPSEN_NO_DATADIR=1  run nodes without --data-dir (a killed node
//	                       comes back empty)
//	SHOAL_JEPSEN_SERVER_ARGS   extra `shoal server` flags
//
// Partition nemeses need root (network namespaces and iptables); without it
// they fail the test. Every run writes integration/reports/<time>-<seed>/:
// seed.txt, summary.md, and per phase the history (history.jsonl.gz), the
// nemesis events, the node logs and, on a linearizability violation,
// porcupine's HTML visualisation.

import (
	"bufio"
	"compress/gzip"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// jConfig is a run's configuration.
type jConfig struct {
	profile    string
	seed       uint64
	total      time.Duration
	phase      time.Duration
	nemeses    []string
	workloads  []string
	nodes      int
	noDataDir  bool
	serverArgs []string
	// secureArgs are the TLS, secret and gossip-key flags of a secure
	// phase's nodes (set by runJepsenPhase; each node adds its --tls-port).
	secureArgs []string

	regWorkers, setWorkers, ctrWorkers, bankWorkers int
	regKeys, setKeys, ctrKeys                       int
	quiet, fault                                    [2]time.Duration
	checkTimeout                                    time.Duration
	recoverTimeout                                  time.Duration
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func jepsenConfig(t *testing.T) *jConfig {
	t.Helper()
	cfg := &jConfig{
		profile:    os.Getenv("SHOAL_JEPSEN_PROFILE"),
		workloads:  []string{"register", "set", "counter", "bank"},
		nodes:      5,
		regWorkers: 8, setWorkers: 4, ctrWorkers: 4, bankWorkers: 3,
		regKeys: 12, setKeys: 8, ctrKeys: 4,
		checkTimeout:   2 * time.Minute,
		recoverTimeout: 90 * time.Second,
	}
	switch cfg.profile {
	case "", "ci":
		cfg.profile = "ci"
		// 13 phases of 23 s (each phase ends with its checks, a few
		// seconds): the run stays at about 7 minutes.
		cfg.total = 5 * time.Minute
		cfg.checkTimeout = time.Minute
		cfg.nemeses = []string{"kill", "pause", "partition-halves", "partition-leader", "partition-single", "partition-ring",
			"transfer", "migrate", "migrate-kill", "replace", "restart", "secure", "pause-snapshot"}
		cfg.quiet = [2]time.Duration{2 * time.Second, 4 * time.Second}
		cfg.fault = [2]time.Duration{3 * time.Second, 6 * time.Second}
	case "long":
		cfg.total = 12 * time.Minute
		cfg.nemeses = []string{"none", "kill", "pause", "partition-halves", "partition-leader", "partition-single",
			"partition-ring", "transfer", "migrate", "migrate-kill", "migrate-pause", "replace", "restart", "secure", "pause-snapshot", "mixed"}
		cfg.quiet = [2]time.Duration{2 * time.Second, 8 * time.Second}
		cfg.fault = [2]time.Duration{3 * time.Second, 12 * time.Second}
	default:
		t.Fatalf("SHOAL_JEPSEN_PROFILE=%q: want ci or long", cfg.profile)
	}
	if s := os.Getenv("SHOAL_JEPSEN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SHOAL_JEPSEN_SEED=%q: %v", s, err)
		}
		cfg.seed = v
	} else {
		cfg.seed = uint64(time.Now().UnixNano()) % 1_000_000_000
	}
	if s := os.Getenv("SHOAL_JEPSEN_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SHOAL_JEPSEN_DURATION=%q: %v", s, err)
		}
		cfg.total = d
	}
	if s := os.Getenv("SHOAL_JEPSEN_NEMESES"); s != "" {
		cfg.nemeses = splitList(s)
	}
	if s := os.Getenv("SHOAL_JEPSEN_WORKLOADS"); s != "" {
		cfg.workloads = splitList(s)
		for _, w := range cfg.workloads {
			if w != "register" && w != "set" && w != "counter" && w != "bank" {
				t.Fatalf("SHOAL_JEPSEN_WORKLOADS: unknown workload %q", w)
			}
		}
	}
	if s := os.Getenv("SHOAL_JEPSEN_NODES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 3 {
			t.Fatalf("SHOAL_JEPSEN_NODES=%q: want a number >= 3", s)
		}
		cfg.nodes = n
	}
	cfg.noDataDir = os.Getenv("SHOAL_JEPSEN_NO_DATADIR") == "1"
	cfg.serverArgs = strings.Fields(os.Getenv("SHOAL_JEPSEN_SERVER_ARGS"))
	cfg.phase = cfg.total / time.Duration(max(1, len(cfg.nemeses)))
	if cfg.phase < 10*time.Second {
		cfg.phase = 10 * time.Second
	}
	return cfg
}

func TestJepsen(t *testing.T) {
	if testing.Short() {
		t.Skip("jepsen: skipped with -short")
	}
	cfg := jepsenConfig(t)
	nemeses := allNemeses()
	needNetns := false
	for _, name := range cfg.nemeses {
		nm, ok := nemeses[name]
		if !ok {
			t.Fatalf("SHOAL_JEPSEN_NEMESES: unknown nemesis %q", name)
		}
		needNetns = needNetns || nm.partition
	}
	stamp := time.Now().Format("20060102-150405")
	report, err := filepath.Abs(filepath.Join("reports", fmt.Sprintf("%s-%d", stamp, cfg.seed)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(report, 0o755); err != nil {
		t.Fatal(err)
	}
	replay := fmt.Sprintf("SHOAL_JEPSEN_SEED=%d SHOAL_JEPSEN_PROFILE=%s SHOAL_JEPSEN_DURATION=%v SHOAL_JEPSEN_NEMESES=%s "+
		"SHOAL_JEPSEN_WORKLOADS=%s go test ./integration -run TestJepsen -v -timeout 60m",
		cfg.seed, cfg.profile, cfg.total, strings.Join(cfg.nemeses, ","), strings.Join(cfg.workloads, ","))
	t.Logf("jepsen: profile %s, seed %d, %d nodes, %v per phase, phases %v, workloads %v",
		cfg.profile, cfg.seed, cfg.nodes, cfg.phase, cfg.nemeses, cfg.workloads)
	t.Logf("jepsen: replay with: %s", replay)
	t.Logf("jepsen: report directory %s", report)
	writeFile(t, filepath.Join(report, "seed.txt"), fmt.Sprintf("seed %d\nprofile %s\nreplay: %s\n", cfg.seed, cfg.profile, replay))

	var jn *jNet
	if needNetns {
		jn = setupNetns(t, cfg.nodes)
	} else {
		t.Logf("jepsen: no partition nemesis selected; nodes share 127.0.0.1")
	}

	var rows []jRow
	for i, name := range cfg.nemeses {
		nm := nemeses[name]
		dir := filepath.Join(report, fmt.Sprintf("%02d-%s", i, name))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var phaseRows []jRow
		t.Run(name, func(t *testing.T) {
			phaseRows = runJepsenPhase(t, cfg, jn, nm, i, dir)
		})
		if len(phaseRows) == 0 {
			for _, wl := range cfg.workloads {
				phaseRows = append(phaseRows, jRow{Nemesis: name, Workload: wl, Verdict: "ERROR (phase aborted)"})
			}
		}
		rows = append(rows, phaseRows...)
	}
	table := summaryTable(rows)
	var details strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&details, "- %s / %s: %s %s\n", r.Nemesis, r.Workload, r.Verdict, r.Detail)
	}
	writeFile(t, filepath.Join(report, "summary.md"), fmt.Sprintf("# Jepsen run, seed %d, profile %s\n\n%s\n%s\nreplay: %s\n",
		cfg.seed, cfg.profile, table, details.String(), replay))
	t.Logf("jepsen: summary (seed %d, report %s):\n%s\n%s", cfg.seed, report, table, details.String())
}

// runJepsenPhase runs every workload under one nemesis on a fresh cluster
// and checks the histories.
func runJepsenPhase(t *testing.T, cfg *jConfig, jn *jNet, nm *nemesis, idx int, dir string) []jRow {
	if nm.secure {
		cfg = secureConfig(t, cfg)
	}
	if len(nm.serverArgs) > 0 {
		c := *cfg
		c.serverArgs = append(slices.Clone(cfg.serverArgs), nm.serverArgs...)
		cfg = &c
	}
	c := startJCluster(t, cfg, jn, idx, dir)
	defer c.stopAll()
	if jn != nil {
		defer func() { _ = jn.heal() }()
	}
	nlog, err := os.Create(filepath.Join(dir, "nemesis.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer nlog.Close()
	var nlogMu sync.Mutex
	env := newJEnv(c.addrs(), cfg.seed, idx, cfg)
	logf := func(format string, args ...any) {
		nlogMu.Lock()
		defer nlogMu.Unlock()
		fmt.Fprintf(nlog, "%12.3fs %s\n", float64(env.now())/1e9, fmt.Sprintf(format, args...))
	}
	logf("cluster up: %v", c.addrs())

	stop := make(chan struct{})
	var events []jEvent
	nemDone := make(chan struct{})
	go func() {
		defer close(nemDone)
		rng := rand.New(rand.NewPCG(cfg.seed, uint64(idx)<<32|0xffff))
		events = runNemesis(c, nm, rng, env.now, stop, cfg.quiet, cfg.fault, logf)
	}()
	opsCh := make(chan []jOp, 1)
	go func() { opsCh <- runWorkloads(env, cfg, stop) }()
	time.Sleep(cfg.phase)
	close(stop)
	<-nemDone
	ops := <-opsCh
	logf("workloads stopped after %d operations", len(ops))

	// Heal everything (the nemesis healed its last fault already), then
	// wait for the cluster to recover and read the final state.
	if nm.heal != nil {
		if d, err := nm.heal(c); err != nil {
			t.Errorf("jepsen: final heal: %v", err)
		} else {
			logf("final heal: %s", d)
		}
	}
	recovered := time.Now()
	if err := c.waitHealthy(cfg.recoverTimeout, false, logf); err != nil {
		t.Errorf("jepsen: cluster did not recover within %v after healing: %v", cfg.recoverTimeout, err)
		if jn != nil {
			logf("iptables:\n%s", jn.ruleDump())
		}
	}
	logf("cluster healthy %v after healing", time.Since(recovered).Round(time.Millisecond))
	if nm.rebalances {
		if err := c.waitHealthy(cfg.recoverTimeout, true, logf); err != nil {
			t.Errorf("jepsen %s: cluster not balanced within %v: %v", nm.name, cfg.recoverTimeout, err)
		} else {
			logf("cluster balanced %v after healing", time.Since(recovered).Round(time.Millisecond))
		}
	}
	finals := finalReads(env, cfg, cfg.recoverTimeout)
	ops = append(ops, finals...)
	logf("final reads done")
	if err := c.checkKeyPlacement(cfg.recoverTimeout, logf); err != nil {
		t.Errorf("jepsen %s: key placement: %v (jobs: %s; seed %d, report %s)", nm.name, err, c.jobSummary(), cfg.seed, dir)
	} else {
		logf("key placement ok: every slot owned, no job active, every key in one group (jobs: %s)", c.jobSummary())
	}
	c.stopAll()

	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	writeHistory(t, filepath.Join(dir, "history.jsonl.gz"), ops, events)

	var rows []jRow
	for _, wl := range cfg.workloads {
		r := summarize(nm.name, wl, ops, len(events))
		switch wl {
		case "register":
			r.Verdict, r.Detail = checkRegister(ops, events, dir, cfg.checkTimeout)
		case "set":
			r.Verdict, r.Detail = checkSet(ops)
		case "counter":
			r.Verdict, r.Detail = checkCounter(ops)
		case "bank":
			r.Verdict, r.Detail = checkBank(ops)
		}
		t.Logf("jepsen %s / %s: %d ops, %d ok, %d failed, %d indeterminate: %s %s",
			nm.name, wl, r.Ops, r.OK, r.Fail, r.Info, r.Verdict, r.Detail)
		if r.Verdict != "ok" && r.Verdict != "unknown" {
			t.Errorf("jepsen %s / %s: %s: %s (seed %d, report %s)", nm.name, wl, r.Verdict, r.Detail, cfg.seed, dir)
		}
		if r.OK == 0 {
			t.Errorf("jepsen %s / %s: no operation was acknowledged", nm.name, wl)
		}
		rows = append(rows, r)
	}
	return rows
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Errorf("jepsen: write %s: %v", path, err)
	}
}

// writeHistory writes, gzipped, one JSON object per line: operations, then nemesis
// events (with "nemesis" set).
func writeHistory(t *testing.T, path string, ops []jOp, events []jEvent) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Errorf("jepsen: %v", err)
		return
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	w := bufio.NewWriter(gz)
	enc := json.NewEncoder(w)
	for _, op := range ops {
		_ = enc.Encode(op)
	}
	for _, ev := range events {
		_ = enc.Encode(struct {
			Nemesis jEvent `json:"nemesis"`
		}{ev})
	}
	if err := w.Flush(); err != nil {
		t.Errorf("jepsen: write history: %v", err)
	}
	if err := gz.Close(); err != nil {
		t.Errorf("jepsen: write history: %v", err)
	}
}

// TestJepsenRecheck runs the checkers again on a saved phase directory:
// SHOAL_JEPSEN_RECHECK=integration/reports/<run>/<phase>. Without it, it
// checks the report format itself: a small history written by
// writeHistory reads back unchanged, and the checkers give it the verdicts
// they gave the original.
func TestJepsenRecheck(t *testing.T) {
	dir := os.Getenv("SHOAL_JEPSEN_RECHECK")
	if dir == "" {
		const inf = math.MaxInt64
		ops := []jOp{
			{Workload: "register", Process: 0, Key: "a", F: "write", Value: "v1", OutNil: true, Type: "ok", Call: 0, Return: 10},
			{Workload: "register", Process: 1, Key: "a", F: "read", Out: "v1", Type: "ok", Call: 20, Return: 30},
			{Workload: "register", Process: 2, Key: "a", F: "write", Value: "v2", OutNil: true, Type: "info", Err: "i/o timeout", Call: 40, Return: inf},
			{Workload: "set", Key: "s", F: "add", Value: "t1", Type: "ok", Call: 0, Return: 10},
			{Workload: "set", Key: "s", F: "final-read", Out: "t1,", Type: "ok", Call: 100, Return: 110},
			{Workload: "counter", Key: "c", F: "incr", Out: "1", Type: "ok", Call: 0, Return: 10},
			{Workload: "counter", Key: "c", F: "final-read", Out: "1", Type: "ok", Call: 100, Return: 110},
			{Workload: "bank", Key: bankKey, F: "transfer", Value: "a0->a1 2", Type: "ok", Call: 0, Return: 10},
			{Workload: "bank", Key: bankKey, F: "final-read", Out: "a0=-2,a1=2", Type: "ok", Call: 100, Return: 110},
		}
		events := []jEvent{{Start: 5, End: 50, What: "SIGKILL one [n1]", Heal: "restarted [n1]"}}
		dir = t.TempDir()
		writeHistory(t, filepath.Join(dir, "history.jsonl.gz"), ops, events)
		gotOps, gotEvents := readHistory(t, dir)
		if !reflect.DeepEqual(gotOps, ops) || !reflect.DeepEqual(gotEvents, events) {
			t.Fatalf("history round trip:\n got %+v %+v\nwant %+v %+v", gotOps, gotEvents, ops, events)
		}
		for name, v := range recheck(t, dir, gotOps, gotEvents) {
			if v != "ok" {
				t.Errorf("%s: %s, want ok", name, v)
			}
		}
		if problems := recheckDir(t, dir); len(problems) != 0 {
			t.Errorf("recheck of a correct history failed: %q", problems)
		}
		// A lost acknowledged add read back from a report is still found,
		// and fails the recheck.
		ops[4].Out = ""
		writeHistory(t, filepath.Join(dir, "history.jsonl.gz"), ops, events)
		gotOps, gotEvents = readHistory(t, dir)
		if v := recheck(t, dir, gotOps, gotEvents)["set"]; v != "VIOLATION" {
			t.Errorf("set with a lost add: %s, want VIOLATION", v)
		}
		if problems := recheckDir(t, dir); len(problems) != 1 || !strings.HasPrefix(problems[0], "set: VIOLATION") {
			t.Errorf("recheck of a history with a lost add: problems %q, want one set VIOLATION", problems)
		}
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir)
	}
	for _, p := range recheckDir(t, dir) {
		t.Errorf("recheck %s: %s", dir, p)
	}
}

// recheckDir runs the checkers on the history in dir and returns what
// fails: as in TestJepsen, a verdict other than ok or unknown (porcupine
// gave up) for a workload the history holds, such as a linearizability
// VIOLATION or a lost acknowledged write.
func recheckDir(t *testing.T, dir string) []string {
	t.Helper()
	ops, events := readHistory(t, dir)
	held := map[string]bool{}
	for _, op := range ops {
		held[op.Workload] = true
	}
	verdicts := recheck(t, dir, ops, events)
	var problems []string
	for _, name := range []string{"register", "set", "counter", "bank"} {
		if v := verdicts[name]; held[name] && v != "ok" && v != "unknown" {
			problems = append(problems, name+": "+v+" (details logged above)")
		}
	}
	return problems
}

// readHistory reads dir/history.jsonl.gz as written by writeHistory.
func readHistory(t *testing.T, dir string) ([]jOp, []jEvent) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "history.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var ops []jOp
	var events []jEvent
	sc := bufio.NewScanner(gz)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var line struct {
			jOp
			Nemesis *jEvent `json:"nemesis"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if line.Nemesis != nil {
			events = append(events, *line.Nemesis)
		} else {
			ops = append(ops, line.jOp)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ops, events
}

// recheck runs the three checkers, logs their verdicts and returns them by
// workload.
func recheck(t *testing.T, dir string, ops []jOp, events []jEvent) map[string]string {
	t.Helper()
	out := make(map[string]string)
	v, d := checkRegister(ops, events, dir, 5*time.Minute)
	t.Logf("register: %s %s", v, d)
	out["register"] = v
	v, d = checkSet(ops)
	t.Logf("set: %s %s", v, d)
	out["set"] = v
	v, d = checkCounter(ops)
	t.Logf("counter: %s %s", v, d)
	out["counter"] = v
	v, d = checkBank(ops)
	t.Logf("bank: %s %s", v, d)
	out["bank"] = v
	return out
}

// secureConfig returns cfg for a secure phase: every node presents a
// certificate of a throw-away CA, checks its peers' against it on the
// cluster port (--tls-cluster yes), proves a cluster secret on every
// cluster connection and encrypts its gossip with a key. Clients still use
// the plain port.
func secureConfig(t *testing.T, cfg *jConfig) *jConfig {
	t.Helper()
	ca := testutil.NewTLSCA(t, "jepsen")
	f := ca.Issue(t, "node")
	var key [32]byte
	if _, err := crand.Read(key[:]); err != nil {
		t.Fatal(err)
	}
	c := *cfg
	c.secureArgs = []string{"--tls-cluster", "yes", "--tls-cert-file", f.Cert, "--tls-key-file", f.Key,
		"--tls-ca-cert-file", f.CA, "--cluster-secret", "jepsen-" + hex.EncodeToString(key[:8]),
		"--gossip-key", base64.StdEncoding.EncodeToString(key[:])}
	return &c
}
