package placement

import (
	"sync"
	"time"
)

// Members that do not know the cluster secret stay out. With a cluster
// secret (raftfsm.Mux.RequireSecret) the meta leader admits a gossip
// member to the meta group and the map only once the member's cluster port
// passed the handshake (Mux.ProbeAuth): a node with the right gossip key
// but a wrong cluster secret is seen by gossip, but is not registered, is
// given no replicas and does not appear in CLUSTER NODES.

const (
	// probeTimeout bounds one handshake probe.
	probeTimeout = time.Second
	// probeRetryAfter is how long a failed probe is remembered before the
	// member is probed again.
	probeRetryAfter = 5 * time.Second
)

// probeState is the outcome of the last probe of a member at an address.
type probeState struct {
	ok   bool
	when time.Time
}

// authProbes remembers probe outcomes by member id and cluster address.
// Used by the reconcile goroutine; mu guards the map so that the probes of
// one round run concurrently.
type authProbes struct {
	mu   sync.Mutex
	seen map[string]probeState // key: id + " " + cluster address
}

// provenMembers returns the members whose cluster port passed the
// handshake (all of them without a cluster secret). Members proven once at
// an address are not probed again; those that failed are probed again
// after probeRetryAfter, the probes of a round in parallel. Called by the
// reconcile goroutine only.
func (s *Service) provenMembers(members []Member) []Member {
	mux := s.cfg.Mux
	if !mux.AuthRequired() {
		return members
	}
	p := &s.probes
	p.mu.Lock()
	if p.seen == nil {
		p.seen = make(map[string]probeState)
	}
	now := time.Now()
	var todo []Member
	for _, m := range members {
		if m.ID == s.cfg.NodeID || m.Status != StatusAlive || m.ClusterAddr == "" {
			continue
		}
		st, ok := p.seen[m.ID+" "+m.ClusterAddr]
		if !ok || (!st.ok && now.Sub(st.when) >= probeRetryAfter) {
			todo = append(todo, m)
		}
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := mux.ProbeAuth(m.ClusterAddr, probeTimeout)
			p.mu.Lock()
			p.seen[m.ID+" "+m.ClusterAddr] = probeState{ok: err == nil, when: time.Now()}
			p.mu.Unlock()
			if err != nil {
				s.log.Warn("member failed the cluster-secret handshake; not admitted", "member-id", m.ID,
					"cluster-addr", m.ClusterAddr, "err", err)
			}
		}()
	}
	wg.Wait()
	out := members[:0:0]
	p.mu.Lock()
	for _, m := range members {
		if m.ID == s.cfg.NodeID || m.Status != StatusAlive || p.seen[m.ID+" "+m.ClusterAddr].ok {
			out = append(out, m)
		}
	}
	p.mu.Unlock()
	return out
}
