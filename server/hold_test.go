package server

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalcache/shoal/command"
)

// electingRouter routes every slot to g, a local follower that knows no
// leader until elected is set; then to the leader at addr.
type electingRouter struct {
	redirectRouter
	elected *atomic.Bool
}

func (r electingRouter) Route(int) (Group, bool, string, bool) {
	if r.elected.Load() {
		return r.g, false, r.addr, true
	}
	return r.g, false, "", true
}

// TestLeaderHold: a command for a slot whose group has no known leader
// waits up to LeaderHold for one and is redirected to it, instead of
// getting CLUSTERDOWN, which clients retry only a few times within about
// 100 ms; once LeaderHold has passed without a leader it gets CLUSTERDOWN.
func TestLeaderHold(t *testing.T) {
	elected := new(atomic.Bool)
	cfg := DefaultConfig()
	cfg.LeaderHold = 5 * time.Second
	s, err := New(cfg, electingRouter{redirectRouter{g: newFakeGroup(t), addr: "10.0.0.9:7001"}, elected})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTest(t, s)
	// start before the timer: the election is then at least 100 ms after it.
	start := time.Now()
	time.AfterFunc(100*time.Millisecond, func() { elected.Store(true) })
	got := pipeline(t, addr, "SET a 1", "GET b")
	if got[0] != "-MOVED 15495 10.0.0.9:7001\r\n" || got[1] != "-MOVED 3300 10.0.0.9:7001\r\n" {
		t.Fatalf("replies %q, want MOVED to the elected leader for each", got)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("answered after %v, before the election", took)
	}
	if st := s.InfoStats(); st.RouteHolds != 1 || st.RouteHoldTimeouts != 0 {
		// The GET found the leader known: one wait, for the SET.
		t.Fatalf("route holds %d, timeouts %d; want 1, 0", st.RouteHolds, st.RouteHoldTimeouts)
	}

	cfg.LeaderHold = 50 * time.Millisecond
	s, err = New(cfg, electingRouter{redirectRouter{g: newFakeGroup(t), addr: "10.0.0.9:7001"}, new(atomic.Bool)})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	got = pipeline(t, serveTest(t, s), "SET a 1")
	if want := "-" + command.ErrClusterDown + "\r\n"; got[0] != want {
		t.Fatalf("reply %q, want %q", got[0], want)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("CLUSTERDOWN after %v, before LeaderHold", took)
	}
	if st := s.InfoStats(); st.RouteHolds != 1 || st.RouteHoldTimeouts != 1 {
		t.Fatalf("route holds %d, timeouts %d; want 1, 1", st.RouteHolds, st.RouteHoldTimeouts)
	}
}

// flipRouter routes every slot to the source's leader at src until flipped
// is set, then to the target's leader at dst; the node holds a replica of
// the migration's target all along (Incoming).
type flipRouter struct {
	redirectRouter
	src, dst string
	flipped  *atomic.Bool
}

func (r flipRouter) Route(int) (Group, bool, string, bool) {
	if r.flipped.Load() {
		return nil, false, r.dst, true
	}
	return nil, false, r.src, true
}

func (r flipRouter) Incoming(int) Group { return r.g }

// TestIncomingHold: on a node with a replica of a migration's target whose
// map has not yet learned the flip, a command (sent by the source, which
// has) waits for the map rather than being sent back to the source, and
// is then redirected to the target's leader.
func TestIncomingHold(t *testing.T) {
	flipped := new(atomic.Bool)
	r := flipRouter{redirectRouter{g: newFakeGroup(t)}, "10.0.0.1:7001", "10.0.0.2:7001", flipped}
	addr := startFakeServer(t, r)
	time.AfterFunc(50*time.Millisecond, func() { flipped.Store(true) })
	got := pipeline(t, addr, "SET a 1")
	if got[0] != "-MOVED 15495 10.0.0.2:7001\r\n" {
		t.Fatalf("reply %q, want MOVED to the target's leader", got[0])
	}
}
