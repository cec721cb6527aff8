package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
)

// The balancer: the meta leader carries out rebalance and remove-node
// requests, one step at a time (placement.NextStep plans each from the
// current map). Nothing of the plan is kept here: a new meta leader plans
// again from the map, so a crash between steps resumes the work.

// BalanceInterval is how often the meta leader's balancer plans a step
// when the map does not change (a map change wakes it at once).
const balanceInterval = 500 * time.Millisecond

// syncSlack is how many entries a new member's applied index may trail the
// group leader's commit index and still count as caught up (a busy group
// commits a few batches while the two are asked); at most half the
// leader's commit index, so that an empty replica never counts.
const syncSlack = 1024

// balancer runs on its own goroutine (run) until stop is closed.
type balancer struct {
	cs        *clusterState
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// Run-goroutine-only state.
	lastWait string // the last wait logged, so each is logged once
	// leaderless maps an active job's id to when its source group was
	// first seen without a leader (see stalledJobs).
	leaderless map[string]time.Time
}

func newBalancer(cs *clusterState) *balancer {
	return &balancer{cs: cs, stop: make(chan struct{}), done: make(chan struct{}), leaderless: make(map[string]time.Time)}
}

func (b *balancer) start() { go b.run() }

// close stops the balancer and waits for it; later calls do nothing.
func (b *balancer) close() {
	b.closeOnce.Do(func() { close(b.stop) })
	<-b.done
}

func (b *balancer) run() {
	defer close(b.done)
	tick := time.NewTicker(balanceInterval)
	defer tick.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-b.stop
		cancel()
	}()
	for {
		changes := b.cs.pl.Changes()
		if b.cs.pl.IsMetaLeader() {
			b.round(ctx)
		}
		select {
		case <-b.stop:
			return
		case <-changes:
		case <-tick.C:
		}
	}
}

// replicas is the replication factor the balancer keeps: --replicas, or
// when this node was started without it, the first group's size.
func (cs *clusterState) replicas(m *placement.Map) int {
	if r := cs.n.cfg.Replicas; r > 0 {
		return r
	}
	if len(m.Groups) > 0 {
		return len(m.Groups[0].Members)
	}
	return 1
}

// facts returns what the planner needs besides the map; with probe, the
// membership facts are asked of the groups (group-rpc), else assumed.
func (cs *clusterState) facts(ctx context.Context, m *placement.Map, probe bool) placement.BalanceFacts {
	// A node of the map that gossip does not know yet (it just joined, and
	// the news has not reached this node) counts as alive; one gossip
	// knows as failed or gone does not.
	alive := make(map[string]bool)
	for _, mem := range cs.pl.Members() {
		alive[mem.ID] = mem.Status == placement.StatusAlive
	}
	alive[cs.self] = true
	f := placement.BalanceFacts{
		Replicas:  cs.replicas(m),
		MaxActive: cs.n.cfg.Migration.MaxActive,
		Alive: func(id string) bool {
			a, known := alive[id]
			return a || !known
		},
	}
	if probe {
		f.MetaVoter = cs.pl.MetaVoter
		f.Synced = func(group, node string) bool { return cs.replicaSynced(ctx, group, node) }
		f.InGroup = func(node string) bool { return cs.inGroupConfig(ctx, m, node) }
	}
	return f
}

// round plans and takes one step.
func (b *balancer) round(ctx context.Context) {
	cs := b.cs
	m := cs.pl.Map()
	if m == nil {
		return
	}
	log := cs.n.log.With("component", "balancer")
	for _, id := range stalledJobs(m, cs.groupLeader, b.leaderless, time.Now(), cs.n.cfg.Migration.StallTimeout) {
		reason := fmt.Sprintf("its source group has had no leader for %s", cs.n.cfg.Migration.StallTimeout)
		opCtx, cancel := context.WithTimeout(ctx, cs.n.cfg.Controller.OpTimeout)
		err := cs.pl.AbortJob(opCtx, id, reason)
		cancel()
		if err != nil { // placement logs a success ("migration job aborted")
			log.Warn("cannot abort a stalled migration job", "job", id, "reason", reason, "err", err)
		}
	}
	step := placement.NextStep(m, cs.facts(ctx, m, true))
	if step.Kind == placement.StepWait {
		if step.Reason != b.lastWait {
			log.Info("balancing waits", "for", step.Reason)
			b.lastWait = step.Reason
		}
		return
	}
	b.lastWait = ""
	if step.Kind == placement.StepNone && !m.Rebalance {
		return
	}
	opCtx, cancel := context.WithTimeout(ctx, cs.n.cfg.Controller.OpTimeout)
	defer cancel()
	var err error
	if step.Kind == placement.StepMoveSlots {
		var id string
		if id, err = cs.Migrate(opCtx, step.Slots, step.Target); err == nil {
			log.Info("balancing step", "step", step.String(), "job", id)
			return
		}
	} else if err = cs.pl.ApplyBalanceStep(opCtx, m.Epoch, step); err == nil {
		if step.Kind == placement.StepNone {
			log.Info("the cluster is balanced")
		} else {
			log.Info("balancing step", "step", step.String())
		}
		return
	}
	if errors.Is(err, placement.ErrStaleStep) || ctx.Err() != nil {
		return // the map moved on: plan again
	}
	log.Warn("balancing step failed", "step", step.String(), "err", err)
}

