package placement

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/raftfsm"
)

// Admitting nodes under tls-cluster. Gossip (serf) is not authenticated by
// the cluster port's mutual TLS, so a process that joins gossip could get
// itself registered in the map and added to the meta group. Before the
// meta leader admits a member it does not know yet, or one that gossips a
// cluster address other than the one the map or the meta configuration
// has for its id (a restart on new ports, or an impostor), it checks that
// the member's cluster port completes the mutual TLS handshake
// (raftfsm.VerifyPeer): a node with another CA's certificate, or none,
// stays out. Members known at their address are never filtered: a slow
// handshake must not look like a departure.

// peerRecheck is how long a failed check is remembered before the member
// is checked again.
const peerRecheck = 5 * time.Second

// peerCheckTimeout bounds one check.
const peerCheckTimeout = 2 * time.Second

// peerChecks remembers the checks' results by member id and cluster
// address. Used by the meta leader's reconcile loop only; mu makes it safe
// anyway.
type peerChecks struct {
	mu     sync.Mutex
	ok     map[string]bool      // id+"@"+addr verified
	failed map[string]time.Time // id+"@"+addr: when it last failed
}

// verifiedMembers returns members without the unknown ones whose cluster
// port fails the mutual TLS check (all of them when TLS is off).
func (s *Service) verifiedMembers(members []Member, conf []raft.Server) []Member {
	if !raftfsm.ClusterTLSEnabled() {
		return members
	}
	known := make(map[string]bool, len(conf)) // id+"@"+cluster address
	for _, srv := range conf {
		known[string(srv.ID)+"@"+string(srv.Address)] = true
	}
	m := s.Map()
	out := members[:0:0]
	for _, mem := range members {
		var n *Node
		if m != nil {
			n = m.Node(mem.ID)
		}
		if known[mem.ID+"@"+mem.ClusterAddr] || (n != nil && n.ClusterAddr == mem.ClusterAddr) || mem.Status != StatusAlive || !mem.usable() {
			out = append(out, mem)
			continue
		}
		ok, err := s.peers.verify(mem)
		if ok {
			out = append(out, mem)
		} else if err != nil {
			s.log.Warn("member not admitted: its cluster port failed the mutual TLS check", "member-id", mem.ID,
				"cluster-addr", mem.ClusterAddr, "err", err)
		}
	}
	return out
}

// verify reports whether mem's cluster port passes the check, probing it
// unless a recent check failed; err is the failure of a probe made now.
func (p *peerChecks) verify(mem Member) (bool, error) {
	key := mem.ID + "@" + mem.ClusterAddr
	p.mu.Lock()
	if p.ok[key] {
		p.mu.Unlock()
		return true, nil
	}
	if t, ok := p.failed[key]; ok && time.Since(t) < peerRecheck {
		p.mu.Unlock()
		return false, nil
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), peerCheckTimeout)
	err := raftfsm.VerifyPeer(ctx, mem.ClusterAddr)
	cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ok == nil {
		p.ok, p.failed = map[string]bool{}, map[string]time.Time{}
	}
	if err != nil {
		p.failed[key] = time.Now()
		return false, err
	}
	p.ok[key] = true
	delete(p.failed, key)
	return true, nil
}
