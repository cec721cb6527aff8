package server

import (
	"testing"

	"github.com/shoalcache/shoal/internal/rawio"
)

// TestClientConnsUseRawIO: accepted client connections read and write
// through rawio (docs/architecture.md, "Raw socket calls").
func TestClientConnsUseRawIO(t *testing.T) {
	s, addr := introServer(t, newFakeGroup(t), nil)
	c := dialRaw(t, addr)
	if got := c.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING: %q", got)
	}
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	if len(s.clients) == 0 {
		t.Fatal("no client registered")
	}
	for id, cl := range s.clients {
		if _, ok := cl.nc.(*rawio.Conn); !ok {
			t.Errorf("client %d: connection %T, want *rawio.Conn", id, cl.nc)
		}
	}
}
