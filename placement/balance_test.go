package placement

import (
	"errors"
	"flag"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var balanceSeed = flag.Uint64("balance-seed", 0, "seed of TestBalanceRandom (0: a new one)")

// formedMap is InitialMap with every group formed.
func formedMap(t *testing.T, nodes []Node, groups, replicas int) *Map {
	t.Helper()
	m, err := InitialMap(nodes, groups, replicas)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Groups {
		m.Groups[i].Formed = true
	}
	return m
}

// addNodes returns m with nodes registered (as registerMembers does).
func addNodes(m *Map, nodes ...Node) *Map {
	next := m.Clone()
	next.Nodes = append(next.Nodes, nodes...)
	slices.SortFunc(next.Nodes, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	next.Epoch++
	return next
}

// runPlan applies NextStep's steps to m until StepNone, checking after each
// that the map validates and that no group drops below rf members; it
// fails on a StepWait or when it takes more than limit steps.
func runPlan(t *testing.T, m *Map, rf int, limit int) (*Map, []Step) {
	t.Helper()
	f := BalanceFacts{Replicas: rf, MaxActive: 4}
	var steps []Step
	for {
		s := NextStep(m, f)
		if s.Kind == StepNone {
			return m, steps
		}
		if len(steps) >= limit {
			t.Fatalf("no balance after %d steps; last: %v", limit, steps[len(steps)-5:])
		}
		var next *Map
		if s.Kind == StepWait && s.Group != "" && m.Group(s.Group) != nil && !m.Group(s.Group).Formed {
			next = m.Clone()
			next.Group(s.Group).Formed = true
		} else {
			if s.Kind == StepWait {
				t.Fatalf("step %d: unexpected %v", len(steps), s)
			}
			var err error
			if next, err = ApplyStep(m, s); err != nil {
				t.Fatalf("step %d (%v): %v", len(steps), s, err)
			}
			steps = append(steps, s)
		}
		next.Epoch = m.Epoch + 1
		if err := next.Validate(); err != nil {
			t.Fatalf("after %v: %v", s, err)
		}
		for _, g := range next.Groups {
			if g.Formed && len(g.Members) < min(rf, eligibleCount(next)) {
				t.Fatalf("after %v: group %s has %d members, fewer than %d", s, g.ID, len(g.Members), rf)
			}
		}
		m = next
	}
}

func eligibleCount(m *Map) int {
	n := 0
	for _, x := range m.Nodes {
		if !x.Draining {
			n++
		}
	}
	return n
}

// checkBalanced checks the end state NextStep aims for.
func checkBalanced(t *testing.T, m *Map, rf int) {
	t.Helper()
	repl, pref := map[string]int{}, map[string]int{}
	for _, g := range m.Groups {
		if len(g.Members) != rf {
			t.Errorf("group %s has %d members, want %d", g.ID, len(g.Members), rf)
		}
		for _, id := range g.Members {
			repl[id]++
			if m.Node(id).Draining {
				t.Errorf("group %s keeps draining node %s", g.ID, id)
			}
		}
		pref[g.Members[0]]++
	}
	spread := func(what string, c map[string]int) {
		lo, hi := 1<<30, 0
		for _, n := range m.Nodes {
			lo, hi = min(lo, c[n.ID]), max(hi, c[n.ID])
		}
		if hi-lo > 1 {
			t.Errorf("%s per node range %d-%d: %v", what, lo, hi, c)
		}
	}
	spread("replicas", repl)
	spread("preferred groups", pref)
	if len(m.Groups) < len(m.Nodes) && len(m.Nodes) >= rf {
		t.Errorf("%d groups for %d nodes", len(m.Groups), len(m.Nodes))
	}
	count := make([]int, len(m.Groups))
	for _, gi := range m.Slots {
		if gi < 0 {
			t.Fatal("unassigned slot")
		}
		count[gi]++
	}
	if hi, lo := slices.Max(count), slices.Min(count); hi-lo > slotTolerance(len(m.Groups)) {
		t.Errorf("slots per group %v", count)
	}
}

// TestBalanceGrowAndShrink plans 3 -> 5 -> 3 nodes as the README's
// walkthrough does: two nodes join and a rebalance gives each a group and
// an even share; then an original node and an added one are drained.
func TestBalanceGrowAndShrink(t *testing.T) {
	nodes := testNodes(5)
	m := formedMap(t, nodes[:3], 3, 3)
	if s := NextStep(m, BalanceFacts{Replicas: 3}); s.Kind != StepNone {
		t.Fatalf("balanced map: %v", s)
	}
	rb := m.Clone()
	rb.Rebalance = true
	if s := NextStep(rb, BalanceFacts{Replicas: 3}); s.Kind != StepNone {
		t.Fatalf("balanced map with a request: %v", s)
	}
	// Two nodes join: nothing happens until a rebalance is requested.
	m = addNodes(m, nodes[3], nodes[4])
	if s := NextStep(m, BalanceFacts{Replicas: 3}); s.Kind != StepNone {
		t.Fatalf("no request: %v", s)
	}
	m.Rebalance = true
	plan := Plan(m, BalanceFacts{Replicas: 3, MaxActive: 4}, 100)
	m, steps := runPlan(t, m, 3, 100)
	if len(plan) != len(steps) {
		t.Errorf("Plan has %d steps, the run %d", len(plan), len(steps))
	}
	for i := range min(len(plan), len(steps)) {
		if plan[i].String() != steps[i].String() {
			t.Errorf("step %d: plan %q, run %q", i, plan[i], steps[i])
		}
	}
	for _, s := range steps {
		t.Log(s)
	}
	if len(m.Groups) != 5 {
		t.Fatalf("%d groups, want 5", len(m.Groups))
	}
	checkBalanced(t, m, 3)

	// Drain an original node, then an added one.
	for _, id := range []string{nodes[0].ID, nodes[4].ID} {
		var err error
		if m, err = drainNode(m, id, 3); err != nil {
			t.Fatal(err)
		}
		m, steps = runPlan(t, m, 3, 100)
		if m.Node(id) != nil || !slices.Contains(m.Removed, id) {
			t.Fatalf("node %s not removed after %v", id, steps)
		}
		checkBalanced(t, m, 3)
	}
	if len(m.Groups) != 3 || len(m.Nodes) != 3 {
		t.Fatalf("%d groups on %d nodes, want 3 and 3", len(m.Groups), len(m.Nodes))
	}
	// A third removal would leave 2 nodes for 3 replicas.
	if _, err := drainNode(m, m.Nodes[0].ID, 3); !errors.Is(err, ErrTooFewNodes) {
		t.Fatalf("drain below --replicas: %v", err)
	}
}

func TestDrainNodeRefusals(t *testing.T) {
	nodes := testNodes(4)
	m := formedMap(t, nodes, 4, 3)
	if _, err := drainNode(m, "ffff", 3); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("unknown node: %v", err)
	}
	next, err := drainNode(m, nodes[1].ID, 3)
	if err != nil || !next.Node(nodes[1].ID).Draining {
		t.Fatalf("drain: %v", err)
	}
	if again, err := drainNode(next, nodes[1].ID, 3); err != nil || again != nil {
		t.Errorf("draining twice: %v, %v (want no change)", again, err)
	}
	if _, err := drainNode(next, nodes[2].ID, 3); !errors.Is(err, ErrTooFewNodes) {
		t.Errorf("second drain of four nodes with 3 replicas: %v", err)
	}
	gone := next.Clone()
	gone.Removed = []string{"abc"}
	if _, err := drainNode(gone, "abc", 3); !errors.Is(err, ErrUnknownNode) || !strings.Contains(err.Error(), "removed already") {
		t.Errorf("removed node: %v", err)
	}
}

// TestBalanceWaits: a member that has not caught up holds back its
// removal, and a node that votes in the meta group stays in the map.
func TestBalanceWaits(t *testing.T) {
	nodes := testNodes(4)
	m := formedMap(t, nodes[:3], 3, 3)
	m = addNodes(m, nodes[3])
	m, _ = drainNode(m, nodes[2].ID, 3)
	f := BalanceFacts{Replicas: 3, MaxActive: 4}
	s := NextStep(m, f)
	if s.Kind != StepSetPreferred || s.Group != "g2" {
		t.Fatalf("first step %v, want g2's leadership moved off the draining node", s)
	}
	// Drive it until g0 has the new node as a fourth member.
	for range 20 {
		s = NextStep(m, f)
		if s.Kind == StepAddMember {
			break
		}
		m, _ = ApplyStep(m, s)
	}
	if s.Kind != StepAddMember || s.Node != nodes[3].ID {
		t.Fatalf("got %v, want node 4 added", s)
	}
	m, _ = ApplyStep(m, s)
	f.Synced = func(group, node string) bool { return node != nodes[3].ID }
	if s = NextStep(m, f); s.Kind != StepWait || s.Node != nodes[3].ID {
		t.Fatalf("with node 4 behind: %v, want a wait for it", s)
	}
	f.Synced = nil
	// Leadership handovers may come first (node 4 prefers no group yet).
	for s = NextStep(m, f); s.Kind == StepSetPreferred; s = NextStep(m, f) {
		m, _ = ApplyStep(m, s)
	}
	if s.Kind != StepRemoveMember || s.Node != nodes[2].ID {
		t.Fatalf("with node 4 caught up: %v, want the draining node removed", s)
	}
	// Drain completely, with the node voting in the meta group.
	f.MetaVoter = func(id string) bool { return id == nodes[2].ID }
	for range 50 {
		s = NextStep(m, f)
		if s.Kind == StepWait || s.Kind == StepNone {
			break
		}
		m, _ = ApplyStep(m, s)
	}
	if s.Kind != StepWait || s.Node != nodes[2].ID || !strings.Contains(s.Reason, "meta") {
		t.Fatalf("got %v, want a wait for the meta vote", s)
	}
	f.MetaVoter = nil
	// A group's leader has not yet removed it from its configuration (or
	// cannot say): it stays in the map.
	f.InGroup = func(id string) bool { return id == nodes[2].ID }
	if s = NextStep(m, f); s.Kind != StepWait || s.Node != nodes[2].ID || !strings.Contains(s.Reason, "Raft configuration") {
		t.Fatalf("got %v, want a wait for the group configurations", s)
	}
	f.InGroup = nil
	if s = NextStep(m, f); s.Kind != StepRemoveNode {
		t.Fatalf("got %v, want the node removed", s)
	}
}

// TestApplyStepStale: steps that no longer fit the map are refused.
func TestApplyStepStale(t *testing.T) {
	nodes := testNodes(4)
	m := formedMap(t, nodes[:3], 3, 3)
	m = addNodes(m, nodes[3])
	id3 := nodes[3].ID
	cases := []Step{
		{Kind: StepAddMember, Group: "g9", Node: id3},
		{Kind: StepAddMember, Group: "g0", Node: nodes[0].ID},
		{Kind: StepAddMember, Group: "g0", Node: "nope"},
		{Kind: StepRemoveMember, Group: "g0", Node: nodes[0].ID}, // the preferred leader
		{Kind: StepRemoveMember, Group: "g0", Node: id3},
		{Kind: StepSetPreferred, Group: "g0", Node: id3},
		{Kind: StepDeleteGroup, Group: "g0"},
		{Kind: StepRemoveNode, Node: nodes[1].ID},
		{Kind: StepAddGroup, Group: "g0", Members: []string{id3}},
		{Kind: StepMoveSlots, Group: "g0", Target: "g1", Slots: []SlotRange{{Start: NumSlots - 1, End: NumSlots - 1}}},
	}
	for _, s := range cases {
		if _, err := ApplyStep(m, s); !errors.Is(err, ErrStaleStep) {
			t.Errorf("%v: %v, want ErrStaleStep", s, err)
		}
	}
	// Deleting a group renumbers the slots of the groups after it.
	empty := m.Clone()
	for s := range empty.Slots {
		if empty.Slots[s] == 0 {
			empty.Slots[s] = 1
		}
	}
	next, err := ApplyStep(empty, Step{Kind: StepDeleteGroup, Group: "g0"})
	if err != nil {
		t.Fatal(err)
	}
	if next.Validate() != nil || next.SlotGroup(0).ID != "g1" || next.SlotGroup(NumSlots-1).ID != "g2" {
		t.Fatalf("after deleting g0: slot 0 in %s, slot 16383 in %s", next.SlotGroup(0).ID, next.SlotGroup(NumSlots-1).ID)
	}
}

// TestBalanceRandom grows and shrinks random clusters and checks that
// each plan ends balanced without a group losing members. -balance-seed
// replays a run.
func TestBalanceRandom(t *testing.T) {
	seed := *balanceSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -balance-seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	all := testNodes(9)
	for round := range 30 {
		rf := 1 + rng.IntN(3)
		start := rf + rng.IntN(3)
		groups := 1 + rng.IntN(6)
		m := formedMap(t, all[:start], groups, rf)
		next := start
		for op := range 4 {
			if rng.IntN(2) == 0 && next < len(all) {
				m = addNodes(m, all[next])
				next++
				m.Rebalance = true
			} else if len(m.Nodes) > rf {
				victim := m.Nodes[rng.IntN(len(m.Nodes))].ID
				var err error
				if m, err = drainNode(m, victim, rf); err != nil {
					t.Fatalf("round %d op %d: %v", round, op, err)
				}
			}
			m, _ = runPlan(t, m, rf, 400)
			checkBalancedRandom(t, m, rf)
		}
	}
}

// checkBalancedRandom is checkBalanced for clusters that may have more
// groups than nodes (the initial map's choice).
func checkBalancedRandom(t *testing.T, m *Map, rf int) {
	t.Helper()
	for _, n := range m.Nodes {
		if n.Draining {
			t.Fatalf("node %s still draining", n.ID)
		}
	}
	repl, pref := map[string]int{}, map[string]int{}
	for _, g := range m.Groups {
		if len(g.Members) != rf {
			t.Fatalf("group %s has %d members, want %d", g.ID, len(g.Members), rf)
		}
		for _, id := range g.Members {
			repl[id]++
		}
		pref[g.Members[0]]++
	}
	for _, c := range []map[string]int{repl, pref} {
		lo, hi := 1<<30, 0
		for _, n := range m.Nodes {
			lo, hi = min(lo, c[n.ID]), max(hi, c[n.ID])
		}
		if hi-lo > 1 {
			t.Fatalf("per-node counts %v on %d nodes, %d groups", c, len(m.Nodes), len(m.Groups))
		}
	}
}
