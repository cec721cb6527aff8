package placement

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// votersFor returns how many of the n initial nodes are meta voters: 1 for
// one node, 2 for two, 3 for three or four, 5 from five.
func votersFor(n int) int {
	switch {
	case n <= 2:
		return n
	case n <= 4:
		return 3
	default:
		return 5
	}
}

// bootstrapSet returns the nodes that form the initial cluster: the first
// expect alive, tagged members by ID, with the first votersFor(expect) of
// them as meta voters. reason is non-empty when there is no set to
// bootstrap yet (too few members) or when bootstrapping would be unsafe:
// some member already holds a map, or a member outside the set already has
// meta state (a cluster exists that this view would not match). Every node
// that sees the same membership computes the same set.
func bootstrapSet(members []Member, expect int) (set, voters []Member, reason string) {
	var cands []Member
	for _, m := range members {
		if m.Status == StatusAlive && m.usable() {
			cands = append(cands, m)
		}
	}
	// members is sorted by ID (Members), so cands is too.
	if len(cands) < expect {
		return nil, nil, "waiting for members"
	}
	for _, m := range cands {
		if m.Epoch > 0 {
			return nil, nil, "a cluster map exists"
		}
	}
	for _, m := range cands[expect:] {
		if m.MetaState {
			return nil, nil, "a meta group exists outside the bootstrap set"
		}
	}
	set = cands[:expect]
	return set, set[:votersFor(expect)], ""
}

// reconcileLoop runs on its own goroutine until Shutdown: every
// ReconcileInterval, and when membership changes, it tries to bootstrap
// the meta group (until the node has meta state), does the meta leader's
// duties when this node leads, and checks for epoch lag. It is the only
// goroutine that touches the reconcile-only fields of Service.
func (s *Service) reconcileLoop() {
	defer s.reconcileWG.Done()
	t := time.NewTicker(s.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.reconcilePoke:
		case <-s.leaderObs:
		}
		s.reconcile()
	}
}

func (s *Service) reconcile() {
	members := s.Members()
	if !s.metaState.Load() && s.raft.LastIndex() > 0 {
		s.metaState.Store(true)
		poke(s.tagsPoke)
	}
	if !s.metaState.Load() {
		s.maybeBootstrap(members)
	}
	if s.raft.State() == raft.Leader {
		s.leaderReconcile(members)
	}
	s.checkEpochLag(members)
}

// maybeBootstrap bootstraps the meta group when this node is one of the
// voters of the bootstrap set. Non-voters never bootstrap: they wait for
// the leader to add them.
func (s *Service) maybeBootstrap(members []Member) {
	expect := s.cfg.BootstrapExpect
	if expect == 0 {
		s.noteBootWait("waiting to be added to an existing cluster")
		return
	}
	_, voters, reason := bootstrapSet(members, expect)
	if reason != "" {
		s.noteBootWait(reason)
		return
	}
	servers := make([]raft.Server, 0, len(voters))
	self := false
	ids := make([]string, 0, len(voters))
	for _, m := range voters {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.ClusterAddr)})
		ids = append(ids, m.ID)
		self = self || m.ID == s.cfg.NodeID
	}
	if !self {
		s.noteBootWait("not a bootstrap voter; waiting to be added")
		return
	}
	err := s.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	switch {
	case err == nil:
		s.guard.Release()
		s.log.Info("bootstrapped meta group", "voters", strings.Join(ids, ","), "expect", expect)
	case errors.Is(err, raft.ErrCantBootstrap):
		s.log.Debug("meta group already has state; not bootstrapping")
	default:
		s.log.Warn("bootstrap meta group", "err", err)
		return
	}
	s.metaState.Store(true)
	poke(s.tagsPoke)
}

// noteBootWait logs why the node is not bootstrapping, once per reason.
func (s *Service) noteBootWait(reason string) {
	if reason != s.bootWait {
		s.bootWait = reason
		s.log.Info("not bootstrapping meta group", "reason", reason, "expect", s.cfg.BootstrapExpect)
	}
}

// leaderReconcile does the meta leader's duties: it proposes the initial
// map when there is none, marks formed groups, registers alive members
// the map lacks as nodes (register.go), and adds every alive member that
// is not in the meta configuration as a non-voter, so that it replicates
// the map.
func (s *Service) leaderReconcile(members []Member) {
	members = s.provenMembers(members)
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		s.log.Warn("read meta configuration", "err", err)
		return
	}
	conf := cf.Configuration().Servers
	members = s.verifiedMembers(members, conf) // tls.go: unknown members must pass tls-cluster's check
	if s.Map() == nil && s.cfg.BootstrapExpect > 0 {
		s.proposeInit(members, conf)
	}
	s.markFormed()
	s.registerNodes(members)
	if s.moveMetaVotes(members, conf) {
		return // the configuration changed: the next round reads it again
	}
	inConf := make(map[string]raft.Server, len(conf))
	for _, srv := range conf {
		inConf[string(srv.ID)] = srv
	}
	for _, m := range members {
		if m.Status != StatusAlive || !m.usable() {
			continue
		}
		srv, ok := inConf[m.ID]
		addr := raft.ServerAddress(m.ClusterAddr)
		var f raft.IndexFuture
		switch {
		case !ok:
			f = s.raft.AddNonvoter(raft.ServerID(m.ID), addr, 0, s.cfg.ApplyTimeout)
		case srv.Address != addr && srv.Suffrage == raft.Voter:
			f = s.raft.AddVoter(srv.ID, addr, 0, s.cfg.ApplyTimeout)
		case srv.Address != addr:
			f = s.raft.AddNonvoter(srv.ID, addr, 0, s.cfg.ApplyTimeout)
		default:
			continue
		}
		if err := f.Error(); err != nil {
			s.log.Warn("update meta configuration", "member-id", m.ID, "cluster-addr", m.ClusterAddr, "err", err)
			return
		}
		if ok {
			s.log.Info("updated meta member address", "member-id", m.ID, "old-addr", string(srv.Address), "cluster-addr", m.ClusterAddr)
		} else {
			s.log.Info("added meta non-voter", "member-id", m.ID, "cluster-addr", m.ClusterAddr)
		}
	}
}

