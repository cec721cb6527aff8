package testutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/proc"
	"github.com/shoalcache/shoal/internal/respclient"
)

// maxStartAttempts is how many sets of free ports are tried before giving
// up: another process may take a port between probing and binding.
const maxStartAttempts = 5

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// ShoalBinary returns the Shoal binary the process tests run: $SHOAL_BIN
// when set, else bin/shoal of the module, built once per test binary (as
// `make build` does; the build replaces bin/shoal atomically) so that tests
// never run a stale binary.
func ShoalBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("SHOAL_BIN"); p != "" {
			binPath = p
			return
		}
		root, err := moduleRoot()
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(root, "bin", "shoal")
		// Build next to it and rename: test binaries running in parallel
		// (go test ./...) may build at once, or run the old binary.
		tmp := fmt.Sprintf("%s.tmp%d", binPath, os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, "./cmd/shoal")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			binErr = fmt.Errorf("go build ./cmd/shoal: %v\n%s", err, out)
			return
		}
		binErr = os.Rename(tmp, binPath)
	})
	if binErr != nil {
		t.Fatalf("shoal binary: %v", binErr)
	}
	if st, err := os.Stat(binPath); err != nil || st.IsDir() {
		t.Fatalf("shoal binary not found at %s (SHOAL_BIN): %v", binPath, err)
	}
	return binPath
}

// moduleRoot returns the directory of the go.mod above the working
// directory (a test runs in its package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// ShoalNode is a `shoal server` process the test controls: it can be
// stopped, killed, paused and restarted on the same port, flags and
// working directory. Its output goes to t.Log, prefixed "shoal#N: " where
// N counts the starts of all nodes of the test binary.
type ShoalNode struct {
	Port int
	Addr string   // 127.0.0.1:Port
	Dir  string   // working directory, kept across restarts
	Args []string // flags after `server --port P --bind 127.0.0.1`

	t    testing.TB
	bin  string
	p    *proc.Process
	logw *LogWriter
}

var starts struct {
	sync.Mutex
	n int
}

// StartShoal starts `shoal server` with extra flags on a free port,
// retrying on another port when one was taken. It is stopped (SIGTERM, then
// SIGKILL after 5 s) when the test ends.
func StartShoal(t testing.TB, extra ...string) *ShoalNode {
	t.Helper()
	var err error
	for attempt := 0; attempt < maxStartAttempts; attempt++ {
		var n *ShoalNode
		if n, err = TryStartShoal(t, FreePort(t), extra...); err == nil {
			return n
		}
	}
	t.Fatalf("could not start shoal: %v", err)
	return nil
}

// TryStartShoal starts `shoal server` once on port and returns the error
// when it does not come up (the caller chose the port, and maybe others in
// extra, and must choose again).
func TryStartShoal(t testing.TB, port int, extra ...string) (*ShoalNode, error) {
	t.Helper()
	n := &ShoalNode{t: t, bin: ShoalBinary(t), Port: port, Addr: proc.LocalAddr(port),
		Dir: t.TempDir(), Args: extra}
	if err := n.start(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { n.Stop(5 * time.Second) })
	return n, nil
}

func (n *ShoalNode) start() error {
	starts.Lock()
	starts.n++
	idx := starts.n
	starts.Unlock()
	args := append([]string{"server", "--port", strconv.Itoa(n.Port), "--bind", "127.0.0.1"}, n.Args...)
	cmd := exec.Command(n.bin, args...)
	cmd.Dir = n.Dir
	n.logw = NewLogWriter(n.t, fmt.Sprintf("shoal#%d: ", idx))
	cmd.Stdout, cmd.Stderr = n.logw, n.logw
	cmd.WaitDelay = 2 * time.Second
	p, err := proc.Start(cmd, n.Addr, proc.StartTimeout)
	if err != nil {
		n.logw.Close()
		return fmt.Errorf("shoal on %s: %v (see shoal output above)", n.Addr, err)
	}
	n.p = p
	return nil
}

