package command

import "strconv"

// MEMORY STATS and MEMORY DOCTOR: Redis 7.0's report of where a node's
// memory goes, and its reading of that report, from figures the front end
// gathers (MemoryReporter).

// MemoryStats is what MEMORY STATS and DOCTOR report, in bytes. The front
// end fills it: Total is INFO's used_memory (accounted key and value bytes
// plus Startup) plus ClientsNormal, and the allocator figures are the Go
// heap's.
type MemoryStats struct {
	Peak, Total, Startup int64
	// ClientsNormal is the memory of the client connections (structures
	// and buffers); Clients is their number.
	ClientsNormal int64
	Clients       int
	// DBs are the non-empty databases, in ascending order.
	DBs []DBMemory
	// AllocAllocated is the heap's live objects, AllocActive its spans in
	// use, AllocResident the heap memory not returned to the system; RSS is
	// the process's resident set.
	AllocAllocated, AllocActive, AllocResident, RSS int64
}

// DBMemory is one database's key counts.
type DBMemory struct {
	ID            int
	Keys, Expires int64
}

// MemoryReporter is implemented by the front end's connection state
// (Ctx.Conn). It is called on the connection goroutine with no store lock
// held; it takes each hosted store's RLock in turn.
type MemoryReporter interface {
	MemoryStats() MemoryStats
}

// Per-key overheads as MEMORY STATS shows them: Shoal's accounting charges
// EntryOverhead per key to the dataset; the expiry index costs a map slot
// per volatile key.
const (
	memKeyOverhead    = 80 // shard's entryOverhead: the Entry and its map slot
	memExpireOverhead = 32 // a volatile-index map slot
)

// memoryStatsCommand: MEMORY STATS, a map in Redis 7.0's order. Shoal has
// no replication backlog, AOF, scripts or cluster bus buffers: those
// fields are 0.
func memoryStatsCommand(x *Ctx, _ [][]byte) {
	r, ok := x.Conn.(MemoryReporter)
	if !ok {
		x.Err(UnknownSubcommand("memory", []byte("STATS")))
		return
	}
	m := r.MemoryStats()
	overhead := m.Startup + m.ClientsNormal
	var keys int64
	for _, d := range m.DBs {
		overhead += d.Keys*memKeyOverhead + d.Expires*memExpireOverhead
		keys += d.Keys
	}
	dataset := max(m.Total-overhead, 0)
	net := max(m.Total-m.Startup, 1)
	perKey := int64(0)
	if keys > 0 {
		perKey = net / keys
	}
	x.MapHeader(27 + len(m.DBs))
	pairInt := func(k string, v int64) { x.BulkString(k); x.Int(v) }
	pairF := func(k string, v float64) { x.BulkString(k); x.Double(v) }
	pairInt("peak.allocated", m.Peak)
	pairInt("total.allocated", m.Total)
	pairInt("startup.allocated", m.Startup)
	pairInt("replication.backlog", 0)
	pairInt("clients.slaves", 0)
	pairInt("clients.normal", m.ClientsNormal)
	pairInt("cluster.links", 0)
	pairInt("aof.buffer", 0)
	pairInt("lua.caches", 0)
	pairInt("functions.caches", 0)
	for _, d := range m.DBs {
		x.BulkString("db." + strconv.Itoa(d.ID))
		x.MapHeader(3)
		pairInt("overhead.hashtable.main", d.Keys*memKeyOverhead)
		pairInt("overhead.hashtable.expires", d.Expires*memExpireOverhead)
		pairInt("overhead.hashtable.slot-to-keys", 0)
	}
	pairInt("overhead.total", overhead)
	pairInt("keys.count", keys)
	pairInt("keys.bytes-per-key", perKey)
	pairInt("dataset.bytes", dataset)
	pairF("dataset.percentage", float64(float32(float64(dataset)*100/float64(net))))
	pairF("peak.percentage", float64(float32(float64(m.Total)*100/float64(max(m.Peak, 1)))))
	pairInt("allocator.allocated", m.AllocAllocated)
	pairInt("allocator.active", m.AllocActive)
	pairInt("allocator.resident", m.AllocResident)
	pairF("allocator-fragmentation.ratio", ratio(m.AllocActive, m.AllocAllocated))
	pairInt("allocator-fragmentation.bytes", m.AllocActive-m.AllocAllocated)
	pairF("allocator-rss.ratio", ratio(m.AllocResident, m.AllocActive))
	pairInt("allocator-rss.bytes", m.AllocResident-m.AllocActive)
	pairF("rss-overhead.ratio", ratio(m.RSS, m.AllocResident))
	pairInt("rss-overhead.bytes", m.RSS-m.AllocResident)
	pairF("fragmentation", ratio(m.RSS, m.Total))
	pairInt("fragmentation.bytes", m.RSS-m.Total)
}

