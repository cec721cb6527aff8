package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// newSecretMux serves a Mux with the cluster secrets s (comma-separated;
// "" for none) and a meta-rpc echo handler; handled counts the requests
// the handler saw.
func newSecretMux(t *testing.T, s string) (m *Mux, handled *atomic.Int64) {
	t.Helper()
	secrets, err := ParseClusterSecrets(s)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m = NewMux(ln, nil, nil)
	m.RequireSecret(secrets)
	l, err := m.Layer(StreamMetaRPC)
	if err != nil {
		t.Fatal(err)
	}
	handled = new(atomic.Int64)
	done := make(chan struct{}, 2)
	go func() { _ = m.Serve(); done <- struct{}{} }()
	go func() {
		_ = ServeCalls(l, 0, 5*time.Second, func(_ context.Context, req []byte) []byte {
			handled.Add(1)
			return append([]byte("re:"), req...)
		})
		done <- struct{}{}
	}()
	t.Cleanup(func() { m.Close(); <-done; <-done })
	return m, handled
}

// dialerMux is a Mux used only to dial, with secrets s.
func dialerMux(t *testing.T, s string) *Mux {
	t.Helper()
	m, _ := newSecretMux(t, s)
	return m
}

const (
	secretA = "aaaaaaaaaaaaaaaaaaaaaaaa"
	secretB = "bbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestMuxAuthCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cases := []struct {
		name             string
		server, client   string
		ok               bool
		inFail, outFail  uint64 // expected on the server's and the client's Mux
		handlerCallsSeen int64
	}{
		{"same secret", secretA, secretA, true, 0, 0, 1},
		{"rotation: client proves with new, server accepts both", secretA + "," + secretB, secretB + "," + secretA, true, 0, 0, 1},
		{"rotation: server knows only the old one, client proves with it", secretA, secretA + "," + secretB, true, 0, 0, 1},
		{"rotation: client proves with new, server knows only old", secretA, secretB + "," + secretA, false, 1, 1, 0},
		{"wrong secret", secretA, secretB, false, 1, 1, 0},
		{"no secret on the client", secretA, "", false, 1, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, handled := newSecretMux(t, tc.server)
			cli := dialerMux(t, tc.client)
			resp, err := cli.Call(ctx, srv.Addr().String(), StreamMetaRPC, []byte("hi"), 0)
			if tc.ok && (err != nil || string(resp) != "re:hi") {
				t.Fatalf("Call = %q, %v; want re:hi", resp, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("Call = %q, nil; want an error", resp)
			}
			if !tc.ok && tc.client != "" && !errors.Is(err, ErrMuxAuth) {
				t.Fatalf("Call error %v is not ErrMuxAuth", err)
			}
			// A client without the secret gives up first (it reads the nonce
			// as a frame): the server counts its failure at its deadline.
			testutil.Eventually(t, 10*time.Second, "server inbound failures", func() error {
				if in, _ := srv.AuthFailures(); in != tc.inFail {
					return fmt.Errorf("server inbound failures = %d, want %d", in, tc.inFail)
				}
				return nil
			})
			if _, out := cli.AuthFailures(); out != tc.outFail {
				t.Errorf("client outbound failures = %d, want %d", out, tc.outFail)
			}
			if n := handled.Load(); n != tc.handlerCallsSeen {
				t.Errorf("handler saw %d requests, want %d", n, tc.handlerCallsSeen)
			}
		})
	}
}

// TestMuxAuthRaftTransport: a raft transport behind a secret answers a
// peer with the secret and never hands a connection without it to raft.
func TestMuxAuthRaftTransport(t *testing.T) {
	srv, _ := newSecretMux(t, secretA)
	l, err := srv.Layer("g1")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	// Without the secret: the raw stream never reaches the layer.
	c, err := DialStream(srv.Addr().String(), "g1", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write(make([]byte, 200)) // a would-be raft RPC
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [64]byte
	n, _ := c.Read(b[:])  // the nonce, then EOF
	_, err = c.Read(b[:]) // closed by the acceptor
	c.Close()
	if n != authNonceLen || err == nil {
		t.Fatalf("read %d bytes then %v; want the nonce then the connection closed", n, err)
	}
	select {
	case <-accepted:
		t.Fatal("a connection without the secret reached the raft layer")
	default:
	}
	// With it: the layer accepts, and the stream's bytes come through.
	cli := dialerMux(t, secretA)
	c, err = cli.DialStream(srv.Addr().String(), "g1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("rpc"))
	select {
	case a := <-accepted:
		defer a.Close()
		_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := a.Read(b[:3]); err != nil || string(b[:3]) != "rpc" {
			t.Fatalf("layer read %q, %v", b[:3], err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the authenticated connection did not reach the layer")
	}
	if in, _ := srv.AuthFailures(); in != 1 {
		t.Fatalf("inbound failures = %d, want 1", in)
	}
}

func TestParseClusterSecrets(t *testing.T) {
	if s, err := ParseClusterSecrets(" "); s != nil || err != nil {
		t.Fatalf("empty: %q, %v", s, err)
	}
	if s, err := ParseClusterSecrets(secretA + " , " + secretB); err != nil || len(s) != 2 || string(s[1]) != secretB {
		t.Fatalf("two: %q, %v", s, err)
	}
	if _, err := ParseClusterSecrets(secretA + ",short"); !errors.Is(err, ErrWeakSecret) {
		t.Fatalf("short: %v", err)
	}
}