// proposeInit proposes the initial map: the meta voters plus, by ID, other
// alive members up to BootstrapExpect nodes, laid out by InitialMap. It
// waits (returns, to retry on a later round) while a voter is not alive in
// serf, since the map needs its addresses.
func (s *Service) proposeInit(members []Member, conf []raft.Server) {
	expect := s.cfg.BootstrapExpect
	byID := make(map[string]Member, len(members))
	for _, m := range members {
		if m.Status == StatusAlive && m.usable() {
			byID[m.ID] = m
		}
	}
	chosen := make(map[string]bool)
	var nodes []Node
	add := func(m Member) {
		chosen[m.ID] = true
		nodes = append(nodes, Node{ID: m.ID, RESPAddr: m.RESPAddr, PlainPort: m.PlainPort, ClusterAddr: m.ClusterAddr, GossipAddr: m.GossipAddr})
	}
	for _, srv := range conf {
		if srv.Suffrage != raft.Voter {
			continue
		}
		m, ok := byID[string(srv.ID)]
		if !ok {
			s.log.Debug("initial map waits for a voter to be alive in gossip", "member-id", string(srv.ID))
			return
		}
		add(m)
	}
	for _, m := range members {
		if len(nodes) >= expect {
			break
		}
		if _, ok := byID[m.ID]; ok && !chosen[m.ID] {
			add(m)
		}
	}
	if len(nodes) < expect {
		return
	}
	m, err := InitialMap(nodes, s.cfg.Groups, min(s.cfg.Replicas, len(nodes)))
	if err != nil {
		s.log.Error("build initial map", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	defer cancel()
	switch err := s.apply(ctx, metaCommand{Op: opInit, Map: m}); {
	case err == nil:
		s.log.Info("initial map committed", "epoch", m.Epoch, "nodes", len(m.Nodes), "groups", len(m.Groups))
	case errors.Is(err, ErrMapExists):
		s.log.Debug("initial map already committed")
	default:
		s.log.Warn("propose initial map", "err", err)
	}
}

// checkEpochLag warns when some alive member has advertised a larger map
// epoch than ours for longer than EpochLagWarn: our meta replica is behind
// (it catches up by log or snapshot).
func (s *Service) checkEpochLag(members []Member) {
	var ours uint64
	if m := s.Map(); m != nil {
		ours = m.Epoch
	}
	var top uint64
	var who string
	for _, m := range members {
		if m.Status == StatusAlive && m.Epoch > top {
			top, who = m.Epoch, m.ID
		}
	}
	now := time.Now()
	if top <= ours {
		if s.lagWarned {
			s.log.Info("meta replica caught up", "epoch", ours)
		}
		s.lagSince, s.lagWarned = time.Time{}, false
		return
	}
	if s.lagSince.IsZero() {
		s.lagSince = now
		return
	}
	if !s.lagWarned && now.Sub(s.lagSince) > s.cfg.EpochLagWarn {
		s.lagWarned = true
		s.log.Warn("meta replica behind the cluster; catching up by log",
			"epoch", ours, "member-epoch", top, "member-id", who, "lag-for", now.Sub(s.lagSince).String())
	}
}

// markFormed sets Formed on every group of the map whose leader, by
// gossip, has every member in its configuration (a node publishes a "lead"
// tag for a group only then). It runs on the meta leader's reconcile
// round; one map update covers every group that formed since the last.
func (s *Service) markFormed() {
	m := s.Map()
	if m == nil {
		return
	}
	var formed []string
	for _, g := range m.Groups {
		if g.Formed {
			continue
		}
		if id, ok := s.LeaderHint(g.ID); ok && slices.Contains(g.Members, id) {
			formed = append(formed, g.ID)
		}
	}
	if len(formed) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	defer cancel()
	err := s.UpdateMap(ctx, func(old *Map) (*Map, error) {
		changed := false
		for i := range old.Groups {
			if slices.Contains(formed, old.Groups[i].ID) && !old.Groups[i].Formed {
				old.Groups[i].Formed, changed = true, true
			}
		}
		if !changed {
			return nil, nil
		}
		return old, nil
	})
	if err != nil {
		s.log.Warn("mark groups formed", "groups", strings.Join(formed, ","), "err", err)
		return
	}
	s.log.Info("groups formed", "groups", strings.Join(formed, ","))
}