// stalledJobs returns the active jobs of m whose source group has had no
// leader (leaderOf returns "") for timeout or longer; since remembers when
// each was first seen leaderless (entries of jobs that ended or whose
// source has a leader again are dropped). A job whose source leader is
// gone cannot copy, fence or flip; aborting it (the same compare-and-set as
// a cancel, which a flip excludes) frees its slots for a new job.
func stalledJobs(m *placement.Map, leaderOf func(group string) string, since map[string]time.Time, now time.Time, timeout time.Duration) []string {
	var out []string
	active := make(map[string]bool)
	for _, j := range m.ActiveJobs() {
		active[j.ID] = true
		if leaderOf(j.Source) != "" {
			delete(since, j.ID)
			continue
		}
		first, ok := since[j.ID]
		if !ok {
			since[j.ID] = now
			continue
		}
		if now.Sub(first) >= timeout {
			out = append(out, j.ID)
		}
	}
	for id := range since {
		if !active[id] {
			delete(since, id)
		}
	}
	return out
}

// replicaSynced reports whether node's replica of group votes in the
// group and has applied what the group's leader had committed (within
// syncSlack entries).
func (cs *clusterState) replicaSynced(ctx context.Context, group, node string) bool {
	m := cs.pl.Map()
	leader := cs.groupLeader(group)
	if m == nil || leader == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ls, err := cs.replicaStatus(ctx, m, group, leader)
	if err != nil || !ls.Leader || !slices.Contains(ls.Voters, node) {
		return false
	}
	if node == leader {
		return true
	}
	ns, err := cs.replicaStatus(ctx, m, group, node)
	return err == nil && ns.Applied+min(syncSlack, ls.Commit/2) >= ls.Commit
}

// inGroupConfig reports whether node may still vote in a group of m: a
// group's leader lists it among its configuration's voters, or a group's
// leader cannot be asked (no leader, no answer).
func (cs *clusterState) inGroupConfig(ctx context.Context, m *placement.Map, node string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, g := range m.Groups {
		leader := cs.groupLeader(g.ID)
		if leader == "" {
			return true
		}
		ls, err := cs.replicaStatus(ctx, m, g.ID, leader)
		if err != nil || !ls.Leader || slices.Contains(ls.Voters, node) {
			return true
		}
	}
	return false
}

// replicaStatusBody is the body of an rpcReplicaStatus answer.
type replicaStatusBody struct {
	Leader  bool     `json:"leader"`
	Applied uint64   `json:"applied"`
	Commit  uint64   `json:"commit"`
	Voters  []string `json:"voters,omitempty"` // the leader's configuration's voters
}

// replicaStatus asks node for the status of its replica of group.
func (cs *clusterState) replicaStatus(ctx context.Context, m *placement.Map, group, node string) (replicaStatusBody, error) {
	var st replicaStatusBody
	n := m.Node(node)
	if n == nil {
		return st, errRPCNoLeader
	}
	resp, err := cs.mux.Call(ctx, n.ClusterAddr, streamGroupRPC, appendRPCHeader(nil, rpcReplicaStatus, group), 0)
	if err != nil {
		return st, err
	}
	if len(resp) == 0 || resp[0] != rpcOK {
		return st, errRPCNoReplica
	}
	err = json.Unmarshal(resp[1:], &st)
	return st, err
}

// answerReplicaStatus answers rpcReplicaStatus for this node's replica g
// (any replica answers, not only the leader).
func answerReplicaStatus(ctx context.Context, g *raftfsm.Group) []byte {
	s := g.Status()
	st := replicaStatusBody{Leader: s.State == "leader", Applied: s.AppliedIndex, Commit: s.CommitIndex}
	if st.Leader {
		ms, err := g.Members(ctx)
		if err != nil {
			return append([]byte{rpcFailed}, err.Error()...)
		}
		for _, mem := range ms {
			if mem.Voter {
				st.Voters = append(st.Voters, mem.ID)
			}
		}
	}
	b, _ := json.Marshal(st)
	return append([]byte{rpcOK}, b...)
}
