package node

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// testMap has nodes a, b, c, d (ids of 40 repeated letters) and groups
// g0 {a b c}, g1 {b c a} (formed) and g2 {c d} (formed).
func testMap(t *testing.T) *placement.Map {
	t.Helper()
	var nodes []placement.Node
	for _, c := range "abcd" {
		id := nid(c)
		nodes = append(nodes, placement.Node{ID: id, ClusterAddr: "10.0.0." + string(c) + ":7000"})
	}
	m := &placement.Map{Epoch: 5, Nodes: nodes, Groups: []placement.Group{
		{ID: "g0", Members: []string{nid('a'), nid('b'), nid('c')}},
		{ID: "g1", Members: []string{nid('b'), nid('c'), nid('a')}, Formed: true},
		{ID: "g2", Members: []string{nid('c'), nid('d')}, Formed: true},
	}}
	for s := range m.Slots {
		m.Slots[s] = int16(s % 3)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

func nid(c rune) string { return strings.Repeat(string(c), 40) }

func addr(c rune) string { return "10.0.0." + string(c) + ":7000" }

func TestPlanReplicas(t *testing.T) {
	m := testMap(t)
	start := func(g string) action { return action{Kind: actStart, Group: g} }
	stop := func(g string) action { return action{Kind: actStop, Group: g} }
	for _, tc := range []struct {
		name    string
		self    rune
		running map[string]bool // group -> leads
		want    []action
	}{
		{"fresh node starts its groups", 'a', nil, []action{start("g0"), start("g1")}},
		{"all running", 'a', map[string]bool{"g0": false, "g1": true}, nil},
		{"one missing", 'd', map[string]bool{}, []action{start("g2")}},
		{"no longer a member: stop", 'd', map[string]bool{"g2": false, "g1": false}, []action{stop("g1")}},
		{"no longer a member but leading: keep until handed over", 'd', map[string]bool{"g2": false, "g1": true}, nil},
		{"group gone from the map: stop even as leader", 'a', map[string]bool{"g0": false, "g1": false, "g9": true},
			[]action{stop("g9")}},
		{"start before stop", 'c', map[string]bool{"g7": false}, []action{start("g0"), start("g1"), start("g2"), stop("g7")}},
	} {
		got := planReplicas(nid(tc.self), m, tc.running)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: planReplicas = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPlanGroup(t *testing.T) {
	m := testMap(t)
	cfg := DefaultControllerConfig()
	now := time.Unix(1000, 0)
	voters := func(ids ...rune) []raftfsm.Member {
		var out []raftfsm.Member
		for _, c := range ids {
			out = append(out, raftfsm.Member{ID: nid(c), Addr: addr(c), Voter: true})
		}
		return out
	}
	allAlive := map[string]bool{nid('a'): true, nid('b'): true, nid('c'): true, nid('d'): true}
	add := func(g string, c rune) action { return action{Kind: actAddVoter, Group: g, Node: nid(c), Addr: addr(c)} }
	remove := func(g string, c rune) action { return action{Kind: actRemoveVoter, Group: g, Node: nid(c)} }
	transfer := func(g string, c rune) action { return action{Kind: actTransfer, Group: g, Node: nid(c), Addr: addr(c)} }

	for _, tc := range []struct {
		name      string
		self      rune
		group     int
		alive     map[string]bool
		mayRemove bool
		slots     []shard.SlotRange // the map's slots for the group
		st        localGroup
		want      groupPlan
	}{
		{name: "follower, configuration unknown", self: 'b', group: 1,
			st: localGroup{}, want: groupPlan{}},
		{name: "follower of a formed group with every member", self: 'b', group: 1,
			st:   localGroup{Conf: voters('a', 'b', 'c'), ConfKnown: true},
			want: groupPlan{Formed: true}},
		// A formed group keeps serving while a member is added.
		{name: "follower while a member is missing", self: 'b', group: 1,
			st:   localGroup{Conf: voters('b', 'c'), ConfKnown: true},
			want: groupPlan{Formed: true}},
		{name: "follower that cannot read its configuration", self: 'b', group: 1,
			st:   localGroup{Conf: voters('b', 'c')},
			want: groupPlan{}},
		{name: "new group's leader adds the members", self: 'a', group: 0,
			st:   localGroup{Leader: true, Conf: voters('a'), ConfKnown: true},
			want: groupPlan{Actions: []action{add("g0", 'b'), add("g0", 'c')}}},
		{name: "a non-voter is promoted", self: 'a', group: 0,
			st: localGroup{Leader: true, ConfKnown: true,
				Conf: append(voters('a', 'b'), raftfsm.Member{ID: nid('c'), Addr: addr('c')})},
			want: groupPlan{Actions: []action{add("g0", 'c')}}},
		{name: "leader with every member, group not formed in the map yet", self: 'a', group: 0,
			st:   localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true},
			want: groupPlan{Leads: true}},
		{name: "formed group's leader keeps leading while it adds a member", self: 'b', group: 1,
			st:   localGroup{Leader: true, Conf: voters('b', 'c'), ConfKnown: true, Since: now.Add(-time.Hour)},
			want: groupPlan{Formed: true, Leads: true, Since: now.Add(-time.Hour), Actions: []action{add("g1", 'a')}}},
		{name: "preferred leader leads: nothing to do", self: 'b', group: 1,
			st:   localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true},
			want: groupPlan{Formed: true, Leads: true, Since: now}},
		{name: "another leader starts counting", self: 'a', group: 1, alive: allAlive,
			st:   localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true},
			want: groupPlan{Formed: true, Leads: true, Since: now}},
		{name: "another leader hands back to the alive preferred leader", self: 'a', group: 1, alive: allAlive,
			st: localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true, Since: now.Add(-2 * time.Second)},
			want: groupPlan{Formed: true, Leads: true, Since: now.Add(-2 * time.Second),
				Actions: []action{transfer("g1", 'b')}}},
		{name: "not while the preferred leader is down", self: 'a', group: 1,
			alive: map[string]bool{nid('a'): true, nid('c'): true},
			st:    localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true, Since: now.Add(-2 * time.Second)},
			want:  groupPlan{Formed: true, Leads: true, Since: now.Add(-2 * time.Second)}},
		{name: "not right after the last transfer", self: 'a', group: 1, alive: allAlive,
			st: localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true,
				Since: now.Add(-2 * time.Second), LastTransfer: now.Add(-time.Second)},
			want: groupPlan{Formed: true, Leads: true, Since: now.Add(-2 * time.Second)}},
		// Failed transfers in a row double the wait: two failures, 20 s.
		{name: "not within the doubled wait after failed transfers", self: 'a', group: 1, alive: allAlive,
			st: localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true,
				Since: now.Add(-time.Minute), LastTransfer: now.Add(-19 * time.Second), TransferFails: 2},
			want: groupPlan{Formed: true, Leads: true, Since: now.Add(-time.Minute)}},
		{name: "again after the doubled wait", self: 'a', group: 1, alive: allAlive,
			st: localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true,
				Since: now.Add(-time.Minute), LastTransfer: now.Add(-20 * time.Second), TransferFails: 2},
			want: groupPlan{Formed: true, Leads: true, Since: now.Add(-time.Minute),
				Actions: []action{transfer("g1", 'b')}}},
		{name: "a leader outside the map backs off too", self: 'a', group: 2, mayRemove: true,
			alive: map[string]bool{nid('d'): true},
			st: localGroup{Leader: true, Conf: voters('a', 'c', 'd'), ConfKnown: true,
				LastTransfer: now.Add(-9 * time.Second), TransferFails: 1},
			want: groupPlan{Formed: true, Leads: true}},
		{name: "extra voter removed on the newest map", self: 'c', group: 2, mayRemove: true,
			st:   localGroup{Leader: true, Conf: voters('c', 'd', 'a'), ConfKnown: true},
			want: groupPlan{Formed: true, Leads: true, Since: now, Actions: []action{remove("g2", 'a')}}},
		{name: "extra voter kept on an older map", self: 'c', group: 2,
			st:   localGroup{Leader: true, Conf: voters('c', 'd', 'a'), ConfKnown: true},
			want: groupPlan{Formed: true, Leads: true, Since: now}},
		{name: "adds come before removals", self: 'c', group: 2, mayRemove: true,
			st:   localGroup{Leader: true, Conf: voters('c', 'a'), ConfKnown: true},
			want: groupPlan{Formed: true, Leads: true, Actions: []action{add("g2", 'd')}}},
		{name: "leader outside the map hands over instead of removing itself", self: 'a', group: 2, mayRemove: true,
			alive: map[string]bool{nid('d'): true},
			st:    localGroup{Leader: true, Conf: voters('a', 'c', 'd'), ConfKnown: true},
			want:  groupPlan{Formed: true, Leads: true, Actions: []action{transfer("g2", 'd')}}},
		{name: "leader outside the map adds the members first", self: 'a', group: 2, mayRemove: true, alive: allAlive,
			st:   localGroup{Leader: true, Conf: voters('a'), ConfKnown: true},
			want: groupPlan{Formed: true, Leads: true, Actions: []action{add("g2", 'c'), add("g2", 'd')}}},
		{name: "leader commits the map's slots to its FSM", self: 'b', group: 1, mayRemove: true,
			slots: []shard.SlotRange{{Start: 0, End: 99}},
			st:    localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true},
			want: groupPlan{Formed: true, Leads: true, Since: now,
				Actions: []action{{Kind: actOwn, Group: "g1", Epoch: 5, Slots: []shard.SlotRange{{Start: 0, End: 99}}}}}},
		{name: "slots already owned", self: 'b', group: 1, mayRemove: true,
			slots: []shard.SlotRange{{Start: 0, End: 99}},
			st: localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true,
				OwnEpoch: 3, Owned: []shard.SlotRange{{Start: 0, End: 99}}},
			want: groupPlan{Formed: true, Leads: true, Since: now}},
		{name: "ownership from a newer epoch is not overwritten", self: 'b', group: 1, mayRemove: true,
			slots: []shard.SlotRange{{Start: 0, End: 99}},
			st:    localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true, OwnEpoch: 5},
			want:  groupPlan{Formed: true, Leads: true, Since: now}},
		{name: "no ownership from an older map", self: 'b', group: 1,
			slots: []shard.SlotRange{{Start: 0, End: 99}},
			st:    localGroup{Leader: true, Conf: voters('a', 'b', 'c'), ConfKnown: true},
			want:  groupPlan{Formed: true, Leads: true, Since: now}},
		{name: "a follower never sets ownership", self: 'b', group: 1, mayRemove: true,
			slots: []shard.SlotRange{{Start: 0, End: 99}},
			st:    localGroup{Conf: voters('a', 'b', 'c'), ConfKnown: true},
			want:  groupPlan{Formed: true}},
		{name: "leader outside the map with no alive member waits", self: 'a', group: 2, mayRemove: true,
			st:   localGroup{Leader: true, Conf: voters('a', 'c', 'd'), ConfKnown: true},
			want: groupPlan{Formed: true, Leads: true}},
	} {
		v := groupView{Self: nid(tc.self), Map: m, Group: &m.Groups[tc.group], Alive: tc.alive, Now: now,
			MayRemove: tc.mayRemove, Slots: tc.slots, cfg: cfg}
		got := planGroup(v, tc.st)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got  %+v\n want %+v", tc.name, got, tc.want)
		}
	}
}

