package testutil

import (
	"testing"

	"github.com/shoalcache/shoal/internal/proc"
)

// FreePort returns a TCP port on 127.0.0.1 the OS reports free. It is
// released before returning: a caller that loses it to another process
// must start again on a new one (the Start functions here do).
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FreePorts returns n distinct free ports (see FreePort).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ps, err := proc.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// FreePortWithOffsets returns a free port p such that p+off is free too for
// every off: Shoal's default cluster and gossip ports are P+10000 and
// P+20000, Redis Cluster's bus port P+10000.
func FreePortWithOffsets(t testing.TB, offs ...int) int {
	t.Helper()
	p, err := proc.FreePortWithOffsets(offs...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
