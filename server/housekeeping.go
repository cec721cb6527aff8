package server

import (
	"context"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/shard"
)

// housekeeping is the leader's active-expiry loop: it finds keys whose time
// has come, and hashes with fields whose time has come, and proposes their
// deletion, so that every replica deletes them
// at the same point of the log. It also samples the command counter for
// instantaneous_ops_per_sec.
func (s *Server) housekeeping() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ExpiryInterval)
	defer t.Stop()
	inst := time.NewTicker(instPeriod)
	defer inst.Stop()
	cursors := make(map[dbCursor]int)
	var found []shard.ExpiredKey
	for {
		select {
		case <-s.stop:
			return
		case now := <-inst.C:
			s.opsRate.track(now, s.stats.commands.Load())
			continue
		case <-t.C:
		}
		if s.pause.writesPaused() {
			continue // CLIENT PAUSE: keys do not expire meanwhile, as in Redis
		}
		for _, g := range s.router.LocalGroups() {
			if !g.Ready() {
				continue
			}
			root := g.Store()
			root.RLock()
			dbs := root.Databases()
			root.RUnlock()
			for _, st := range dbs {
				c := dbCursor{g, st.Index()}
				cursors[c], found = s.expireGroup(g, st, cursors[c], found)
			}
		}
	}
}

// dbCursor names a database of a group, for the expiry cycle's cursors.
type dbCursor struct {
	g  Group
	db int
}

// expireGroup deletes expired keys of g's database st through its log, like
// Redis's active expire cycle: it repeats while a good share of the checked
// keys had expired, within a quarter of the interval.
func (s *Server) expireGroup(g Group, st *shard.Store, cursor int, found []shard.ExpiredKey) (int, []shard.ExpiredKey) {
	deadline := time.Now().Add(s.cfg.ExpiryInterval / 4)
	for time.Now().Before(deadline) {
		now := time.Now().UnixMilli()
		st.RLock()
		found, cursor = st.CollectExpired(found[:0], cursor, s.cfg.ExpiryBudget, now)
		found = st.CollectExpiredFields(found, s.cfg.ExpiryBudget, now) // hash fields
		st.RUnlock()
		if len(found) == 0 {
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
		s.stats.proposals.Add(1)
		s.stats.proposedCmds.Add(int64(len(found)))
		_, err := g.ProposeExpire(ctx, st.Index(), found)
		cancel()
		if err != nil {
			s.log.Debug("active expiry proposal failed", "group", g.ID(), "err", err)
			break
		}
		if len(found) < s.cfg.ExpiryBudget/4 {
			break
		}
	}
	return cursor, found
}

// storeBytes returns the accounted memory of every store on this node.
func (s *Server) storeBytes() int64 {
	var used int64
	for _, g := range s.router.HostedGroups() {
		st := g.Store()
		st.RLock()
		used += st.Bytes()
		st.RUnlock()
	}
	return used
}

// maxEvictPerWrite bounds how many keys one write may evict to make room.
const maxEvictPerWrite = 64

// makeRoom reports whether a write that may grow memory can go ahead: there
// is no limit, usage is below it, or eviction freed enough. Eviction victims
// are chosen here, on the leader, and deleted through the log.
func (s *Server) makeRoom(g Group) bool {
	limit := s.maxMemory.Load()
	if limit <= 0 {
		return true
	}
	used := s.storeBytes()
	if used <= limit {
		return true
	}
	policy := s.policyNow()
	if policy == shard.NoEviction {
		return false
	}
	// One connection evicts at a time; the others then see the freed room.
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	rng := command.NewRand()
	root := g.Store()
	for round := 0; round < 8; round++ {
		used = s.storeBytes()
		if used <= limit {
			return true
		}
		// Each round evicts from one database, the next one with keys the
		// policy may evict from a random start (memory is shared by every
		// database).
		root.RLock()
		dbs := root.Databases()
		st := dbs[0]
		for i, start := 0, rng.IntN(len(dbs)); i < len(dbs); i++ {
			d := dbs[(start+i)%len(dbs)]
			if (policy.Volatile() && d.VolatileLen() > 0) || (!policy.Volatile() && d.Len() > 0) {
				st = d
				break
			}
		}
		now := time.Now().UnixMilli()
		var args [][]byte
		seen := make(map[string]bool)
		for len(args) < maxEvictPerWrite {
			k := st.EvictionCandidate(rng, policy, s.cfg.MaxMemorySamples, now)
			if k == "" || seen[k] {
				break
			}
			seen[k] = true
			args = append(args, []byte(k))
			// Estimate: stop once the chosen victims cover the excess.
			if e := st.Peek([]byte(k)); e != nil {
				used -= e.Size(len(k))
				if used <= limit {
					break
				}
			}
		}
		root.RUnlock()
		if len(args) == 0 {
			return false // nothing evictable (e.g. volatile policy, no TTLs)
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
		s.stats.proposals.Add(1)
		s.stats.proposedCmds.Add(int64(len(args)))
		_, err := g.ProposeEvict(ctx, st.Index(), args)
		cancel()
		if err != nil {
			return false
		}
	}
	return s.storeBytes() <= limit
}
