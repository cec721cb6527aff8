package server

import (
	"bufio"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/shoalcache/shoal/raftfsm"
)

// leaseGroup is a fakeGroup whose read lease answers from a script: the
// first LeaseHolds call (before a run of reads) and the second (once the
// reads are done); VerifyRead answers verifyErr and counts its calls.
type leaseGroup struct {
	*fakeGroup
	mu        sync.Mutex
	holds     []bool
	verifies  int
	verifyErr error
}

func (g *leaseGroup) LeaseHolds() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.holds) == 0 {
		return false
	}
	h := g.holds[0]
	g.holds = g.holds[1:]
	return h
}

func (g *leaseGroup) VerifyRound(context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.verifies++
	return g.verifyErr
}

// TestReadLeaseRecheck checks the connection's use of the read lease: a
// run of reads under a lease needs no round while the lease still holds
// once the reads are done; when it ended meanwhile (a pause, a leadership
// move), a round must confirm leadership before the replies go out, and
// when that round fails the replies are never sent.
func TestReadLeaseRecheck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		holds     []bool
		verifyErr error
		verifies  int
		replied   bool
	}{
		{"lease holds after the reads", []bool{true, true}, nil, 0, true},
		{"no lease: a round before reading", []bool{false}, nil, 1, true},
		{"lease ended while reading, round confirms", []bool{true, false}, nil, 1, true},
		{"lease ended while reading, round fails", []bool{true, false}, raftfsm.ErrNotLeader, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &leaseGroup{fakeGroup: newFakeGroup(t), holds: tc.holds, verifyErr: tc.verifyErr}
			if _, err := g.Propose(context.Background(), [][][]byte{{[]byte("SET"), []byte("k"), []byte("v")}}); err != nil {
				t.Fatal(err)
			}
			addr := startFakeServer(t, SingleRouter{Group: g})
			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := nc.Write([]byte("GET k\r\nGET k\r\n")); err != nil {
				t.Fatal(err)
			}
			rd := bufio.NewReader(nc)
			line, err := rd.ReadString('\n')
			if tc.replied {
				if err != nil || line != "$1\r\n" {
					t.Fatalf("reply %q, %v; want $1", line, err)
				}
			} else if err == nil {
				t.Fatalf("a read served under a lease that ended and was not confirmed was answered: %q", line)
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.verifies != tc.verifies {
				t.Fatalf("%d confirmation rounds, want %d", g.verifies, tc.verifies)
			}
		})
	}
}
