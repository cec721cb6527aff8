package integration

// Kernel-level network partitions for the Jepsen harness: one network
// namespace per node, a bridge in a "switch" namespace, and one veth end in
// the root namespace for the test's clients. A node is cut off with iptables
// rules inside its own namespace (loopback iptables cannot partition
// processes on 127.0.0.x; see ../../shared/notes/reference.md section 7).
//
// Names carry the test process's pid (shoal-j<pid>-n0, shoal-j<pid>-sw,
// root link shj<pid>), so a later run removes what a crashed run left behind
// without touching a concurrent run's namespaces.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// jNet is the namespaces and links of one run.
type jNet struct {
	run      string   // "j<pid>"
	nodeNS   []string // one namespace per node
	switchNS string
	rootLink string   // veth end in the root namespace
	subnet   string   // "10.77.K"
	nodeIPs  []string // 10.77.K.(i+1)
	clientIP string   // 10.77.K.100, on rootLink
}

// netnsAvailable reports why kernel partitions cannot be made here, or "".
func netnsAvailable() string {
	if os.Geteuid() != 0 {
		return "not running as root (network namespaces and iptables need root; CI runs as root)"
	}
	for _, tool := range []string{"ip", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("%s not found in PATH (apt-get install iproute2 iptables)", tool)
		}
	}
	return ""
}

// runCmd runs a command and returns its combined output with the error.
func runCmd(stdin string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

var staleNS = regexp.MustCompile(`^shoal-j(\d+)-`)
var staleLink = regexp.MustCompile(`^shj(\d+)\b`)

// pidAlive reports whether a process with pid exists.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// cleanStaleNetns removes namespaces and root links of earlier runs whose
// test process is gone, killing any Shoal processes left inside them.
func cleanStaleNetns(t *testing.T) {
	out, err := runCmd("", "ip", "netns", "list")
	if err != nil {
		t.Logf("jepsen: listing namespaces: %v", err)
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := staleNS.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		killNetnsPids(f[0])
		if _, err := runCmd("", "ip", "netns", "del", f[0]); err != nil {
			t.Logf("jepsen: removing stale namespace: %v", err)
		} else {
			t.Logf("jepsen: removed stale namespace %s", f[0])
		}
	}
	out, err = runCmd("", "ip", "-o", "link", "show")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimSuffix(f[1], ":")
		if i := strings.Index(name, "@"); i >= 0 {
			name = name[:i]
		}
		m := staleLink.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		if _, err := runCmd("", "ip", "link", "del", name); err == nil {
			t.Logf("jepsen: removed stale link %s", name)
		}
	}
}

