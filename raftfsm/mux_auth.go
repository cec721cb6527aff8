package raftfsm

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cluster-port authentication. With a cluster secret (Mux.RequireSecret)
// every connection on the cluster port proves, right after the SHL1 header
// and before any byte of the stream reaches raft or a call handler, that
// both ends know a shared secret:
//
//	acceptor -> dialer: nonceA (32 random bytes)
//	dialer -> acceptor: nonceD (32 random bytes) | HMAC-SHA256(secret, "shoal-mux-v1 dial"   | nonceA | nonceD | len(name) | name)
//	acceptor -> dialer: HMAC-SHA256(secret, "shoal-mux-v1 accept" | nonceA | nonceD | len(name) | name)
//
// The acceptor checks the dialer's proof against each of its secrets and
// answers with the one that matched; the dialer proves with its first
// secret and accepts the acceptor's proof under any of its secrets. So a
// secret can be rotated node by node: add the new one second, then first,
// then drop the old one. The nonces of both ends make a recorded
// handshake useless for another connection; the stream name and direction
// in the MAC keep a proof from being replayed for another stream or in
// the other direction. The handshake authenticates the peer, it does not
// encrypt nor protect the stream after it (that is TLS's job).
//
// A connection that fails the handshake is closed at once, counted
// (Mux.AuthFailures) and logged at most once per authLogEvery.

const (
	authNonceLen = 32
	authMACLen   = sha256.Size
	// authLogEvery is the least time between two log lines about failed
	// handshakes; the lines in between are counted in the next one.
	authLogEvery = 10 * time.Second
	// MinClusterSecretLen is the least length (bytes) of a cluster secret.
	MinClusterSecretLen = 16
)

var (
	authLabelDial   = []byte("shoal-mux-v1 dial")
	authLabelAccept = []byte("shoal-mux-v1 accept")
)

// ParseClusterSecrets parses a comma-separated list of cluster secrets
// (spaces around each trimmed): the first is the one this node proves
// with, every one is accepted. An empty s returns nil (no
// authentication). Each secret must be at least MinClusterSecretLen bytes.
func ParseClusterSecrets(s string) ([][]byte, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out [][]byte
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if len(p) < MinClusterSecretLen {
			return nil, ErrWeakSecret
		}
		out = append(out, []byte(p))
	}
	return out, nil
}

// muxAuth holds a Mux's secrets and failure counters. Its fields are set
// once before Serve; the counters are atomic, the log limiter has its own
// lock: safe for the Mux's concurrent route and dial goroutines.
type muxAuth struct {
	secrets [][]byte

	inFailures  atomic.Uint64 // connections accepted that failed the handshake
	outFailures atomic.Uint64 // connections dialed whose peer failed to prove

	logMu      sync.Mutex // guards lastLog and suppressed
	lastLog    time.Time
	suppressed int
}

// RequireSecret makes every connection the Mux accepts or dials (through
// its DialStream, Call and layers) authenticate with secrets (see
// ParseClusterSecrets; nil or empty turns authentication off). Call it
// before Serve and before any layer dials.
func (m *Mux) RequireSecret(secrets [][]byte) {
	if len(secrets) == 0 {
		m.auth = nil
		return
	}
	m.auth = &muxAuth{secrets: secrets}
}

// AuthFailures returns how many connections failed the cluster-secret
// handshake since the Mux started: inbound (accepted connections whose
// dialer did not prove the secret) and outbound (dialed connections whose
// acceptor did not). Both are 0 without a secret. Safe for concurrent use.
func (m *Mux) AuthFailures() (inbound, outbound uint64) {
	if m == nil || m.auth == nil {
		return 0, 0
	}
	return m.auth.inFailures.Load(), m.auth.outFailures.Load()
}

func authMAC(secret, label, nonceA, nonceD []byte, name string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(label)
	h.Write(nonceA)
	h.Write(nonceD)
	h.Write([]byte{byte(len(name))})
	h.Write([]byte(name))
	return h.Sum(nil)
}

