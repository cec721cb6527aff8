package proxy

import (
	"net"
	"testing"

	"github.com/shoalcache/shoal/internal/rawio"
)

// TestClientConnUsesRawIO: the proxy's client connections read and write
// through rawio (docs/architecture.md, "Raw socket calls").
func TestClientConnUsesRawIO(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := newClientConn(&Proxy{cfg: DefaultConfig()}, nc)
	if _, ok := c.nc.(*rawio.Conn); !ok {
		t.Fatalf("client connection %T, want *rawio.Conn", c.nc)
	}
}