// killNetnsPids SIGKILLs every process in namespace ns.
func killNetnsPids(ns string) {
	out, _ := runCmd("", "ip", "netns", "pids", ns)
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// pickSubnet returns a 10.77.K prefix that no address or route of the root
// namespace uses.
func pickSubnet() (string, error) {
	addrs, _ := runCmd("", "ip", "-4", "addr", "show")
	routes, _ := runCmd("", "ip", "-4", "route", "show", "table", "all")
	used := addrs + "\n" + routes
	base := os.Getpid() % 200
	for i := 0; i < 200; i++ {
		k := 20 + (base+i)%200
		p := fmt.Sprintf("10.77.%d", k)
		if !strings.Contains(used, p+".") {
			return p, nil
		}
	}
	return "", fmt.Errorf("no free 10.77.K.0/24 subnet")
}

// setupNetns creates the namespaces for n nodes. Everything is removed in
// t.Cleanup, also when the test fails.
func setupNetns(t *testing.T, n int) *jNet {
	t.Helper()
	if why := netnsAvailable(); why != "" {
		t.Fatalf("jepsen: partition nemeses need network namespaces, but %s. "+
			"Run as root, or restrict the nemeses with SHOAL_JEPSEN_NEMESES=none,kill,pause", why)
	}
	cleanStaleNetns(t)
	subnet, err := pickSubnet()
	if err != nil {
		t.Fatalf("jepsen: %v", err)
	}
	run := fmt.Sprintf("j%d", os.Getpid())
	jn := &jNet{
		run:      run,
		switchNS: "shoal-" + run + "-sw",
		rootLink: "sh" + run,
		subnet:   subnet,
		clientIP: subnet + ".100",
	}
	t.Cleanup(func() { jn.teardown(t) })
	steps := [][]string{
		{"ip", "netns", "add", jn.switchNS},
		{"ip", "-n", jn.switchNS, "link", "set", "lo", "up"},
		{"ip", "-n", jn.switchNS, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", jn.switchNS, "link", "set", "br0", "up"},
	}
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("shoal-%s-n%d", run, i)
		ip := fmt.Sprintf("%s.%d", subnet, i+1)
		jn.nodeNS = append(jn.nodeNS, ns)
		jn.nodeIPs = append(jn.nodeIPs, ip)
		port := fmt.Sprintf("p%d", i)
		steps = append(steps,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
			[]string{"ip", "-n", jn.switchNS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"ip", "-n", jn.switchNS, "link", "set", port, "master", "br0"},
			[]string{"ip", "-n", jn.switchNS, "link", "set", port, "up"},
			[]string{"ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
		)
	}
	steps = append(steps,
		[]string{"ip", "link", "add", jn.rootLink, "type", "veth", "peer", "name", "cl", "netns", jn.switchNS},
		[]string{"ip", "-n", jn.switchNS, "link", "set", "cl", "master", "br0"},
		[]string{"ip", "-n", jn.switchNS, "link", "set", "cl", "up"},
		[]string{"ip", "addr", "add", jn.clientIP + "/24", "dev", jn.rootLink},
		[]string{"ip", "link", "set", jn.rootLink, "up"},
	)
	for _, s := range steps {
		if _, err := runCmd("", s[0], s[1:]...); err != nil {
			t.Fatalf("jepsen: network setup: %v", err)
		}
	}
	if err := jn.heal(); err != nil {
		t.Fatalf("jepsen: iptables in a node namespace: %v", err)
	}
	t.Logf("jepsen: network namespaces %s-n0..n%d on %s.0/24, clients at %s", "shoal-"+run, n-1, subnet, jn.clientIP)
	return jn
}

// teardown kills what runs in the namespaces and deletes them and the root
// link. It is safe to call more than once.
func (jn *jNet) teardown(t *testing.T) {
	for _, ns := range append(append([]string(nil), jn.nodeNS...), jn.switchNS) {
		killNetnsPids(ns)
		if _, err := runCmd("", "ip", "netns", "del", ns); err != nil && !strings.Contains(err.Error(), "No such file") {
			t.Logf("jepsen: cleanup: %v", err)
		}
	}
	// Deleting the switch namespace removes the veth pair; make sure.
	if _, err := runCmd("", "ip", "link", "show", jn.rootLink); err == nil {
		if _, err := runCmd("", "ip", "link", "del", jn.rootLink); err != nil {
			t.Logf("jepsen: cleanup: %v", err)
		}
	}
}

// rules renders an iptables-restore input that drops packets arriving from
// the given peer addresses (loopback and the client stay allowed). Only
// INPUT is filtered, as Jepsen does: a DROP in OUTPUT makes the sender's
// own send fail at once with EPERM, so a node would learn of the partition
// instead of timing out as in a real one. The grids are symmetric, so both
// ends drop and no packet crosses in either direction.
func (jn *jNet) rules(drop []string) string {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	if len(drop) > 0 {
		b.WriteString("-A INPUT -i lo -j ACCEPT\n")
		fmt.Fprintf(&b, "-A INPUT -s %s -j ACCEPT\n", jn.clientIP)
		for _, ip := range drop {
			fmt.Fprintf(&b, "-A INPUT -s %s -j DROP\n", ip)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// partition applies a connectivity matrix: node i can talk to node j only
// if connected[i][j]. Each node's rules are replaced atomically.
func (jn *jNet) partition(connected [][]bool) error {
	var wg sync.WaitGroup
	errs := make([]error, len(jn.nodeNS))
	for i := range jn.nodeNS {
		var drop []string
		for j := range jn.nodeNS {
			if i != j && !connected[i][j] {
				drop = append(drop, jn.nodeIPs[j])
			}
		}
		wg.Add(1)
		go func(i int, drop []string) {
			defer wg.Done()
			_, errs[i] = runCmd(jn.rules(drop), "ip", "netns", "exec", jn.nodeNS[i], "iptables-restore")
		}(i, drop)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// heal removes every rule.
func (jn *jNet) heal() error {
	all := make([][]bool, len(jn.nodeNS))
	for i := range all {
		all[i] = make([]bool, len(jn.nodeNS))
		for j := range all[i] {
			all[i][j] = true
		}
	}
	return jn.partition(all)
}

// ruleDump returns each node namespace's current filter rules (for reports).
func (jn *jNet) ruleDump() string {
	var b strings.Builder
	for i, ns := range jn.nodeNS {
		out, err := runCmd("", "ip", "netns", "exec", ns, "iptables", "-S")
		fmt.Fprintf(&b, "# n%d (%s) err=%v\n%s", i, ns, err, out)
	}
	return b.String()
}
