package placement

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Balancing the cluster: the planner.
//
// NextStep looks at a map (and a few facts the map does not hold: which
// nodes are alive, which group replicas have caught up, which nodes vote
// in the meta group) and returns the one next step towards a balanced
// cluster. Every step is either a single compare-and-set of the map
// (ApplyStep) or a migration job, so a crash between two steps leaves a
// consistent map from which the next meta leader computes the rest: the
// plan is never stored, only the request (Map.Rebalance, Node.Draining).
//
// Balanced means, over the eligible nodes (alive, not draining): every
// group has Replicas members on eligible nodes; every eligible node is
// the preferred leader (Members[0]) of about as many groups as the others
// (at most one apart), holds about as many replicas (at most one apart),
// and there are as many groups as eligible nodes when the cluster grew
// past its groups; and every group owns about as many slots (within
// slotTolerance). A draining node ends with no replica and leaves the map.
//
// Replicas move with the membership steps in this order, so that a group
// never has fewer than Replicas members that have caught up: add the new
// member (the group's leader adds it as a voter), wait until every member
// has caught up (BalanceFacts.Synced), then remove the leaving one (its
// leader removes the voter, handing leadership over first if it led).
// Leadership moves by changing the preferred leader, which the group's
// leader hands leadership to (internal/node's controller). Slots move by
// migration jobs (docs/migration.md); a group is in at most one active
// job at a time.

// StepKind is what a balancing step does.
type StepKind int

// Step kinds.
const (
	// StepNone: the cluster is balanced; nothing to do.
	StepNone StepKind = iota
	// StepWait: something must finish first (Reason says what).
	StepWait
	// StepAddGroup: create a group with Members and no slots.
	StepAddGroup
	// StepAddMember: add Node to Group's members.
	StepAddMember
	// StepRemoveMember: remove Node from Group's members.
	StepRemoveMember
	// StepSetPreferred: make Node, a member, Group's preferred leader.
	StepSetPreferred
	// StepMoveSlots: a migration job moving Slots from Group to Target.
	StepMoveSlots
	// StepDeleteGroup: delete Group, which owns no slot.
	StepDeleteGroup
	// StepRemoveNode: take Node, drained, out of the map.
	StepRemoveNode
)

// Step is one balancing step (see NextStep).
type Step struct {
	Kind    StepKind
	Group   string      // the group the step changes (the source, for StepMoveSlots)
	Node    string      // the node the step names
	Members []string    // StepAddGroup: the new group's members, preferred leader first
	Target  string      // StepMoveSlots: the group the slots move to
	Slots   []SlotRange // StepMoveSlots: the slots
	Reason  string      // StepWait: what the plan waits for
}

// String describes s in one line, for plans and logs.
func (s Step) String() string {
	switch s.Kind {
	case StepNone:
		return "nothing to do: the cluster is balanced"
	case StepWait:
		return "wait: " + s.Reason
	case StepAddGroup:
		return "create group " + s.Group + " on nodes " + shortIDs(s.Members) + " (preferred leader " + shortID(s.Members[0]) + ")"
	case StepAddMember:
		return "add node " + shortID(s.Node) + " to group " + s.Group
	case StepRemoveMember:
		return "remove node " + shortID(s.Node) + " from group " + s.Group
	case StepSetPreferred:
		return "move the leadership of group " + s.Group + " to node " + shortID(s.Node)
	case StepMoveSlots:
		n := 0
		for _, r := range s.Slots {
			n += r.End - r.Start + 1
		}
		return "migrate " + strconv.Itoa(n) + " slots (" + FormatRanges(s.Slots) + ") from group " + s.Group + " to group " + s.Target
	case StepDeleteGroup:
		return "delete group " + s.Group + " (it owns no slot)"
	case StepRemoveNode:
		return "remove node " + shortID(s.Node) + " from the map"
	}
	return "unknown step"
}

// shortID is the first 8 characters of a node id, as redis-cli shows them.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func shortIDs(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = shortID(id)
	}
	return strings.Join(out, ",")
}

