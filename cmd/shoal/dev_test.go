package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// TestMain lets the test binary stand in for `shoal server` in the
// lifecycle tests of `shoal dev` (see fakeNode).
func TestMain(m *testing.M) {
	if os.Getenv("SHOAL_DEV_FAKE_NODE") == "1" {
		fakeNode(os.Args[1:])
		return
	}
	os.Exit(m.Run())
}

func TestDevChildArgs(t *testing.T) {
	cfg := devConfig{Bin: "/bin/shoal", Nodes: 3, Port: 7000}
	for i, want := range []string{
		"server --port 7000 --bind 127.0.0.1 --bootstrap-expect 3 --join 127.0.0.1:27000",
		"server --port 7001 --bind 127.0.0.1 --bootstrap-expect 3 --join 127.0.0.1:27000",
		"server --port 7002 --bind 127.0.0.1 --bootstrap-expect 3 --join 127.0.0.1:27000",
	} {
		if got := strings.Join(cfg.childArgs(i), " "); got != want {
			t.Errorf("node %d: %q, want %q", i, got, want)
		}
	}
	cfg = devConfig{Nodes: 5, Port: 9100, Groups: 16, Replicas: 3, DataDir: "/var/shoal", LogLevel: "debug"}
	want := "server --port 9104 --bind 127.0.0.1 --bootstrap-expect 5 --join 127.0.0.1:29100 " +
		"--groups 16 --replicas 3 --data-dir /var/shoal/node4 --log-level debug"
	if got := strings.Join(cfg.childArgs(4), " "); got != want {
		t.Errorf("node 4: %q, want %q", got, want)
	}
}

