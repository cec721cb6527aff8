package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/rawio"
)

// newTestMux serves a Mux on 127.0.0.1 until the test ends.
func newTestMux(t testing.TB) *Mux {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(ln, nil, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Serve()
	}()
	t.Cleanup(func() {
		m.Close()
		<-done
	})
	return m
}

func TestCallStream(t *testing.T) {
	m := newTestMux(t)
	l, err := m.Layer(StreamMetaRPC)
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		req      []byte
		deadline time.Duration
	}
	got := make(chan seen, 4)
	block := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- ServeCalls(l, 64, 10*time.Second, func(ctx context.Context, req []byte) []byte {
			dl, _ := ctx.Deadline()
			got <- seen{req, time.Until(dl)}
			if string(req) == "block" {
				select {
				case <-block:
				case <-ctx.Done():
				}
			}
			return append([]byte("re:"), req...)
		})
	}()
	addr := m.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := Call(ctx, addr, StreamMetaRPC, []byte("hello"), 0)
	if err != nil || string(resp) != "re:hello" {
		t.Fatalf("Call = %q, %v", resp, err)
	}
	// The caller's deadline bounds the handler.
	if s := <-got; string(s.req) != "hello" || s.deadline > 2*time.Second || s.deadline <= 0 {
		t.Fatalf("handler saw %q with %v left", s.req, s.deadline)
	}

	// A request above the server's limit gets no answer.
	if _, err := Call(ctx, addr, StreamMetaRPC, bytes.Repeat([]byte("x"), 65), 0); err == nil {
		t.Fatal("oversized request answered")
	}
	// A response above the caller's limit is refused.
	if _, err := Call(ctx, addr, StreamMetaRPC, []byte("hello"), 4); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized response: %v", err)
	}
	<-got

	// Cancelling the caller's context ends the call at once.
	cctx, ccancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Call(cctx, addr, StreamMetaRPC, []byte("block"), 0)
		errc <- err
	}()
	<-got
	ccancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	close(block)

	// Closing the layer stops ServeCalls once its handlers returned.
	l.Close()
	if err := <-served; err != nil {
		t.Fatalf("ServeCalls: %v", err)
	}
	if _, err := Call(ctx, addr, StreamMetaRPC, []byte("late"), 0); err == nil {
		t.Fatal("call answered after the layer closed")
	}
}

func TestReadFrameLimit(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, []byte("abcdef")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFrame(bytes.NewReader(buf.Bytes()), 5); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("ReadFrame over limit: %v", err)
	}
	b, err := ReadFrame(&buf, 6)
	if err != nil || string(b) != "abcdef" {
		t.Fatalf("ReadFrame = %q, %v", b, err)
	}
}

// TestMuxConnsUseRawIO: cluster-port connections, dialed and accepted,
// read and write through rawio (docs/architecture.md, "Raw socket calls").
func TestMuxConnsUseRawIO(t *testing.T) {
	m := newTestMux(t)
	l, err := m.Layer(StreamMetaRPC)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	dialed, err := m.DialStream(m.Addr().String(), StreamMetaRPC, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	if _, ok := dialed.(*rawio.Conn); !ok {
		t.Errorf("dialed connection %T, want *rawio.Conn", dialed)
	}
	select {
	case c := <-accepted:
		if c == nil {
			t.Fatal("accept failed")
		}
		defer c.Close()
		if tc, ok := c.(*trackedConn); ok {
			c = tc.Conn // the layer's wrapper, for Close only
		}
		if _, ok := c.(*rawio.Conn); !ok {
			t.Errorf("accepted connection %T, want *rawio.Conn", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted in 10 s")
	}
}