// BalanceFacts are what NextStep needs besides the map. Nil functions
// mean "true for every argument" (Alive, Synced) and "false" (MetaVoter):
// what a dry run assumes.
type BalanceFacts struct {
	// Replicas is the replication factor to keep (--replicas).
	Replicas int
	// MaxActive caps the migration jobs active at once.
	MaxActive int
	// Alive reports whether a node is alive in gossip.
	Alive func(nodeID string) bool
	// Synced reports whether node's replica of group has caught up with
	// the group's leader (and votes in it).
	Synced func(group, node string) bool
	// MetaVoter reports whether a node votes in the meta group.
	MetaVoter func(nodeID string) bool
	// InGroup reports whether a node may still vote in the Raft
	// configuration of a group of the map (its removal from the map not yet
	// carried out by the group's leader, or a group whose leader cannot
	// tell). A drained node leaves the map only once no group counts it: a
	// replacement that reuses its address would otherwise answer, and be
	// counted, for both.
	InGroup func(nodeID string) bool
}

// slotTolerance is how far apart (in slots) the largest and the smallest
// group may be before slots move: about 1% of a group's share, at least 2.
func slotTolerance(groups int) int {
	return max(2, NumSlots/max(groups, 1)/100)
}

// balView is a map with the counts NextStep decides from.
type balView struct {
	m        *Map
	f        BalanceFacts
	elig     []string // eligible node ids (alive, not draining), sorted
	isElig   map[string]bool
	draining map[string]bool
	repl     map[string]int // node -> groups it is a member of
	pref     map[string]int // node -> groups it is the preferred leader of
	eff      []int          // group index -> slots, counting active jobs as done
	busy     []bool         // group index -> in an active job
	active   int            // active jobs
	retiring []bool         // group index -> being emptied and deleted
}

func newBalView(m *Map, f BalanceFacts) *balView {
	v := &balView{m: m, f: f, isElig: map[string]bool{}, draining: map[string]bool{},
		repl: map[string]int{}, pref: map[string]int{},
		eff: make([]int, len(m.Groups)), busy: make([]bool, len(m.Groups)), retiring: make([]bool, len(m.Groups))}
	for _, n := range m.Nodes {
		switch {
		case n.Draining:
			v.draining[n.ID] = true
		case f.Alive == nil || f.Alive(n.ID):
			v.elig = append(v.elig, n.ID)
			v.isElig[n.ID] = true
		}
	}
	for _, g := range m.Groups {
		for _, id := range g.Members {
			v.repl[id]++
		}
		v.pref[g.Members[0]]++
	}
	for _, gi := range m.Slots {
		if gi >= 0 {
			v.eff[gi]++
		}
	}
	for _, j := range m.ActiveJobs() {
		v.active++
		s, t := m.GroupIndex(j.Source), m.GroupIndex(j.Target)
		v.busy[s], v.busy[t] = true, true
		v.eff[s] -= j.NumSlots()
		v.eff[t] += j.NumSlots()
	}
	// Retire the groups a draining node prefers while there are more
	// groups than eligible nodes; the others get a new preferred leader.
	extra := len(m.Groups) - max(len(v.elig), 1)
	for gi, g := range m.Groups {
		if extra > 0 && v.draining[g.Members[0]] {
			v.retiring[gi] = true
			extra--
		}
	}
	return v
}

func (v *balView) synced(group, node string) bool {
	return v.f.Synced == nil || v.f.Synced(group, node)
}

func (v *balView) metaVoter(node string) bool {
	return v.f.MetaVoter != nil && v.f.MetaVoter(node)
}

func (v *balView) inGroup(node string) bool {
	return v.f.InGroup != nil && v.f.InGroup(node)
}

// nonRetiring is how many groups stay.
func (v *balView) nonRetiring() int {
	n := 0
	for _, r := range v.retiring {
		if !r {
			n++
		}
	}
	return n
}

// pick returns the eligible node, among those ok accepts, with the fewest
// replicas, then the fewest preferred groups, then the smallest id; "" when
// none.
func (v *balView) pick(ok func(id string) bool) string {
	best := ""
	for _, id := range v.elig {
		if !ok(id) {
			continue
		}
		if best == "" || v.repl[id] < v.repl[best] || (v.repl[id] == v.repl[best] && v.pref[id] < v.pref[best]) {
			best = id
		}
	}
	return best
}

