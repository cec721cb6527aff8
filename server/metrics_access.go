package server

import "github.com/shoalcache/shoal/shard"

// InfoStats is a point-in-time copy of the figures INFO reports, for a metrics
// exporter (internal/metrics). Counters count since the server started or
// the last CONFIG RESETSTAT, as INFO's do.
type InfoStats struct {
	// KeyspaceHits and KeyspaceMisses: reads that found, or did not find,
	// their key (INFO keyspace_hits, keyspace_misses).
	KeyspaceHits, KeyspaceMisses int64
	// Keys and Expires: keys, and keys with a time to live, in the groups
	// this node leads (INFO keyspace's db0, as DBSIZE counts them).
	Keys, Expires int64
	// ExpiredKeys and EvictedKeys: keys deleted by expiry and by eviction
	// in the groups hosted here (INFO expired_keys, evicted_keys).
	ExpiredKeys, EvictedKeys int64
	// UsedMemory is INFO's used_memory (the stores of the hosted groups
	// plus the start-up baseline) and DatasetMemory its dataset part, in
	// bytes; RSS is the process's resident set size in bytes; MaxMemory
	// the limit (0: none).
	UsedMemory, DatasetMemory, RSS, MaxMemory int64
	// ConnectedClients: open client connections.
	ConnectedClients int64
	// ConnectionsReceived: connections accepted.
	ConnectionsReceived int64
	// CommandsProcessed: client commands run.
	CommandsProcessed int64
	// NetInputBytes and NetOutputBytes: bytes read from and written to
	// clients.
	NetInputBytes, NetOutputBytes int64
	// ErrorReplies: error replies sent (INFO total_error_replies);
	// RejectedOOM: writes refused for maxmemory (oom_rejected_commands).
	ErrorReplies, RejectedOOM int64
	// Proposals and ProposedCommands: write proposals the front end made
	// and the commands they carried (INFO raft section).
	Proposals, ProposedCommands int64
	// RouteHolds: commands that waited for a migration's handover or a
	// leader (FenceHold, LeaderHold) instead of being answered TRYAGAIN,
	// MOVED back or CLUSTERDOWN at once; RouteHoldTimeouts: those whose
	// wait ran out (INFO raft section route_holds, route_hold_timeouts).
	RouteHolds, RouteHoldTimeouts int64
}

// InfoStats returns the figures INFO reports. It takes each hosted group's
// store read lock briefly and the client table's lock, as INFO does: call
// it from a metrics scrape, not from request paths. Safe for concurrent
// use.
func (s *Server) InfoStats() InfoStats {
	e := s.extra()
	expired, evicted := s.storeStats()
	used, dataset := s.usedMemory()
	var keys, expires int64
	eachStore(s.localGroups(), func(st *shard.Store) {
		for _, d := range st.Databases() {
			keys += d.Len()
			expires += d.VolatileLen()
		}
	})
	s.clientsMu.Lock()
	clients := len(s.clients)
	s.clientsMu.Unlock()
	return InfoStats{
		KeyspaceHits:        s.stats.keyspaceHits.Load(),
		KeyspaceMisses:      s.stats.keyspaceMiss.Load(),
		Keys:                keys,
		Expires:             expires,
		ExpiredKeys:         max(expired-e.expiredBase.Load(), 0),
		EvictedKeys:         max(evicted-e.evictedBase.Load(), 0),
		UsedMemory:          used,
		DatasetMemory:       dataset,
		RSS:                 rssBytes(),
		MaxMemory:           s.maxMemory.Load(),
		ConnectedClients:    int64(clients),
		ConnectionsReceived: s.stats.connections.Load(),
		CommandsProcessed:   s.stats.commands.Load(),
		NetInputBytes:       s.stats.netInput.Load(),
		NetOutputBytes:      s.stats.netOutput.Load(),
		ErrorReplies:        s.stats.errorReplies.Load(),
		RejectedOOM:         s.stats.rejected.Load(),
		Proposals:           s.stats.proposals.Load(),
		ProposedCommands:    s.stats.proposedCmds.Load(),
		RouteHolds:          s.stats.holds.Load(),
		RouteHoldTimeouts:   s.stats.holdTimeouts.Load(),
	}
}
