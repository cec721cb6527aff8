// Server processes: free ports, start, SIGKILL, restart with the same
// arguments.

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalcache/shoal/internal/proc"
)

// node is one server process, restartable with the same arguments.
type node struct {
	name    string
	addr    string // 127.0.0.1:port, the RESP address
	bin     string
	args    []string
	dir     string // working directory
	logPath string

	mu     sync.Mutex
	p      *proc.Process // nil while down
	starts int
}

// commandLine is the node's command as a shell line.
func (n *node) commandLine() string {
	words := []string{shellQuote(n.bin)}
	for _, a := range n.args {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

// start launches the process and waits until it answers PING. The port may
// linger for a moment after a kill, so a failed start is retried.
func (n *node) start(ctx context.Context) error {
	var err error
	for try := 0; try < 20; try++ {
		if err = n.startOnce(); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%s: %v (log %s)", n.name, err, n.logPath)
}

func (n *node) startOnce() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p != nil {
		return nil
	}
	n.starts++
	lf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(lf, "=== failover bench: start #%d of %s at %s: %s\n", n.starts, n.name,
		time.Now().Format(time.RFC3339Nano), n.commandLine())
	cmd := exec.Command(n.bin, n.args...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = sysProcAttr()
	p, err := proc.Start(cmd, n.addr, 15*time.Second)
	lf.Close()
	if err != nil {
		return err
	}
	n.p = p
	return nil
}

// kill sends SIGKILL and waits for the process to exit.
func (n *node) kill() {
	n.sigkill()
	n.reapKilled()
}

// sigkill sends SIGKILL and returns the time taken right after the kill
// system call returned.
func (n *node) sigkill() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return time.Time{}
	}
	_ = n.p.Cmd.Process.Kill()
	return time.Now()
}

// reapKilled waits for a killed process to exit and forgets it.
func (n *node) reapKilled() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return
	}
	<-n.p.Done()
	n.p = nil
}

// running reports whether the process is up.
func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p != nil && !n.p.Exited()
}

// shellQuote renders s as one shell word.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	plain := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./:=,@%+-", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// portAllocator hands out loopback ports that are free for TCP and UDP,
// below the kernel's ephemeral range (so that outgoing connections cannot
// take them while a killed server is down), and never the same one twice.
type portAllocator struct {
	used   map[int]bool
	lo, hi int
	next   int
}

func newPortAllocator() *portAllocator {
	hi := 32767
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 20000+12000 {
				hi = v - 1
			}
		}
	}
	lo := 20000
	start := lo + int(time.Now().UnixNano()%int64(hi-lo))
	return &portAllocator{used: map[int]bool{}, lo: lo, hi: hi, next: start}
}

// alloc returns a free port; with bus, port+10000 (the Redis Cluster bus)
// is free too.
func (pa *portAllocator) alloc(bus bool) (int, error) {
	hi := pa.hi
	if bus {
		hi -= 10000
	}
	for i := 0; i < 5000; i++ {
		p := pa.next
		pa.next++
		if pa.next > hi {
			pa.next = pa.lo
		}
		if p < pa.lo || p > hi {
			continue
		}
		if pa.used[p] || !portFree(p) {
			continue
		}
		if bus && (pa.used[p+10000] || !portFree(p+10000)) {
			continue
		}
		pa.used[p] = true
		if bus {
			pa.used[p+10000] = true
		}
		return p, nil
	}
	return 0, fmt.Errorf("no free port between %d and %d", pa.lo, hi)
}

func portFree(p int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}
