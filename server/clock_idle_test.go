package server

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestIdleCountsFromBatchEnd: a client's idle time (CLIENT LIST's idle,
// and what timeout compares) starts when its last batch ends, as Redis
// counts a reply as an interaction: right after a BLPOP that blocked
// 1.5 s returns, the client is idle 0 s, not 1. Otherwise timeout would
// close a client at once after any command longer than it.
func TestIdleCountsFromBatchEnd(t *testing.T) {
	gs := startInmemGroups(t, 1)
	waitReady(t, gs[0])
	_, addr := introServer(t, gs[0], nil)
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	id := strings.TrimSuffix(strings.TrimPrefix(a.do("CLIENT", "ID"), ":"), "\r\n")
	start := time.Now()
	if got := a.do("BLPOP", "q", "1.5"); got != "*-1\r\n" {
		t.Fatalf("BLPOP = %q, want a null array at its timeout", got)
	}
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Fatalf("BLPOP returned after %v, before its 1.5 s timeout", d)
	}
	list := b.do("CLIENT", "LIST", "ID", id)
	m := regexp.MustCompile(` idle=(\d+) `).FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("CLIENT LIST ID %s = %q: no idle field", id, list)
	}
	if m[1] != "0" {
		t.Fatalf("idle=%s right after a 1.5 s BLPOP returned, want 0: %q", m[1], list)
	}
}
