package node

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/server"
	"github.com/shoalcache/shoal/shard"
)

// clusterState runs a node in cluster mode: the cluster port's mux, the
// placement service, and one Raft group per shard group this node is a
// member of. It implements server.Router.
//
// Route and the other Router methods are called from connection goroutines
// at any time; they read an immutable routeTable through an atomic pointer.
// The reconcile loop (one goroutine) starts groups and publishes new tables.
type clusterState struct {
	n    *Node
	self string
	cln  net.Listener
	mux  *raftfsm.Mux
	pl   *placement.Service

	mu     sync.Mutex // guards groups
	groups map[string]*raftfsm.Group

	rt   atomic.Pointer[routeTable]
	stop chan struct{}
	wg   sync.WaitGroup
}

// routeTable is what routing needs, rebuilt whenever the map or the set of
// local groups changes.
type routeTable struct {
	m *placement.Map
	// local holds, by group index of m, this node's replica (nil if none).
	local []*raftfsm.Group
	// hosted lists every local replica.
	hosted []*raftfsm.Group
	// front is hosted as the front end's Group interface values.
	front []server.Group
}

func startCluster(ctx context.Context, n *Node) (*clusterState, error) {
	cfg := &n.cfg
	host := cfg.advertiseHost()
	cport, gport := cfg.ClusterPort, cfg.GossipPort
	if cport == 0 {
		cport = cfg.Port + 10000
	}
	if gport == 0 {
		gport = cfg.Port + 20000
	}
	cln, err := net.Listen("tcp", net.JoinHostPort(cfg.Bind, strconv.Itoa(cport)))
	if err != nil {
		return nil, err
	}
	adv, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, strconv.Itoa(cport)))
	if err != nil {
		cln.Close()
		return nil, err
	}
	cs := &clusterState{
		n:      n,
		self:   cfg.ID,
		cln:    cln,
		mux:    raftfsm.NewMux(cln, adv, n.log),
		groups: make(map[string]*raftfsm.Group),
		stop:   make(chan struct{}),
	}
	cs.rt.Store(&routeTable{})
	go func() { _ = cs.mux.Serve() }()

	pcfg := cfg.Placement
	pcfg.NodeID = cfg.ID
	pcfg.RESPAddr = net.JoinHostPort(host, strconv.Itoa(cfg.Port))
	pcfg.GossipBind = net.JoinHostPort(cfg.Bind, strconv.Itoa(gport))
	pcfg.GossipAdvertise = net.JoinHostPort(host, strconv.Itoa(gport))
	pcfg.Join = cfg.Join
	pcfg.BootstrapExpect = cfg.BootstrapExpect
	pcfg.Groups, pcfg.Replicas = cfg.Groups, cfg.Replicas
	pcfg.DataDir = cfg.DataDir
	pcfg.Mux = cs.mux
	pcfg.Logger = n.log // placement names its own components
	pl, err := placement.New(pcfg)
	if err != nil {
		cs.mux.Close()
		return nil, err
	}
	if err := pl.Start(ctx); err != nil {
		cs.mux.Close()
		return nil, err
	}
	cs.pl = pl
	cs.wg.Add(1)
	go cs.run()
	return cs, nil
}

// run reconciles local groups with the map, publishes which groups this
// node leads, and moves leadership back to preferred leaders.
func (cs *clusterState) run() {
	defer cs.wg.Done()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var published []string
	leaderSince := make(map[string]time.Time)
	lastTransfer := make(map[string]time.Time)
	for {
		changes := cs.pl.Changes()
		cs.reconcile()
		select {
		case <-cs.stop:
			return
		case <-changes:
			continue
		case <-tick.C:
		}
		rt := cs.rt.Load()
		var led []string
		for gi, g := range rt.local {
			if g == nil {
				continue
			}
			grp := &rt.m.Groups[gi]
			gid := grp.ID
			// The leader gossips that it leads once its configuration holds
			// every member; the meta leader then marks the group formed in
			// the map, and only then does the group serve.
			all := cs.hasAllMembers(rt, gi, g)
			g.SetFormed(all && grp.Formed)
			if !g.IsLeader() || !all {
				if g.IsLeader() {
					cs.addMembers(rt, gi, g)
				}
				delete(leaderSince, gid)
				continue
			}
			led = append(led, gid)
			if !g.Formed() {
				continue
			}
			if _, ok := leaderSince[gid]; !ok {
				leaderSince[gid] = time.Now()
			}
			cs.maybeTransfer(rt, gi, g, leaderSince[gid], lastTransfer)
		}
		if !slices.Equal(led, published) {
			cs.pl.SetLeading(led)
			published = led
		}
	}
}

