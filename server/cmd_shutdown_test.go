package server

import (
	"testing"
	"time"
)

// TestShutdownErrorsMatchRedis: SHUTDOWN's refusals are Redis 7.0's, and
// a refused SHUTDOWN requests nothing.
func TestShutdownErrorsMatchRedis(t *testing.T) {
	p, s := newPair(t)
	for _, args := range [][]string{
		{"SHUTDOWN", "ABORT"},
		{"SHUTDOWN", "FOO"},
		{"SHUTDOWN", "NOSAVE", "SAVE"},
		{"SHUTDOWN", "NOW", "ABORT"},
		{"SHUTDOWN", "abort", "force"},
		{"shutdown", "save", "nosave", "now"},
	} {
		p.same(args...)
	}
	select {
	case req := <-s.ShutdownRequests():
		t.Fatalf("a refused SHUTDOWN requested %+v", req)
	default:
	}
}

// TestShutdownRequest: an accepted SHUTDOWN gets no reply, closes its
// connection and hands its options to the embedding process.
func TestShutdownRequest(t *testing.T) {
	s, addr := introServer(t, newFakeGroup(t), nil)
	c := dialRaw(t, addr)
	if _, err := c.nc.Write([]byte("SHUTDOWN NOW SAVE force\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case req := <-s.ShutdownRequests():
		if !req.Now || !req.Save || !req.Force || req.NoSave {
			t.Fatalf("request %+v, want Now, Save and Force", req)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown request")
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.nc.Read(make([]byte, 64)); err == nil {
		t.Fatalf("SHUTDOWN replied %d bytes, want the connection closed", n)
	}
}
