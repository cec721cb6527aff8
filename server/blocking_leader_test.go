package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestBlockedClientLeadershipLost: a client blocked in BLPOP on a group's
// leader is answered soon after the node stops leading, even though no
// write to its key is applied afterwards (a leadership transfer with
// nothing after it), instead of waiting until its timeout there.
func TestBlockedClientLeadershipLost(t *testing.T) {
	gs := startInmemGroups(t, 3)
	waitReady(t, gs[0])
	srv, addr := introServer(t, gs[0], nil)
	a := dialRaw(t, addr)
	a.send("BLPOP", "q", "30")
	testutil.Until(t, 10*time.Second, "the client blocked", func() bool {
		return srv.track.blockers.Load() == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := gs[0].TransferLeadership(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	got := string(a.read().Raw) // read waits at most 5 s: far less than 30
	t.Logf("answered %q %v after the transfer", got, time.Since(start))
	if got == "*-1\r\n" || !strings.HasPrefix(got, "-") {
		t.Fatalf("BLPOP after losing leadership = %q, want a redirect or retry error", got)
	}
}