// hasAllMembers reports whether every member the map lists for group gi is
// a voter in the group's configuration.
func (cs *clusterState) hasAllMembers(rt *routeTable, gi int, g *raftfsm.Group) bool {
	f := g.Raft().GetConfiguration()
	if f.Error() != nil {
		return false
	}
	voters := make(map[raft.ServerID]bool)
	for _, srv := range f.Configuration().Servers {
		voters[srv.ID] = srv.Suffrage == raft.Voter
	}
	for _, id := range rt.m.Groups[gi].Members {
		if !voters[raft.ServerID(id)] {
			return false
		}
	}
	return true
}

// addMembers makes every member the map lists for group gi a voter, when
// this node leads the group. It runs on the reconcile goroutine.
func (cs *clusterState) addMembers(rt *routeTable, gi int, g *raftfsm.Group) {
	f := g.Raft().GetConfiguration()
	if f.Error() != nil {
		return
	}
	have := make(map[raft.ServerID]bool)
	for _, srv := range f.Configuration().Servers {
		have[srv.ID] = srv.Suffrage == raft.Voter
	}
	for _, id := range rt.m.Groups[gi].Members {
		if have[raft.ServerID(id)] {
			continue
		}
		node := rt.m.Node(id)
		if node == nil {
			continue
		}
		if err := g.Raft().AddVoter(raft.ServerID(id), raft.ServerAddress(node.ClusterAddr), 0, 5*time.Second).Error(); err != nil {
			cs.n.log.Warn("cannot add group member", "group", rt.m.Groups[gi].ID, "member", id, "error", err)
			return
		}
		cs.n.log.Info("added group member", "group", rt.m.Groups[gi].ID, "member", id)
	}
}

// maybeTransfer hands leadership of group gi to its preferred leader when
// that node is alive and this node has led for a while (so that a recovering
// node does not make leadership flap).
func (cs *clusterState) maybeTransfer(rt *routeTable, gi int, g *raftfsm.Group, since time.Time, last map[string]time.Time) {
	grp := rt.m.Groups[gi]
	pref := grp.Members[0]
	if pref == cs.self || time.Since(since) < time.Second || time.Since(last[grp.ID]) < 5*time.Second {
		return
	}
	alive := false
	for _, m := range cs.pl.Members() {
		if m.ID == pref && m.Status == placement.StatusAlive {
			alive = true
		}
	}
	node := rt.m.Node(pref)
	if !alive || node == nil {
		return
	}
	last[grp.ID] = time.Now()
	f := g.Raft().LeadershipTransferToServer(raft.ServerID(pref), raft.ServerAddress(node.ClusterAddr))
	go func() {
		if err := f.Error(); err != nil {
			cs.n.log.Debug("leadership transfer failed", "group", grp.ID, "to", pref, "error", err)
		}
	}()
}

