package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a running proxy. Serve accepts clients; Shutdown stops it.
type Proxy struct {
	cfg Config
	log *slog.Logger

	smap atomic.Pointer[slotMap] // never nil after New

	nodesMu sync.Mutex
	nodes   map[string]*node

	refreshMu   sync.Mutex // serializes reloads; guards lastRefresh
	lastRefresh time.Time
	kick        chan struct{}

	version atomic.Pointer[string] // the nodes' version, from HELLO

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc
	closed atomic.Bool
	wg     sync.WaitGroup // background goroutines

	mu      sync.Mutex // guards ln, clients
	ln      net.Listener
	clients map[*clientConn]struct{}
	connWG  sync.WaitGroup
	nextID  atomic.Int64
}

// New validates cfg and loads the slot map from the cluster (retrying
// until ctx ends, so a proxy may start before its cluster is ready).
func New(ctx context.Context, cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Proxy{
		cfg:     cfg,
		log:     cfg.Logger,
		nodes:   map[string]*node{},
		kick:    make(chan struct{}, 1),
		clients: map[*clientConn]struct{}{},
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		err := p.refresh(ctx)
		if err == nil {
			break
		}
		p.lastRefresh = time.Time{}
		p.log.Info("waiting for the cluster's slot map", "err", err)
		select {
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), err)
		case <-time.After(delay):
		}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(2)
	go p.refresher(p.ctx)
	go p.watchdog(p.ctx)
	return p, nil
}

// node returns the node of addr, creating it on first use.
func (p *Proxy) node(addr string) *node {
	p.nodesMu.Lock()
	defer p.nodesMu.Unlock()
	n := p.nodes[addr]
	if n == nil {
		n = &node{p: p, addr: addr, conns: make([]atomic.Pointer[backendConn], p.cfg.ConnsPerNode)}
		p.nodes[addr] = n
	}
	return n
}

func (p *Proxy) allNodes() []*node {
	p.nodesMu.Lock()
	defer p.nodesMu.Unlock()
	out := make([]*node, 0, len(p.nodes))
	for _, n := range p.nodes {
		out = append(out, n)
	}
	return out
}

// ListenAndServe listens on Config.Listen and serves until Shutdown.
func (p *Proxy) ListenAndServe() error {
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return err
	}
	return p.Serve(ln)
}

// Serve accepts client connections on ln until Shutdown, which makes it
// return ErrClosed. Each client gets its own goroutine.
func (p *Proxy) Serve(ln net.Listener) error {
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	p.ln = ln
	p.mu.Unlock()
	p.log.Info("proxy listening", "addr", ln.Addr().String(), "cluster", p.cfg.Cluster)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if p.closed.Load() {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		c := newClientConn(p, nc)
		p.mu.Lock()
		if p.closed.Load() {
			p.mu.Unlock()
			nc.Close()
			return ErrClosed
		}
		p.clients[c] = struct{}{}
		p.connWG.Add(1)
		p.mu.Unlock()
		go c.serve()
	}
}

// Addr returns the listening address, nil before Serve.
func (p *Proxy) Addr() net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return nil
	}
	return p.ln.Addr()
}

func (p *Proxy) removeClient(c *clientConn) {
	p.mu.Lock()
	delete(p.clients, c)
	p.mu.Unlock()
	p.connWG.Done()
}

// Shutdown stops accepting, lets every client connection finish the batch
// it is running (until ctx ends) and closes the node connections.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed.Swap(true) {
		p.mu.Unlock()
		return nil
	}
	if p.ln != nil {
		p.ln.Close()
	}
	for c := range p.clients {
		c.stop()
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.connWG.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.cancel()
	for _, n := range p.allNodes() {
		n.closeAll(net.ErrClosed)
	}
	p.wg.Wait()
	return err
}