// Stop stops the process: SIGTERM, then SIGKILL after grace; a zero grace
// is SIGKILL. Stopping a stopped node does nothing.
func (n *ShoalNode) Stop(grace time.Duration) {
	if n.p == nil {
		return
	}
	if n.p.Stop(grace) {
		n.t.Logf("shoal on %s did not exit %v after SIGTERM; sent SIGKILL", n.Addr, grace)
	}
	n.logw.Close()
	n.p = nil
}

// WaitExit waits up to timeout for the process to exit on its own (after
// a SHUTDOWN command, say) and returns its exit error (nil for status 0);
// past the timeout it kills the process and fails the test.
func (n *ShoalNode) WaitExit(timeout time.Duration) error {
	n.t.Helper()
	if n.p == nil {
		return nil
	}
	select {
	case <-n.p.Done():
	case <-time.After(timeout):
		n.Kill()
		n.t.Fatalf("shoal on %s did not exit within %v", n.Addr, timeout)
	}
	err := n.p.Err()
	n.logw.Close()
	n.p = nil
	return err
}

// Kill stops the process with SIGKILL.
func (n *ShoalNode) Kill() { n.Stop(0) }

// Restart starts a stopped node again on the same port, flags and
// directory, retrying for a few seconds while the port lingers.
func (n *ShoalNode) Restart() {
	n.t.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = n.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.t.Fatalf("restart: %v", err)
}

// Running reports whether the node was started and not stopped since (it
// may be paused).
func (n *ShoalNode) Running() bool { return n.p != nil }

// Paused reports whether the node is running and paused.
func (n *ShoalNode) Paused() bool { return n.p != nil && n.p.Paused() }

// Pause stops the process with SIGSTOP.
func (n *ShoalNode) Pause() {
	n.t.Helper()
	if err := n.p.Pause(); err != nil {
		n.t.Fatalf("SIGSTOP %s: %v", n.Addr, err)
	}
}

// Resume continues a paused process with SIGCONT.
func (n *ShoalNode) Resume() {
	n.t.Helper()
	if err := n.p.Resume(); err != nil {
		n.t.Fatalf("SIGCONT %s: %v", n.Addr, err)
	}
}

// Pid returns the process id of the running process.
func (n *ShoalNode) Pid() int { return n.p.Pid() }

// ShoalCluster is a set of `shoal server` processes started with
// --bootstrap-expect.
type ShoalCluster struct {
	Nodes []*ShoalNode
	t     testing.TB
}

// StartShoalCluster starts n nodes in cluster mode on free ports (RESP,
// cluster and gossip port of each from FreePorts), all joining the first
// node's gossip port, with extra flags. It waits until every node reports
// cluster_state:ok (every slot is served) and, as at bootstrap, every node
// leads one group and all agree on CLUSTER SLOTS (WaitBalanced; with
// --groups other than n that wait fails: call StartShoalClusterOK). When a
// node cannot start, every node is stopped and the cluster starts again on
// new ports.
func StartShoalCluster(t testing.TB, n int, extra ...string) *ShoalCluster {
	t.Helper()
	c := StartShoalClusterOK(t, n, extra...)
	c.WaitBalanced(30 * time.Second)
	return c
}

// StartShoalClusterOK is StartShoalCluster without the wait for balanced
// leadership: it returns once every node reports cluster_state:ok.
func StartShoalClusterOK(t testing.TB, n int, extra ...string) *ShoalCluster {
	t.Helper()
	var err error
	for attempt := 0; attempt < maxStartAttempts; attempt++ {
		var c *ShoalCluster
		if c, err = tryStartCluster(t, n, extra...); err == nil {
			c.WaitOK(30 * time.Second)
			return c
		}
		t.Logf("cluster start attempt %d: %v; retrying on new ports", attempt+1, err)
	}
	t.Fatalf("could not start a %d-node cluster: %v", n, err)
	return nil
}

