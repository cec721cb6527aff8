// Package server is Shoal's RESP front end: it accepts Redis clients (RESP2
// and RESP3, inline commands and pipelines), looks
// commands up in the command table, serves reads from the local store and
// proposes writes to the owning Raft group, packing a connection's pipelined
// writes into one proposal.
//
// # Goroutines
//
// Serve runs the accept loop; each connection has one goroutine that reads
// every complete command the client sent, runs them in order and writes all
// their replies at once. Write commands wait for their group's commit before
// later commands of the same connection run, so a connection always reads
// its own writes. The leader's expiry loop runs on one more goroutine.
//
// Requests are parsed by this package's reader rather than tidwall/redcon's:
// redcon v1.6.4 panics on a bulk length near 2^63 (one request would kill the
// server) and spins on a huge multibulk count.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/internal/rawio"
	"github.com/shoalcache/shoal/shard"
)

// Server is a RESP front end over the Raft groups of a node.
type Server struct {
	cfg    Config
	router Router
	clock  wallClock // Unix ms from nanotime readings (clock.go)
	// group is the node's first hosted group; commands that report on "the"
	// group (INFO's Raft section, SAVE) use it in standalone mode.
	group Group
	log   *slog.Logger
	ln    net.Listener
	// tlsLn is ServeTLS's listener (tls.go); hkOnce starts housekeeping
	// once for both.
	tlsLn   atomic.Pointer[net.Listener]
	tlsIdle tlsIdleState // tls-* values set without TLS (tls.go)
	hkOnce  sync.Once
	start   time.Time

	// Settings CONFIG SET may change while serving.
	maxMemory atomic.Int64
	policy    atomic.Uint32
	password  atomic.Pointer[string]

	clientsMu sync.Mutex
	clients   map[int64]*client
	nextID    atomic.Int64

	stats      stats
	intro      introState // per-command statistics, SLOWLOG, LATENCY, MONITOR
	extraState serverExtra
	evictMu    sync.Mutex
	stop       chan struct{}
	// shutdownReq carries accepted SHUTDOWN commands to the embedding
	// process (ShutdownRequests); buffered, one.
	shutdownReq chan ShutdownRequest
	// opsRate is instantaneous_ops_per_sec (housekeeping samples it).
	opsRate  instMetric
	wg       sync.WaitGroup
	shutOnce sync.Once
	rewrite  rewriteState // CONFIG REWRITE's; see cmd_config_rewrite.go
	// track is the CLIENT TRACKING table (tracking.go); pause is CLIENT
	// PAUSE's state (cmd_client_pause.go).
	track tracker
	pause pauseState
	// acl is the ACL user table (acl_table.go).
	acl aclState
	lim limitState // client limits and protected mode (limits.go)
}

// stats are the counters INFO reports; all are updated atomically.
type stats struct {
	connections  atomic.Int64
	commands     atomic.Int64
	keyspaceHits atomic.Int64
	keyspaceMiss atomic.Int64
	rejected     atomic.Int64
	netInput     atomic.Int64
	netOutput    atomic.Int64
	errorReplies atomic.Int64
	proposals    atomic.Int64
	proposedCmds atomic.Int64
	// holds counts commands that waited in route for a handover or an
	// election (client.hold), holdTimeouts those whose wait ran out.
	holds        atomic.Int64
	holdTimeouts atomic.Int64
}

// New returns a Server whose commands router routes. Call Serve to accept
// connections.
func New(cfg Config, router Router) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:         cfg,
		router:      router,
		log:         lg,
		start:       time.Now(),
		clients:     make(map[int64]*client),
		stop:        make(chan struct{}),
		shutdownReq: make(chan ShutdownRequest, 1),
	}
	if router == nil {
		// No groups: every keyed command is answered "slot not served".
		s.router = SingleRouter{}
	} else if hosted := router.HostedGroups(); len(hosted) > 0 {
		s.group = hosted[0]
	}
	s.clock.refresh()
	s.track.init(s)
	s.lim.init(cfg.Limits)
	initServerExtra(&s.extraState)
	initIntro(&s.intro)
	s.maxMemory.Store(cfg.MaxMemory)
	s.policy.Store(uint32(cfg.MaxMemoryPolicy))
	pw := cfg.RequirePass
	s.password.Store(&pw)
	s.initACL(cfg.RequirePass, cfg.ACLFile)
	if cfg.ACLFile != "" {
		if err := s.loadACLFileAtStart(); err != nil {
			return nil, err
		}
	}
	if err := s.initParams(); err != nil {
		return nil, err
	}
	return s, nil
}

// Serve accepts connections on ln until Shutdown. It returns nil after
// Shutdown. ServeTLS (tls.go) may run alongside it.
func (s *Server) Serve(ln net.Listener) error {
	s.ln = ln
	return s.serve(ln)
}

// serve is the accept loop of Serve and ServeTLS; the first to run starts
// housekeeping.
func (s *Server) serve(ln net.Listener) error {
	s.hkOnce.Do(func() {
		s.wg.Add(2)
		go s.housekeeping()
		go s.clientsCron()
	})
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.stop:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
			_ = tc.SetKeepAlive(true)
			nc = rawio.Wrap(tc)
		}
		s.wg.Add(1)
		go s.serveConn(nc)
	}
}

// CommandsProcessed returns how many client commands the server has run
// (INFO's total_commands_processed). Safe for concurrent use.
func (s *Server) CommandsProcessed() int64 { return s.stats.commands.Load() }

// Addr returns the address Serve listens on (ServeTLS's when Serve runs
// on none).
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return s.TLSAddr()
	}
	return s.ln.Addr()
}

// Drain waits until no client command has run for quiet, or ctx ends: a
// node that handed its leaderships over keeps answering (redirects, which
// move its clients to the new leaders) until its clients have moved. It
// does not stop anything.
func (s *Server) Drain(ctx context.Context, quiet time.Duration) {
	t := time.NewTicker(quiet / 4)
	defer t.Stop()
	// Requests received, whatever their reply (a redirect is the point):
	// total_commands_processed counts only commands that ran.
	last, since := s.stats.netInput.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n := s.stats.netInput.Load(); n != last {
				last, since = n, now
			} else if now.Sub(since) >= quiet {
				return
			}
		}
	}
}

// Shutdown stops accepting connections, lets every connection finish the
// batch it runs (its replies are written) and closes it, and stops the
// background loops; connections still open when ctx ends are closed. It
// does not stop the Raft groups.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.shutOnce.Do(func() {
		close(s.stop)
		if s.ln != nil {
			if e := s.ln.Close(); e != nil && !errors.Is(e, net.ErrClosed) {
				err = e
			}
		}
		if e := s.closeTLS(); e != nil {
			err = e
		}
		// Stop reading: an idle connection's read returns at once, and one
		// running a batch finishes it and writes its replies first (a
		// write in flight is answered, not cut off), then closes.
		now := time.Now()
		s.clientsMu.Lock()
		for _, c := range s.clients {
			_ = c.nc.SetReadDeadline(now)
		}
		s.clientsMu.Unlock()
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
			s.clientsMu.Lock()
			for _, c := range s.clients {
				c.nc.Close()
			}
			s.clientsMu.Unlock()
		}
	})
	return err
}

// primaryStore returns the store of the node's first hosted group (nil when
// it hosts none), for local commands that look at the data.
func (s *Server) primaryStore() *shard.Store {
	if s.group == nil {
		return nil
	}
	return s.group.Store()
}

// policyNow returns the current eviction policy.
func (s *Server) policyNow() shard.Policy { return shard.Policy(s.policy.Load()) }
