package command

import (
	"runtime/debug"

	"github.com/shoalcache/shoal/shard"
)

// RESP error texts of the OBJECT family.
const (
	errLFUSelected    = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
	errLFUNotSelected = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
)

// MemoryConfig is what OBJECT and MEMORY USAGE need to know of the server:
// the front end's connection state (Ctx.Conn) implements it. It is called
// on the connection goroutine, with the store's RLock held: it must only
// load atomics.
type MemoryConfig interface {
	// MemoryConfig returns maxmemory (bytes, 0 for none), the eviction
	// policy, and whether the node runs in cluster mode.
	MemoryConfig() (maxmemory int64, policy shard.Policy, cluster bool)
}

// memoryConfig returns the server's memory settings, or Redis's defaults
// (no maxmemory, noeviction, standalone) outside a connection.
func (x *Ctx) memoryConfig() (int64, shard.Policy, bool) {
	if c, ok := x.Conn.(MemoryConfig); ok {
		return c.MemoryConfig()
	}
	return 0, shard.NoEviction, false
}

func init() {
	objSub := func(name string, run func(*Ctx, [][]byte)) *Command {
		return &Command{Name: "object|" + name, Arity: 3, Kind: KindRead, Flags: FlagReadOnly,
			FirstKey: 2, LastKey: 2, Step: 1, ACL: []string{"keyspace", "read", "slow"}, Run: run}
	}
	Register(&Command{Name: "object", Arity: -2, Kind: KindLocal, ACL: []string{"slow"},
		// (Redis lists subcommands in its dict's order, which its random
		// hash seed changes from one process to the next.)
		Subs: []*Command{
			objSub("encoding", objectEncodingCommand),
			objSub("freq", objectFreqCommand),
			objSub("idletime", objectIdletimeCommand),
			objSub("refcount", objectRefcountCommand),
			{Name: "object|help", Arity: 2, Kind: KindLocal, Flags: FlagLoading | FlagStale,
				ACL: []string{"keyspace", "slow"}, Run: objectHelpCommand},
		}})
	Register(&Command{Name: "memory", Arity: -2, Kind: KindLocal, ACL: []string{"slow"},
		Subs: []*Command{
			{Name: "memory|doctor", Arity: 2, Kind: KindLocal,
				ACL: []string{"slow"}, Run: memoryDoctorCommand},
			{Name: "memory|stats", Arity: 2, Kind: KindLocal,
				ACL: []string{"slow"}, Run: memoryStatsCommand},
			{Name: "memory|usage", Arity: -3, Kind: KindRead, Flags: FlagReadOnly,
				FirstKey: 2, LastKey: 2, Step: 1, ACL: []string{"read", "slow"}, Run: memoryUsageCommand},
			{Name: "memory|help", Arity: 2, Kind: KindLocal, Flags: FlagLoading | FlagStale,
				ACL: []string{"slow"}, Run: memoryHelpCommand},
			{Name: "memory|malloc-stats", Arity: 2, Kind: KindLocal,
				ACL: []string{"slow"}, Run: memoryMallocStatsCommand},
			{Name: "memory|purge", Arity: 2, Kind: KindLocal,
				ACL: []string{"slow"}, Run: memoryPurgeCommand},
		}})
}

// objectLookup is Redis's objectCommandLookup: the live entry of key, not
// touched (OBJECT is no access), counted as a keyspace hit or miss. It
// replies null and returns nil when the key is missing.
func objectLookup(x *Ctx, key []byte) *shard.Entry {
	e := x.St.Peek(key)
	if e != nil && expiredAt(e, x.Now) {
		e = nil
	}
	x.hitOrMiss(e != nil)
	if e == nil {
		x.Null()
	}
	return e
}

// objectEncodingCommand: OBJECT ENCODING key.
func objectEncodingCommand(x *Ctx, args [][]byte) {
	if e := objectLookup(x, args[2]); e != nil {
		if o := e.Object(); o != nil {
			x.BulkString(collectionEncoding(o))
			return
		}
		x.BulkString(objEncoding(e.Value, e.Enc()))
	}
}

// objectRefcountCommand: OBJECT REFCOUNT key.
func objectRefcountCommand(x *Ctx, args [][]byte) {
	if e := objectLookup(x, args[2]); e != nil {
		if e.Type() != shard.TypeString {
			x.Int(1)
			return
		}
		maxmemory, policy, _ := x.memoryConfig()
		x.Int(objRefcount(e.Value, e.Enc(), noSharedIntegers(maxmemory, policy)))
	}
}

