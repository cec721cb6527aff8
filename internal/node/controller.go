package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// ControllerConfig tunes a cluster node's controller, which reconciles the
// placement map with the node's Raft groups.
type ControllerConfig struct {
	// Interval is how often the controller reconciles when the map does
	// not change (a map change wakes it at once). Default 200 ms.
	Interval time.Duration
	// OpTimeout bounds one membership change or leadership transfer, and
	// the shutdown of a group this node no longer hosts. Default 5 s.
	OpTimeout time.Duration
	// PreferredLeaderAfter is how long this node must have led a formed
	// group before it hands leadership to the group's preferred leader, so
	// that a recovering node does not make leadership flap. Default 1 s.
	PreferredLeaderAfter time.Duration
	// TransferRetry is the least time between two leadership transfers of
	// one group started by the controller. It doubles with each transfer
	// of the group that failed in a row, up to 8 times: a failed transfer
	// holds the group's writes back for up to about an election timeout.
	// Default 5 s.
	TransferRetry time.Duration
}

// DefaultControllerConfig returns the controller's defaults.
func DefaultControllerConfig() ControllerConfig {
	return ControllerConfig{
		Interval:             200 * time.Millisecond,
		OpTimeout:            5 * time.Second,
		PreferredLeaderAfter: time.Second,
		TransferRetry:        5 * time.Second,
	}
}

// Validate reports the first problem with c.
func (c *ControllerConfig) Validate() error {
	if c.Interval <= 0 || c.OpTimeout <= 0 || c.PreferredLeaderAfter < 0 || c.TransferRetry < 0 {
		return fmt.Errorf("%w: controller: Interval and OpTimeout must be positive, PreferredLeaderAfter and TransferRetry not negative", ErrBadConfig)
	}
	return nil
}

// controller reconciles the placement map with this node's Raft groups, in
// both directions:
//
//   - it starts a replica of every group the map makes this node a member
//     of, and stops (and deletes the state of) every replica of a group
//     this node is no longer a member of, once it does not lead it;
//   - as a group's leader it adds the voters the map lists, removes those
//     it no longer lists (never itself: a leader outside the map first
//     hands leadership to a member), marks the group formed once every
//     member votes (and announces its leadership by gossip, from which the
//     meta leader marks the group formed in the map), and hands leadership
//     back to the preferred leader (Members[0]) when that node is alive.
//
// It publishes a new routing table (clusterState.rt) whenever the map or
// the set of local replicas changes.
//
// Goroutine model: one goroutine (run) makes every decision and owns the
// controller's fields below mu-free; it is the only writer of cs.groups
// (under cs.mu, which shutdown also takes) and of cs.rt. It wakes on a map
// change (placement.Service.Changes), every Interval, and on close. Each
// round reads the facts (the map, gossip liveness, each local group's
// leadership and configuration), turns them into actions with the pure
// functions planReplicas and planGroup, and carries them out: starting and
// stopping replicas and membership changes on the run goroutine (each
// bounded by OpTimeout), leadership transfers on short-lived goroutines
// tracked by bg, so that a slow transfer does not hold up other groups.
type controller struct {
	cs  *clusterState
	cfg ControllerConfig
	log *slog.Logger

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	ctx       context.Context // ends at close: bounds background transfers
	cancel    context.CancelFunc
	bg        sync.WaitGroup

	// transferFails counts, by group id, the controller's transfers that
	// failed in a row; the transfer goroutines write it, run reads it.
	failMu        sync.Mutex
	transferFails map[string]int

	// Run-goroutine-only state.
	trans        map[string]raftfsm.RaftTransport // by group id, of running replicas
	leaderSince  map[string]time.Time             // group id -> since when this node leads it, formed
	lastTransfer map[string]time.Time             // group id -> last transfer started here
	published    []string                         // last SetLeading argument
	removed      bool                             // the map lists this node as removed (warned)
	// movers are the running migration movers, by job id;
	// moverFailSince, since when each job's movers have been failing.
	movers         map[string]*moverHandle
	moverFailSince map[string]time.Time
	// flipped are the jobs a mover of this node flipped, until the map
	// shows them ended (see migrations).
	flipped map[string]bool
	// slotsOf caches mapSlots for the map slotsMap (a published map
	// never changes), by group index: a round would otherwise scan the
	// map's 16384 slots for every local group, five times a second.
	slotsMap *placement.Map
	slotsOf  map[int][]shard.SlotRange
}

