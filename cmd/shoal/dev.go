package main

// `shoal dev`: a local cluster for development. It runs N children of this
// binary as `shoal server` on consecutive ports of 127.0.0.1, waits until
// every node reports cluster_state:ok, prints the nodes and how to connect,
// and stops the children on Ctrl-C.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/respclient"
)

const (
	// clusterPortOffset and gossipPortOffset are the defaults of `shoal
	// server` for --cluster-port and --gossip-port, relative to --port.
	clusterPortOffset = 10000
	gossipPortOffset  = 20000
	// devLogTail is how many log lines of a dead child are shown.
	devLogTail = 20
)

func devCommand() *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "run a local cluster of N nodes on 127.0.0.1 until Ctrl-C",
		Description: "Starts --nodes children `shoal server --port P+i --bind 127.0.0.1 --bootstrap-expect N\n" +
			"--join 127.0.0.1:P+20000`, waits for cluster_state:ok on every node and prints how to connect.\n" +
			"Child logs go to --data-dir/node<i>.log, or to a temporary directory, or with --console-logs\n" +
			"to this terminal prefixed with [node i].\n" +
			"With --config FILE, every node runs with --config FILE (the flags above override it), and FILE may set\n" +
			"the flags of shoal dev too (nodes 5); settings each node needs its own (id, cluster-port, gossip-port,\n" +
			"log-file) are refused in it and in the environment.",
		Flags: withEnvVars([]cli.Flag{
			configFlag(),
			&cli.IntFlag{Name: "nodes", Value: 3, Usage: "number of nodes"},
			&cli.IntFlag{Name: "port", Value: 7000, Usage: "RESP port of the first node; node i listens on port+i"},
			&cli.IntFlag{Name: "groups", Usage: "passed to each node's --groups", DefaultText: "the server's"},
			&cli.IntFlag{Name: "replicas", Usage: "passed to each node's --replicas", DefaultText: "the server's"},
			&cli.StringFlag{Name: "data-dir", Usage: "keep node i's data in DIR/node<i> and its log in DIR/node<i>.log; default: in memory"},
			&cli.StringFlag{Name: "log-level", Usage: "passed to each node's --log-level"},
			&cli.StringFlag{Name: "log-format", Usage: "passed to each node's --log-format"},
			&cli.IntFlag{Name: "gomaxprocs", Usage: "passed to each node's --gomaxprocs (0: not passed, Go's default in each node)", DefaultText: "this machine's CPUs divided among the nodes, at least 1"},
			&cli.IntFlag{Name: "metrics-port", Usage: "node i serves Prometheus metrics on 127.0.0.1:PORT+i (its --metrics-addr); 0 for none"},
			&cli.BoolFlag{Name: "console-logs", Usage: "write the nodes' logs to this terminal, each line prefixed with [node i]"},
			&cli.DurationFlag{Name: "wait", Value: 60 * time.Second, Usage: "how long to wait for cluster_state:ok on every node"},
			&cli.IntFlag{Name: "proxy-port", Usage: "node i also runs the proxy for clients that are not cluster-aware on 127.0.0.1:PORT+i (its --proxy-port); 0 for none"},
			&cli.BoolFlag{Name: "tls", Usage: "TLS only: a throw-away CA and certificate in a temporary directory, every node with --port 0 --tls-port PORT+i --tls-cluster yes (see tls.go)"},
			&cli.StringFlag{Name: "server-bin", Hidden: true, Usage: "binary to run as `server` (default: this one)"},
		}),
		Action: runDev,
	}
}

// devConfig is what `shoal dev` was asked to run.
type devConfig struct {
	Bin      string // the shoal binary
	Nodes    int
	Port     int // RESP port of node 0
	Groups   int // 0: not passed
	Replicas int // 0: not passed
	DataDir  string
	LogLevel string
	// LogFormat and ConfigFile (absolute) are passed to every node when set.
	LogFormat  string
	ConfigFile string
	// MetricsPort is node 0's metrics port (node i's is MetricsPort+i);
	// 0: no metrics.
	MetricsPort int
	// ProxyPort is node 0's proxy port (node i's is ProxyPort+i); 0: no
	// proxy.
	ProxyPort int
	// GoMaxProcs is passed to every node as --gomaxprocs when above 0.
	GoMaxProcs int
	// TLS is --tls's certificates (tls.go); nil without.
	TLS *devTLS
}