// syncedMember returns the member of g (not its preferred leader) that ok
// accepts, is eligible and has caught up, with the fewest preferred
// groups; "" when none.
func (v *balView) syncedMember(g *Group, ok func(id string) bool) string {
	best := ""
	for _, id := range g.Members[1:] {
		if !v.isElig[id] || !ok(id) || !v.synced(g.ID, id) {
			continue
		}
		if best == "" || v.pref[id] < v.pref[best] {
			best = id
		}
	}
	return best
}

// NextStep returns the next step that balances m (see the comment at the
// top of this file), StepNone when there is none, or StepWait when the
// next one must wait for a replica to catch up, a job to end or a meta
// voter to step down. Draining nodes are always drained; the other
// balancing happens when m.Rebalance is set (DrainNode sets it too). It is
// a pure function of its arguments.
func NextStep(m *Map, f BalanceFacts) Step {
	v := newBalView(m, f)
	rf := max(f.Replicas, 1)
	balance := m.Rebalance || len(v.draining) > 0

	// 1. Leadership handovers to members that have caught up: away from a
	// draining preferred leader (of a group that stays), and, when
	// balancing, to a node that prefers no group (or one fewer than the
	// most) from a node that prefers more. They come before any member is
	// removed, so that a member added for its leadership keeps its place.
	for gi := range m.Groups {
		g := &m.Groups[gi]
		if !g.Formed || v.retiring[gi] || !v.draining[g.Members[0]] {
			continue
		}
		if id := v.syncedMember(g, func(string) bool { return true }); id != "" {
			return Step{Kind: StepSetPreferred, Group: g.ID, Node: id}
		}
	}
	if balance {
		if s, ok := v.prefHandover(); ok {
			return s
		}
	}

	// 2. Groups with a surplus member: remove one, once every member has
	// caught up (so the group never has fewer caught-up members than it
	// should): a draining member first, else the one with the most
	// replicas. Never the preferred leader (step 1 moves that first).
	for gi := range m.Groups {
		g := &m.Groups[gi]
		if !g.Formed || len(g.Members) <= rf {
			continue
		}
		for _, id := range g.Members {
			if !v.draining[id] && !v.synced(g.ID, id) {
				return Step{Kind: StepWait, Group: g.ID, Node: id,
					Reason: "node " + shortID(id) + " catching up with group " + g.ID}
			}
		}
		victim := ""
		for _, id := range g.Members[1:] {
			switch {
			case victim == "":
				victim = id
			case v.draining[id] != v.draining[victim]:
				if v.draining[id] {
					victim = id
				}
			case v.repl[id] > v.repl[victim] || (v.repl[id] == v.repl[victim] && id > victim):
				victim = id
			}
		}
		return Step{Kind: StepRemoveMember, Group: g.ID, Node: victim}
	}

	// 3. Groups (that stay) with fewer than Replicas members off draining
	// nodes: add the eligible node with the fewest replicas.
	for gi := range m.Groups {
		g := &m.Groups[gi]
		if !g.Formed || v.retiring[gi] {
			continue
		}
		healthy := 0
		for _, id := range g.Members {
			if !v.draining[id] {
				healthy++
			}
		}
		if healthy >= rf {
			continue
		}
		if id := v.pick(func(id string) bool { return !slices.Contains(g.Members, id) }); id != "" {
			return Step{Kind: StepAddMember, Group: g.ID, Node: id}
		}
	}

	// 4. Retiring groups: move their slots to the groups that stay, then
	// delete them.
	for gi := range m.Groups {
		if !v.retiring[gi] {
			continue
		}
		g := &m.Groups[gi]
		if v.busy[gi] {
			return Step{Kind: StepWait, Group: g.ID, Reason: "a migration job of group " + g.ID + " to end"}
		}
		if v.eff[gi] == 0 {
			return Step{Kind: StepDeleteGroup, Group: g.ID}
		}
		want := (NumSlots + v.nonRetiring() - 1) / max(v.nonRetiring(), 1)
		if s, ok := v.moveSlots(gi, v.eff[gi], want); ok {
			return s
		}
		return Step{Kind: StepWait, Group: g.ID, Reason: "a migration job to end before group " + g.ID + "'s slots move"}
	}

	// 5. Drained nodes leave the map (once they no longer vote in the
	// meta group, the meta leader moving its vote to another node, nor in
	// any group's Raft configuration).
	for _, n := range m.Nodes {
		if !n.Draining || v.repl[n.ID] > 0 {
			continue
		}
		if v.metaVoter(n.ID) {
			return Step{Kind: StepWait, Node: n.ID, Reason: "node " + shortID(n.ID) + " to hand its meta group vote over"}
		}
		if v.inGroup(n.ID) {
			return Step{Kind: StepWait, Node: n.ID, Reason: "node " + shortID(n.ID) + " to leave the Raft configuration of every group"}
		}
		return Step{Kind: StepRemoveNode, Node: n.ID}
	}
	if !balance {
		return Step{Kind: StepNone}
	}
	return v.balanceStep(rf)
}