func TestTransferWait(t *testing.T) {
	for _, tc := range []struct {
		fails int
		want  time.Duration
	}{{0, 5 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{4, 40 * time.Second}, {1000, 40 * time.Second}} {
		if got := transferWait(5*time.Second, tc.fails); got != tc.want {
			t.Errorf("transferWait(5s, %d) = %v, want %v", tc.fails, got, tc.want)
		}
	}
	if got := transferWait(0, 3); got != 0 {
		t.Errorf("transferWait(0, 3) = %v, want 0", got)
	}
}

func TestControllerConfigValidate(t *testing.T) {
	c := DefaultControllerConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Interval = 0
	if err := c.Validate(); err == nil {
		t.Fatal("zero Interval accepted")
	}
}

// TestRoutingFollowsMapWhileBehind: a node whose map is older than an
// epoch gossip shows still routes by it (a rebalance's flip must reach
// routing at once, or clients bounce back to the source), but starts and
// stops no replica on it; once current, it does.
func TestRoutingFollowsMapWhileBehind(t *testing.T) {
	cs := &clusterState{self: nid('a'), groups: map[string]*raftfsm.Group{}}
	old := testMap(t)
	old.Epoch = 4
	cs.rt.Store(&routeTable{m: old})
	c := &controller{cs: cs}
	m := testMap(t)
	ahead := []placement.Member{{ID: nid('b'), Status: placement.StatusAlive, Epoch: m.Epoch + 1}}
	if current := c.reconcileReplicas(m, ahead); current {
		t.Fatal("a map behind a gossiped epoch reported current")
	}
	if got := cs.rt.Load().m; got != m {
		t.Fatalf("routing uses the map of epoch %d, want the applied one (%d)", got.Epoch, m.Epoch)
	}
	if len(cs.groups) != 0 {
		t.Fatalf("started replicas %v on a map behind gossip", cs.groups)
	}
}
