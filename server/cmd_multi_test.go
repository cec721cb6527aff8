package server

import (
	"strings"
	"testing"
)

// TestMultiAtomicity: a transaction of writes goes to its group as one
// proposal (one log entry, applied at once); one that mixes reads and
// writes is refused and discarded, not run without isolation.
func TestMultiAtomicity(t *testing.T) {
	g := newFakeGroup(t)
	_, addr := introServer(t, g, nil)
	a := dialRaw(t, addr)
	a.do("MULTI")
	for _, k := range []string{"a", "b", "c"} {
		if got := a.do("SET", k, "1"); got != "+QUEUED\r\n" {
			t.Fatalf("SET %s in MULTI = %q", k, got)
		}
	}
	g.mu.Lock()
	before := g.proposals
	g.mu.Unlock()
	if got := a.do("EXEC"); got != "*3\r\n+OK\r\n+OK\r\n+OK\r\n" {
		t.Fatalf("EXEC = %q", got)
	}
	g.mu.Lock()
	n := g.proposals - before
	g.mu.Unlock()
	if n != 1 {
		t.Errorf("the transaction took %d proposals, want 1", n)
	}

	a.do("MULTI")
	a.do("SET", "a", "2")
	a.do("GET", "a")
	if got := a.do("EXEC"); !strings.HasPrefix(got, "-ERR Shoal runs a transaction only when") {
		t.Errorf("EXEC of a mixed transaction = %q", got)
	}
	if got := a.do("GET", "a"); got != "$1\r\n1\r\n" {
		t.Errorf("GET a after the refused transaction = %q, want 1", got)
	}
	if got := a.do("EXEC"); got != "-"+errExecNoMulti+"\r\n" {
		t.Errorf("EXEC after the refused transaction = %q (not discarded?)", got)
	}
}
