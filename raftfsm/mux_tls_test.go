package raftfsm

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestMuxMutualTLS: with SetClusterTLS, calls between nodes of one CA go
// through, and a dialer without TLS, or with another CA's certificate,
// never reaches a stream.
func TestMuxMutualTLS(t *testing.T) {
	ca := testutil.NewTLSCA(t, "ca")
	SetClusterTLS(testutil.TLSLoader(t, ca.Issue(t, "node")))
	t.Cleanup(func() { SetClusterTLS(nil) })
	m := newTestMux(t)
	l, err := m.Layer(StreamMetaRPC)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = ServeCalls(l, 0, 10*time.Second, func(_ context.Context, req []byte) []byte { return append([]byte("re:"), req...) })
	}()
	addr := m.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := Call(ctx, addr, StreamMetaRPC, []byte("hello"), 0)
	if err != nil || string(resp) != "re:hello" {
		t.Fatalf("Call over mutual TLS = %q, %v", resp, err)
	}

	hdr := append([]byte(muxMagic), byte(len(StreamMetaRPC)))
	hdr = append(hdr, StreamMetaRPC...)
	call := append(hdr, 0, 0, 0, 5, 0, 0, 0x27, 0x10)
	call = append(call, "hello"...)
	// answered reports whether a call written on c gets a response.
	answered := func(c net.Conn) bool {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(call); err != nil {
			return false
		}
		b, err := ReadFrame(c, 0)
		return err == nil && string(b) == "re:hello"
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if !answered(tls.Client(dial(), testutil.TLSLoader(t, ca.Issue(t, "peer")).MutualClientConfig())) {
		t.Fatal("a peer of the same CA was not answered")
	}
	if answered(dial()) {
		t.Fatal("a plain TCP call was answered")
	}
	rogue := testutil.NewTLSCA(t, "rogue").Issue(t, "rogue")
	rogue.CA = ca.CertFile // it trusts our CA, but its certificate is another's
	if answered(tls.Client(dial(), testutil.TLSLoader(t, rogue).MutualClientConfig())) {
		t.Fatal("a peer with another CA's certificate was answered")
	}
	if answered(tls.Client(dial(), &tls.Config{InsecureSkipVerify: true})) {
		t.Fatal("a peer without a certificate was answered")
	}
	// And a node of another CA is not dialed: its server certificate fails.
	rln, err := tls.Listen("tcp", "127.0.0.1:0", testutil.TLSLoader(t, rogue).MutualServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer rln.Close()
	go func() {
		for {
			c, err := rln.Accept()
			if err != nil {
				return
			}
			go func() { // answer anything, as a rogue node would
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				var b [64]byte
				_, _ = c.Read(b[:])
				_ = WriteFrame(c, []byte("re:hello"))
			}()
		}
	}()
	if _, err := Call(ctx, rln.Addr().String(), StreamMetaRPC, []byte("hello"), 0); err == nil {
		t.Fatal("Call reached a node of another CA")
	}
}