// parseDevFlags runs the flag parsing of `shoal dev` on args and returns the
// resulting configuration.
func parseDevFlags(t *testing.T, args ...string) (devConfig, error) {
	t.Helper()
	var cfg devConfig
	var cfgErr error
	cmd := devCommand()
	cmd.Action = func(cc *cli.Context) error {
		cfg, cfgErr = devConfigFrom(cc)
		return nil
	}
	app := &cli.App{Name: "shoal", Commands: []*cli.Command{cmd}, Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
	if err := app.Run(append([]string{"shoal", "dev"}, args...)); err != nil {
		return cfg, err
	}
	return cfg, cfgErr
}

func TestDevFlags(t *testing.T) {
	cfg, err := parseDevFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if cfg.Nodes != 3 || cfg.Port != 7000 || cfg.Groups != 0 || cfg.Replicas != 0 || cfg.DataDir != "" || cfg.Bin != exe {
		t.Errorf("defaults: %+v", cfg)
	}
	// What `make run` runs: three nodes sharing this machine's CPUs.
	procs := max(1, runtime.GOMAXPROCS(0)/3)
	if got, want := strings.Join(cfg.childArgs(0), " "), "server --port 7000 --bind 127.0.0.1 --bootstrap-expect 3 --join 127.0.0.1:27000 --gomaxprocs "+strconv.Itoa(procs); got != want {
		t.Errorf("make run's node 0: %q, want %q", got, want)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--nodes", "1"}, runtime.GOMAXPROCS(0)},
		{[]string{"--nodes", strconv.Itoa(4 * runtime.GOMAXPROCS(0))}, 1},
		{[]string{"--gomaxprocs", "3"}, 3},
		{[]string{"--gomaxprocs", "0"}, 0},
	} {
		cfg, err := parseDevFlags(t, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.GoMaxProcs != tc.want {
			t.Errorf("%q: GoMaxProcs %d, want %d", tc.args, cfg.GoMaxProcs, tc.want)
		}
		if passed := strings.Contains(strings.Join(cfg.childArgs(0), " "), "--gomaxprocs"); passed != (tc.want > 0) {
			t.Errorf("%q: --gomaxprocs passed: %v", tc.args, passed)
		}
	}

	cfg, err = parseDevFlags(t, "--nodes", "4", "--port", "8000", "--groups", "8", "--replicas", "2", "--data-dir", "rel/dir")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if cfg.Nodes != 4 || cfg.Port != 8000 || cfg.Groups != 8 || cfg.Replicas != 2 || cfg.DataDir != filepath.Join(wd, "rel/dir") {
		t.Errorf("flags: %+v", cfg)
	}

	for _, args := range [][]string{
		{"--nodes", "0"}, {"--port", "0"}, {"--port", "45000", "--nodes", "600"}, {"--groups", "0"},
		{"--replicas", "-1"}, {"--gomaxprocs", "-1"},
	} {
		if _, err := parseDevFlags(t, args...); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestDevConnectHelp(t *testing.T) {
	cfg := devConfig{Nodes: 2, Port: 7000}
	got := devConnectHelp(cfg, []string{cfg.addr(0), cfg.addr(1)})
	for _, want := range []string{
		"redis-cli -c -p 7000\n",
		`redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001"}})`,
		"shoal cluster check --addr 127.0.0.1:7000\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("help lacks %q:\n%s", want, got)
		}
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	w := newPrefixWriter(&b, "[node 1] ")
	for _, s := range []string{"one\ntw", "o\n", "", "three\nfour"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	w.Close()
	if want := "[node 1] one\n[node 1] two\n[node 1] three\n[node 1] four\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestTailLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o644)
	if got := strings.Join(tailLines(path, 2), ","); got != "c,d" {
		t.Errorf("tail = %q", got)
	}
	if got := strings.Join(tailLines(path, 10), ","); got != "a,b,c,d" {
		t.Errorf("tail = %q", got)
	}
}

func TestDevCheckPorts(t *testing.T) {
	port := testutil.FreePortWithOffsets(t, 20000)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+20000)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = devConfig{Nodes: 1, Port: port}.checkPorts()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d (node 0) is not free", port+20000)) {
		t.Errorf("checkPorts with a busy gossip port: %v", err)
	}
}

// ---- lifecycle, with the test binary as fake nodes ----

// fakeNode pretends to be `shoal server` in cluster mode: it logs its
// arguments, answers CLUSTER INFO with cluster_state:ok, CLUSTER NODES
// with its own line and CLUSTER SLOTS with one range, and exits on SIGTERM. With SHOAL_DEV_FAKE_DIE=<port>
// the node on that port exits with status 3 after a moment instead; with
// SHOAL_DEV_FAKE_STUBBORN=1 it ignores SIGTERM. It exits when its parent
// does.
func fakeNode(args []string) {
	fmt.Fprintln(os.Stderr, "fake node:", strings.Join(args, " "))
	// Every node names node 0 (whose gossip port all join) master of every
	// slot, unless SHOAL_DEV_FAKE_DISAGREE=1: then each names itself.
	port, master := "", ""
	for i, a := range args {
		if i+1 < len(args) {
			switch a {
			case "--port":
				port = args[i+1]
			case "--join":
				_, gossip, _ := net.SplitHostPort(args[i+1])
				n, _ := strconv.Atoi(gossip)
				master = strconv.Itoa(n - gossipPortOffset)
			}
		}
	}
	if os.Getenv("SHOAL_DEV_FAKE_DISAGREE") == "1" {
		master = port
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake node:", err)
		os.Exit(2)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go fakeServe(c, port, master)
		}
	}()
	// Never outlive the test: exit when the parent (shoal dev, in the test
	// process) is gone.
	parent := os.Getppid()
	go func() {
		for range time.Tick(100 * time.Millisecond) {
			if os.Getppid() != parent {
				os.Exit(4)
			}
		}
	}()
	var die <-chan time.Time
	if os.Getenv("SHOAL_DEV_FAKE_DIE") == port {
		die = time.After(300 * time.Millisecond)
	}
	for {
		select {
		case <-sigs:
			if os.Getenv("SHOAL_DEV_FAKE_STUBBORN") == "1" {
				fmt.Fprintln(os.Stderr, "fake node: ignoring SIGTERM")
				continue
			}
			fmt.Fprintln(os.Stderr, "fake node: SIGTERM, bye")
			os.Exit(0)
		case <-die:
			fmt.Fprintln(os.Stderr, "fake node: fatal: boom")
			os.Exit(3)
		}
	}
}

func fakeServe(c net.Conn, port, master string) {
	defer c.Close()
	r := bufio.NewReader(c)
	p, _ := strconv.Atoi(port)
	m, _ := strconv.Atoi(master)
	for {
		v, err := respclient.Read(r)
		if err != nil {
			return
		}
		var words []string
		for _, e := range v.Array {
			words = append(words, strings.ToUpper(e.Str))
		}
		var text string
		switch strings.Join(words, " ") {
		case "CLUSTER INFO":
			text = "cluster_state:ok\r\ncluster_current_epoch:1\r\n"
		case "CLUSTER NODES":
			text = fmt.Sprintf("%s 127.0.0.1:%d@%d myself,master - 0 0 1 connected 0-16383\n", fakeID(p), p, p+10000)
		case "CLUSTER SLOTS":
			fmt.Fprintf(c, "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$40\r\n%s\r\n", m, fakeID(m))
			continue
		default:
			c.Write([]byte("-ERR fake node\r\n"))
			continue
		}
		fmt.Fprintf(c, "$%d\r\n%s\r\n", len(text), text)
	}
}

// fakeID is the node id of the fake node on port: the port, padded.
func fakeID(port int) string {
	id := strconv.Itoa(port)
	return id + strings.Repeat("0", 40-len(id))
}

// fakeDev is `shoal dev` running fake nodes in the background.
type fakeDev struct {
	port int
	dir  string
	out  *testutil.LockedBuffer
	done chan struct{} // closed when the command has returned
	err  error         // its error, once done
	stop context.CancelFunc
}

// wait returns the command's error once it has returned.
func (d *fakeDev) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-d.done:
		return d.err
	case <-time.After(20 * time.Second):
		t.Fatalf("shoal dev did not return:\n%s", d.out.String())
		return nil
	}
}

