package raftfsm

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestCohortWant(t *testing.T) {
	const wait = 2 * time.Millisecond
	// reqs returns n requests queued before the last answer (gen 6) and m
	// queued after it (gen 7).
	reqs := func(n, m int) *pack {
		p := &pack{}
		for range n {
			p.batch = append(p.batch, &request{gen: 6})
		}
		for range m {
			p.batch = append(p.batch, &request{gen: 7})
		}
		return p
	}
	tests := []struct {
		name     string
		tune     func(g *Group)
		p        *pack
		want     int
		skipLeft int
	}{
		{"queued before the answer wait for the answered", nil, reqs(3, 0), 3 + 5, 0},
		{"returners count among the answered", nil, reqs(0, 2), 5, 0},
		{"both", nil, reqs(3, 2), 3 + 5, 0},
		{"everyone is back", nil, reqs(1, 5), 6, 0},
		{"nothing answered", func(g *Group) { g.cohort.answered.Store(0) }, reqs(3, 0), 3, 0},
		{"no other voter", func(g *Group) { g.cohort.peers.Store(false) }, reqs(3, 0), 3, 0},
		{"disabled", func(g *Group) { g.cfg.CohortWait = 0 }, reqs(3, 0), 3, 0},
		{"several in flight", func(g *Group) { g.cfg.MaxInflight = 2 }, reqs(3, 0), 3, 0},
		{"answered too long ago", func(g *Group) { g.cohort.answeredAt.Store(monoNow() - int64(2*wait)) }, reqs(0, 1), 1, 0},
		{"after a timeout", func(g *Group) { g.cohort.skip = 3 }, reqs(3, 0), 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Group{cfg: DefaultConfig()}
			g.cfg.CohortWait = wait
			g.cohort.gen.Store(7)
			g.cohort.peers.Store(true)
			g.cohort.answer(5, monoNow())
			g.cohort.gen.Store(7) // answer counted one more
			if tt.tune != nil {
				tt.tune(g)
			}
			if got := g.cohortWant(tt.p); got != tt.want {
				t.Errorf("cohortWant = %d, want %d", got, tt.want)
			}
			if g.cohort.skip != tt.skipLeft {
				t.Errorf("skip = %d after, want %d", g.cohort.skip, tt.skipLeft)
			}
			if n := g.cohort.answered.Load(); n != 0 {
				t.Errorf("answered = %d after, want it taken (0)", n)
			}
		})
	}
}

func TestAwaitCohort(t *testing.T) {
	set := [][][]byte{{[]byte("SET"), []byte("k"), []byte("v")}}
	newGroup := func() *Group {
		g := &Group{cfg: DefaultConfig(), reqs: make(chan *request, 16), stop: make(chan struct{})}
		g.cfg.CohortWait = 10 * time.Millisecond
		return g
	}

	t.Run("the cohort comes back", func(t *testing.T) {
		g := newGroup()
		g.cfg.CohortWait = time.Hour // ends by count, or the test times out
		go func() {
			for range 4 {
				g.reqs <- &request{cmds: set}
			}
		}()
		p := &pack{}
		p.add(&request{cmds: set})
		g.awaitCohort(p, 5)
		if len(p.batch) != 5 || p.ncmds != 5 {
			t.Fatalf("%d requests, %d commands, want 5 and 5", len(p.batch), p.ncmds)
		}
		if w, to := g.stats.cohortWaits.Load(), g.stats.cohortTimeouts.Load(); w != 1 || to != 0 || g.cohort.skip != 0 {
			t.Fatalf("waits %d, timeouts %d, skip %d: want 1, 0, 0", w, to, g.cohort.skip)
		}
	})

	t.Run("it does not", func(t *testing.T) {
		g := newGroup()
		g.reqs <- &request{cmds: set}
		p := &pack{}
		g.awaitCohort(p, 3)
		if len(p.batch) != 1 {
			t.Fatalf("%d requests, want the 1 queued", len(p.batch))
		}
		if w, to := g.stats.cohortWaits.Load(), g.stats.cohortTimeouts.Load(); w != 0 || to != 1 || g.cohort.skip != cohortSkip {
			t.Fatalf("waits %d, timeouts %d, skip %d: want 0, 1, %d", w, to, g.cohort.skip, cohortSkip)
		}
		// The timer is reused: a second wait times out too.
		g.awaitCohort(p, 3)
		if to := g.stats.cohortTimeouts.Load(); to != 2 {
			t.Fatalf("timeouts %d after a second wait, want 2", to)
		}
	})

	t.Run("a full entry ends the wait", func(t *testing.T) {
		g := newGroup()
		g.cfg.CohortWait = time.Hour
		g.cfg.MaxBatchCommands = 2
		g.reqs <- &request{cmds: set}
		p := &pack{}
		p.add(&request{cmds: set})
		g.awaitCohort(p, 10)
		if p.ncmds != 2 {
			t.Fatalf("%d commands, want MaxBatchCommands (2)", p.ncmds)
		}
	})

	t.Run("shutdown ends the wait", func(t *testing.T) {
		g := newGroup()
		g.cfg.CohortWait = time.Hour
		close(g.stop)
		g.awaitCohort(&pack{}, 10)
	})
}