func (c devConfig) validate() error {
	switch {
	case c.Nodes < 1:
		return errors.New("--nodes must be at least 1")
	case c.Port < 1 || c.Port+c.Nodes-1+gossipPortOffset > 65535:
		return fmt.Errorf("--port %d with --nodes %d: ports up to %d+%d must fit below 65536",
			c.Port, c.Nodes, c.Port+c.Nodes-1, gossipPortOffset)
	case c.GoMaxProcs < 0:
		return errors.New("--gomaxprocs must be 0 or positive")
	case c.Groups < 0:
		return errors.New("--groups must be positive")
	case c.Replicas < 0:
		return errors.New("--replicas must be positive")
	case c.MetricsPort < 0 || c.MetricsPort > 0 && c.MetricsPort+c.Nodes-1 > 65535:
		return fmt.Errorf("--metrics-port %d with --nodes %d: ports up to %d must fit below 65536",
			c.MetricsPort, c.Nodes, c.MetricsPort+c.Nodes-1)
	case c.TLS != nil && c.ProxyPort > 0:
		return errors.New("--tls with --proxy-port: the proxy needs the nodes' plain ports, which --tls turns off")
	case c.ProxyPort < 0 || c.ProxyPort > 0 && c.ProxyPort+c.Nodes-1 > 65535:
		return fmt.Errorf("--proxy-port %d with --nodes %d: ports up to %d must fit below 65536",
			c.ProxyPort, c.Nodes, c.ProxyPort+c.Nodes-1)
	}
	return nil
}

// addr is node i's RESP address.
func (c devConfig) addr(i int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port+i))
}

// metricsAddr is node i's metrics address.
func (c devConfig) metricsAddr(i int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.MetricsPort+i))
}

// childArgs returns the arguments, after the binary, of node i (from 0).
// Every node joins node 0's gossip port, node 0 included: joining oneself is
// harmless and keeps the command lines uniform.
func (c devConfig) childArgs(i int) []string {
	args := []string{
		"server",
		"--port", strconv.Itoa(c.Port + i),
		"--bind", "127.0.0.1",
		"--bootstrap-expect", strconv.Itoa(c.Nodes),
		"--join", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port+gossipPortOffset)),
	}
	if c.Groups > 0 {
		args = append(args, "--groups", strconv.Itoa(c.Groups))
	}
	if c.Replicas > 0 {
		args = append(args, "--replicas", strconv.Itoa(c.Replicas))
	}
	if c.DataDir != "" {
		args = append(args, "--data-dir", filepath.Join(c.DataDir, "node"+strconv.Itoa(i)))
	}
	if c.LogLevel != "" {
		args = append(args, "--log-level", c.LogLevel)
	}
	if c.LogFormat != "" {
		args = append(args, "--log-format", c.LogFormat)
	}
	if c.ConfigFile != "" {
		args = append(args, "--config", c.ConfigFile)
	}
	if c.GoMaxProcs > 0 {
		args = append(args, "--gomaxprocs", strconv.Itoa(c.GoMaxProcs))
	}
	if c.MetricsPort > 0 {
		args = append(args, "--metrics-addr", c.metricsAddr(i))
	}
	if c.ProxyPort > 0 {
		args = append(args, "--proxy-port", strconv.Itoa(c.ProxyPort+i))
	}
	return c.TLS.childArgs(args, c.Port+i) // tls.go
}

// checkPorts fails early, with a readable message, when a port the nodes
// need is taken.
func (c devConfig) checkPorts() error {
	for i := 0; i < c.Nodes; i++ {
		for _, off := range []int{0, clusterPortOffset, gossipPortOffset} {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port+i+off))
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("port %d (node %d) is not free: %v; is another `shoal dev` or redis-server running? "+
					"choose another --port", c.Port+i+off, i, err)
			}
			ln.Close()
		}
		if c.MetricsPort > 0 {
			ln, err := net.Listen("tcp", c.metricsAddr(i))
			if err != nil {
				return fmt.Errorf("metrics port %d (node %d) is not free: %v; choose another --metrics-port", c.MetricsPort+i, i, err)
			}
			ln.Close()
		}
		if c.ProxyPort > 0 {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ProxyPort+i)))
			if err != nil {
				return fmt.Errorf("proxy port %d (node %d) is not free: %v; choose another --proxy-port", c.ProxyPort+i, i, err)
			}
			ln.Close()
		}
	}
	return nil
}