// objectIdletimeCommand: OBJECT IDLETIME key, in seconds since the last
// access; an error under an LFU policy, as Redis.
func objectIdletimeCommand(x *Ctx, args [][]byte) {
	e := objectLookup(x, args[2])
	if e == nil {
		return
	}
	if _, policy, _ := x.memoryConfig(); lfuPolicy(policy) {
		x.Err(errLFUSelected)
		return
	}
	// The access time may come from another leader's clock: never negative.
	x.Int(max(x.Now/1000-int64(e.LastAccess()), 0))
}

// objectFreqCommand: OBJECT FREQ key, the logarithmic access counter
// decayed to now; an error unless the policy is LFU, as Redis.
func objectFreqCommand(x *Ctx, args [][]byte) {
	e := objectLookup(x, args[2])
	if e == nil {
		return
	}
	if _, policy, _ := x.memoryConfig(); !lfuPolicy(policy) {
		x.Err(errLFUNotSelected)
		return
	}
	x.Int(int64(e.LFUCounter(uint32(x.Now / 60000))))
}

var objectHelp = []string{
	"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"ENCODING <key>",
	"    Return the kind of internal representation used in order to store the value",
	"    associated with a <key>.",
	"FREQ <key>",
	"    Return the access frequency index of the <key>. The returned integer is",
	"    proportional to the logarithm of the recent access frequency of the key.",
	"IDLETIME <key>",
	"    Return the idle time of the <key>, that is the approximated number of",
	"    seconds elapsed since the last access to the key.",
	"REFCOUNT <key>",
	"    Return the number of references of the value associated with the specified",
	"    <key>.",
	"HELP",
	"    Prints this help.",
}

// objectHelpCommand: OBJECT HELP.
func objectHelpCommand(x *Ctx, _ [][]byte) { x.Help(objectHelp) }

var memoryHelp = []string{
	"MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"DOCTOR",
	"    Return memory problems reports.",
	"MALLOC-STATS",
	"    Return internal statistics report from the memory allocator.",
	"PURGE",
	"    Attempt to purge dirty pages for reclamation by the allocator.",
	"STATS",
	"    Return information about the memory usage of the server.",
	"USAGE <key> [SAMPLES <count>]",
	"    Return memory in bytes used by <key> and its value. Nested values are",
	"    sampled up to <count> times (default: 5, 0 means sample all).",
	"HELP",
	"    Prints this help.",
}

// memoryHelpCommand: MEMORY HELP, Redis 7.0's text.
func memoryHelpCommand(x *Ctx, _ [][]byte) { x.Help(memoryHelp) }

// memoryMallocStatsCommand: MEMORY MALLOC-STATS. Redis replies jemalloc's
// report, or this line when built with another allocator, as Shoal is (Go's
// runtime; INFO memory has its figures).
func memoryMallocStatsCommand(x *Ctx, _ [][]byte) {
	x.BulkString("Stats not supported for the current allocator")
}

// memoryPurgeCommand: MEMORY PURGE. Redis asks jemalloc to return dirty
// pages to the system; Go's debug.FreeOSMemory does the same for the Go
// heap (it runs a garbage collection first).
func memoryPurgeCommand(x *Ctx, _ [][]byte) {
	debug.FreeOSMemory()
	x.OK()
}

// memoryUsageCommand: MEMORY USAGE key [SAMPLES count]. The options are
// checked before the key; as Redis, the key is found without checking its
// expiry, touching it or counting a hit. SAMPLES (default 5, 0 for all)
// is how many elements of a collection are measured to estimate the rest.
// See memoryUsage and collectionMemoryUsage for the formulas.
func memoryUsageCommand(x *Ctx, args [][]byte) {
	samples := int64(memorySamplesDefault)
	for j := 3; j < len(args); j++ {
		if !cEqFold(args[j], "samples") || j+1 >= len(args) {
			x.Err(ErrSyntax)
			return
		}
		n, ok := ParseInt(args[j+1])
		if !ok {
			x.Err(ErrNotInteger)
			return
		}
		if n < 0 {
			x.Err(ErrSyntax)
			return
		}
		samples = n
		j++
	}
	e := x.St.Peek(args[2])
	if e == nil {
		x.Null()
		return
	}
	_, _, cluster := x.memoryConfig()
	if o := e.Object(); o != nil {
		x.Int(collectionMemoryUsage(args[2], o, samples, cluster))
		return
	}
	x.Int(memoryUsage(args[2], e.Value, e.Enc(), cluster))
}
