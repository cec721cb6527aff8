package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

func TestBucketOf(t *testing.T) {
	for _, tc := range []struct {
		v    uint64
		want int
	}{
		{0, 0}, {1, 0}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {8, 3}, {9, 4},
		{1 << 20, 20}, {1<<20 + 1, 21}, {1 << 31, 31}, {1 << 40, HistogramBuckets - 1},
	} {
		if got := bucketOf(tc.v); got != tc.want {
			t.Errorf("bucketOf(%d) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

func TestHistogramSnapshot(t *testing.T) {
	var h histogram
	for _, v := range []uint64{0, 1, 3, 4, 100} {
		h.observe(v)
	}
	s := h.snapshot()
	if s.Count != 5 || s.Sum != 108 {
		t.Fatalf("count %d sum %d, want 5 108", s.Count, s.Sum)
	}
	want := map[int]uint64{0: 2, 2: 2, 7: 1}
	for i, n := range s.Buckets {
		if n != want[i] {
			t.Errorf("bucket %d = %d, want %d", i, n, want[i])
		}
	}
}

// TestGroupMetrics checks the per-entry figures against what a group was
// made to do: two entries of known sizes, one snapshot, one leader.
func TestGroupMetrics(t *testing.T) { dataDirs(t, testGroupMetrics) }

func testGroupMetrics(t *testing.T, dir string) {
	g, _ := startGroup(t, testConfig(dir))
	m0 := g.Metrics()
	if m0.LeaderChanges != 1 {
		t.Errorf("LeaderChanges = %d after electing itself, want 1", m0.LeaderChanges)
	}
	propose(t, g, cmd("SET", "a", "1"), cmd("SET", "b", "2"), cmd("SET", "c", "3"))
	propose(t, g, cmd("SET", "d", "4"))
	m := g.Metrics()
	if m.BatchCommands.Count != 2 || m.BatchCommands.Sum != 4 {
		t.Errorf("batch sizes: count %d sum %d, want 2 entries of 4 commands", m.BatchCommands.Count, m.BatchCommands.Sum)
	}
	if m.BatchCommands.Buckets[0] != 1 || m.BatchCommands.Buckets[2] != 1 {
		t.Errorf("batch size buckets %v, want one entry of 1 and one of 3", m.BatchCommands.Buckets[:4])
	}
	if m.ProposalMicros.Count != 2 || m.ProposalMicros.Sum == 0 {
		t.Errorf("proposal latency: count %d sum %d µs, want 2 non-zero observations", m.ProposalMicros.Count, m.ProposalMicros.Sum)
	}
	if m.ProposalFailures != 0 {
		t.Errorf("ProposalFailures = %d, want 0", m.ProposalFailures)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Snapshot(ctx); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, "the snapshot to be counted", func() error {
		m := g.Metrics()
		if m.Snapshots != 1 || m.SnapshotMicros.Count != 1 || m.LastSnapshotBytes <= 0 {
			return fmt.Errorf("snapshots %d (%d timed), last size %d", m.Snapshots, m.SnapshotMicros.Count, m.LastSnapshotBytes)
		}
		return nil
	})
	if m := g.Metrics(); m.SnapshotFailures != 0 {
		t.Errorf("SnapshotFailures = %d", m.SnapshotFailures)
	}

	// An entry that fails (here: the FSM halted, so the entry's result is
	// ErrHalted) counts as a failure; a proposal refused before it reaches
	// the batcher does not.
	g.fsm.halted.Store(true)
	_, err := g.Propose(ctx, [][][]byte{cmd("SET", "e", "5")})
	if !errors.Is(err, ErrHalted) {
		t.Fatalf("Propose on a halted FSM: %v, want ErrHalted", err)
	}
	if m := g.Metrics(); m.ProposalFailures != 1 || m.ProposalMicros.Count != 3 {
		t.Errorf("after a failed entry: %d failures, %d latencies; want 1 and 3", m.ProposalFailures, m.ProposalMicros.Count)
	}
	shutdown(t, g)
	if _, err := g.Propose(ctx, [][][]byte{cmd("SET", "f", "6")}); !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrShutdown) {
		t.Fatalf("Propose after shutdown: %v", err)
	}
	if got := g.Metrics().ProposalFailures; got != 1 {
		t.Errorf("ProposalFailures = %d after a proposal refused up front, want still 1", got)
	}
}