func devConfigFrom(cc *cli.Context) (devConfig, error) {
	cf, err := loadConfigFile(cc, serverCommand().Flags)
	if err != nil {
		return devConfig{}, err
	}
	if err := checkSharedSettings(cf); err != nil {
		return devConfig{}, err
	}
	c := devConfig{
		Bin:         cc.String("server-bin"),
		Nodes:       cc.Int("nodes"),
		Port:        cc.Int("port"),
		Groups:      cc.Int("groups"),
		Replicas:    cc.Int("replicas"),
		DataDir:     cc.String("data-dir"),
		LogLevel:    cc.String("log-level"),
		LogFormat:   cc.String("log-format"),
		ConfigFile:  cf.Path,
		MetricsPort: cc.Int("metrics-port"),
		ProxyPort:   cc.Int("proxy-port"),
	}
	if cc.IsSet("groups") && c.Groups == 0 || cc.IsSet("replicas") && c.Replicas == 0 {
		return c, errors.New("--groups and --replicas must be positive")
	}
	if c.GoMaxProcs = cc.Int("gomaxprocs"); !cc.IsSet("gomaxprocs") {
		c.GoMaxProcs = devGoMaxProcs(c.Nodes)
	}
	if c.Bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("cannot find the shoal binary to run: %w", err)
		}
		c.Bin = exe
	}
	if c.DataDir != "" {
		abs, err := filepath.Abs(c.DataDir)
		if err != nil {
			return c, err
		}
		c.DataDir = abs
	}
	if cc.Bool("tls") {
		if c.TLS, err = newDevTLS(c.DataDir); err != nil { // tls.go
			return c, err
		}
	}
	return c, c.validate()
}

// devGoMaxProcs is the default --gomaxprocs of n nodes that share this
// machine: its CPUs (as Go counts them for this process) divided among them,
// at least 1. Each node running as many threads as there are CPUs costs
// wake-ups between threads that fight over the same cores (BENCHMARKS.md).
func devGoMaxProcs(n int) int {
	return max(1, runtime.GOMAXPROCS(0)/max(1, n))
}

func runDev(cc *cli.Context) error {
	cfg, err := devConfigFrom(cc)
	defer cfg.TLS.cleanup() // tls.go
	if err != nil {
		return err
	}
	if err := cfg.checkPorts(); err != nil {
		return err
	}
	out := cc.App.Writer
	logDir := ""
	if !cc.Bool("console-logs") {
		if logDir, err = devLogDir(cfg.DataDir); err != nil {
			return err
		}
		fmt.Fprintf(out, "Node logs: %s/node<i>.log\n", logDir)
	}
	ctx, stop := signal.NotifyContext(cc.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	children := make([]*devChild, 0, cfg.Nodes)
	exited := make(chan *devChild, cfg.Nodes)
	defer func() { stopChildren(out, children) }()
	for i := 0; i < cfg.Nodes; i++ {
		ch, err := startChild(cfg, i, logDir, exited)
		if err != nil {
			return err
		}
		children = append(children, ch)
		fmt.Fprintf(out, "[node %d] %s (pid %d)\n", i, cfg.addr(i), ch.cmd.Process.Pid)
	}

	addrs := make([]string, cfg.Nodes)
	for i := range addrs {
		addrs[i] = cfg.addr(i)
	}
	fmt.Fprint(out, "Waiting for cluster_state:ok on every node")
	ready := make(chan error, 1)
	waitCtx, cancelWait := context.WithTimeout(ctx, cc.Duration("wait"))
	defer cancelWait()
	go func() { ready <- waitClusterOK(waitCtx, addrs, out, cfg.TLS.client()) }()
	select {
	case err := <-ready:
		fmt.Fprintln(out)
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted while waiting
			}
			return fmt.Errorf("the cluster did not become ready within %v: %w", cc.Duration("wait"), err)
		}
	case ch := <-exited:
		cancelWait()
		<-ready // it prints progress to out
		fmt.Fprintln(out)
		return ch.died(out)
	}
	settleCluster(ctx, out, addrs, devSettle, cfg.TLS.client())
	printDevCluster(ctx, out, cfg, addrs)

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nStopping the nodes...")
		return nil
	case ch := <-exited:
		return ch.died(out)
	}
}

// devLogDir returns the directory for the children's logs: dataDir when
// given, else a new temporary directory.
func devLogDir(dataDir string) (string, error) {
	if dataDir == "" {
		return os.MkdirTemp("", "shoal-dev-")
	}
	return dataDir, os.MkdirAll(dataDir, 0o750)
}

