package raftfsm

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/logging/logtest"
	"github.com/shoalcache/shoal/shard"
)

// TestGroupLogLines checks the group's info lines of docs/logging.md: one
// "leading group" with the term, one "snapshot taken" per snapshot with
// raft's index and term, the keys and bytes, one "lost leadership" at
// shutdown and, with a data directory, one "snapshot restored" naming the
// same snapshot when the group starts again.
func TestGroupLogLines(t *testing.T) { dataDirs(t, testGroupLogLines) }

func testGroupLogLines(t *testing.T, dir string) {
	lg, rec := logtest.New(t, slog.LevelInfo)
	cfg := testConfig(dir)
	cfg.Logger = lg
	// Only the snapshot the test asks for.
	cfg.SnapshotInterval, cfg.SnapshotThreshold = time.Hour, 1<<30
	cfg.CompactCheckInterval = time.Hour
	g, _ := startGroup(t, cfg)
	lead := rec.One(t, "leading group", "group", "g0")
	term := lead["term"]
	if fmt.Sprint(term) != fmt.Sprint(g.raft.CurrentTerm()) {
		t.Errorf("leading group: term %v, raft's %d", term, g.raft.CurrentTerm())
	}
	const keys = 25
	for i := 0; i < keys; i++ {
		propose(t, g, cmd("SET", fmt.Sprintf("k%d", i), "v"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	index := statUint(t, g, "last_snapshot_index")
	taken := rec.One(t, "snapshot taken", "group", "g0")
	logtest.HasKeys(t, taken, "took")
	if !logtest.Matches(taken, "index", index, "term", term, "keys", keys) {
		t.Errorf("snapshot taken: %v, want index %d term %v keys %d", taken, index, term, keys)
	}
	if b, _ := taken["bytes"].(float64); b <= 0 {
		t.Errorf("snapshot taken: bytes %v", taken["bytes"])
	}
	shutdown(t, g)
	rec.One(t, "lost leadership", "group", "g0", "term", term)
	if dir == "" {
		return
	}
	if n := len(rec.Lines(t, "snapshot restored")); n != 0 {
		t.Errorf("%d snapshot restored lines before a restart", n)
	}
	g2, err := NewGroup(cfg, shard.New(), &fakeExec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, g2) })
	restored := rec.One(t, "snapshot restored", "group", "g0")
	logtest.HasKeys(t, restored, "took", "epoch")
	if !logtest.Matches(restored, "index", index, "term", term, "keys", keys) {
		t.Errorf("snapshot restored: %v, want index %d term %v keys %d", restored, index, term, keys)
	}
}