// ratio is a/b as Redis computes its ratios (a C float), 0 when b is 0.
func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(float32(float64(a) / float64(b)))
}

// The texts of MEMORY DOCTOR (Redis 7.0's getMemoryDoctorReport).
const (
	doctorEmpty = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. " +
		"Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
	doctorFine  = "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
	doctorIntro = "Sam, I detected a few issues in this Redis instance memory implants:\n\n"
	doctorOutro = "I'm here to keep you safe, Sam. I want to help you.\n"

	doctorPeak = " * Peak memory: In the past this instance used more than 150% the memory that is currently using. " +
		"The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, " +
		"however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) " +
		"is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. " +
		"If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, " +
		"otherwise the only other option is to shutdown and restart the instance.\n\n"
	doctorFrag = " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 " +
		"(this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). " +
		"This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) " +
		"or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, " +
		"then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. " +
		"Note: The currently used allocator is \"go\".\n\n"
	doctorAllocFrag = " * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. " +
		"This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) " +
		"or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n"
	doctorAllocRSS = " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 " +
		"(this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). " +
		"This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), " +
		"you can try the MEMORY PURGE command to reclaim it.\n\n"
	doctorProcRSS = " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 " +
		"(this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). " +
		"This problem may be due to Lua scripts or Modules.\n\n"
	doctorClients = " * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). " +
		"This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, " +
		"so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large " +
		"sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it " +
		"causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n"
)

// memoryDoctorCommand: MEMORY DOCTOR, Redis's checks on the same figures
// as MEMORY STATS (a verbatim string in RESP3).
func memoryDoctorCommand(x *Ctx, _ [][]byte) {
	r, ok := x.Conn.(MemoryReporter)
	if !ok {
		x.Err(UnknownSubcommand("memory", []byte("DOCTOR")))
		return
	}
	x.Verbatim([]byte(doctorReport(r.MemoryStats())))
}

// doctorReport is Redis 7.0's getMemoryDoctorReport over m.
func doctorReport(m MemoryStats) string {
	if m.Total < 5<<20 {
		return doctorEmpty
	}
	over := func(a, b int64, r float64) bool { return b > 0 && float64(a)/float64(b) > r && a-b > 10<<20 }
	var issues []string
	if float64(m.Peak)/float64(m.Total) > 1.5 {
		issues = append(issues, doctorPeak)
	}
	if over(m.RSS, m.Total, 1.4) {
		issues = append(issues, doctorFrag)
	}
	if over(m.AllocActive, m.AllocAllocated, 1.1) {
		issues = append(issues, doctorAllocFrag)
	}
	if over(m.AllocResident, m.AllocActive, 1.1) {
		issues = append(issues, doctorAllocRSS)
	}
	if over(m.RSS, m.AllocResident, 1.1) {
		issues = append(issues, doctorProcRSS)
	}
	if m.Clients > 0 && m.ClientsNormal/int64(m.Clients) > 200<<10 {
		issues = append(issues, doctorClients)
	}
	if len(issues) == 0 {
		return doctorFine
	}
	s := doctorIntro
	for _, i := range issues {
		s += i
	}
	return s + doctorOutro
}
