package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
)

// Process is a started server process.
type Process struct {
	Cmd  *exec.Cmd
	Addr string // the RESP address it answers PING on

	done chan struct{}
	err  error // cmd.Wait's result, set before done is closed

	mu     sync.Mutex
	paused bool
}

// Start starts cmd and waits up to timeout until addr answers PING (see
// Ping). If the process exits first or never answers, it is killed and an
// error returned; the caller may retry on another port.
func Start(cmd *exec.Cmd, addr string, timeout time.Duration) (*Process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, Addr: addr, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := p.WaitReady(timeout); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// WaitReady waits up to timeout until the process answers PING on Addr.
func (p *Process) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("process exited before answering PING: %v", p.err)
		default:
		}
		if last = Ping(p.Addr, time.Second); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no reply to PING on %s within %v: %v", p.Addr, timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ping reports whether addr answers PING: with PONG, or with NOAUTH (a
// server that requires a password is up too).
func Ping(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := respclient.Dial(ctx, addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := c.Do(ctx, "PING")
	var re *respclient.ReplyError
	if errors.As(err, &re) && re.Code() == "NOAUTH" {
		return nil
	}
	if err != nil {
		return err
	}
	if v.Kind != respclient.KindSimple || v.Str != "PONG" {
		return fmt.Errorf("PING replied %s", v)
	}
	return nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns the result of waiting for the process; valid once Done is
// closed.
func (p *Process) Err() error { return p.err }

// Pid returns the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Kill sends SIGKILL and waits until the process has exited.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Stop terminates the process: SIGTERM, then SIGKILL once grace has passed
// (a paused process gets SIGCONT first so that it can handle SIGTERM). A
// zero grace kills at once. It reports whether SIGKILL was needed after a
// SIGTERM.
func (p *Process) Stop(grace time.Duration) (forced bool) {
	if p.Exited() {
		return false
	}
	if grace > 0 {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		if p.Paused() {
			_ = p.Resume()
		}
		select {
		case <-p.done:
			return false
		case <-time.After(grace):
			forced = true
		}
	}
	p.Kill()
	return forced
}

// Pause stops the process with SIGSTOP and returns once it is stopped.
func (p *Process) Pause() error {
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	// The signal is delivered asynchronously: wait until the kernel shows
	// the process stopped, so that it answers nothing after Pause returns.
	stat := "/proc/" + strconv.Itoa(p.Cmd.Process.Pid) + "/stat"
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(stat)
		if err != nil {
			return nil // no procfs: nothing to wait on
		}
		// The state follows the command name in parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return nil
		}
	}
	return nil
}

// Resume continues a paused process with SIGCONT.
func (p *Process) Resume() error { return p.signal(syscall.SIGCONT) }

// Paused reports whether the process was paused and not resumed since.
func (p *Process) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

func (p *Process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		return err
	}
	p.paused = sig == syscall.SIGSTOP
	return nil
}
