package server

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// monitorMaxBuffer bounds the bytes waiting for a MONITOR client; a client
// that falls this far behind is disconnected (Redis bounds it with
// client-output-buffer-limit).
const monitorMaxBuffer = 256 << 20

// monitor is one MONITOR client's feed. Feeding connections append lines
// to buf under mu; the monitor's writer goroutine (runMonitor) writes them
// to the client's socket, so that a slow monitor never blocks a command.
// Once MONITOR's +OK is written, the monitor connection's own replies go
// through buf too, so that they stay in order with the lines.
type monitor struct {
	c    *client
	wake chan struct{} // capacity 1: buf has new lines
	done chan struct{} // closed when the client goes

	mu   sync.Mutex
	buf  []byte // guarded by mu
	dead bool   // guarded by mu: over monitorMaxBuffer, disconnected
}

// monitorSet is the attached monitors: a copy-on-write list read with one
// atomic load; attach and detach take mu.
type monitorSet struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*monitor]
}

func (ms *monitorSet) attached() bool {
	l := ms.list.Load()
	return l != nil && len(*l) > 0
}

// attach adds m; the caller updates the slow path.
func (ms *monitorSet) attach(m *monitor) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var l []*monitor
	if old := ms.list.Load(); old != nil {
		l = append(l, *old...)
	}
	l = append(l, m)
	ms.list.Store(&l)
}

// detach removes m; the caller updates the slow path.
func (ms *monitorSet) detach(m *monitor) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	old := ms.list.Load()
	if old == nil {
		return
	}
	var l []*monitor
	for _, o := range *old {
		if o != m {
			l = append(l, o)
		}
	}
	ms.list.Store(&l)
}

// feed sends the command args of c to every monitor, as Redis's
// replicationFeedMonitors: "+<unix>.<µs> [<db> <addr>] "arg" ...", db being
// the connection's database once the command ran (SELECT 3 shows 3).
func (ms *monitorSet) feed(c *client, args [][]byte) {
	l := ms.list.Load()
	if l == nil || len(*l) == 0 {
		return
	}
	line := monitorLine(nil, time.Now(), c.DB(), c.addr, args)
	for _, m := range *l {
		if m.c == c {
			// The monitor's own command: its line follows its reply, as
			// in Redis (this runs on c's goroutine).
			c.out = append(c.out, line...)
			continue
		}
		m.push(line)
	}
}

// monitorLine appends one MONITOR line of a command run in database db.
func monitorLine(b []byte, now time.Time, db int, addr string, args [][]byte) []byte {
	b = append(b, '+')
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, '.')
	us := now.Nanosecond() / 1000
	for d := 100000; d > 1 && us < d; d /= 10 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, int64(us), 10)
	b = append(b, " ["...)
	b = strconv.AppendInt(b, int64(db), 10)
	b = append(b, ' ')
	b = append(b, addr...)
	b = append(b, "] "...)
	for j, a := range args {
		if j > 0 {
			b = append(b, ' ')
		}
		b = resp.AppendRepr(b, a)
	}
	return append(b, '\r', '\n')
}

// push queues line for the monitor; a monitor that fell too far behind is
// disconnected.
func (m *monitor) push(line []byte) {
	if len(line) == 0 {
		return
	}
	m.mu.Lock()
	if m.dead {
		m.mu.Unlock()
		return
	}
	if len(m.buf)+len(line) > monitorMaxBuffer {
		m.dead = true
		m.buf = nil
		m.mu.Unlock()
		m.c.srv.log.Warn("MONITOR client disconnected: output buffer limit", "client-addr", m.c.addr)
		m.c.nc.Close()
		return
	}
	m.buf = append(m.buf, line...)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func init() {
	command.Register(&command.Command{Name: "monitor", Arity: 1, Kind: command.KindLocal,
		Flags: command.FlagAdmin | command.FlagNoScript | command.FlagLoading | command.FlagStale,
		ACL:   []string{"admin", "slow", "dangerous"}, Run: monitorCommand})
}

// monitorCommand: MONITOR. Replies +OK, then streams every command the
// server runs (but administrative ones) to the client. A second MONITOR on
// the same connection gets no reply, as in Redis. The client may keep
// sending commands.
func monitorCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	if c.monitor != nil {
		return
	}
	s := c.srv
	c.monitor = &monitor{c: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.monitorStart = true
	c.mu.Lock()
	c.monitoring = true
	c.mu.Unlock()
	s.intro.monitors.attach(c.monitor)
	s.intro.updateSlowPath()
	x.OK()
}

// startMonitor starts the writer of c's monitor once MONITOR's +OK has been
// written (lines fed meanwhile wait in its buffer). Called by the
// connection's goroutine.
func (s *Server) startMonitor(c *client) {
	c.monitorStart = false
	s.wg.Add(1)
	go s.runMonitor(c.monitor)
}

// runMonitor writes m's lines to its client until the client goes.
func (s *Server) runMonitor(m *monitor) {
	defer s.wg.Done()
	var out []byte
	for {
		select {
		case <-m.wake:
		case <-m.done:
			return
		}
		m.mu.Lock()
		out, m.buf = m.buf, out[:0]
		m.mu.Unlock()
		if len(out) == 0 {
			continue
		}
		if _, err := m.c.nc.Write(out); err != nil {
			return
		}
		s.stats.netOutput.Add(int64(len(out)))
		if cap(out) > 1<<20 {
			out = nil
		}
	}
}

// stopMonitor detaches c's monitor when the connection ends. Called by the
// connection's goroutine.
func (s *Server) stopMonitor(c *client) {
	if c.monitor == nil {
		return
	}
	s.intro.monitors.detach(c.monitor)
	s.intro.updateSlowPath()
	close(c.monitor.done)
}