// startFakeDev runs `shoal dev --nodes n` with the test binary as the
// nodes; the node numbered die (if not -1) exits on its own. Cancelling
// d.stop is what Ctrl-C does.
func startFakeDev(t *testing.T, nodes, die int) *fakeDev {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	offs := []int{clusterPortOffset, gossipPortOffset}
	for i := 1; i < nodes; i++ {
		offs = append(offs, i, i+clusterPortOffset, i+gossipPortOffset)
	}
	d := &fakeDev{port: testutil.FreePortWithOffsets(t, offs...), dir: t.TempDir(), out: &testutil.LockedBuffer{}, done: make(chan struct{})}
	t.Setenv("SHOAL_DEV_FAKE_NODE", "1")
	if die >= 0 {
		t.Setenv("SHOAL_DEV_FAKE_DIE", strconv.Itoa(d.port+die))
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	app := &cli.App{Name: "shoal", Commands: []*cli.Command{devCommand()}, Writer: d.out, ErrWriter: d.out}
	args := []string{"shoal", "dev", "--nodes", strconv.Itoa(nodes), "--port", strconv.Itoa(d.port),
		"--data-dir", d.dir, "--server-bin", exe, "--wait", "20s"}
	go func() {
		d.err = app.RunContext(ctx, args)
		close(d.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			t.Error("shoal dev did not return after its context was cancelled")
		}
	})
	return d
}

func waitOutput(t *testing.T, d *fakeDev, want string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, fmt.Sprintf("shoal dev prints %q", want), func() error {
		if strings.Contains(d.out.String(), want) {
			return nil
		}
		select {
		case <-d.done:
			t.Fatalf("shoal dev returned %v before printing %q:\n%s", d.err, want, d.out.String())
		default:
		}
		return fmt.Errorf("output so far:\n%s", d.out.String())
	})
}