// reconcile starts the groups the map makes this node a member of and
// publishes a new routing table when anything changed.
func (cs *clusterState) reconcile() {
	m := cs.pl.Map()
	if m == nil {
		return
	}
	if mapBehind(m, cs.pl.Members()) {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	changed := cs.rt.Load().m != m
	for _, gid := range m.GroupsOf(cs.self) {
		if cs.groups[gid] != nil {
			continue
		}
		g, err := cs.startGroup(m, m.Group(gid))
		if err != nil {
			cs.n.log.Error("cannot start group", "group", gid, "error", err)
			continue
		}
		cs.groups[gid] = g
		changed = true
	}
	if !changed {
		return
	}
	rt := &routeTable{m: m, local: make([]*raftfsm.Group, len(m.Groups))}
	for gi, grp := range m.Groups {
		if g := cs.groups[grp.ID]; g != nil {
			rt.local[gi] = g
			rt.hosted = append(rt.hosted, g)
			rt.front = append(rt.front, g)
		}
	}
	cs.rt.Store(rt)
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

func (cs *clusterState) startGroup(m *placement.Map, grp *placement.Group) (*raftfsm.Group, error) {
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
	// voters (see addMembers). The others start empty and wait to be
	// contacted. Leadership thus starts where the map wants it, with no
	// transfers right after the cluster forms.
	// Once the map says the group formed, nobody bootstraps it again: a
	// preferred leader restarted without its state must rejoin the
	// existing group (and catch up before it votes), not found a new one.
	cfg.Bootstrap = nil
	if grp.Members[0] == cs.self && !grp.Formed {
		node := m.Node(cs.self)
		if node == nil {
			return nil, errors.New("node: this node is missing from the map")
		}
		cfg.Bootstrap = []raft.Server{{ID: raft.ServerID(cs.self), Address: raft.ServerAddress(node.ClusterAddr)}}
	}
	if cs.n.cfg.DataDir != "" {
		cfg.DataDir = filepath.Join(cs.n.cfg.DataDir, "groups", grp.ID)
	}
	cfg.Logger = cs.n.log
	g, err := raftfsm.NewGroup(cfg, shard.New(), command.Executor())
	if err == nil {
		g.SetFormed(false) // until its configuration holds every member
	}
	return g, err
}

// ClusterEnabled implements server.Router.
func (cs *clusterState) ClusterEnabled() bool { return true }

// Route implements server.Router.
func (cs *clusterState) Route(slot int) (server.Group, bool, string, bool) {
	rt := cs.rt.Load()
	if rt.m == nil {
		return nil, false, "", false
	}
	gi := int(rt.m.Slots[slot])
	if gi < 0 {
		return nil, false, "", false
	}
	if g := rt.local[gi]; g != nil {
		if g.IsLeader() {
			if !g.Formed() {
				return g, false, "", true // CLUSTERDOWN until every member votes
			}
			return g, true, "", true
		}
		_, id := g.Raft().LeaderWithID()
		return g, false, rt.respAddr(string(id)), true
	}
	id, _ := cs.pl.LeaderHint(rt.m.Groups[gi].ID)
	return nil, false, rt.respAddr(id), true
}

func (rt *routeTable) respAddr(id string) string {
	if id == "" {
		return ""
	}
	if n := rt.m.Node(id); n != nil {
		return n.RESPAddr
	}
	return ""
}

// LocalGroups implements server.Router.
func (cs *clusterState) LocalGroups() []server.Group {
	var out []server.Group
	for _, g := range cs.rt.Load().hosted {
		if g.IsLeader() {
			out = append(out, g)
		}
	}
	return out
}

// HostedGroups implements server.Router.
func (cs *clusterState) HostedGroups() []server.Group { return cs.rt.Load().front }

// Topology implements server.Router.
func (cs *clusterState) Topology() *server.Topology {
	rt := cs.rt.Load()
	t := &server.Topology{Map: rt.m, Self: cs.self, Alive: make(map[string]bool)}
	for _, m := range cs.pl.Members() {
		t.Alive[m.ID] = m.Status == placement.StatusAlive
	}
	t.Alive[cs.self] = true
	if rt.m == nil {
		return t
	}
	t.Leaders = make([]string, len(rt.m.Groups))
	for gi, grp := range rt.m.Groups {
		if g := rt.local[gi]; g != nil {
			// A group still adding its members serves nothing yet.
			if g.Formed() {
				_, id := g.Raft().LeaderWithID()
				t.Leaders[gi] = string(id)
			}
		} else if id, ok := cs.pl.LeaderHint(grp.ID); ok {
			t.Leaders[gi] = id
		}
	}
	return t
}

func (cs *clusterState) shutdown(ctx context.Context) error {
	close(cs.stop)
	cs.wg.Wait()
	cs.mu.Lock()
	groups := make([]*raftfsm.Group, 0, len(cs.groups))
	for _, g := range cs.groups {
		groups = append(groups, g)
	}
	cs.mu.Unlock()
	var errs []error
	for _, g := range groups {
		errs = append(errs, g.Shutdown(ctx))
	}
	errs = append(errs, cs.pl.Shutdown(ctx), cs.mux.Close())
	return errors.Join(errs...)
}
