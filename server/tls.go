package server

import (
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/rawio"
	"github.com/shoalcache/shoal/internal/tlsconf"
)

// TLS on the client port: a second listener (tls-port) whose connections
// are TLS, served by the same accept loop and connection code as the plain
// one (the handshake runs on the connection's goroutine, at its first
// read). The tls-* parameters of CONFIG GET/SET are here too.

// TLSConfig is the front end's TLS (Config.TLS).
type TLSConfig struct {
	// Loader holds the certificate, key, CA and settings; nil without TLS.
	Loader *tlsconf.Loader
	// Port is tls-port, reported by CONFIG GET (the node listens on it).
	Port int
	// Cluster is tls-cluster: the cluster port is mutual TLS and CLUSTER
	// SLOTS/SHARDS/NODES and redirects give the TLS ports.
	Cluster bool
}

// cfgErrTLSUpdate is Redis 7.0's CONFIG SET error for tls-* values that
// do not load.
const cfgErrTLSUpdate = "Unable to update TLS configuration. Check server logs."

// tlsIdleState keeps the tls-* values CONFIG SET gives a node without TLS
// (CONFIG GET reports them, as Redis's); the zero value holds the
// defaults. Safe for concurrent use.
type tlsIdleState struct {
	mu  sync.Mutex
	cfg *tlsconf.Config // nil: tlsconf.DefaultConfig()
}

func (t *tlsIdleState) get() tlsconf.Config {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg == nil {
		return tlsconf.DefaultConfig()
	}
	return *t.cfg
}

func (t *tlsIdleState) update(change func(*tlsconf.Config)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg == nil {
		c := tlsconf.DefaultConfig()
		t.cfg = &c
	}
	change(t.cfg)
}

// ServeTLS accepts TLS connections on ln (a plain TCP listener) until
// Shutdown, with the configuration of Config.TLS.Loader in force at each
// handshake. It may run alongside Serve (both ports) or alone (port 0).
// It returns nil after Shutdown.
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.cfg.TLS.Loader == nil {
		return errors.New("server: ServeTLS without Config.TLS.Loader")
	}
	tl := &tlsListener{Listener: ln, cfg: s.cfg.TLS.Loader.ServerConfig()}
	s.tlsLn.Store(&tl.Listener)
	return s.serve(tl)
}

// ReloadTLS reads the certificate, key and CA files again (SIGHUP): new
// connections get the new certificate; on an error the old material stays.
func (s *Server) ReloadTLS() error {
	if s.cfg.TLS.Loader == nil {
		return nil
	}
	return s.cfg.TLS.Loader.Reload()
}

// closeTLS closes the TLS listener, if any (Shutdown).
func (s *Server) closeTLS() error {
	if p := s.tlsLn.Load(); p != nil {
		if err := (*p).Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
	}
	return nil
}

// TLSAddr returns the TLS listener's address (nil when none).
func (s *Server) TLSAddr() net.Addr {
	if p := s.tlsLn.Load(); p != nil {
		return (*p).Addr()
	}
	return nil
}

// tlsListener wraps accepted connections in TLS servers, after setting the
// TCP options the plain accept loop sets.
type tlsListener struct {
	net.Listener
	cfg *tls.Config
}

// Accept implements net.Listener.
func (l *tlsListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		_ = tc.SetKeepAlive(true)
		nc = rawio.Wrap(tc)
	}
	return tls.Server(nc, l.cfg), nil
}

// isTLS reports whether the connection came in on the TLS port.
func (c *client) isTLS() bool {
	_, ok := c.nc.(*tls.Conn)
	return ok
}

// tlsParam is a tls-* parameter: get reads the configuration in force,
// change sets the field.
type tlsParam struct {
	name   string
	get    func(tlsconf.Config) string
	change func(*tlsconf.Config, string) string // error text, or ""
}

var tlsParams = []tlsParam{
	{"tls-cert-file", func(c tlsconf.Config) string { return c.CertFile },
		func(c *tlsconf.Config, v string) string { c.CertFile = v; return "" }},
	{"tls-key-file", func(c tlsconf.Config) string { return c.KeyFile },
		func(c *tlsconf.Config, v string) string { c.KeyFile = v; return "" }},
	{"tls-ca-cert-file", func(c tlsconf.Config) string { return c.CAFile },
		func(c *tlsconf.Config, v string) string { c.CAFile = v; return "" }},
	{"tls-auth-clients", func(c tlsconf.Config) string { return c.AuthClients.String() },
		func(c *tlsconf.Config, v string) string {
			a, err := tlsconf.ParseAuthClients(v)
			if err != nil {
				return "argument(s) must be one of the following: no, yes, optional"
			}
			c.AuthClients = a
			return ""
		}},
	{"tls-protocols", func(c tlsconf.Config) string { return c.Protocols },
		func(c *tlsconf.Config, v string) string { c.Protocols = v; return "" }},
	{"tls-ciphers", func(c tlsconf.Config) string { return c.Ciphers },
		func(c *tlsconf.Config, v string) string { c.Ciphers = v; return "" }},
	{"tls-ciphersuites", func(c tlsconf.Config) string { return c.Ciphersuites },
		func(c *tlsconf.Config, v string) string { c.Ciphersuites = v; return "" }},
}

