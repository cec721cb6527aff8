package raftfsm

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"
)

// Mutual TLS on the cluster port (--tls-cluster yes).
//
// When set (SetClusterTLS), every connection the Mux accepts is wrapped in
// a TLS server and every connection DialStream makes (streamLayer.Dial,
// Call) in a TLS client, before the stream header: both sides present a
// certificate and check the other's against the CA. A peer that fails the
// handshake (no certificate, another CA's) never reaches route's header,
// so it can neither vote, nor append, nor call meta-rpc or group-rpc.
//
// The setting is process-wide because the dialers are package functions
// called without a Mux (placement's and the node's Call): a process runs
// one node, with one cluster identity.

// ClusterTLS supplies the two sides of the cluster port's mutual TLS;
// tlsconf.Loader implements it. Both methods are called for every
// handshake, from the handshaking goroutine, and must be safe for
// concurrent use.
type ClusterTLS interface {
	// MutualServerConfig is the accepting side's configuration.
	MutualServerConfig() *tls.Config
	// MutualClientConfig is the dialing side's configuration.
	MutualClientConfig() *tls.Config
}

// clusterTLS holds the process's ClusterTLS (nil: plain TCP).
var clusterTLS atomic.Pointer[ClusterTLS]

// SetClusterTLS turns mutual TLS on for every Mux and dialer of the
// process (nil turns it off). Set it before the Mux serves and the groups
// dial.
func SetClusterTLS(t ClusterTLS) {
	if t == nil {
		clusterTLS.Store(nil)
		return
	}
	clusterTLS.Store(&t)
}

// secureAccepted runs the TLS server handshake on an accepted connection
// when mutual TLS is on (within muxHandshakeTimeout); ok is false when it
// failed, and the connection is then closed.
func (m *Mux) secureAccepted(conn net.Conn) (_ net.Conn, ok bool) {
	p := clusterTLS.Load()
	if p == nil {
		return conn, true
	}
	tc := tls.Server(conn, (*p).MutualServerConfig())
	ctx, cancel := context.WithTimeout(context.Background(), muxHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		m.log.Warn("cluster port TLS handshake refused", "remote", conn.RemoteAddr().String(), "err", err)
		conn.Close()
		return nil, false
	}
	return tc, true
}

// secureDialed runs the TLS client handshake on a dialed connection when
// mutual TLS is on (within timeout); on an error the connection is closed.
func secureDialed(conn net.Conn, timeout time.Duration) (net.Conn, error) {
	p := clusterTLS.Load()
	if p == nil {
		return conn, nil
	}
	tc := tls.Client(conn, (*p).MutualClientConfig())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// VerifyPeer checks, when mutual TLS is on, that the node whose cluster
// port is addr completes the mutual handshake (its certificate is signed
// by the CA, and it accepts ours); nil at once when TLS is off. Placement
// calls it before it admits a node that gossip reports, since gossip
// itself is not authenticated by TLS.
func VerifyPeer(ctx context.Context, addr string) error {
	if clusterTLS.Load() == nil {
		return nil
	}
	timeout := muxHandshakeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	conn, err = secureDialed(conn, timeout)
	if err != nil {
		return err
	}
	return conn.Close()
}

// ClusterTLSEnabled reports whether mutual TLS is on (SetClusterTLS).
func ClusterTLSEnabled() bool { return clusterTLS.Load() != nil }
