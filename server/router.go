package server

import (
	"github.com/shoalcache/shoal/internal/topology"
)

// Router tells the front end which local Raft group serves a slot, or where
// to redirect the client. It is called for every keyed command, from every
// connection goroutine at once: implementations must be safe for concurrent
// use and cheap (an atomic load of an immutable routing table, no locks).
type Router interface {
	// ClusterEnabled reports whether the node runs in cluster mode: CLUSTER
	// commands work, multi-key commands must stay in one slot (CROSSSLOT),
	// and other nodes' slots are redirected with MOVED.
	ClusterEnabled() bool
	// Route returns the local replica of the group that owns slot (nil when
	// this node hosts none), whether this node leads that group, and the
	// RESP address of the group's leader when it is another node ("" when
	// unknown). owned is false when the map assigns the slot to no group.
	Route(slot int) (g Group, leader bool, redirect string, owned bool)
	// LocalGroups returns the groups this node leads; keyless commands
	// (DBSIZE, KEYS, SCAN, FLUSHALL, RANDOMKEY) act on them, as a Redis
	// Cluster master acts on its own slots.
	LocalGroups() []Group
	// HostedGroups returns every group with a replica on this node.
	HostedGroups() []Group
	// Topology returns what CLUSTER commands report; nil when not in
	// cluster mode.
	Topology() *Topology
	// Admin returns the cluster administration the SHOAL commands use, or
	// nil when the node offers none.
	Admin() Admin
	// Incoming returns this node's replica (leader or follower) of the
	// group that is the target of an active migration of slot in the
	// node's map, or nil. Called only on the redirect path, around
	// migrations.
	Incoming(slot int) Group
}

// Topology is a snapshot of the cluster for the CLUSTER commands.
type Topology struct {
	// Map is the placement map the node currently knows.
	Map *topology.Map
	// Self is this node's id.
	Self string
	// Leaders holds, for each group index of Map, the id of the node that
	// currently leads it ("" when unknown).
	Leaders []string
	// Alive reports, by node id, whether membership sees the node alive.
	Alive map[string]bool
	// plain is set for a plain connection to a tls-cluster node: its
	// replies give the nodes' plain ports (tls.go, usePlainPort).
	plain bool
}

// SingleRouter routes every slot to one group: a standalone node. With a
// nil Group it serves no slot (keyed commands get "slot not served").
type SingleRouter struct {
	// Group is the node's only group.
	Group Group
}

// ClusterEnabled implements Router.
func (r SingleRouter) ClusterEnabled() bool { return false }

// Route implements Router.
func (r SingleRouter) Route(int) (Group, bool, string, bool) {
	if r.Group == nil {
		return nil, false, "", false
	}
	return r.Group, r.Group.IsLeader(), "", true
}

// LocalGroups implements Router.
func (r SingleRouter) LocalGroups() []Group { return r.HostedGroups() }

// HostedGroups implements Router.
func (r SingleRouter) HostedGroups() []Group {
	if r.Group == nil {
		return nil
	}
	return []Group{r.Group}
}

// Topology implements Router.
func (r SingleRouter) Topology() *Topology { return nil }

// Admin implements Router: a standalone node has no cluster to administer.
func (r SingleRouter) Admin() Admin { return nil }

// Incoming implements Router: a standalone node migrates nothing.
func (r SingleRouter) Incoming(int) Group { return nil }