// devStopGrace is how long children get between SIGTERM and SIGKILL, and
// devSettle how long the nodes get to agree once all report
// cluster_state:ok (variables for tests).
var (
	devStopGrace = 5 * time.Second
	devSettle    = 10 * time.Second
)

// devChild is one running node.
type devChild struct {
	idx     int
	cmd     *exec.Cmd
	logPath string         // "" when logs go to the console
	done    chan struct{}  // closed when the process has exited
	err     error          // the exit status, once done
	logFile io.WriteCloser // closed after exit
}

func startChild(cfg devConfig, i int, logDir string, exited chan<- *devChild) (*devChild, error) {
	cmd := exec.Command(cfg.Bin, cfg.childArgs(i)...)
	ch := &devChild{idx: i, cmd: cmd, done: make(chan struct{})}
	if logDir != "" {
		ch.logPath = filepath.Join(logDir, "node"+strconv.Itoa(i)+".log")
		f, err := os.OpenFile(ch.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr, ch.logFile = f, f, f
	} else {
		w := newPrefixWriter(os.Stderr, fmt.Sprintf("[node %d] ", i))
		cmd.Stdout, cmd.Stderr, ch.logFile = w, w, w
	}
	// Own process group: Ctrl-C reaches only `shoal dev`, which then stops
	// the nodes in order instead of racing their exits.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		ch.logFile.Close()
		return nil, fmt.Errorf("start node %d (%s): %w", i, cfg.Bin, err)
	}
	go func() {
		ch.err = cmd.Wait()
		ch.logFile.Close()
		close(ch.done)
		exited <- ch
	}()
	return ch, nil
}

// died reports a node that exited on its own and returns the error that
// makes `shoal dev` exit non-zero.
func (ch *devChild) died(w io.Writer) error {
	status := "exited"
	if ch.err != nil {
		status = ch.err.Error()
	}
	fmt.Fprintf(w, "[node %d] stopped unexpectedly (%s)\n", ch.idx, status)
	if ch.logPath != "" {
		fmt.Fprintf(w, "[node %d] last lines of %s:\n", ch.idx, ch.logPath)
		for _, line := range tailLines(ch.logPath, devLogTail) {
			if len(line) > 300 {
				line = line[:300] + "..."
			}
			fmt.Fprintf(w, "[node %d]   %s\n", ch.idx, line)
		}
	}
	return fmt.Errorf("node %d stopped unexpectedly (%s); stopped the others", ch.idx, status)
}

// stopChildren sends SIGTERM to the nodes still running, waits up to
// devStopGrace and kills those left.
func stopChildren(w io.Writer, children []*devChild) {
	for _, ch := range children {
		select {
		case <-ch.done:
		default:
			_ = ch.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(devStopGrace)
	for _, ch := range children {
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-ch.done:
			timer.Stop()
			continue
		case <-timer.C:
		}
		fmt.Fprintf(w, "[node %d] did not stop within %v; killing it\n", ch.idx, devStopGrace)
		_ = ch.cmd.Process.Kill()
		<-ch.done
	}
}

// waitClusterOK polls CLUSTER INFO on every address until all say
// cluster_state:ok, printing a dot a second. It returns the last reason a
// node was not ready when ctx ends first.
func waitClusterOK(ctx context.Context, addrs []string, progress io.Writer, tlsCfg *tls.Config) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastDot := time.Now()
	for {
		why := ""
		for _, addr := range addrs {
			if err := nodeClusterOK(ctx, addr, tlsCfg); err != nil {
				why = err.Error()
				break
			}
		}
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New(why)
		case <-tick.C:
		}
		if time.Since(lastDot) >= time.Second {
			fmt.Fprint(progress, ".")
			lastDot = time.Now()
		}
	}
}

// nodeClusterOK returns nil when addr answers cluster_state:ok (over TLS
// with tlsCfg when not nil).
func nodeClusterOK(ctx context.Context, addr string, tlsCfg *tls.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := respclient.DialTLS(ctx, addr, time.Second, tlsCfg)
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	defer c.Close()
	v, err := c.Do(ctx, "CLUSTER", "INFO")
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	text, _ := v.Text()
	if st := infoValue(parseClusterInfo(text), "cluster_state"); st != "ok" {
		return fmt.Errorf("%s: cluster_state:%s", addr, st)
	}
	return nil
}