// prefHandover returns a leadership handover that evens out preferred
// leaders: a group preferred by a node with the most preferred groups
// goes to a member that has caught up and prefers at least two fewer.
func (v *balView) prefHandover() (Step, bool) {
	for gi := range v.m.Groups {
		g := &v.m.Groups[gi]
		if !g.Formed || v.retiring[gi] {
			continue
		}
		p := v.pref[g.Members[0]]
		if p < 2 && v.isElig[g.Members[0]] {
			continue
		}
		if id := v.syncedMember(g, func(id string) bool { return v.pref[id]+2 <= p }); id != "" {
			return Step{Kind: StepSetPreferred, Group: g.ID, Node: id}, true
		}
	}
	return Step{}, false
}

// balanceStep returns the step that evens out groups, preferred leaders,
// replicas and slots, in that order (steps 1-5 of NextStep found nothing).
func (v *balView) balanceStep(rf int) Step {
	m := v.m
	for gi := range m.Groups {
		if !m.Groups[gi].Formed {
			return Step{Kind: StepWait, Group: m.Groups[gi].ID, Reason: "group " + m.Groups[gi].ID + " to form"}
		}
	}
	// Leaders: a node that prefers no group (or two fewer than another).
	minN, maxN := "", ""
	for _, id := range v.elig {
		if minN == "" || v.pref[id] < v.pref[minN] {
			minN = id
		}
		if maxN == "" || v.pref[id] > v.pref[maxN] {
			maxN = id
		}
	}
	if minN != "" && v.pref[minN] == 0 && v.nonRetiring() < len(v.elig) && len(v.elig) >= rf {
		// A new group led by minN, on the nodes with the fewest replicas.
		members := []string{minN}
		for len(members) < rf {
			id := v.pick(func(id string) bool { return !slices.Contains(members, id) })
			if id == "" {
				break
			}
			members = append(members, id)
		}
		return Step{Kind: StepAddGroup, Group: newGroupID(m), Members: members}
	}
	if minN != "" && v.pref[maxN] >= v.pref[minN]+2 {
		// minN joins a group maxN prefers (then takes its leadership).
		for gi := range m.Groups {
			g := &m.Groups[gi]
			if g.Members[0] == maxN && !slices.Contains(g.Members, minN) && len(g.Members) <= rf {
				return Step{Kind: StepAddMember, Group: g.ID, Node: minN}
			}
		}
	}
	// Replicas: from a node with the most to one with the fewest. Any
	// pair two or more apart will do (the node with the most may prefer
	// all its groups, or share them all with the one with the fewest):
	// receivers by fewest replicas first, donors by most first.
	byRepl := slices.Clone(v.elig)
	slices.SortFunc(byRepl, func(a, b string) int {
		if v.repl[a] != v.repl[b] {
			return v.repl[a] - v.repl[b]
		}
		return strings.Compare(a, b)
	})
	for _, r := range byRepl {
		for i := len(byRepl) - 1; i >= 0; i-- {
			d := byRepl[i]
			if v.repl[d] < v.repl[r]+2 {
				break
			}
			for gi := range m.Groups {
				g := &m.Groups[gi]
				if g.Members[0] != d && slices.Contains(g.Members, d) && !slices.Contains(g.Members, r) && len(g.Members) <= rf {
					return Step{Kind: StepAddMember, Group: g.ID, Node: r}
				}
			}
		}
	}
	// Slots: from the largest group to the smallest.
	src, dst := -1, -1
	for gi := range m.Groups {
		if src < 0 || v.eff[gi] > v.eff[src] {
			src = gi
		}
		if dst < 0 || v.eff[gi] < v.eff[dst] {
			dst = gi
		}
	}
	if src < 0 || v.eff[src]-v.eff[dst] <= slotTolerance(len(m.Groups)) {
		return Step{Kind: StepNone}
	}
	want := NumSlots / len(m.Groups)
	if s, ok := v.moveSlots(src, v.eff[src]-want, want); ok {
		return s
	}
	return Step{Kind: StepWait, Reason: "migration jobs to end before more slots move"}
}

