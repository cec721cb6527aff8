package server

import (
	"errors"
	"net"
	"strings"
	"testing"
)

func TestOutputLimitsParse(t *testing.T) {
	def := DefaultLimits().Output
	if got, want := def.String(), "normal 1073741824 67108864 60 slave 268435456 67108864 60 pubsub 33554432 8388608 60"; got != want {
		t.Fatalf("default %q, want %q", got, want)
	}
	for _, tc := range []struct{ in, want, err string }{
		{"normal 1mb 2kb 3", "normal 1048576 2048 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60", ""},
		{"replica 1 2 3 PUBSUB 0 0 0", "normal 1073741824 67108864 60 slave 1 2 3 pubsub 0 0 0", ""},
		{"", def.String(), ""},
		{"master 1 2 3", "", cfgErrOBLClass},
		{"normal 1 2", "", cfgErrOBLArgs},
		{"normal x 2 3", "", cfgErrOBLValue},
		{"normal 1 2 -3", "", cfgErrOBLValue},
	} {
		got, msg := parseOutputLimits(def, tc.in)
		if msg != tc.err || (msg == "" && got.String() != tc.want) {
			t.Errorf("%q: %q %q, want %q %q", tc.in, got.String(), msg, tc.want, tc.err)
		}
	}
}

func TestIsLocalPeer(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1")}, true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1")}, true},
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, false},
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.1")}, false},
		{&net.UnixAddr{Name: "/tmp/s"}, true},
	} {
		if got := isLocalPeer(fakeConn{remote: tc.addr}); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.addr, got, tc.want)
		}
	}
}

type fakeConn struct {
	net.Conn
	remote net.Addr
}

func (c fakeConn) RemoteAddr() net.Addr { return c.remote }

func TestReaderLimits(t *testing.T) {
	r := newReader(strings.NewReader("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n"))
	r.setLimits(1<<20, 1<<30)
	_, err := r.readBatch(nil)
	var pe *protoError
	if !errors.As(err, &pe) || pe.Error() != "Protocol error: invalid bulk length" {
		t.Errorf("bulk over proto-max-bulk-len: %v", err)
	}
	r = newReader(strings.NewReader("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n" + strings.Repeat("x", 1<<20) + "\r\n"))
	r.setLimits(1<<20, 1<<30)
	if cmds, err := r.readBatch(nil); err != nil || len(cmds) != 1 {
		t.Errorf("bulk at proto-max-bulk-len: %d commands, %v", len(cmds), err)
	}
	r = newReader(strings.NewReader("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n" + strings.Repeat("x", 1_500_000)))
	r.setLimits(512<<20, 1<<20)
	if _, err := r.readBatch(nil); !errors.Is(err, errQueryBufLimit) {
		t.Errorf("request over client-query-buffer-limit: %v", err)
	}
}
