package raftfsm

import "strings"

// Status is a point-in-time report of one replica of a group, for INFO and
// the admin commands.
type Status struct {
	// State is "leader", "follower", "candidate" or "shutdown".
	State string
	// Leader is the id of the node this replica takes for the leader ("" when
	// unknown).
	Leader string
	// Term is the current Raft term.
	Term uint64
	// LastIndex is the index of the last entry in the log; AppliedIndex the
	// last one applied to the FSM (or the index of the snapshot it restored,
	// whichever is later); CommitIndex the last one known committed.
	LastIndex, AppliedIndex, CommitIndex uint64
	// Peers is the number of other voters in the configuration, as raft's
	// num_peers statistic.
	Peers string
}

// Status reports the replica's Raft state. Safe for concurrent use; it takes
// raft's internal locks briefly (not for request paths).
func (g *Group) Status() Status {
	stats := g.raft.Stats()
	_, leader := g.raft.LeaderWithID()
	return Status{
		State:     strings.ToLower(g.raft.State().String()),
		Leader:    string(leader),
		Term:      g.raft.CurrentTerm(),
		LastIndex: g.raft.LastIndex(),
		// After a snapshot is restored the FSM knows no index until the
		// next entry applies (raft does not pass the snapshot's index to
		// Restore); raft's own applied index covers the snapshot.
		AppliedIndex: max(g.fsm.AppliedIndex(), parseUint(stats["applied_index"])),
		CommitIndex:  parseUint(stats["commit_index"]),
		Peers:        stats["num_peers"],
	}
}

func parseUint(s string) uint64 {
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n
}

// AppliedIndex returns the index of the last entry applied to the FSM.
// Lock-free.
func (g *Group) AppliedIndex() uint64 { return g.fsm.AppliedIndex() }