// moveSlots returns a job moving up to n of group src's slots to the
// group (other than src, not retiring, not in a job) with the fewest
// slots, at most as many as that group lacks to reach want; false when no
// job can start now (src busy, every other group busy, or the cap on
// active jobs reached).
func (v *balView) moveSlots(src, n, want int) (Step, bool) {
	m := v.m
	if v.busy[src] || v.active >= max(v.f.MaxActive, 1) {
		return Step{}, false
	}
	dst := -1
	for gi := range m.Groups {
		if gi == src || v.retiring[gi] || v.busy[gi] || !m.Groups[gi].Formed {
			continue
		}
		if dst < 0 || v.eff[gi] < v.eff[dst] {
			dst = gi
		}
	}
	if dst < 0 {
		return Step{}, false
	}
	n = min(n, want-v.eff[dst])
	if n <= 0 {
		return Step{}, false
	}
	// The source's highest slots, so that ranges stay contiguous.
	var slots []SlotRange
	for s := NumSlots - 1; s >= 0 && n > 0; s-- {
		if int(m.Slots[s]) != src {
			continue
		}
		if k := len(slots); k > 0 && slots[k-1].Start == s+1 {
			slots[k-1].Start = s
		} else {
			slots = append(slots, SlotRange{Start: s, End: s})
		}
		n--
	}
	slices.Reverse(slots)
	return Step{Kind: StepMoveSlots, Group: m.Groups[src].ID, Target: m.Groups[dst].ID, Slots: slots}, true
}

// newGroupID names a group created in the map after m (Map.NewGroupID):
// ids are never reused, not even after their group was deleted (a node
// that missed the deletion must not mistake a new group for the old one's
// replica it still runs).
func newGroupID(m *Map) string {
	id, _ := m.NewGroupID()
	return id
}