func newController(cs *clusterState, cfg ControllerConfig, log *slog.Logger) *controller {
	ctx, cancel := context.WithCancel(context.Background())
	return &controller{
		cs:           cs,
		cfg:          cfg,
		log:          log.With("component", "controller"),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
		ctx:          ctx,
		cancel:       cancel,
		trans:        make(map[string]raftfsm.RaftTransport),
		leaderSince:  make(map[string]time.Time),
		lastTransfer: make(map[string]time.Time),

		transferFails:  make(map[string]int),
		movers:         make(map[string]*moverHandle),
		moverFailSince: make(map[string]time.Time),
		flipped:        make(map[string]bool),
	}
}

// start runs the controller's goroutine.
func (c *controller) start() { go c.run() }

// close stops the controller and waits for its goroutines; later calls do
// nothing. The replicas stay up: clusterState.shutdown stops them.
func (c *controller) close() {
	c.closeOnce.Do(func() { close(c.stop) })
	<-c.done
	c.cancel()
	c.bg.Wait()
}

func (c *controller) run() {
	defer close(c.done)
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		changes := c.cs.pl.Changes()
		c.round(time.Now())
		select {
		case <-c.stop:
			return
		case <-changes:
		case <-tick.C:
		}
	}
}

// round is one reconciliation.
func (c *controller) round(now time.Time) {
	cs := c.cs
	latest := cs.pl.Map()
	if latest == nil {
		return
	}
	if removed := slices.Contains(latest.Removed, cs.self); removed != c.removed {
		c.removed = removed
		if removed {
			c.log.Warn("this node was removed from the cluster (shoal cluster remove-node): it holds no data "+
				"and answers redirects only; stop it, or restart it with an empty --data-dir (or a new --id) "+
				"to bring it back as a new node", "node-id", cs.self)
		}
	}
	members := cs.pl.Members()
	current := c.reconcileReplicas(latest, members)
	rt := cs.rt.Load()
	if rt.m == nil {
		return
	}
	alive := make(map[string]bool, len(members))
	for _, m := range members {
		alive[m.ID] = m.Status == placement.StatusAlive
	}
	var led []string
	for gi, g := range rt.local {
		if g == nil {
			continue
		}
		grp := &rt.m.Groups[gi]
		st := localGroup{Leader: g.IsLeader(), Since: c.leaderSince[grp.ID], LastTransfer: c.lastTransfer[grp.ID],
			TransferFails: c.transferFailures(grp.ID)}
		st.OwnEpoch, st.Owned = g.Ownership()
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.OpTimeout)
		conf, err := g.Members(ctx)
		cancel()
		st.Conf, st.ConfKnown = conf, err == nil
		p := planGroup(groupView{
			Self: cs.self, Map: rt.m, Group: grp, Alive: alive, Now: now,
			// Removals only on the newest map: an old one would drop
			// voters a newer one added.
			MayRemove: current && rt.m == latest, Slots: c.mapSlots(rt.m, gi), cfg: c.cfg,
		}, st)
		g.SetFormed(p.Formed)
		if p.Since.IsZero() {
			delete(c.leaderSince, grp.ID)
		} else {
			c.leaderSince[grp.ID] = p.Since
		}
		if p.Leads {
			led = append(led, grp.ID)
		}
		c.do(g, p.Actions, now)
	}
	if !slices.Equal(led, c.published) {
		cs.pl.SetLeading(led)
		c.published = led
	}
	if current && rt.m == latest {
		c.migrations(latest, now)
	}
}

