package server

import (
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
