package placement

import (
	"crypto/tls"
	"log/slog"
	"net"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/raftfsm"
)

// tlsPort accepts TLS handshakes with cfg on a loopback port until the
// test ends, and returns its address.
func tlsPort(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// TestVerifiedMembers: under tls-cluster, a member unknown at its cluster
// address is admitted only when its cluster port passes the mutual TLS
// check; members known at their address always are; with TLS off, all.
func TestVerifiedMembers(t *testing.T) {
	ca := testutil.NewTLSCA(t, "ca")
	ours := testutil.TLSLoader(t, ca.Issue(t, "node"))
	rogue := testutil.TLSLoader(t, testutil.NewTLSCA(t, "rogue").Issue(t, "rogue"))
	good := tlsPort(t, ours.MutualServerConfig())
	bad := tlsPort(t, rogue.MutualServerConfig())
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	id := func(c byte) string {
		b := make([]byte, 40)
		for i := range b {
			b[i] = c
		}
		return string(b)
	}
	mem := func(c byte, addr string) Member {
		return Member{ID: id(c), RESPAddr: "127.0.0.1:1", ClusterAddr: addr, Status: StatusAlive}
	}
	members := []Member{mem('a', good), mem('b', bad), mem('c', deadAddr), mem('d', bad), mem('e', bad)}
	// d is in the meta configuration at its address, e at another one.
	conf := []raft.Server{{ID: raft.ServerID(id('d')), Address: raft.ServerAddress(bad)}, {ID: raft.ServerID(id('e')), Address: "127.0.0.1:2"}}
	s := &Service{log: slog.New(slog.DiscardHandler)}
	names := func(ms []Member) string {
		out := ""
		for _, m := range ms {
			out += m.ID[:1]
		}
		return out
	}
	if got := names(s.verifiedMembers(members, conf)); got != "abcde" {
		t.Fatalf("TLS off: admitted %q, want all", got)
	}
	raftfsm.SetClusterTLS(ours)
	t.Cleanup(func() { raftfsm.SetClusterTLS(nil) })
	if got := names(s.verifiedMembers(members, conf)); got != "ad" {
		t.Fatalf("tls-cluster: admitted %q, want a (passes) and d (known at its address)", got)
	}
	// A failure is remembered: the second round does not probe again.
	if ok, err := s.peers.verify(members[1]); ok || err != nil {
		t.Fatalf("second check of b: %v, %v; want a remembered failure", ok, err)
	}
}
