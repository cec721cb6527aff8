package proxy

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
)

// numSlots is Redis Cluster's number of hash slots.
const numSlots = 16384

// noNode marks an unassigned slot in slotMap.slot.
const noNode = 0xFFFF

// slotMap is an immutable view of the cluster: which node leads each slot.
// It is replaced as a whole (Proxy.smap, an atomic pointer).
type slotMap struct {
	nodes   []*node // slot[i] indexes this list
	slot    [numSlots]uint16
	masters []*node // the distinct leaders, by address: the fan-out order
}

// nodeFor returns the leader of slot, nil when the slot is unassigned.
func (m *slotMap) nodeFor(slot int) *node {
	i := m.slot[slot]
	if i == noNode {
		return nil
	}
	return m.nodes[i]
}

// withSlot returns a copy of m in which slot is served by n (after MOVED).
func (m *slotMap) withSlot(slot int, n *node) *slotMap {
	c := &slotMap{nodes: m.nodes, slot: m.slot, masters: m.masters}
	i := slices.Index(c.nodes, n)
	if i < 0 {
		c.nodes = append(slices.Clip(c.nodes), n)
		i = len(c.nodes) - 1
	}
	c.slot[slot] = uint16(i)
	if !slices.Contains(c.masters, n) {
		c.masters = append(slices.Clip(c.masters), n)
		slices.SortFunc(c.masters, func(a, b *node) int { return cmp.Compare(a.addr, b.addr) })
	}
	return c
}

// slotRange is one CLUSTER SLOTS entry: slots [start, end] led by addr.
type slotRange struct {
	start, end int
	addr       string
}

// parseClusterSlots reads a CLUSTER SLOTS reply.
func parseClusterSlots(v respclient.Value) ([]slotRange, error) {
	if v.Kind != respclient.KindArray {
		return nil, errors.New("proxy: CLUSTER SLOTS: not an array")
	}
	var out []slotRange
	for _, e := range v.Array {
		if len(e.Array) < 3 || e.Array[0].Kind != respclient.KindInt || e.Array[1].Kind != respclient.KindInt {
			return nil, errors.New("proxy: CLUSTER SLOTS: bad range entry")
		}
		m := e.Array[2]
		if len(m.Array) < 2 || m.Array[1].Kind != respclient.KindInt {
			return nil, errors.New("proxy: CLUSTER SLOTS: bad node entry")
		}
		host, _ := m.Array[0].Text()
		s, en := int(e.Array[0].Int), int(e.Array[1].Int)
		if s < 0 || en >= numSlots || s > en {
			return nil, errors.New("proxy: CLUSTER SLOTS: bad slot range")
		}
		out = append(out, slotRange{start: s, end: en,
			addr: net.JoinHostPort(host, strconv.FormatInt(m.Array[1].Int, 10))})
	}
	return out, nil
}

// buildMap makes a slot map from ranges; nodeOf returns the node of an
// address.
func buildMap(ranges []slotRange, nodeOf func(string) *node) *slotMap {
	m := &slotMap{}
	for i := range m.slot {
		m.slot[i] = noNode
	}
	idx := map[string]uint16{}
	for _, r := range ranges {
		i, ok := idx[r.addr]
		if !ok {
			n := nodeOf(r.addr)
			i = uint16(len(m.nodes))
			idx[r.addr] = i
			m.nodes = append(m.nodes, n)
			m.masters = append(m.masters, n)
		}
		for s := r.start; s <= r.end; s++ {
			m.slot[s] = i
		}
	}
	slices.SortFunc(m.masters, func(a, b *node) int { return cmp.Compare(a.addr, b.addr) })
	return m
}

// fetchSlots asks one node for CLUSTER SLOTS.
func (p *Proxy) fetchSlots(ctx context.Context, addr string) ([]slotRange, error) {
	c, err := respclient.DialTLS(ctx, addr, p.cfg.DialTimeout, p.cfg.TLS)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if p.cfg.Password != "" {
		if _, err := c.Do(ctx, "AUTH", p.cfg.Password); err != nil {
			return nil, err
		}
	}
	v, err := c.Do(ctx, "CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	return parseClusterSlots(v)
}

// refresh reloads the slot map from the first node that answers: the
// current leaders first, then the configured addresses, nodes whose last
// dial failed last. Concurrent callers
// share one reload; a caller arriving within minRefreshGap of the last one
// reuses it.
func (p *Proxy) refresh(ctx context.Context) error {
	p.refreshMu.Lock()
	defer p.refreshMu.Unlock()
	if time.Since(p.lastRefresh) < minRefreshGap {
		return nil
	}
	var candidates []string
	if m := p.smap.Load(); m != nil {
		for _, n := range m.masters {
			candidates = append(candidates, n.addr)
		}
	}
	for _, a := range p.cfg.Cluster {
		if !slices.Contains(candidates, a) {
			candidates = append(candidates, a)
		}
	}
	// Nodes that could not be reached lately go last (a dead leader would
	// otherwise cost a dial timeout on every reload during its failover).
	failed := func(a string) int {
		if p.node(a).dialFailed.Load() != 0 {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(candidates, func(a, b string) int { return failed(a) - failed(b) })
	var errs []error
	for _, a := range candidates {
		ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout+time.Second)
		ranges, err := p.fetchSlots(ctx, a)
		cancel()
		if err != nil {
			p.node(a).dialFailed.Store(time.Now().UnixNano())
			errs = append(errs, err)
			continue
		}
		p.smap.Store(buildMap(ranges, p.node))
		p.lastRefresh = time.Now()
		return nil
	}
	p.lastRefresh = time.Now()
	return errors.Join(append([]error{ErrNoSlotMap}, errs...)...)
}

// minRefreshGap is how soon after a reload another one is skipped.
const minRefreshGap = 20 * time.Millisecond

// kickRefresh asks the refresher goroutine for a reload, without waiting.
func (p *Proxy) kickRefresh() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// refresher reloads the map every RefreshInterval and when kicked.
func (p *Proxy) refresher(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
		}
		if err := p.refresh(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("slot map reload failed", "err", err)
		}
	}
}

// moved records a MOVED reply: slot is served at addr.
func (p *Proxy) moved(slot int, addr string) {
	n := p.node(addr)
	for {
		old := p.smap.Load()
		if old.nodeFor(slot) == n {
			return
		}
		if p.smap.CompareAndSwap(old, old.withSlot(slot, n)) {
			p.kickRefresh()
			return
		}
	}
}
