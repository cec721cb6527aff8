package integration

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"time"

	"github.com/shoalcache/shoal/shard"
)

// migrateNemesis is "slot migrations": each fault moves a random range of
// a random group's slots (up to 1024 slots) to another random group with
// SHOAL MIGRATE, sent to a random usable node; the job runs on while the
// workloads go on (and, in the mixed nemesis, while other faults strike
// its source, target or meta leaders). There is nothing to heal: a job
// ends by itself, flipped or aborted. A refused request (a job already
// active on those slots, a group without a leader) is the event's error,
// not a test failure; the key placement check at the end of every phase
// covers what matters.
func migrateNemesis() *nemesis {
	return &nemesis{name: "migrate",
		inject: func(c *jCluster, rng *rand.Rand) (string, error) {
			what, _, _, err := c.startMigration(rng)
			return what, err
		},
		heal: func(c *jCluster) (string, error) { return "no-op (jobs end by themselves)", nil }}
}

// migrateFaultNemesis is "slot migrations with a fault": each fault starts
// a migration as migrateNemesis does, then, after 0 to 300 ms, kills (or,
// with pause, stops) the leader of its source or of its target group, the
// nodes that run the copy and the ingest. Healing restarts or resumes the
// node; the job then resumes under the group's next leader, or aborts.
func migrateFaultNemesis(pause bool) *nemesis {
	name, kill, stop := "migrate-kill", killNemesis(), pauseNemesis()
	if pause {
		name = "migrate-pause"
	}
	return &nemesis{name: name,
		inject: func(c *jCluster, rng *rand.Rand) (string, error) {
			what, src, dst, err := c.startMigration(rng)
			if err != nil {
				return what, err
			}
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			g, role := src, "source"
			if rng.IntN(2) == 0 {
				g, role = dst, "target"
			}
			victim := c.nodeByID(g.Leader)
			if victim < 0 || !c.nodes[victim].usable() {
				return what + "; " + role + " leader unknown, no fault", nil
			}
			if pause {
				if err := c.nodes[victim].signal(syscall.SIGSTOP); err != nil {
					return what, err
				}
				return fmt.Sprintf("%s; SIGSTOP %s leader n%d", what, role, victim), nil
			}
			c.nodes[victim].kill()
			return fmt.Sprintf("%s; SIGKILL %s leader n%d", what, role, victim), nil
		},
		heal: func(c *jCluster) (string, error) {
			if pause {
				return stop.heal(c)
			}
			return kill.heal(c)
		}}
}

// startMigration sends SHOAL MIGRATE for a random range (up to 1024
// slots) of a random group's slots to another random group, through a
// random usable node, and returns what it did and the two groups (as that
// node sees them, leaders included).
func (c *jCluster) startMigration(rng *rand.Rand) (string, shoalGroup, shoalGroup, error) {
	node := -1
	var gs []shoalGroup
	var err error = errors.New("no usable node")
	for _, i := range rng.Perm(len(c.nodes)) {
		if !c.nodes[i].usable() {
			continue
		}
		if gs, err = queryGroups(c.nodes[i].addr()); err == nil && len(gs) > 1 {
			node = i
			break
		}
	}
	if node < 0 {
		return "migrate: no groups known", shoalGroup{}, shoalGroup{}, err
	}
	var src shoalGroup
	for _, k := range rng.Perm(len(gs)) {
		if len(gs[k].Slots) > 0 {
			src = gs[k]
			break
		}
	}
	if src.ID == "" {
		return "migrate: no group with slots", src, src, nil
	}
	dst := gs[rng.IntN(len(gs))]
	for dst.ID == src.ID {
		dst = gs[rng.IntN(len(gs))]
	}
	r := src.Slots[rng.IntN(len(src.Slots))]
	start := r[0] + rng.IntN(r[1]-r[0]+1)
	end := min(r[1], start+rng.IntN(1024))
	what := fmt.Sprintf("migrate %d-%d from %s to %s via n%d", start, end, src.ID, dst.ID, node)
	v, err := doWithin(c.nodes[node].addr(), 15*time.Second, "SHOAL", "MIGRATE", fmt.Sprintf("%d-%d", start, end), dst.ID)
	switch {
	case err != nil:
		return what, src, dst, err
	case v.IsError():
		return what, src, dst, errors.New(v.Str)
	}
	return what + ": job " + v.Str, src, dst, nil
}

// checkKeyPlacement is the end-of-phase check of slot ownership: every
// slot has an owner in every node's CLUSTER SLOTS, no migration job is left
// active, and every key lives in exactly one group: the KEYS of every
// node (which covers the groups it leads) name no key twice. It waits up to
// timeout for jobs to end and for groups to drop the copies of keys they
// gave away or were refused.
func (c *jCluster) checkKeyPlacement(timeout time.Duration, logf func(string, ...any)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		last = c.keyPlacement()
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return last
		}
		logf("key placement: %v; checking again", last)
		time.Sleep(500 * time.Millisecond)
	}
}

func (c *jCluster) keyPlacement() error {
	where := make(map[string]int)
	for i, n := range c.nodes {
		if !n.usable() {
			return fmt.Errorf("n%d not running", i)
		}
		m, err := slotsMasters(n.addr())
		if err != nil {
			return fmt.Errorf("n%d: CLUSTER SLOTS: %v", i, err)
		}
		for s := 0; s < shard.NumSlots; s++ {
			if m[s] == "" {
				return fmt.Errorf("n%d: slot %d has no owner", i, s)
			}
		}
		jobs, err := quickDo(n.addr(), "SHOAL", "JOBS")
		if err != nil {
			return fmt.Errorf("n%d: SHOAL JOBS: %v", i, err)
		}
		if jobs.IsError() {
			return fmt.Errorf("n%d: SHOAL JOBS: %s", i, jobs.Str)
		}
		for _, j := range jobs.Elems() {
			if f := fields(j); f["phase"] == "copying" || f["phase"] == "fenced" {
				return fmt.Errorf("job %s still %s", f["id"], f["phase"])
			}
		}
		keys, err := quickDo(n.addr(), "KEYS", "*")
		if err != nil {
			return fmt.Errorf("n%d: KEYS: %v", i, err)
		}
		if keys.IsError() {
			return fmt.Errorf("n%d: KEYS: %s", i, keys.Str)
		}
		for _, k := range keys.Elems() {
			if prev, dup := where[k.Str]; dup {
				return fmt.Errorf("key %q is in two groups (KEYS of n%d and n%d)", k.Str, prev, i)
			}
			where[k.Str] = i
		}
	}
	return nil
}

// jobSummary lists the jobs of the last node that answers, for the log.
func (c *jCluster) jobSummary() string {
	for _, n := range c.nodes {
		if !n.usable() {
			continue
		}
		v, err := quickDo(n.addr(), "SHOAL", "JOBS")
		if err != nil || v.IsError() {
			continue
		}
		var parts []string
		for _, j := range v.Elems() {
			f := fields(j)
			parts = append(parts, f["id"]+" "+f["phase"]+" "+f["reason"])
		}
		return strings.Join(parts, "; ")
	}
	return "unknown"
}