// accept runs the acceptor's side on conn, whose header named stream
// name; the caller has set conn's deadline. It reports whether the dialer
// proved a secret; on false the caller closes conn.
func (a *muxAuth) accept(conn net.Conn, name string, log *slog.Logger) bool {
	var nonceA [authNonceLen]byte
	if _, err := rand.Read(nonceA[:]); err != nil {
		return a.fail(log, &a.inFailures, conn, name, "no randomness")
	}
	_ = conn.SetWriteDeadline(time.Now().Add(muxHandshakeTimeout))
	if _, err := conn.Write(nonceA[:]); err != nil {
		return a.fail(log, &a.inFailures, conn, name, "write nonce: "+err.Error())
	}
	var resp [authNonceLen + authMACLen]byte
	if _, err := io.ReadFull(conn, resp[:]); err != nil {
		return a.fail(log, &a.inFailures, conn, name, "no answer: "+err.Error())
	}
	nonceD, mac := resp[:authNonceLen], resp[authNonceLen:]
	for _, s := range a.secrets {
		if hmac.Equal(mac, authMAC(s, authLabelDial, nonceA[:], nonceD, name)) {
			if _, err := conn.Write(authMAC(s, authLabelAccept, nonceA[:], nonceD, name)); err != nil {
				return a.fail(log, &a.inFailures, conn, name, "write proof: "+err.Error())
			}
			_ = conn.SetWriteDeadline(time.Time{})
			return true
		}
	}
	return a.fail(log, &a.inFailures, conn, name, "wrong answer")
}

// dial runs the dialer's side on conn, after its header for stream name,
// within deadline. A nil error means both ends proved a secret.
func (a *muxAuth) dial(conn net.Conn, name string, deadline time.Time, log *slog.Logger) error {
	_ = conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{})
	var nonceA [authNonceLen]byte
	if _, err := io.ReadFull(conn, nonceA[:]); err != nil {
		// The acceptor closed the connection: our proof may be wrong, or it
		// runs without a secret and waits for the stream (then the
		// deadline passes).
		a.fail(log, &a.outFailures, conn, name, "no nonce: "+err.Error())
		return ErrMuxAuth
	}
	msg := make([]byte, authNonceLen, authNonceLen+authMACLen)
	if _, err := rand.Read(msg); err != nil {
		return err
	}
	msg = append(msg, authMAC(a.secrets[0], authLabelDial, nonceA[:], msg[:authNonceLen], name)...)
	if _, err := conn.Write(msg); err != nil {
		return err
	}
	var proof [authMACLen]byte
	if _, err := io.ReadFull(conn, proof[:]); err != nil {
		a.fail(log, &a.outFailures, conn, name, "peer refused our secret: "+err.Error())
		return ErrMuxAuth
	}
	for _, s := range a.secrets {
		if hmac.Equal(proof[:], authMAC(s, authLabelAccept, nonceA[:], msg[:authNonceLen], name)) {
			return nil
		}
	}
	a.fail(log, &a.outFailures, conn, name, "peer's proof is wrong")
	return ErrMuxAuth
}

// fail counts a failed handshake and logs it, at most once per
// authLogEvery (with how many were not logged since). It returns false.
func (a *muxAuth) fail(log *slog.Logger, counter *atomic.Uint64, conn net.Conn, name, reason string) bool {
	counter.Add(1)
	a.logMu.Lock()
	now := time.Now()
	if now.Sub(a.lastLog) < authLogEvery {
		a.suppressed++
		a.logMu.Unlock()
		return false
	}
	suppressed := a.suppressed
	a.lastLog, a.suppressed = now, 0
	a.logMu.Unlock()
	dir := "inbound"
	if counter == &a.outFailures {
		dir = "outbound"
	}
	log.Warn("cluster-port authentication failed; connection closed", "direction", dir,
		"remote-addr", conn.RemoteAddr().String(), "stream", name, "reason", reason, "suppressed", suppressed)
	return false
}

// authProbeStream is the stream name of ProbeAuth's connections: no layer
// registers it, so the acceptor closes the connection right after the
// handshake.
const authProbeStream = "auth-probe"

// AuthRequired reports whether the Mux has a cluster secret.
func (m *Mux) AuthRequired() bool { return m != nil && m.auth != nil }

// ProbeAuth checks that the node whose cluster port is addr knows a
// cluster secret of this Mux (both ends prove, as on every connection) and
// closes the connection; nil without a secret. It blocks at most timeout.
func (m *Mux) ProbeAuth(addr string, timeout time.Duration) error {
	if !m.AuthRequired() {
		return nil
	}
	c, err := m.DialStream(addr, authProbeStream, timeout)
	if err != nil {
		return err
	}
	return c.Close()
}
