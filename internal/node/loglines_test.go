package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/logging/logtest"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/internal/topology"
	"github.com/shoalcache/shoal/shard"
)

// TestMigrationLogLines runs one migration on a one-node cluster with a
// JSON logger and checks the job lines of docs/logging.md: created,
// claimed, fenced, flipped (with the keys and bytes shipped), each once,
// with the same job keys; no abort; and each data group's "leading
// group" once.
func TestMigrationLogLines(t *testing.T) {
	lg, rec := logtest.New(t, slog.LevelInfo)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cfg := DefaultConfig()
	cfg.ID = nid('e')
	ports := testutil.FreePorts(t, 3)
	cfg.Port, cfg.ClusterPort, cfg.GossipPort = ports[0], ports[1], ports[2]
	cfg.BootstrapExpect, cfg.Groups, cfg.Replicas = 1, 2, 1
	cfg.Controller.Interval = 20 * time.Millisecond
	cfg.Logger = lg
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer scancel()
		if err := n.Shutdown(sctx); err != nil {
			t.Logf("shutdown: %v", err)
		}
	})
	cs := n.cluster
	slots := topology.SlotRange{Start: 0, End: 63}
	testutil.Eventually(t, 30*time.Second, "g0 and g1 led here, g0 owning the slots", func() error {
		m := cs.pl.Map()
		if m == nil {
			return errors.New("no map")
		}
		for _, gid := range []string{"g0", "g1"} {
			if g := cs.localGroup(gid); g == nil || !g.Ready() || !g.Formed() {
				return fmt.Errorf("group %s not ready here", gid)
			}
		}
		if m.SlotGroup(slots.Start).ID != "g0" || !cs.localGroup("g0").Owns(slots.End) {
			return errors.New("slots not in g0 yet")
		}
		return nil
	})
	g0 := cs.localGroup("g0")
	keys := 0
	for i := 0; keys < 20; i++ {
		k := "k:" + strconv.Itoa(i)
		if s := shard.Slot(k); s < slots.Start || s > slots.End {
			continue
		}
		if _, err := g0.Propose(ctx, [][][]byte{{[]byte("SET"), []byte(k), []byte("v")}}); err != nil {
			t.Fatal(err)
		}
		keys++
	}
	id, err := cs.Migrate(ctx, []topology.SlotRange{slots}, "g1")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, "the job to be done", func() error {
		if j := cs.pl.Map().Job(id); j == nil || j.Phase != topology.JobDone {
			return fmt.Errorf("job %+v", j)
		}
		return nil
	})
	testutil.Until(t, 10*time.Second, "the flip to be logged", func() bool {
		return len(rec.Lines(t, "migration job flipped")) > 0
	})
	job := []any{"job", id, "source-group", "g0", "target-group", "g1", "slots", "0-63"}
	rec.One(t, "migration job created", job...)
	rec.One(t, "migration job claimed", job...)
	fenced := rec.One(t, "migration job fenced", job...)
	logtest.HasKeys(t, fenced, "index")
	flip := rec.One(t, "migration job flipped", job...)
	logtest.HasKeys(t, flip, "copier-term", "took")
	if k, _ := flip["keys"].(float64); int(k) < keys {
		t.Errorf("flipped: keys %v, want at least %d", flip["keys"], keys)
	}
	if b, _ := flip["bytes"].(float64); b <= 0 {
		t.Errorf("flipped: bytes %v", flip["bytes"])
	}
	if got := rec.Lines(t, "migration job aborted"); len(got) != 0 {
		t.Errorf("aborts logged: %v", got)
	}
	for _, gid := range []string{"g0", "g1"} {
		rec.One(t, "leading group", "group", gid)
	}
}
