package server

import (
	"runtime/metrics"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/shard"
)

// MemoryConfig implements command.MemoryConfig for OBJECT REFCOUNT, FREQ,
// IDLETIME and MEMORY USAGE: the current maxmemory, eviction policy and
// whether the node runs in cluster mode. Atomic loads only: it runs on the
// connection goroutine with a store's RLock held.
func (c *client) MemoryConfig() (int64, shard.Policy, bool) {
	s := c.srv
	return s.maxMemory.Load(), s.policyNow(), s.router.ClusterEnabled()
}

var _ command.MemoryConfig = (*client)(nil)

// MemoryStats implements command.MemoryReporter for MEMORY STATS and
// DOCTOR: INFO memory's figures, the clients' buffers as CLIENT LIST
// counts them, every hosted store's key counts per database, and the Go
// heap's figures in the allocator's place. It takes clientsMu, each
// client's mu and each hosted store's RLock in turn; the caller holds none.
func (c *client) MemoryStats() command.MemoryStats {
	s := c.srv
	used, _ := s.usedMemory()
	e := s.extra()
	peak := e.peakMemory.Load()
	for used > peak && !e.peakMemory.CompareAndSwap(peak, used) {
		peak = e.peakMemory.Load()
	}
	m := command.MemoryStats{Peak: max(peak, used), Total: used, Startup: e.startupBytes, RSS: rssBytes()}

	s.clientsMu.Lock()
	for _, cl := range s.clients {
		cl.mu.Lock()
		m.ClientsNormal += int64(clientStructSize + cl.rbs + cl.outCap)
		cl.mu.Unlock()
		m.Clients++
	}
	s.clientsMu.Unlock()
	m.Total += m.ClientsNormal
	m.Peak = max(m.Peak, m.Total)

	keys, expires := dbKeyCounts(s.hostedGroups())
	for db := range keys {
		if keys[db] > 0 {
			m.DBs = append(m.DBs, command.DBMemory{ID: db, Keys: keys[db], Expires: expires[db]})
		}
	}

	ms := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(ms)
	v := func(i int) int64 {
		if ms[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(ms[i].Value.Uint64())
	}
	m.AllocAllocated = v(0)
	m.AllocActive = v(0) + v(1)
	m.AllocResident = m.AllocActive + v(2)
	return m
}

var _ command.MemoryReporter = (*client)(nil)
