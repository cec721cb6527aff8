package placement

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/logging/logtest"
	"github.com/shoalcache/shoal/internal/testutil"
)

// TestServiceLogLines drives a one-node placement service with a data
// directory and checks the info lines of docs/logging.md: each appears
// exactly once per event, with its keys. Membership (the node's own join),
// meta leadership, the migration job lines (a created, claimed, flipped
// job and a created, aborted one), a meta snapshot taken, the leadership
// lost at shutdown and, after a restart, the snapshot restored.
func TestServiceLogLines(t *testing.T) {
	lg, rec := logtest.New(t, slog.LevelInfo)
	dir := t.TempDir()
	single := func(c *Config) {
		c.BootstrapExpect, c.Groups, c.Replicas = 1, 2, 1
		c.DataDir = dir
		c.SnapshotInterval, c.SnapshotThreshold = time.Hour, 1<<30 // only the test's snapshot
	}
	n := newTestNode(t, lg, nodeID('a'), nil, single)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := n.svc.Wait(ctx, 0); err != nil {
		t.Fatal(err)
	}
	testutil.Until(t, 10*time.Second, "meta leadership and the join to be logged", func() bool {
		return n.svc.IsMetaLeader() && len(rec.Lines(t, "leading group", "group", "meta")) > 0 &&
			len(rec.Lines(t, "membership changed", "member-id", n.id)) > 0
	})
	join := rec.One(t, "membership changed", "member-id", n.id)
	if !logtest.Matches(join, "event", "member-join", "status", "alive", "cluster-addr", n.mux.Addr().String(),
		"gossip-addr", n.svc.GossipAddr(), "component", "placement") {
		t.Errorf("membership changed: %v", join)
	}
	term := n.svc.raft.CurrentTerm()
	rec.One(t, "leading group", "group", "meta", "term", term)

	job, err := n.svc.CreateJob(ctx, []SlotRange{{Start: 0, End: 9}, {Start: 12, End: 12}}, "g1", 1)
	if err != nil {
		t.Fatal(err)
	}
	jobKeys := []any{"job", job.ID, "source-group", "g0", "target-group", "g1", "slots", "0-9,12"}
	rec.One(t, "migration job created", jobKeys...)
	for range 2 { // the same term claims again: no second line
		if err := n.svc.ClaimJob(ctx, job.ID, 3); err != nil {
			t.Fatal(err)
		}
	}
	rec.One(t, "migration job claimed", append(jobKeys, "copier-term", 3, "previous-term", 0)...)
	if err := n.svc.FlipClaimedJob(ctx, job.ID, 3, 7, 700); err != nil {
		t.Fatal(err)
	}
	flip := rec.One(t, "migration job flipped", append(jobKeys, "copier-term", 3, "keys", 7, "bytes", 700)...)
	logtest.HasKeys(t, flip, "took")
	job2, err := n.svc.CreateJob(ctx, []SlotRange{{Start: 20, End: 29}}, "g1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.svc.AbortJob(ctx, job2.ID, "cancelled by an operator"); err != nil {
		t.Fatal(err)
	}
	if err := n.svc.AbortJob(ctx, job2.ID, "again"); !errors.Is(err, ErrJobNotActive) {
		t.Fatalf("second abort: %v", err)
	}
	rec.One(t, "migration job aborted", "job", job2.ID, "source-group", "g0", "target-group", "g1", "slots", "20-29",
		"reason", "cancelled by an operator")
	if got := len(rec.Lines(t, "migration job aborted")); got != 1 {
		t.Errorf("%d migration job aborted lines, want 1", got)
	}

	if err := n.svc.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	snapIndex, err := strconv.ParseUint(n.svc.raft.Stats()["last_snapshot_index"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	epoch := n.svc.Map().Epoch
	taken := rec.One(t, "snapshot taken", "group", "meta")
	logtest.HasKeys(t, taken, "bytes", "took", "nodes", "groups")
	if !logtest.Matches(taken, "index", snapIndex, "term", term, "epoch", epoch) {
		t.Errorf("snapshot taken: %v, want index %d term %d epoch %d", taken, snapIndex, term, epoch)
	}

	if err := n.svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rec.One(t, "lost leadership", "group", "meta", "term", term)
	if got := rec.Lines(t, "snapshot restored"); len(got) != 0 {
		t.Errorf("snapshot restored before a restart: %v", got)
	}
	r := newTestNode(t, lg, n.id, n.mux, single)
	if _, err := r.svc.Wait(ctx, epoch-1); err != nil {
		t.Fatal(err)
	}
	restored := rec.One(t, "snapshot restored", "group", "meta")
	logtest.HasKeys(t, restored, "took", "nodes", "groups")
	if !logtest.Matches(restored, "index", snapIndex, "term", term, "epoch", epoch) {
		t.Errorf("snapshot restored: %v, want index %d term %d epoch %d", restored, snapIndex, term, epoch)
	}

	// Every key of these lines is kebab-case.
	kebab := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	all, err := rec.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		switch l["msg"] {
		case "membership changed", "leading group", "lost leadership", "snapshot taken", "snapshot restored",
			"migration job created", "migration job claimed", "migration job flipped", "migration job aborted":
			for k := range l {
				if !kebab.MatchString(k) {
					t.Errorf("line %q: key %q is not kebab-case", l["msg"], k)
				}
			}
		}
	}
}