func portClosed(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// TestDevLifecycle starts `shoal dev` on fake nodes, waits for it to report
// the cluster ready, interrupts it and checks that every node was stopped
// and that the command succeeded.
func TestDevLifecycle(t *testing.T) {
	d := startFakeDev(t, 3, -1)
	waitOutput(t, d, "Press Ctrl-C")
	for _, want := range []string{
		"Node logs: " + d.dir + "/node<i>.log",
		"Cluster ready: 3 nodes",
		fmt.Sprintf("%s  127.0.0.1:%d  master (myself)  0-16383 (16384)  connected", fakeID(d.port), d.port),
		fmt.Sprintf("redis-cli -c -p %d", d.port),
	} {
		if !strings.Contains(d.out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, d.out.String())
		}
	}
	for i := 0; i < 3; i++ {
		log, _ := os.ReadFile(filepath.Join(d.dir, fmt.Sprintf("node%d.log", i)))
		want := fmt.Sprintf("fake node: server --port %d --bind 127.0.0.1 --bootstrap-expect 3 --join 127.0.0.1:%d --data-dir %s",
			d.port+i, d.port+gossipPortOffset, filepath.Join(d.dir, fmt.Sprintf("node%d", i)))
		if !strings.Contains(string(log), want) {
			t.Errorf("node%d.log lacks %q:\n%s", i, want, log)
		}
	}
	d.stop()
	if err := d.wait(t); err != nil {
		t.Fatalf("shoal dev after an interrupt: %v\n%s", err, d.out.String())
	}
	for i := 0; i < 3; i++ {
		if !portClosed(d.port + i) {
			t.Errorf("node %d still listens after shoal dev returned", i)
		}
		log, _ := os.ReadFile(filepath.Join(d.dir, fmt.Sprintf("node%d.log", i)))
		if !strings.Contains(string(log), "SIGTERM, bye") {
			t.Errorf("node %d was not stopped with SIGTERM:\n%s", i, log)
		}
	}
}

// TestDevChildDies checks that a node that exits on its own is reported,
// with its last log lines, and that everything is stopped with an error.
func TestDevChildDies(t *testing.T) {
	d := startFakeDev(t, 3, 1)
	err := d.wait(t)
	if err == nil || !strings.Contains(err.Error(), "node 1 stopped unexpectedly (exit status 3)") {
		t.Fatalf("error %v\n%s", err, d.out.String())
	}
	if !strings.Contains(d.out.String(), "[node 1]   fake node: fatal: boom") {
		t.Errorf("output lacks the dead node's log:\n%s", d.out.String())
	}
	for i := 0; i < 3; i++ {
		if !portClosed(d.port + i) {
			t.Errorf("node %d still listens", i)
		}
	}
}

// TestDevKillsStubbornNodes checks the SIGKILL after the grace period.
func TestDevKillsStubbornNodes(t *testing.T) {
	old := devStopGrace
	devStopGrace = 200 * time.Millisecond
	defer func() { devStopGrace = old }()
	t.Setenv("SHOAL_DEV_FAKE_STUBBORN", "1")
	d := startFakeDev(t, 2, -1)
	waitOutput(t, d, "Press Ctrl-C")
	d.stop()
	if err := d.wait(t); err != nil {
		t.Fatalf("shoal dev: %v", err)
	}
	if !strings.Contains(d.out.String(), "[node 0] did not stop within 200ms; killing it") {
		t.Errorf("output:\n%s", d.out.String())
	}
	for i := 0; i < 2; i++ {
		if !portClosed(d.port + i) {
			t.Errorf("node %d still listens", i)
		}
	}
}

// TestDevWarnsWhenNodesDisagree checks that `shoal dev` still starts, with
// a warning, when the nodes report cluster_state:ok but name different
// masters.
func TestDevWarnsWhenNodesDisagree(t *testing.T) {
	old := devSettle
	devSettle = 300 * time.Millisecond
	defer func() { devSettle = old }()
	t.Setenv("SHOAL_DEV_FAKE_DISAGREE", "1")
	d := startFakeDev(t, 2, -1)
	waitOutput(t, d, "Press Ctrl-C")
	want := fmt.Sprintf("Warning: the nodes do not agree yet (see `shoal cluster check`):\n"+
		"  one master per slot, the same on every node: slots 0-16383: 127.0.0.1:%d says %s, 127.0.0.1:%d says %s\n",
		d.port, shortID(fakeID(d.port)), d.port+1, shortID(fakeID(d.port+1)))
	if !strings.Contains(d.out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, d.out.String())
	}
}