// reconcileReplicas publishes a new routing table when m or the replicas
// changed, and starts and stops replicas as m says when m is current: no
// alive member gossips a newer epoch. It reports whether m was current.
//
// A meta replica catching up replays every map since the first: acting
// on an old one could start or stop the wrong replicas. Routing follows
// every map all the same: a newer map routes better than the one before,
// and a node that gossip sees behind (which, while a rebalance changes the
// map many times a second, can last) would otherwise send clients back to
// a migration's source after the flip.
func (c *controller) reconcileReplicas(m *placement.Map, members []placement.Member) bool {
	current := !mapBehind(m, members)
	cs := c.cs
	cs.mu.Lock()
	running := make(map[string]bool, len(cs.groups))
	for id, g := range cs.groups {
		running[id] = g.IsLeader()
	}
	cs.mu.Unlock()
	changed := cs.rt.Load().m != m
	var stopped []*raftfsm.Group
	var actions []action
	if current {
		actions = planReplicas(cs.self, m, running)
	}
	for _, a := range actions {
		switch a.Kind {
		case actStart:
			g, err := c.startGroup(m, m.Group(a.Group))
			if err != nil {
				c.log.Error("cannot start group", "group", a.Group, "err", err)
				continue
			}
			cs.mu.Lock()
			cs.groups[a.Group] = g
			cs.mu.Unlock()
			changed = true
		case actStop:
			cs.mu.Lock()
			g := cs.groups[a.Group]
			delete(cs.groups, a.Group)
			cs.mu.Unlock()
			stopped = append(stopped, g)
			changed = true
		}
	}
	if changed {
		cs.mu.Lock()
		rt := &routeTable{m: m, local: make([]*raftfsm.Group, len(m.Groups))}
		for gi, grp := range m.Groups {
			if g := cs.groups[grp.ID]; g != nil {
				rt.local[gi] = g
				rt.hosted = append(rt.hosted, g)
				rt.front = append(rt.front, g)
			}
		}
		cs.mu.Unlock()
		cs.rt.Store(rt)
	}
	// Routing no longer reaches the stopped replicas: shut them down.
	for _, g := range stopped {
		c.stopGroup(g)
	}
	return current
}

// stopGroup shuts a replica down, frees its stream and deletes its state.
func (c *controller) stopGroup(g *raftfsm.Group) {
	id := g.ID()
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.OpTimeout)
	defer cancel()
	err := g.Shutdown(ctx)
	if t := c.trans[id]; t != nil {
		err = errors.Join(err, t.Close())
		delete(c.trans, id)
	}
	delete(c.leaderSince, id)
	delete(c.lastTransfer, id)
	c.failMu.Lock()
	delete(c.transferFails, id)
	c.failMu.Unlock()
	if dir := c.groupDir(id); dir != "" && err == nil {
		err = os.RemoveAll(dir)
	}
	if err != nil {
		c.log.Warn("stop group", "group", id, "err", err)
		return
	}
	c.log.Info("stopped group: no longer a member", "group", id)
}

// groupDir is a group's data directory, "" in memory.
func (c *controller) groupDir(id string) string {
	if c.cs.n.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(c.cs.n.cfg.DataDir, "groups", id)
}

// do carries out a group's leader actions in order, stopping at the first
// failed membership change (raft changes one at a time; the next round
// retries).
func (c *controller) do(g *raftfsm.Group, actions []action, now time.Time) {
	for _, a := range actions {
		switch a.Kind {
		case actAddVoter, actRemoveVoter:
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.OpTimeout)
			var err error
			if a.Kind == actAddVoter {
				err = g.AddVoter(ctx, a.Node, a.Addr)
			} else {
				err = g.RemoveVoter(ctx, a.Node)
			}
			cancel()
			if err != nil {
				c.log.Warn("cannot change group members", "group", a.Group, "action", a.Kind.String(), "member-id", a.Node, "err", err)
				return
			}
			c.log.Info("changed group members", "group", a.Group, "action", a.Kind.String(), "member-id", a.Node)
		case actOwn:
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.OpTimeout)
			err := g.ProposeOwnership(ctx, a.Epoch, a.Slots)
			cancel()
			if err != nil {
				c.log.Warn("cannot set group slot ownership", "group", a.Group, "epoch", a.Epoch, "err", err)
				return
			}
			c.log.Info("set group slot ownership", "group", a.Group, "epoch", a.Epoch, "ranges", len(a.Slots))
		case actTransfer:
			c.lastTransfer[a.Group] = now
			c.bg.Add(1)
			go func() {
				defer c.bg.Done()
				ctx, cancel := context.WithTimeout(c.ctx, c.cfg.OpTimeout)
				defer cancel()
				if err := c.waitCaughtUp(ctx, g, a.Node); err != nil {
					c.log.Info("leadership transfer not started: the target has not caught up", "group", a.Group, "to", a.Node, "err", err)
					return
				}
				if err := g.TransferLeadership(ctx, a.Node, a.Addr); err != nil {
					fails := c.noteTransfer(a.Group, false)
					c.log.Info("leadership transfer failed", "group", a.Group, "to", a.Node, "err", err,
						"failed-in-a-row", fails, "next-try-in", transferWait(c.cfg.TransferRetry, fails).String())
					return
				}
				c.noteTransfer(a.Group, true)
				c.log.Info("handed leadership over", "group", a.Group, "to", a.Node)
			}()
		}
	}
}

