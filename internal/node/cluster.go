package node

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/server"
)

// clusterState runs a node in cluster mode: the cluster port's mux, the
// placement service, and one Raft group per shard group this node is a
// member of. It implements server.Router.
//
// Route and the other Router methods are called from connection goroutines
// at any time; they read an immutable routeTable through an atomic pointer.
// The controller (controller.go, one goroutine) starts and stops groups,
// manages their members and publishes new tables.
type clusterState struct {
	n    *Node
	self string
	cln  net.Listener
	mux  *raftfsm.Mux
	pl   *placement.Service
	ctl  *controller
	bal  *balancer
	// commands returns the node's client command count (pacing.go); set
	// once the RESP server exists.
	commands atomic.Pointer[func() int64]
	// cfgSync applies the map's cluster-wide settings (admin_config.go).
	cfgSync configSync

	mu     sync.Mutex // guards groups; the controller is its only writer
	groups map[string]*raftfsm.Group

	rt atomic.Pointer[routeTable]

	// leadersMu guards lastLeaders: by group id, the leader Topology last
	// saw (connection goroutines call Topology concurrently).
	leadersMu   sync.Mutex
	lastLeaders map[string]seenLeader
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
		cport = cfg.clientPort() + 10000 // the TLS port's with tls-cluster (tls.go)
	}
	if gport == 0 {
		gport = cfg.clientPort() + 20000
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

		lastLeaders: make(map[string]seenLeader),
	}
	cs.rt.Store(&routeTable{})
	cs.mux.RequireSecret(cfg.ClusterSecrets)
	cs.mux.UseTransport(cfg.RaftTransport)
	go func() { _ = cs.mux.Serve() }()

	pcfg := cfg.Placement
	pcfg.NodeID = cfg.ID
	pcfg.RESPAddr = cfg.AdvertiseAddr()
	pcfg.PlainPort = cfg.plainPort() // tls.go
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
	go cs.serveGroupRPC()
	cs.ctl = newController(cs, cfg.Controller, n.log)
	cs.ctl.start()
	cs.bal = newBalancer(cs)
	cs.bal.start()
	return cs, nil
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
		id, _ := g.Leader()
		return g, false, rt.respAddr(id), true
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

// Incoming implements server.Router: this node's replica (leader or not)
// of the target group of an active migration of slot.
func (cs *clusterState) Incoming(slot int) server.Group {
	rt := cs.rt.Load()
	if rt.m == nil {
		return nil
	}
	j := rt.m.JobOfSlot(slot)
	if j == nil {
		return nil
	}
	if gi := rt.m.GroupIndex(j.Target); gi >= 0 {
		if g := rt.local[gi]; g != nil {
			return g
		}
	}
	return nil
}

// Admin implements server.Router: the cluster's administration (SHOAL
// LEADER-TRANSFER).
func (cs *clusterState) Admin() server.Admin { return cs }

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
	now := time.Now()
	cs.leadersMu.Lock()
	defer cs.leadersMu.Unlock()
	for gi, grp := range rt.m.Groups {
		var id string
		if g := rt.local[gi]; g != nil {
			// A group still adding its members serves nothing yet.
			if !g.Formed() {
				continue
			}
			id, _ = g.Leader()
		} else {
			id, _ = cs.pl.LeaderHint(grp.ID)
		}
		// While leadership moves (a transfer, the election after it) the
		// leader is unknown for a moment: keep showing the last one for
		// up to leaderGrace, so that CLUSTER SLOTS/NODES do not drop the
		// group's slots (clients sent there get a redirect or TRYAGAIN).
		// A group without a leader for longer, or whose last leader
		// gossip sees failed, shows none.
		if id != "" {
			cs.lastLeaders[grp.ID] = seenLeader{id: id, at: now}
		} else if l, ok := cs.lastLeaders[grp.ID]; ok && now.Sub(l.at) < leaderGrace && slices.Contains(grp.Members, l.id) && t.Alive[l.id] {
			id = l.id
		}
		t.Leaders[gi] = id
	}
	return t
}

// leaderGrace is how long Topology keeps reporting a group's last known
// leader once its leader is unknown: a little more than an election.
const leaderGrace = 2 * time.Second

// seenLeader is a group's leader as Topology last saw it.
type seenLeader struct {
	id string
	at time.Time
}

// handOffTimeout bounds the leadership hand-off at shutdown.
const handOffTimeout = 3 * time.Second

// handOff stops the balancer and the controller (so that it does not take
// leadership back), then hands the leadership of every group this node
// leads to another voter, all at once, waiting at most handOffTimeout (a
// transfer lets the writes in flight commit first: raftfsm's
// TransferLeadership). A group whose transfer fails keeps its leader until
// the node stops; its followers then elect one after an election timeout.
// The other nodes' controllers hand leadership back to this node only
// after leading for PreferredLeaderAfter and while gossip sees it alive,
// which its shutdown ends first.
func (cs *clusterState) handOff(ctx context.Context) {
	cs.bal.close()
	cs.ctl.close()
	ctx, cancel := context.WithTimeout(ctx, handOffTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, g := range cs.rt.Load().hosted {
		if !g.IsLeader() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.TransferLeadership(ctx, "", ""); err != nil {
				cs.n.log.Warn("leadership hand-off at shutdown failed", "group", g.ID(), "err", err)
				return
			}
			cs.n.log.Info("handed leadership off at shutdown", "group", g.ID())
		}()
	}
	wg.Wait()
}

func (cs *clusterState) shutdown(ctx context.Context) error {
	cs.stopConfigSync()
	cs.bal.close() // both do nothing after handOff
	cs.ctl.close()
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
