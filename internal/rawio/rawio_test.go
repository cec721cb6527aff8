package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// pair returns a Conn and the plain *net.TCPConn at its other end.
func pair(t testing.TB) (*Conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		done <- nc
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc := <-done
	if nc == nil {
		t.Fatal("accept failed")
	}
	c, ok := Wrap(nc).(*Conn)
	if !ok {
		t.Fatalf("Wrap(%T) did not return a *Conn", nc)
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer.(*net.TCPConn)
}

func TestWrapLeavesOtherConns(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := Wrap(a); got != a {
		t.Fatalf("Wrap(net.Pipe) = %T, want the conn itself", got)
	}
}

// TestLargeTransfer writes more than the socket buffers hold both ways, so
// that writes wait in the netpoller and reads return partial data, and
// checks every byte arrives in order.
func TestLargeTransfer(t *testing.T) {
	c, peer := pair(t)
	rng := testutil.Rand(t)
	data := make([]byte, 16<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, dir := range []struct {
		name string
		w    io.Writer
		r    io.Reader
	}{{"raw write", c, peer}, {"raw read", peer, c}} {
		errc := make(chan error, 1)
		go func() {
			n, err := dir.w.Write(data)
			if err == nil && n != len(data) {
				err = io.ErrShortWrite
			}
			errc <- err
		}()
		got := make([]byte, len(data))
		for off := 0; off < len(got); {
			// Small reads for the first MiB, so the writer fills the
			// buffers and waits; then the rest at once.
			chunk := len(got) - off
			if off < 1<<20 {
				chunk = min(chunk, 1000)
			}
			n, err := dir.r.Read(got[off : off+chunk])
			if err != nil {
				t.Fatalf("%s: read at %d: %v", dir.name, off, err)
			}
			off += n
		}
		if err := <-errc; err != nil {
			t.Fatalf("%s: write: %v", dir.name, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: the bytes read differ from those written", dir.name)
		}
	}
}

func TestEOFAndEmptyRead(t *testing.T) {
	c, peer := pair(t)
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	if _, err := peer.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "abc" {
		t.Fatalf("ReadAll = %q, %v; want \"abc\", nil (io.EOF at the end)", got, err)
	}
	if n, err := c.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestDeadline(t *testing.T) {
	c, _ := pair(t)
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 4))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want a timeout", err)
	}
}

func TestCloseWakesReader(t *testing.T) {
	c, _ := pair(t)
	closeWakesRead(t, c)
}

// closeWakesRead closes c while a Read waits, or is about to (either way
// it must end), and checks that Read returns net.ErrClosed.
func closeWakesRead(t *testing.T, c *Conn) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 4))
		errc <- err
	}()
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read on a closed Conn: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still waiting 10 s after Close")
	}
}

// TestWriteToResetPeer: writes to a peer that reset the connection fail
// with an error (EPIPE or ECONNRESET), without a signal ending the test.
func TestWriteToResetPeer(t *testing.T) {
	c, peer := pair(t)
	if err := peer.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	peer.Close() // linger 0: an RST
	testutil.Eventually(t, 10*time.Second, "a write to fail", func() error {
		if _, err := c.Write([]byte("x")); err == nil {
			return errors.New("write succeeded")
		}
		return nil
	})
	var oe *net.OpError
	if _, err := c.Write([]byte("x")); !errors.As(err, &oe) {
		t.Fatalf("write error %T %v, want a *net.OpError", err, err)
	}
}

// TestConcurrentWrites: Writes from several goroutines each arrive whole,
// as with a net.TCPConn.
func TestConcurrentWrites(t *testing.T) {
	c, peer := pair(t)
	const writers, frames, size = 4, 200, 10000
	errc := make(chan error, writers)
	for w := range writers {
		go func() {
			frame := bytes.Repeat([]byte{byte('a' + w)}, size)
			for range frames {
				if _, err := c.Write(frame); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	got := make([]byte, size)
	for i := range writers * frames {
		if _, err := io.ReadFull(peer, got); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if n := bytes.Count(got, got[:1]); n != size {
			t.Fatalf("frame %d mixes writers: %d of %d bytes are %q", i, n, size, got[:1])
		}
	}
	for range writers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestNoAllocations: a Read and a Write allocate nothing (RawConn's
// functions are bound once, in Wrap).
func TestNoAllocations(t *testing.T) {
	c, peer := pair(t)
	msg, buf := []byte("+OK\r\n"), make([]byte, 64)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := peer.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(peer, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per Read and Write, want 0", allocs)
	}
}

// TestWaitFirst: on Linux, a Read that follows one which left the socket
// empty waits in the netpoller before it reads, so a request-reply
// exchange costs one read per request, not two (the second finding the
// socket empty). It fails if waiting first is off, which it would be
// silently if a Go release moved package net's fields.
func TestWaitFirst(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("TCP_INQ is Linux's; on %s a Conn reads before it waits", runtime.GOOS)
	}
	c, peer := pair(t)
	if !c.waitFirst() {
		t.Fatal("waiting first is off: TCP_INQ refused, or package net's fields moved")
	}
	const rounds = 50
	req, buf := []byte("*1\r\n$4\r\nPING\r\n"), make([]byte, 64)
	errc := make(chan error, 1)
	go func() {
		reply := make([]byte, 7)
		for range rounds {
			if _, err := peer.Write(req); err != nil {
				errc <- err
				return
			}
			if _, err := io.ReadFull(peer, reply); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := range rounds {
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], req) {
			t.Fatalf("round %d: Read = %q, %v; want %q", i, buf[:n], err, req)
		}
		if _, err := c.Write([]byte("+PONG\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// A read per request, and a spare one each time the readiness left by
	// a request that came during the previous read wakes a Read early.
	if c.reads > rounds+rounds/5 {
		t.Fatalf("%d reads for %d requests, want about one per request", c.reads, rounds)
	}
}

// TestWaitFirstEndOfFile: a request and the FIN after it, read by one
// read(2) (which leaves the end of file for the next), and no byte after
// them: the Read after the reply returns io.EOF. A Read that waited first
// on a short read would wait for an edge that never comes, since the peer
// (half-closed, reading the reply) sends nothing more.
func TestWaitFirstEndOfFile(t *testing.T) {
	c, peer := pair(t)
	if _, err := peer.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := peer.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// On loopback the request and the FIN are in c's socket when Write
	// and CloseWrite return: the sender's system call delivers them.
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "PING\r\n" {
		t.Fatalf("Read = %q, %v; want the request", buf[:n], err)
	}
	if _, err := c.Write([]byte("+PONG\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after the request and its FIN = %d, %v; want 0, io.EOF", n, err)
	}
}

// TestWaitFirstDeadlineAndClose: a Read waiting first ends at its
// deadline, and at Close.
func TestWaitFirstDeadlineAndClose(t *testing.T) {
	c, peer := pair(t)
	buf := make([]byte, 64)
	drain := func() {
		t.Helper()
		if _, err := peer.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	drain()
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	drain()
	closeWakesRead(t, c)
}
