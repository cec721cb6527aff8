// The probe writer: a minimal cluster-aware client that writes one key at a
// fixed interval and notes when each write was sent and acknowledged.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
)

// slotRange is one entry of CLUSTER SLOTS: a range and its master.
type slotRange struct {
	Start, End int
	Master     string // host:port
	MasterID   string
	Replicas   []string // host:port
}

// quickDo dials addr, sends one command and closes the connection; timeout
// bounds the whole exchange.
func quickDo(ctx context.Context, addr string, timeout time.Duration, args ...any) (respclient.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := respclient.Dial(ctx, addr, timeout)
	if err != nil {
		return respclient.Value{}, err
	}
	defer c.Close()
	return c.Do(ctx, args...)
}

// clusterSlots sends CLUSTER SLOTS on c and parses the reply, sorted by
// start slot.
func clusterSlots(ctx context.Context, c *respclient.Conn) ([]slotRange, error) {
	v, err := c.Do(ctx, "CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	return parseSlots(v)
}

func parseSlots(v respclient.Value) ([]slotRange, error) {
	var out []slotRange
	for _, e := range v.Elems() {
		el := e.Elems()
		if len(el) < 3 || el[0].Kind != respclient.KindInt || el[1].Kind != respclient.KindInt {
			return nil, fmt.Errorf("malformed CLUSTER SLOTS entry %s", e.String())
		}
		r := slotRange{Start: int(el[0].Int), End: int(el[1].Int)}
		for i, n := range el[2:] {
			addr, id, err := slotNode(n)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				r.Master, r.MasterID = addr, id
			} else {
				r.Replicas = append(r.Replicas, addr)
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, nil
}

// slotNode reads [ip, port, id, ...] of one node of a CLUSTER SLOTS entry.
func slotNode(n respclient.Value) (addr, id string, err error) {
	el := n.Elems()
	if len(el) < 2 {
		return "", "", fmt.Errorf("malformed CLUSTER SLOTS node %s", n.String())
	}
	host, _ := el[0].Text()
	port, ok := el[1].Text()
	if !ok {
		return "", "", fmt.Errorf("malformed CLUSTER SLOTS port %s", el[1].String())
	}
	if len(el) > 2 {
		id, _ = el[2].Text()
	}
	return net.JoinHostPort(host, port), id, nil
}

// ownerOf returns the master of slot in m, or "".
func ownerOf(m []slotRange, slot int) string {
	for _, r := range m {
		if slot >= r.Start && slot <= r.End {
			return r.Master
		}
	}
	return ""
}

// ack is one acknowledged write.
type ack struct {
	Sent, Acked time.Time
	Addr        string // the node that acknowledged it
	Value       int64
}

// writer writes SET key <counter> every interval, each network attempt
// bounded by timeout. It follows -MOVED at once (up to maxHops per attempt)
// and refreshes its idea of the slot's master with CLUSTER SLOTS from the
// first node that answers after a connection error, a timeout, CLUSTERDOWN,
// TRYAGAIN or any other error reply.
type writer struct {
	key      string
	slot     int
	seeds    []string // every node's address, for the slot map refresh
	interval time.Duration
	timeout  time.Duration

	conns map[string]*respclient.Conn // used by the run goroutine only
	owner string                      // where the next SET goes; run goroutine only
	rr    int                         // rotates the refresh order; run goroutine only

	mu        sync.Mutex
	counter   int64
	streak    int    // consecutive acknowledged attempts
	lastAddr  string // address of the latest ack
	killAt    time.Time
	after     *ack // first ack of a write sent after killAt
	recovered chan struct{}
	attempts  int            // attempts started after killAt
	failures  map[string]int // failed attempts after killAt, by kind
	refreshes int            // slot map refreshes after killAt
}

const maxHops = 5

func newWriter(key string, slot int, seeds []string, interval, timeout time.Duration) *writer {
	return &writer{key: key, slot: slot, seeds: seeds, interval: interval, timeout: timeout,
		conns: map[string]*respclient.Conn{}, recovered: make(chan struct{}), failures: map[string]int{}}
}

// run writes until ctx is done. A new attempt starts interval after the
// previous one started, or at once if that one took longer.
func (w *writer) run(ctx context.Context) {
	defer func() {
		for _, c := range w.conns {
			c.Close()
		}
	}()
	w.refresh(ctx, "")
	next := time.Now()
	for {
		if d := time.Until(next); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		next = time.Now().Add(w.interval)
		w.attempt(ctx)
	}
}

// markKill sets the kill time; from then on attempts and failures are
// counted and the first ack of a write sent after t closes recovered.
func (w *writer) markKill(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.killAt = t
}

// state returns the current streak of acks and the address of the latest.
func (w *writer) state() (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.streak, w.lastAddr
}

// result returns the first ack after the kill (nil if none yet) and the
// counters since the kill.
func (w *writer) result() (*ack, int, map[string]int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := make(map[string]int, len(w.failures))
	for k, v := range w.failures {
		f[k] = v
	}
	return w.after, w.attempts, f, w.refreshes
}

func (w *writer) attempt(ctx context.Context) {
	w.mu.Lock()
	w.counter++
	val := w.counter
	counting := !w.killAt.IsZero()
	if counting {
		w.attempts++
	}
	w.mu.Unlock()
	addr := w.owner
	if addr == "" {
		// No master known: ask some node; it redirects or refuses.
		addr = w.seeds[w.rr%len(w.seeds)]
		w.rr++
	}
	for hop := 0; ; hop++ {
		c, err := w.conn(ctx, addr)
		if err != nil {
			w.fail(ctx, addr, classify(err))
			return
		}
		actx, cancel := context.WithTimeout(ctx, w.timeout)
		sent := time.Now()
		_, err = c.Do(actx, "SET", w.key, val)
		acked := time.Now()
		cancel()
		if err == nil {
			w.ok(ack{Sent: sent, Acked: acked, Addr: addr, Value: val})
			return
		}
		if ctx.Err() != nil {
			return // stopped: not a failure of the cluster
		}
		var re *respclient.ReplyError
		if errors.As(err, &re) {
			if re.Code() == "MOVED" || re.Code() == "ASK" {
				w.count("MOVED")
				f := strings.Fields(re.Msg)
				if len(f) == 3 && hop < maxHops {
					if re.Code() == "MOVED" {
						w.owner = f[2]
					}
					addr = f[2]
					continue
				}
				w.fail(ctx, addr, "")
				return
			}
			w.fail(ctx, addr, re.Code())
			return
		}
		w.drop(addr)
		w.fail(ctx, addr, classify(err))
		return
	}
}

func (w *writer) ok(a ack) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.streak++
	w.lastAddr = a.Addr
	if !w.killAt.IsZero() && w.after == nil && a.Sent.After(w.killAt) {
		w.after = &a
		close(w.recovered)
	}
}

// count notes one failure of kind (after the kill only).
func (w *writer) count(kind string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.killAt.IsZero() {
		w.failures[kind]++
	}
}

// fail ends a failed attempt: counts kind (unless empty), resets the
// streak and refreshes the slot map, asking failedAddr last.
func (w *writer) fail(ctx context.Context, failedAddr, kind string) {
	if kind != "" {
		w.count(kind)
	}
	w.mu.Lock()
	w.streak = 0
	if !w.killAt.IsZero() {
		w.refreshes++
	}
	w.mu.Unlock()
	w.refresh(ctx, failedAddr)
}

// refresh sets owner from the CLUSTER SLOTS reply of the first node that
// answers (each asked with the per-attempt timeout), trying the nodes in a
// rotating order with last (the node that just failed) at the end. If no
// node answers with a master for the slot, owner becomes "".
func (w *writer) refresh(ctx context.Context, last string) {
	order := make([]string, 0, len(w.seeds))
	for i := range w.seeds {
		a := w.seeds[(w.rr+i)%len(w.seeds)]
		if a != last {
			order = append(order, a)
		}
	}
	w.rr++
	if last != "" {
		order = append(order, last)
	}
	for _, a := range order {
		if ctx.Err() != nil {
			return
		}
		c, err := w.conn(ctx, a)
		if err != nil {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, w.timeout)
		m, err := clusterSlots(actx, c)
		cancel()
		if err != nil {
			var re *respclient.ReplyError
			if !errors.As(err, &re) {
				w.drop(a)
			}
			continue
		}
		if o := ownerOf(m, w.slot); o != "" {
			w.owner = o
			return
		}
	}
	w.owner = ""
}

// conn returns a connection to addr, dialing it with the attempt timeout.
func (w *writer) conn(ctx context.Context, addr string) (*respclient.Conn, error) {
	if c := w.conns[addr]; c != nil {
		return c, nil
	}
	dctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	c, err := respclient.Dial(dctx, addr, w.timeout)
	if err != nil {
		return nil, err
	}
	w.conns[addr] = c
	return c, nil
}

func (w *writer) drop(addr string) {
	if c := w.conns[addr]; c != nil {
		c.Close()
		delete(w.conns, addr)
	}
}

// classify names a network error for the per-kill counters.
func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return "closed"
	}
	return "neterr"
}

// failureText renders failure counts as "refused 12, MOVED 3".
func failureText(f map[string]int) string {
	if len(f) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + strconv.Itoa(f[k])
	}
	return strings.Join(parts, ", ")
}
