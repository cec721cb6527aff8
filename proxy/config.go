package proxy

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Config is the proxy's configuration.
type Config struct {
	// Listen is the HOST:PORT clients connect to.
	Listen string
	// Cluster lists HOST:PORT RESP addresses of cluster nodes to learn the
	// slot map from (at least one); every node the map names is used.
	Cluster []string
	// Password authenticates the backend connections (AUTH default
	// <Password>); when set, clients must AUTH (or HELLO AUTH) too, with
	// credentials the nodes accept. Empty: no authentication.
	Password string
	// ConnsPerNode is the number of pipelined backend connections to each
	// node, shared by all client connections.
	ConnsPerNode int
	// RetryBudget is how long (wall time) one command may be retried after
	// MOVED, TRYAGAIN, CLUSTERDOWN, TIMEOUT or a lost node before its last
	// error goes to the client.
	RetryBudget time.Duration
	// DialTimeout bounds a connection to a node.
	DialTimeout time.Duration
	// NodeTimeout is how long a backend connection may owe replies without
	// receiving any before it is closed (its commands are retried).
	NodeTimeout time.Duration
	// RefreshInterval is how often the slot map is reloaded from CLUSTER
	// SLOTS when nothing prompted it (MOVED and errors reload it at once).
	RefreshInterval time.Duration
	// TLS, when set, is the client configuration of the connections to
	// the nodes (nodes with --tls-port and --tls-cluster yes). Nil: plain
	// TCP.
	TLS *tls.Config
	// Logger receives the proxy's log lines; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults: 2 connections per node, a 10 s retry
// budget, 1 s dials, 5 s node timeout, a map reload every 5 s.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:7400",
		ConnsPerNode:    2,
		RetryBudget:     10 * time.Second,
		DialTimeout:     time.Second,
		NodeTimeout:     5 * time.Second,
		RefreshInterval: 5 * time.Second,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if err := checkAddr(c.Listen); err != nil {
		return errors.Join(ErrBadListen, err)
	}
	if len(c.Cluster) == 0 {
		return ErrNoCluster
	}
	for _, a := range c.Cluster {
		if err := checkAddr(a); err != nil {
			return errors.Join(ErrBadCluster, err)
		}
	}
	switch {
	case c.ConnsPerNode < 1 || c.ConnsPerNode > 64:
		return ErrBadConns
	case c.RetryBudget < 0, c.DialTimeout <= 0, c.NodeTimeout <= 0, c.RefreshInterval <= 0:
		return ErrBadDuration
	}
	return nil
}

func checkAddr(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return errors.New("bad port " + strconv.Quote(port))
	}
	return nil
}