func tryStartCluster(t testing.TB, n int, extra ...string) (*ShoalCluster, error) {
	t.Helper()
	ports := FreePorts(t, 3*n)
	join := proc.LocalAddr(ports[2])
	c := &ShoalCluster{t: t, Nodes: make([]*ShoalNode, n)}
	errs := make([]error, n)
	ShoalBinary(t) // build before the goroutines
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		args := append([]string{
			"--bootstrap-expect", strconv.Itoa(n), "--join", join,
			"--cluster-port", strconv.Itoa(ports[3*i+1]), "--gossip-port", strconv.Itoa(ports[3*i+2]),
		}, extra...)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c.Nodes[i], errs[i] = TryStartShoal(t, ports[3*i], args...)
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, nd := range c.Nodes {
			if nd != nil {
				nd.Kill()
			}
		}
		return nil, err
	}
	return c, nil
}

// AddNode starts one more node that joins the running cluster (through
// the first node's gossip port) with the cluster's flags and extra, and
// appends it to Nodes. It returns once the node answers; it is in the map
// once the meta leader registered it.
func (c *ShoalCluster) AddNode(extra ...string) *ShoalNode {
	c.t.Helper()
	base := c.Nodes[0].Args
	var join string
	var kept []string // the cluster's own flags, without the per-node ports
	for i := 0; i < len(base); i++ {
		switch base[i] {
		case "--gossip-port":
			join = proc.LocalAddr(mustAtoi(c.t, base[i+1]))
			i++
		case "--cluster-port", "--join":
			i++
		default:
			kept = append(kept, base[i])
		}
	}
	var err error
	for attempt := 0; attempt < maxStartAttempts; attempt++ {
		ports := FreePorts(c.t, 3)
		args := append([]string{"--join", join,
			"--cluster-port", strconv.Itoa(ports[1]), "--gossip-port", strconv.Itoa(ports[2])}, kept...)
		var nd *ShoalNode
		if nd, err = TryStartShoal(c.t, ports[0], append(args, extra...)...); err == nil {
			c.Nodes = append(c.Nodes, nd)
			return nd
		}
	}
	c.t.Fatalf("could not add a node: %v", err)
	return nil
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// Addrs returns the RESP addresses of the nodes.
func (c *ShoalCluster) Addrs() []string {
	var out []string
	for _, nd := range c.Nodes {
		out = append(out, nd.Addr)
	}
	return out
}

// WaitOK waits until every running node says cluster_state:ok.
func (c *ShoalCluster) WaitOK(timeout time.Duration) {
	c.t.Helper()
	Eventually(c.t, timeout, "cluster_state:ok on every node", func() error {
		for _, nd := range c.Nodes {
			if !nd.Running() {
				continue
			}
			info, err := clusterInfo(nd.Addr)
			if err != nil {
				return err
			}
			if info["cluster_state"] != "ok" {
				return fmt.Errorf("%s: cluster_state:%s", nd.Addr, info["cluster_state"])
			}
		}
		return nil
	})
}

// WaitBalanced waits until leadership is spread as at bootstrap: with as
// many groups as nodes, every node leads one group and all nodes return
// the same CLUSTER SLOTS.
func (c *ShoalCluster) WaitBalanced(timeout time.Duration) {
	c.t.Helper()
	Eventually(c.t, timeout, "one group led by each node", func() error {
		var first string
		for _, nd := range c.Nodes {
			v, err := do(nd.Addr, "CLUSTER", "SLOTS")
			if err != nil {
				return err
			}
			masters := map[string]bool{}
			for _, r := range v.Array {
				if len(r.Array) < 3 || len(r.Array[2].Array) < 3 {
					return fmt.Errorf("%s: CLUSTER SLOTS entry %s", nd.Addr, r)
				}
				masters[r.Array[2].Array[2].Str] = true
			}
			if len(masters) != len(c.Nodes) {
				return fmt.Errorf("%s: %d distinct masters", nd.Addr, len(masters))
			}
			if first == "" {
				first = v.String()
			} else if v.String() != first {
				return errors.New("nodes disagree on CLUSTER SLOTS")
			}
		}
		return nil
	})
}

// do sends one command on a new connection.
func do(addr string, args ...any) (respclient.Value, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := respclient.Dial(ctx, addr, time.Second)
	if err != nil {
		return respclient.Value{}, err
	}
	defer c.Close()
	v, err := c.Do(ctx, args...)
	if err != nil {
		return v, fmt.Errorf("%s: %v: %w", addr, args, err)
	}
	return v, nil
}