// TestGroupCohortsShareEntries runs proposers in a request-reply loop
// against a 3-replica group: waiting for the cohort, every round of
// proposals shares one entry; without the wait the proposers split into two
// cohorts that alternate, and take about two entries a round.
func TestGroupCohortsShareEntries(t *testing.T) {
	const proposers, rounds = 8, 40
	// turnaround stands for a client's time between a reply and its next
	// command (the network's round trip, the client's own work): without
	// it the in-process proposers would be back before the batcher looks
	// at its queue, and no cohorts would form.
	const turnaround = 200 * time.Microsecond
	run := func(t *testing.T, wait time.Duration) uint64 {
		gs := startTransportGroups(t, &fakeExec{}, func(c *Config) { c.CohortWait = wait }, false)
		l := readyLeader(t, gs)
		if !l.cohort.peers.Load() {
			t.Fatal("the leader of 3 voters does not know it has peers")
		}
		before := l.Metrics().BatchCommands.Count
		var wg sync.WaitGroup
		errs := make(chan error, proposers)
		for i := range proposers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range rounds {
					cmd := [][]byte{[]byte("SET"), fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "%d", j)}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					_, err := l.Propose(ctx, [][][]byte{cmd})
					cancel()
					if err != nil {
						errs <- err
						return
					}
					time.Sleep(turnaround)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Propose: %v", err)
		}
		m := l.Metrics()
		entries := m.BatchCommands.Count - before
		t.Logf("cohort wait %v: %d commands in %d entries; %d waits, %d timed out",
			wait, proposers*rounds, entries, m.CohortWaits, m.CohortTimeouts)
		return entries
	}
	// A wait long enough for a goroutine on a loaded machine to come back:
	// it ends when they all are (a proposer that did one more round than
	// the others, having been alone in the first entry, is not, once: the
	// last wait times out).
	with := run(t, time.Second)
	if with > rounds*5/4 {
		t.Errorf("%d entries for %d rounds of %d proposers with the cohort wait, want at most %d", with, rounds, proposers, rounds*5/4)
	}
	without := run(t, 0)
	if without < rounds*3/2 {
		t.Errorf("%d entries without the wait for %d rounds, want at least %d: no cohorts formed, the test shows nothing", without, rounds, rounds*3/2)
	}
}

// TestSoleVoterHasNoPeers checks that a group of one voter (a standalone
// node) never waits for a cohort: its leader finds no other voter.
func TestSoleVoterHasNoPeers(t *testing.T) {
	g, _ := startGroup(t, testConfig(""))
	g.refreshPeers()
	if g.cohort.peers.Load() {
		t.Fatal("a sole voter thinks it has peers")
	}
	g.cohort.answer(5, monoNow())
	p := &pack{batch: []*request{{gen: g.cohort.gen.Load() - 1}}}
	if want := g.cohortWant(p); want != 1 {
		t.Fatalf("cohortWant = %d on a sole voter, want 1 (no wait)", want)
	}
}