func init() {
	configParams = append(configParams,
		&configParam{name: "tls-port", get: func(s *Server) string { return strconv.Itoa(s.cfg.TLS.Port) }},
		&configParam{name: "tls-cluster", get: func(s *Server) string { return yesNo(s.cfg.TLS.Cluster) }},
		&configParam{name: "tls-replication", get: func(*Server) string { return "no" }},
	)
	for _, tp := range tlsParams {
		configParams = append(configParams, &configParam{name: tp.name,
			get: func(s *Server) string {
				if s.cfg.TLS.Loader == nil {
					return tp.get(s.tlsIdle.get())
				}
				return tp.get(s.cfg.TLS.Loader.Config())
			},
			// Each value is checked alone here; with TLS on, tlsSetCheck
			// checks them together (a new certificate needs its new key)
			// and applies them at once. With TLS off they are only kept,
			// unchecked, as Redis does (it loads them once TLS is on).
			set: func(s *Server, v string) (func(), string) {
				var c tlsconf.Config
				if msg := tp.change(&c, v); msg != "" {
					return nil, msg
				}
				if s.cfg.TLS.Loader == nil {
					return func() { s.tlsIdle.update(func(c *tlsconf.Config) { tp.change(c, v) }) }, ""
				}
				return func() {}, ""
			}})
	}
}

// tlsSetCheck is CONFIG SET's step for the tls-* parameters among pairs
// (name, value, name, value...): it loads them all together, as Redis
// does, and returns the function that puts them in force, or the name to
// blame and the error text. Nothing to do without tls-* parameters.
func (s *Server) tlsSetCheck(pairs [][]byte) (apply func(), blame, msg string) {
	var changes []func(*tlsconf.Config)
	for i := 0; i+1 < len(pairs); i += 2 {
		for _, tp := range tlsParams {
			if strings.EqualFold(tp.name, string(pairs[i])) {
				if blame == "" {
					blame = tp.name
				}
				v := string(pairs[i+1])
				changes = append(changes, func(c *tlsconf.Config) { tp.change(c, v) })
			}
		}
	}
	if len(changes) == 0 || s.cfg.TLS.Loader == nil {
		return nil, "", ""
	}
	change := func(c *tlsconf.Config) {
		for _, f := range changes {
			f(c)
		}
	}
	if err := s.cfg.TLS.Loader.Check(change); err != nil {
		s.log.Warn("CONFIG SET of TLS settings refused", "err", err)
		return nil, blame, cfgErrTLSUpdate
	}
	return func() {
		start := time.Now()
		if err := s.cfg.TLS.Loader.Update(change); err != nil {
			// The files changed between Check and Update.
			s.log.Warn("CONFIG SET of TLS settings failed", "err", err)
			return
		}
		s.log.Info("TLS settings updated", "by", "CONFIG SET", "took", time.Since(start).String())
	}, "", ""
}

// usePlainPort reports whether x's replies should give nodes' plain ports:
// a plain connection to a tls-cluster node (Redis's use_pport).
func usePlainPort(x *command.Ctx) bool {
	return srvOf(x).cfg.TLS.Cluster && !connOf(x).isTLS()
}

// PlainAddrs is implemented by a Router that can give, for a node's
// advertised RESP address (its TLS one under tls-cluster), its plain one
// (itself when the node has none). Called on the redirect path only.
type PlainAddrs interface {
	PlainAddr(addr string) string
}

// movedAddr is the address of a MOVED reply to c: a tls-cluster node
// redirects plain connections to plain ports, as Redis.
func (c *client) movedAddr(addr string) string {
	if !c.srv.cfg.TLS.Cluster || c.isTLS() {
		return addr
	}
	if pa, ok := c.srv.router.(PlainAddrs); ok {
		return pa.PlainAddr(addr)
	}
	return addr
}

// notOwnerReply is Server.notOwnerReply with c's MOVED address.
func (c *client) notOwnerReply(b []byte, slot int) []byte {
	s := c.srv
	if _, leader, redirect, owned := s.router.Route(slot); owned && !leader && redirect != "" {
		return appendMoved(b, slot, c.movedAddr(redirect))
	}
	return s.notOwnerReply(b, slot)
}