// ApplyStep returns the map after step s, a step NextStep returned for a
// map at m's epoch: a clone of m with the change (the epoch is left for
// UpdateMap to set). StepMoveSlots is applied as if its job had run (for
// Plan's simulation); the balancer creates a job instead. StepNone and
// StepWait return m unchanged. The checks make a step computed from an
// older map fail rather than do something else.
func ApplyStep(m *Map, s Step) (*Map, error) {
	next := m.Clone()
	gi := next.GroupIndex(s.Group)
	bad := func(format string, a ...any) (*Map, error) {
		return nil, fmt.Errorf("%w: %s: %s", ErrStaleStep, s, fmt.Sprintf(format, a...))
	}
	if gi < 0 && s.Kind != StepAddGroup && s.Kind != StepRemoveNode && s.Kind != StepNone && s.Kind != StepWait {
		return bad("no group %s", s.Group)
	}
	switch s.Kind {
	case StepNone, StepWait:
		return m, nil
	case StepAddGroup:
		if gi >= 0 || s.Group != newGroupID(m) || len(s.Members) == 0 {
			return bad("group id or members")
		}
		for _, id := range s.Members {
			if n := next.Node(id); n == nil || n.Draining {
				return bad("node %s is not in the map or draining", id)
			}
		}
		next.Groups = append(next.Groups, Group{ID: s.Group, Members: append([]string(nil), s.Members...)})
		_, n := m.NewGroupID()
		next.NextGroup = n + 1
	case StepAddMember:
		g := &next.Groups[gi]
		if n := next.Node(s.Node); n == nil || n.Draining || slices.Contains(g.Members, s.Node) {
			return bad("node %s is not in the map, draining, or a member already", s.Node)
		}
		g.Members = append(g.Members, s.Node)
	case StepRemoveMember:
		g := &next.Groups[gi]
		i := slices.Index(g.Members, s.Node)
		if i <= 0 || len(g.Members) < 2 {
			return bad("node %s is not a member other than the preferred leader", s.Node)
		}
		g.Members = slices.Delete(g.Members, i, i+1)
	case StepSetPreferred:
		g := &next.Groups[gi]
		i := slices.Index(g.Members, s.Node)
		if i < 0 {
			return bad("node %s is not a member", s.Node)
		}
		// Swap, so the old preferred leader keeps its place in the order.
		g.Members[0], g.Members[i] = g.Members[i], g.Members[0]
	case StepMoveSlots:
		ti := next.GroupIndex(s.Target)
		if ti < 0 {
			return bad("no group %s", s.Target)
		}
		for _, r := range s.Slots {
			for sl := r.Start; sl <= r.End; sl++ {
				if int(next.Slots[sl]) != gi {
					return bad("slot %d is not group %s's", sl, s.Group)
				}
				next.Slots[sl] = int16(ti)
			}
		}
	case StepDeleteGroup:
		for sl := range next.Slots {
			if int(next.Slots[sl]) == gi {
				return bad("the group owns slot %d", sl)
			}
		}
		for _, j := range next.ActiveJobs() {
			if j.Source == s.Group || j.Target == s.Group {
				return bad("the group is in active job %s", j.ID)
			}
		}
		_, n := next.NewGroupID() // the deleted id's number stays taken
		next.NextGroup = n
		next.Groups = slices.Delete(next.Groups, gi, gi+1)
		for sl, x := range next.Slots {
			if int(x) > gi {
				next.Slots[sl] = x - 1
			}
		}
	case StepRemoveNode:
		n := next.Node(s.Node)
		if n == nil || !n.Draining || len(next.GroupsOf(s.Node)) > 0 {
			return bad("node %s is not in the map, not draining, or still a member", s.Node)
		}
		i := sort.Search(len(next.Nodes), func(i int) bool { return next.Nodes[i].ID >= s.Node })
		next.Nodes = slices.Delete(next.Nodes, i, i+1)
		next.Removed = append(next.Removed, s.Node)
		if k := len(next.Removed) - MaxRemoved; k > 0 {
			next.Removed = next.Removed[k:]
		}
	default:
		return bad("unknown step")
	}
	return next, nil
}

// Plan returns the steps NextStep would take from m, as if every replica
// caught up, every new group formed and every job ran at once (a dry run),
// up to limit steps. It ends at StepNone, or with a StepWait the
// simulation cannot resolve (a meta voter stepping down).
func Plan(m *Map, f BalanceFacts, limit int) []Step {
	f.Synced, f.MetaVoter = nil, nil
	var out []Step
	cur := m
	for len(out) < limit {
		s := NextStep(cur, f)
		var next *Map
		switch {
		case s.Kind == StepNone:
			return out
		case s.Kind == StepWait && s.Group != "" && cur.GroupIndex(s.Group) >= 0 && !cur.Group(s.Group).Formed:
			next = cur.Clone()
			next.Groups[next.GroupIndex(s.Group)].Formed = true
		case s.Kind == StepWait:
			return append(out, s)
		default:
			var err error
			if next, err = ApplyStep(cur, s); err != nil {
				return append(out, Step{Kind: StepWait, Reason: err.Error()})
			}
			out = append(out, s)
		}
		next.Epoch = cur.Epoch + 1
		cur = next
	}
	return out
}
