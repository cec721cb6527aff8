package proc

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// StartTimeout bounds how long a started server may take to answer PING.
const StartTimeout = 10 * time.Second

// maxStartAttempts is how many free ports StartRedis tries: another process
// may take the port between probing and binding.
const maxStartAttempts = 5

// RedisServer returns the path of redis-server (Debian: apt-get install
// redis-server).
func RedisServer() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found in PATH (apt-get install redis-server): %w", err)
	}
	return bin, nil
}

// RedisArgs are the arguments StartRedis gives every redis-server: no
// persistence, loopback only, log to stdout.
func RedisArgs(port int, dir string) []string {
	return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--logfile", ""}
}

// StartRedis starts redis-server with RedisArgs plus extra in dir on a
// free port (FreePortWithOffsets(10000) with "--cluster-enabled", so that
// the cluster bus port is free too), retrying on another port when one was
// taken. Its output goes to out (nil: kept and reported on failure).
func StartRedis(dir string, out io.Writer, extra ...string) (*Process, error) {
	bin, err := RedisServer()
	if err != nil {
		return nil, err
	}
	var offs []int
	for _, a := range extra {
		if a == "--cluster-enabled" {
			offs = []int{10000}
		}
	}
	var lastErr error
	for attempt := 0; attempt < maxStartAttempts; attempt++ {
		port, err := FreePortWithOffsets(offs...)
		if err != nil {
			return nil, err
		}
		buf := &LockedBuffer{}
		cmd := exec.Command(bin, append(RedisArgs(port, dir), extra...)...)
		cmd.Dir = dir
		if out != nil {
			cmd.Stdout, cmd.Stderr = io.MultiWriter(out, buf), io.MultiWriter(out, buf)
		} else {
			cmd.Stdout, cmd.Stderr = buf, buf
		}
		cmd.WaitDelay = 2 * time.Second
		p, err := Start(cmd, LocalAddr(port), StartTimeout)
		if err == nil {
			return p, nil
		}
		lastErr = fmt.Errorf("attempt %d on port %d: %v; output:\n%s", attempt+1, port, err, buf.String())
	}
	return nil, fmt.Errorf("could not start redis-server: %w", lastErr)
}

// LockedBuffer is a goroutine-safe bytes.Buffer for process output.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