// settleCluster waits, up to limit, until the checks of `shoal cluster
// check` pass on addrs: cluster_state:ok alone can be reported while
// leaderships still move, and the table printed next should be the settled
// one. It warns when they do not pass in time.
func settleCluster(ctx context.Context, w io.Writer, addrs []string, limit time.Duration, tlsCfg *tls.Config) {
	o := adminOpts{timeout: 2 * time.Second, tls: tlsCfg}
	deadline := time.Now().Add(limit)
	for {
		views := make([]nodeView, len(addrs))
		for i, a := range addrs {
			views[i].Addr = a
			views[i].Slots, views[i].Info, views[i].Error = queryView(ctx, o, a)
		}
		var failed []string
		for _, r := range evaluateChecks(views) {
			if !r.OK {
				failed = append(failed, r.Name+": "+strings.Join(r.Details, "; "))
			}
		}
		if len(failed) == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			fmt.Fprintf(w, "Warning: the nodes do not agree yet (see `shoal cluster check`):\n  %s\n",
				strings.Join(failed, "\n  "))
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// printDevCluster prints the nodes as node 0 sees them and how to connect.
func printDevCluster(ctx context.Context, w io.Writer, cfg devConfig, addrs []string) {
	o := adminOpts{addr: addrs[0], timeout: 5 * time.Second, tls: cfg.TLS.client()}
	if text, err := queryText(ctx, o, addrs[0], "CLUSTER", "NODES"); err != nil {
		fmt.Fprintf(w, "(CLUSTER NODES failed: %v)\n", err)
	} else if nodes, err := parseClusterNodes(text); err != nil {
		fmt.Fprintf(w, "(CLUSTER NODES: %v)\n", err)
	} else {
		fmt.Fprintf(w, "Cluster ready: %d nodes, every slot served.\n\n", cfg.Nodes)
		renderNodes(w, nodes, true)
	}
	fmt.Fprint(w, devConnectHelp(cfg, addrs))
}

// devConnectHelp is the "how to connect" text.
func devConnectHelp(cfg devConfig, addrs []string) string {
	quoted := make([]string, len(addrs))
	for i, a := range addrs {
		quoted[i] = strconv.Quote(a)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nConnect:\n")
	if cfg.TLS != nil {
		b.WriteString(cfg.TLS.connectHelp(cfg.Port, addrs)) // tls.go
	} else {
		fmt.Fprintf(&b, "  redis-cli -c -p %d\n", cfg.Port)
	}
	if cfg.TLS == nil {
		fmt.Fprintf(&b, "  go-redis: redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{%s}})\n",
			strings.Join(quoted, ", "))
		fmt.Fprintf(&b, "  shoal cluster check --addr %s\n", addrs[0])
	}
	if cfg.ProxyPort > 0 {
		fmt.Fprintf(&b, "  redis-cli -p %d   (through the proxy: no -c needed)\n", cfg.ProxyPort)
	}
	if cfg.MetricsPort > 0 {
		fmt.Fprintf(&b, "\nMetrics: http://%s/metrics", cfg.metricsAddr(0))
		if cfg.Nodes > 1 {
			fmt.Fprintf(&b, " .. http://%s/metrics", cfg.metricsAddr(cfg.Nodes-1))
		}
		fmt.Fprintf(&b, "\n")
	}
	fmt.Fprintf(&b, "\nPress Ctrl-C to stop the cluster.\n")
	return b.String()
}

// tailLines returns the last n lines of the file at path.
func tailLines(path string, n int) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{"(" + err.Error() + ")"}
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// prefixWriter writes whole lines to w, each prefixed; writers sharing w
// share its lock (prefixMu) so lines of different nodes do not interleave.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    bytes.Buffer
}

var prefixMu sync.Mutex

func newPrefixWriter(w io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{w: w, prefix: prefix}
}

// Write buffers p and writes out every complete line.
func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf.Write(b)
	for {
		i := bytes.IndexByte(p.buf.Bytes(), '\n')
		if i < 0 {
			return len(b), nil
		}
		line := p.buf.Next(i + 1)
		prefixMu.Lock()
		_, err := io.WriteString(p.w, p.prefix+string(line))
		prefixMu.Unlock()
		if err != nil {
			return len(b), err
		}
	}
}

// Close writes out a last, unterminated line.
func (p *prefixWriter) Close() error {
	if p.buf.Len() == 0 {
		return nil
	}
	prefixMu.Lock()
	defer prefixMu.Unlock()
	_, err := io.WriteString(p.w, p.prefix+p.buf.String()+"\n")
	p.buf.Reset()
	return err
}