// noteTransfer records how a transfer of group ended and returns how many
// of its transfers have now failed in a row. Called by transfer goroutines.
func (c *controller) noteTransfer(group string, ok bool) int {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	if ok {
		delete(c.transferFails, group)
		return 0
	}
	c.transferFails[group]++
	return c.transferFails[group]
}

// transferFailures returns how many of group's transfers failed in a row.
func (c *controller) transferFailures(group string) int {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	return c.transferFails[group]
}

// maxTransferBackoff caps transferWait at TransferRetry times this.
const maxTransferBackoff = 8

// transferWait is the least time after a transfer before the next one of
// the same group, when fails transfers of it failed in a row: retry,
// doubled per failure, up to maxTransferBackoff times retry.
func transferWait(retry time.Duration, fails int) time.Duration {
	w := retry
	for i := 0; i < fails && w < maxTransferBackoff*retry; i++ {
		w *= 2
	}
	return min(w, maxTransferBackoff*retry)
}

// transferSlack is how many entries a transfer's target may trail this
// leader's commit index and still be handed leadership: the transfer holds
// new entries back until the target has the rest (raftfsm.Group.
// TransferLeadership, at most an election timeout), so the rest must be
// small.
const transferSlack = 256

// waitCaughtUp waits, until ctx ends, for node's replica of g to have
// applied what g had committed (within transferSlack entries), asking the
// node over group-rpc every 50 ms; it returns why the replica is not there
// when ctx ends first. A replica that restarted empty needs a
// snapshot first: raft would take that long to transfer to it, holding
// every write of the group back all along.
func (c *controller) waitCaughtUp(ctx context.Context, g *raftfsm.Group, node string) error {
	var last error
	for {
		if m := c.cs.pl.Map(); m != nil {
			st, err := c.cs.replicaStatus(ctx, m, g.ID(), node)
			commit := g.Status().CommitIndex
			if err == nil && st.Applied+transferSlack >= commit {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("applied %d of %d", st.Applied, commit)
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return cmp.Or(last, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startGroup starts this node's replica of grp.
func (c *controller) startGroup(m *placement.Map, grp *placement.Group) (*raftfsm.Group, error) {
	cs := c.cs
	cfg := cs.n.cfg.Group
	cfg.GroupID = grp.ID
	cfg.NodeID = raft.ServerID(cs.self)
	t, err := cs.mux.Transport(grp.ID, cs.n.log)
	if err != nil {
		return nil, err
	}
	cfg.Transport = t
	// The preferred leader (Members[0]) bootstraps the group alone and so
	// wins its first election at once; it then adds the other members as
	// voters (see planGroup). The others start empty and wait to be
	// contacted. Leadership thus starts where the map wants it, with no
	// transfers right after the cluster forms.
	// Once the map says the group formed, nobody bootstraps it again: a
	// preferred leader restarted without its state must rejoin the
	// existing group (and catch up before it votes), not found a new one.
	cfg.Bootstrap = nil
	if grp.Members[0] == cs.self && !grp.Formed {
		node := m.Node(cs.self)
		if node == nil {
			t.Close()
			return nil, errors.New("node: this node is missing from the map")
		}
		cfg.Bootstrap = []raft.Server{{ID: raft.ServerID(cs.self), Address: raft.ServerAddress(node.ClusterAddr)}}
	}
	cfg.DataDir = c.groupDir(grp.ID)
	cfg.Logger = cs.n.log
	// A cluster group owns no slot until its leader commits the map's
	// slots for it (actOwn): writes before that are refused by the FSM.
	cfg.OwnAllSlots = false
	g, err := raftfsm.NewGroup(cfg, shard.New(), command.Executor())
	if err != nil {
		t.Close()
		return nil, err
	}
	g.SetFormed(false) // until its configuration holds every member
	c.trans[grp.ID] = t
	return g, nil
}

// mapBehind reports whether an alive member gossips a newer epoch than m's.
// A meta replica catching up by log replays every map since the first;
// acting on an old one could bootstrap a group that formed long ago, so
// the node waits until its map is as new as the others'.
func mapBehind(m *placement.Map, members []placement.Member) bool {
	for _, mem := range members {
		if mem.Status == placement.StatusAlive && mem.Epoch > m.Epoch {
			return true
		}
	}
	return false
}

// actionKind is what the controller does.
type actionKind int

const (
	// actStart starts this node's replica of Group.
	actStart actionKind = iota
	// actStop shuts this node's replica of Group down and deletes its state.
	actStop
	// actAddVoter, as Group's leader, adds Node (at Addr) as a voter.
	actAddVoter
	// actRemoveVoter, as Group's leader, removes Node.
	actRemoveVoter
	// actTransfer, as Group's leader, hands leadership to Node (at Addr).
	actTransfer
	// actOwn, as Group's leader, commits Slots at Epoch as the slots the
	// group's FSM owns.
	actOwn
)

func (k actionKind) String() string {
	return [...]string{"start", "stop", "add-voter", "remove-voter", "transfer", "own"}[k]
}

// action is one step of reconciliation.
type action struct {
	Kind  actionKind
	Group string
	Node  string            // node id (add, remove, transfer)
	Addr  string            // node's cluster address (add, transfer)
	Epoch uint64            // map epoch (own)
	Slots []shard.SlotRange // slots (own)
}

// planReplicas returns which replicas this node (self) must start and stop
// for map m, given the running ones (group id -> whether this node leads
// it): start every group m makes self a member of; stop every group m no
// longer has, and every group self is no longer a member of unless self
// leads it (it hands leadership over first, see planGroup). Starts come
// first, in map order; stops follow, by group id.
func planReplicas(self string, m *placement.Map, running map[string]bool) []action {
	var out []action
	for _, gid := range m.GroupsOf(self) {
		if _, ok := running[gid]; !ok {
			out = append(out, action{Kind: actStart, Group: gid})
		}
	}
	ids := make([]string, 0, len(running))
	for id := range running {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		grp := m.Group(id)
		if grp == nil || (!slices.Contains(grp.Members, self) && !running[id]) {
			out = append(out, action{Kind: actStop, Group: id})
		}
	}
	return out
}

// groupView is what planGroup needs to know besides the local replica.
type groupView struct {
	Self  string
	Map   *placement.Map
	Group *placement.Group // in Map
	Alive map[string]bool  // node id -> alive in gossip
	Now   time.Time
	// MayRemove allows removing voters: Map is the newest map known.
	MayRemove bool
	// Slots are the slots Map assigns to Group.
	Slots []shard.SlotRange
	cfg   ControllerConfig
}

// localGroup is this node's replica of a group as planGroup sees it.
type localGroup struct {
	Leader       bool             // this node leads the group
	Conf         []raftfsm.Member // the group's configuration
	ConfKnown    bool             // Conf could be read
	Since        time.Time        // when this node started leading it formed (zero: not)
	LastTransfer time.Time        // last transfer this node started (zero: never)
	// TransferFails is how many of this node's transfers of the group
	// failed in a row.
	TransferFails int
	OwnEpoch      uint64            // epoch of the ownership in the group's FSM
	Owned         []shard.SlotRange // slots the group's FSM owns
}

// groupPlan is planGroup's verdict for one group.
type groupPlan struct {
	// Formed is the group's new Formed flag: every member the map lists
	// votes, and the map says the group formed.
	Formed bool
	// Leads: this node leads the group and every member votes; it says so
	// by gossip (the meta leader then marks the group formed).
	Leads bool
	// Since is the new leaderSince (zero: forget it).
	Since time.Time
	// Actions for this node as the group's leader, in order.
	Actions []action
}

// planGroup decides what this node does about one of its replicas.
//
// Followers and leaders alike mark the replica formed when the map says
// the group formed: its leader once had every member as a voter; adding a
// member later does not stop it serving. A leader missing members adds
// them (nothing else until they vote; it announces its leadership only if
// the group formed). A leader with every member: announces it leads; removes the voters the map no longer
// lists (only on the newest map, and never itself); if the map no longer
// lists it, hands leadership to the first alive member; otherwise, once
// the group formed and it has led for PreferredLeaderAfter, hands
// leadership to the preferred leader (Members[0]) when that node is alive.
// Transfers are at least TransferRetry apart, more after failed ones
// (transferWait).
func planGroup(v groupView, st localGroup) groupPlan {
	grp := v.Group
	voters := make(map[string]bool, len(st.Conf))
	for _, m := range st.Conf {
		if m.Voter {
			voters[m.ID] = true
		}
	}
	all := st.ConfKnown
	for _, id := range grp.Members {
		all = all && voters[id]
	}
	// A group that formed keeps serving while the map adds a member (a
	// replica moving to another node, see placement's balancer): the
	// members it had still form a quorum.
	p := groupPlan{Formed: grp.Formed && (all || st.ConfKnown)}
	if st.Leader && st.ConfKnown && !all {
		for _, id := range grp.Members {
			if n := v.Map.Node(id); n != nil && !voters[id] {
				p.Actions = append(p.Actions, action{Kind: actAddVoter, Group: grp.ID, Node: id, Addr: n.ClusterAddr})
			}
		}
	}
	if !st.Leader || !p.Formed && !all {
		return p
	}
	p.Leads = true
	if !all {
		// Nothing else until the new member votes: raft makes one
		// membership change at a time.
		p.Since = st.Since
		return p
	}
	// The FSM checks every write against the slots it owns: give it the
	// map's slots, stamped with the map's epoch. A group only ever learns
	// its slots this way when it forms; moving slots later is the
	// migration protocol's job (docs/migration.md), which changes the FSM's
	// ownership through its own entries first.
	if v.MayRemove && slices.Contains(grp.Members, v.Self) && st.OwnEpoch < v.Map.Epoch && !slices.Equal(st.Owned, v.Slots) {
		p.Actions = append(p.Actions, action{Kind: actOwn, Group: grp.ID, Epoch: v.Map.Epoch, Slots: v.Slots})
	}
	if v.MayRemove {
		for _, m := range st.Conf {
			if m.ID != v.Self && !slices.Contains(grp.Members, m.ID) {
				p.Actions = append(p.Actions, action{Kind: actRemoveVoter, Group: grp.ID, Node: m.ID})
			}
		}
	}
	mayTransfer := st.LastTransfer.IsZero() || v.Now.Sub(st.LastTransfer) >= transferWait(v.cfg.TransferRetry, st.TransferFails)
	if !slices.Contains(grp.Members, v.Self) {
		// Leaving the group: hand leadership over; the new leader
		// removes this node, and planReplicas then stops the replica.
		for _, id := range grp.Members {
			if n := v.Map.Node(id); n != nil && v.Alive[id] && mayTransfer {
				p.Actions = append(p.Actions, action{Kind: actTransfer, Group: grp.ID, Node: id, Addr: n.ClusterAddr})
				break
			}
		}
		return p
	}
	if !grp.Formed {
		p.Since = st.Since
		return p
	}
	p.Since = st.Since
	if p.Since.IsZero() {
		p.Since = v.Now
	}
	pref := grp.Members[0]
	if pref == v.Self || v.Now.Sub(p.Since) < v.cfg.PreferredLeaderAfter || !mayTransfer || !v.Alive[pref] {
		return p
	}
	if n := v.Map.Node(pref); n != nil {
		p.Actions = append(p.Actions, action{Kind: actTransfer, Group: grp.ID, Node: pref, Addr: n.ClusterAddr})
	}
	return p
}

// mapSlots is the package's mapSlots, cached for the last map it was
// asked about. The result is shared: callers must not modify it.
func (c *controller) mapSlots(m *placement.Map, gi int) []shard.SlotRange {
	if c.slotsMap != m {
		c.slotsMap, c.slotsOf = m, make(map[int][]shard.SlotRange)
	}
	r, ok := c.slotsOf[gi]
	if !ok {
		r = mapSlots(m, gi)
		c.slotsOf[gi] = r
	}
	return r
}

// mapSlots returns the slots m assigns to group index gi, as ranges.
func mapSlots(m *placement.Map, gi int) []shard.SlotRange {
	var out []shard.SlotRange
	for _, r := range m.Ranges(gi) {
		out = append(out, shard.SlotRange{Start: r.Start, End: r.End})
	}
	return out
}
