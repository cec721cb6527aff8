package node

import (
	"fmt"
	"net"
	"strconv"

	"github.com/shoalcache/shoal/internal/tlsconf"
	"github.com/shoalcache/shoal/raftfsm"
)

// TLS of a node (Config.TLS): the client port's (tls-port), and with
// tls-cluster the cluster port's mutual TLS and the TLS ports in what the
// node advertises, as Redis does: with tls-cluster the node's client port
// is its TLS port (the map's RESPAddr, CLUSTER SLOTS, MOVED), and the
// plain port, if any, is its "pport", given to plain connections.

// TLSConfig is a node's TLS.
type TLSConfig struct {
	// Port is tls-port: the RESP port for TLS clients (0: none). Port 0
	// of Config then turns the plain port off.
	Port int
	// Cluster is tls-cluster: mutual TLS on the cluster port, and the TLS
	// ports advertised to clients.
	Cluster bool
	// Files is the certificate, key, CA and their settings.
	Files tlsconf.Config
}

// enabled reports whether the node serves TLS at all.
func (t *TLSConfig) enabled() bool { return t.Port > 0 || t.Cluster }

// validate reports the first problem with c's ports and TLS.
func (c *Config) validateTLS() error {
	t := &c.TLS
	switch {
	case t.Port < 0 || t.Port > 65535:
		return fmt.Errorf("%w: tls-port out of range", ErrBadConfig)
	case c.Port == 0 && t.Port == 0:
		return fmt.Errorf("%w: port 0 turns the plain port off: it needs a tls-port", ErrBadConfig)
	case t.Cluster && t.Port == 0:
		return fmt.Errorf("%w: tls-cluster needs a tls-port", ErrBadConfig)
	}
	if t.enabled() {
		if err := t.Files.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
	}
	return nil
}

// clientPort is the port the node advertises to clients and other nodes
// (and from which the default cluster and gossip ports derive): the TLS
// port with tls-cluster or without a plain port, as Redis's.
func (c *Config) clientPort() int {
	if c.TLS.Port > 0 && (c.TLS.Cluster || c.Port == 0) {
		return c.TLS.Port
	}
	return c.Port
}

// plainPort is the plain port a node whose client port is its TLS port
// advertises for plain connections (Redis's pport); 0 otherwise.
func (c *Config) plainPort() int {
	if c.clientPort() == c.Port {
		return 0
	}
	return c.Port
}

// PlainAddr returns the plain RESP address on the advertised host
// ("" with port 0): the in-node proxy's upstream.
func (c *Config) PlainAddr() string {
	if c.Port == 0 {
		return ""
	}
	return net.JoinHostPort(c.advertiseHost(), strconv.Itoa(c.Port))
}

// startTLS loads the node's TLS material, turns the cluster port's mutual
// TLS on (tls-cluster) and opens the TLS listener; the front end serves it
// once it exists (serveTLS).
func (n *Node) startTLS() error {
	t := &n.cfg.TLS
	if !t.enabled() {
		return nil
	}
	l, err := tlsconf.New(t.Files)
	if err != nil {
		return err
	}
	n.cfg.Server.TLS.Loader, n.cfg.Server.TLS.Port, n.cfg.Server.TLS.Cluster = l, t.Port, t.Cluster
	if t.Cluster {
		raftfsm.SetClusterTLS(l)
	}
	if t.Port > 0 {
		if n.tlsLn, err = net.Listen("tcp", net.JoinHostPort(n.cfg.Bind, strconv.Itoa(t.Port))); err != nil {
			return err
		}
	}
	n.log.Info("TLS on", "tls-port", t.Port, "tls-cluster", t.Cluster, "cert-serial", l.Certificate().SerialNumber.String(),
		"tls-auth-clients", t.Files.AuthClients.String())
	return nil
}

// ReloadTLS reads the node's certificate, key and CA files again (SIGHUP):
// new connections, client and cluster, see them; on an error the node
// keeps the material it had.
func (n *Node) ReloadTLS() error {
	l := n.cfg.Server.TLS.Loader
	if l == nil {
		return nil
	}
	if err := l.Reload(); err != nil {
		return err
	}
	n.log.Info("TLS certificates reloaded", "cert-serial", l.Certificate().SerialNumber.String())
	return nil
}

// closeTLSListener closes the TLS listener on a failed start.
func (n *Node) closeTLSListener() {
	if n.tlsLn != nil {
		n.tlsLn.Close()
	}
}

// PlainAddr implements server.PlainAddrs: the plain RESP address of the
// node advertising addr (addr itself when it has no plain port). It scans
// the map's nodes: called on the redirect path of plain connections to a
// tls-cluster node only.
func (cs *clusterState) PlainAddr(addr string) string {
	rt := cs.rt.Load()
	if rt.m == nil {
		return addr
	}
	for i := range rt.m.Nodes {
		if n := &rt.m.Nodes[i]; n.RESPAddr == addr && n.PlainPort > 0 {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				return net.JoinHostPort(host, strconv.Itoa(n.PlainPort))
			}
		}
	}
	return addr
}
