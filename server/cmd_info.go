package server

import (
	"bytes"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/buildinfo"
	"github.com/shoalcache/shoal/shard"
)

func init() {
	command.Register(&command.Command{Name: "info", Arity: -1, Kind: command.KindLocal, Flags: command.FlagLoading | command.FlagStale,
		ACL: []string{"slow", "dangerous"}, Run: infoCommand})
}

// startupHeap is the Go heap in use when the package initialised: the part
// of used_memory that is not data (Redis's used_memory_startup).
var startupHeap = heapObjectBytes()

func heapObjectBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// infoSection is one section of INFO's reply.
type infoSection struct {
	name  string // lower case, as requested
	title string // as printed after "# "
	dflt  bool   // part of INFO / INFO default
	gen   func(s *Server, b []byte) []byte
}

// infoSections are INFO's sections in Redis 7.0's order, with Shoal's Raft
// section after Replication. As in Redis 7.0, the default set leaves out
// commandstats and latencystats; "all" and "everything" are every section
// (Shoal has no module sections, which only "everything" would add).
var infoSections = []infoSection{
	{"server", "Server", true, infoServer},
	{"clients", "Clients", true, infoClients},
	{"memory", "Memory", true, infoMemory},
	{"persistence", "Persistence", true, infoPersistence},
	{"stats", "Stats", true, infoStats},
	{"replication", "Replication", true, infoReplication},
	{"raft", "Raft", true, infoRaft},
	{"cpu", "CPU", true, infoCPU},
	{"modules", "Modules", true, func(_ *Server, b []byte) []byte { return b }},
	{"commandstats", "Commandstats", false, infoCommandStats},
	{"errorstats", "Errorstats", true, infoErrorStats},
	{"latencystats", "Latencystats", false, infoLatencyStats},
	{"cluster", "Cluster", true, func(s *Server, b []byte) []byte {
		if s.clusterEnabled() {
			return infoLine(b, "cluster_enabled", "1")
		}
		return infoLine(b, "cluster_enabled", "0")
	}},
	{"keyspace", "Keyspace", true, infoKeyspace},
}

// infoCommand: INFO [section [section ...]]. "default" (or no argument)
// selects the default sections, "all" and "everything" all of them; unknown
// sections are ignored. The reply is a verbatim string in RESP3.
func infoCommand(x *command.Ctx, args [][]byte) {
	want := make([]bool, len(infoSections))
	if len(args) == 1 {
		args = append(args[:1:1], []byte("default"))
	}
	for _, a := range args[1:] {
		switch {
		case command.EqFold(a, "all"), command.EqFold(a, "everything"):
			for i := range want {
				want[i] = true
			}
		case command.EqFold(a, "default"):
			for i, sec := range infoSections {
				want[i] = want[i] || sec.dflt
			}
		default:
			for i, sec := range infoSections {
				if command.EqFold(a, sec.name) {
					want[i] = true
				}
			}
		}
	}
	var b []byte
	for i, sec := range infoSections {
		if !want[i] {
			continue
		}
		if len(b) > 0 {
			b = append(b, "\r\n"...)
		}
		b = append(b, "# "...)
		b = append(b, sec.title...)
		b = append(b, "\r\n"...)
		b = sec.gen(srvOf(x), b)
	}
	x.Verbatim(b)
}

func infoLine(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ':')
	b = append(b, v...)
	return append(b, "\r\n"...)
}

func infoInt(b []byte, k string, v int64) []byte {
	b = append(b, k...)
	b = append(b, ':')
	b = strconv.AppendInt(b, v, 10)
	return append(b, "\r\n"...)
}

func infoServer(s *Server, b []byte) []byte {
	e := s.extra()
	now := time.Now()
	up := int64(now.Sub(s.start) / time.Second)
	_, port := s.hostPort()
	exe, _ := os.Executable()
	b = infoLine(b, "redis_version", s.cfg.Version)
	bi := buildinfo.Get(s.cfg.Version)
	b = infoLine(b, "redis_git_sha1", bi.GitSHA1())
	b = infoLine(b, "redis_git_dirty", bi.GitDirty())
	b = infoLine(b, "redis_build_id", bi.BuildID())
	b = infoLine(b, "redis_mode", s.serverMode())
	b = infoLine(b, "os", osString())
	b = infoInt(b, "arch_bits", strconv.IntSize)
	b = infoLine(b, "monotonic_clock", "POSIX clock_gettime")
	b = infoLine(b, "multiplexing_api", "epoll")
	b = infoLine(b, "go_version", runtime.Version())
	b = infoInt(b, "process_id", int64(os.Getpid()))
	b = infoLine(b, "process_supervised", "no")
	b = infoLine(b, "run_id", e.runID)
	b = infoLine(b, "tcp_port", port)
	b = infoInt(b, "server_time_usec", now.UnixMicro())
	b = infoInt(b, "uptime_in_seconds", up)
	b = infoInt(b, "uptime_in_days", up/86400)
	b = infoInt(b, "hz", int64(s.hz()))
	b = infoInt(b, "configured_hz", int64(s.hz()))
	b = infoLine(b, "executable", exe)
	b = infoLine(b, "config_file", "")
	return infoLine(b, "io_threads_active", "0")
}

// osString is "sysname release machine", as Redis prints it.
func osString() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return runtime.GOOS + " " + runtime.GOARCH
	}
	str := func(a [65]int8) string {
		var sb strings.Builder
		for _, c := range a {
			if c == 0 {
				break
			}
			sb.WriteByte(byte(c))
		}
		return sb.String()
	}
	return str(u.Sysname) + " " + str(u.Release) + " " + str(u.Machine)
}

func infoClients(s *Server, b []byte) []byte {
	s.clientsMu.Lock()
	n := len(s.clients)
	s.clientsMu.Unlock()
	b = infoInt(b, "connected_clients", int64(n))
	b = infoLine(b, "cluster_connections", "0")
	b = infoInt(b, "maxclients", s.lim.maxClients.Load())
	b = infoLine(b, "client_recent_max_input_buffer", "0")
	b = infoLine(b, "client_recent_max_output_buffer", "0")
	b = infoInt(b, "blocked_clients", s.track.blockers.Load())
	b = infoInt(b, "tracking_clients", s.track.active.Load())
	return infoLine(b, "clients_in_timeout_table", "0")
}

// bytesToHuman formats n as Redis's bytesToHuman.
func bytesToHuman(n int64) string {
	const k = 1024
	units := []struct {
		limit float64
		div   float64
		u     string
	}{{k * k, k, "K"}, {k * k * k, k * k, "M"}, {k * k * k * k, k * k * k, "G"},
		{k * k * k * k * k, k * k * k * k, "T"}, {k * k * k * k * k * k, k * k * k * k * k, "P"}}
	if n < k {
		return strconv.FormatInt(n, 10) + "B"
	}
	for _, u := range units {
		if float64(n) < u.limit {
			return strconv.FormatFloat(float64(n)/u.div, 'f', 2, 64) + u.u
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// rssBytes reads the resident set size from /proc/self/statm.
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(data)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// totalSystemMemory is the machine's RAM.
func totalSystemMemory() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// usedMemory is what INFO reports as used_memory: the accounted bytes of
// the stores of every group hosted here plus the start-up baseline.
func (s *Server) usedMemory() (used, dataset int64) {
	eachStore(s.hostedGroups(), func(st *shard.Store) { dataset += st.Bytes() })
	return dataset + s.extra().startupBytes, dataset
}

// storeStats sums the expired and evicted key counts of the hosted groups'
// stores.
func (s *Server) storeStats() (expired, evicted int64) {
	eachStore(s.hostedGroups(), func(st *shard.Store) {
		ss := st.Stats()
		expired += ss.ExpiredKeys
		evicted += ss.EvictedKeys
	})
	return expired, evicted
}

// expiredFields sums the hash fields the hosted groups' stores deleted
// because their time had come (Redis 7.4's expired_subkeys).
func (s *Server) expiredFields() (n int64) {
	eachStore(s.hostedGroups(), func(st *shard.Store) { n += st.Stats().ExpiredFields })
	return n
}

func infoMemory(s *Server, b []byte) []byte {
	e := s.extra()
	used, dataset := s.usedMemory()
	peak := e.peakMemory.Load()
	for used > peak && !e.peakMemory.CompareAndSwap(peak, used) {
		peak = e.peakMemory.Load()
	}
	peak = max(peak, used)
	rss := rssBytes()
	sys := totalSystemMemory()
	maxmem := s.maxMemory.Load()
	b = infoInt(b, "used_memory", used)
	b = infoLine(b, "used_memory_human", bytesToHuman(used))
	b = infoInt(b, "used_memory_rss", rss)
	b = infoLine(b, "used_memory_rss_human", bytesToHuman(rss))
	b = infoInt(b, "used_memory_peak", peak)
	b = infoLine(b, "used_memory_peak_human", bytesToHuman(peak))
	b = infoLine(b, "used_memory_peak_perc", strconv.FormatFloat(float64(used)*100/float64(max(peak, 1)), 'f', 2, 64)+"%")
	b = infoInt(b, "used_memory_overhead", e.startupBytes)
	b = infoInt(b, "used_memory_startup", e.startupBytes)
	b = infoInt(b, "used_memory_dataset", dataset)
	b = infoLine(b, "used_memory_dataset_perc", strconv.FormatFloat(float64(dataset)*100/float64(max(used, 1)), 'f', 2, 64)+"%")
	b = infoInt(b, "total_system_memory", sys)
	b = infoLine(b, "total_system_memory_human", bytesToHuman(sys))
	b = infoInt(b, "maxmemory", maxmem)
	b = infoLine(b, "maxmemory_human", bytesToHuman(maxmem))
	b = infoLine(b, "maxmemory_policy", s.policyNow().String())
	b = infoLine(b, "mem_fragmentation_ratio", strconv.FormatFloat(float64(rss)/float64(max(used, 1)), 'f', 2, 64))
	b = infoLine(b, "mem_allocator", "go")
	return infoLine(b, "lazyfree_pending_objects", "0")
}

func infoPersistence(s *Server, b []byte) []byte {
	e := s.extra()
	bg := "0"
	if e.bgsave.Load() {
		bg = "1"
	}
	status := "ok"
	if !e.lastSaveOK.Load() {
		status = "err"
	}
	b = infoLine(b, "loading", "0")
	b = infoLine(b, "async_loading", "0")
	b = infoLine(b, "rdb_changes_since_last_save", "0")
	b = infoLine(b, "rdb_bgsave_in_progress", bg)
	b = infoInt(b, "rdb_last_save_time", s.lastSave())
	b = infoLine(b, "rdb_last_bgsave_status", status)
	b = infoInt(b, "rdb_saves", e.saves.Load())
	b = infoLine(b, "aof_enabled", "0")
	b = infoLine(b, "aof_rewrite_in_progress", "0")
	return infoLine(b, "aof_last_write_status", "ok")
}

func infoStats(s *Server, b []byte) []byte {
	e := s.extra()
	expired, evicted := s.storeStats()
	b = infoInt(b, "total_connections_received", s.stats.connections.Load())
	b = infoInt(b, "total_commands_processed", s.stats.commands.Load())
	b = infoInt(b, "instantaneous_ops_per_sec", s.opsRate.value())
	b = infoInt(b, "total_net_input_bytes", s.stats.netInput.Load())
	b = infoInt(b, "total_net_output_bytes", s.stats.netOutput.Load())
	b = infoInt(b, "rejected_connections", s.lim.rejected.Load())
	b = infoInt(b, "expired_subkeys", max(s.expiredFields()-e.expiredFieldsBase.Load(), 0)) // Redis 7.4
	b = infoInt(b, "expired_keys", max(expired-e.expiredBase.Load(), 0))
	b = infoInt(b, "evicted_keys", max(evicted-e.evictedBase.Load(), 0))
	b = infoInt(b, "evicted_clients", s.lim.evicted.Load())
	b = infoInt(b, "keyspace_hits", s.stats.keyspaceHits.Load())
	b = infoInt(b, "keyspace_misses", s.stats.keyspaceMiss.Load())
	b = infoLine(b, "pubsub_channels", "0")
	b = infoLine(b, "pubsub_patterns", "0")
	b = infoInt(b, "total_error_replies", s.stats.errorReplies.Load())
	b = infoInt(b, "oom_rejected_commands", s.stats.rejected.Load())
	// Redis 7.2's names; 7.0 does not count these disconnections.
	b = infoInt(b, "client_query_buffer_limit_disconnections", s.lim.queryClosed.Load())
	return infoInt(b, "client_output_buffer_limit_disconnections", s.lim.outClosed.Load())
}

func infoReplication(s *Server, b []byte) []byte {
	b = infoLine(b, "role", "master")
	b = infoLine(b, "connected_slaves", "0")
	b = infoLine(b, "master_failover_state", "no-failover")
	b = infoLine(b, "master_replid", s.extra().replID)
	b = infoLine(b, "master_replid2", "0000000000000000000000000000000000000000")
	b = infoLine(b, "master_repl_offset", "0")
	b = infoLine(b, "second_repl_offset", "-1")
	return infoLine(b, "repl_backlog_active", "0")
}

// infoRaft reports the node's Raft groups: Shoal's own section. The raft_*
// fields describe the first hosted group (the only one in standalone mode);
// a group_<id> line follows for every hosted group.
func infoRaft(s *Server, b []byte) []byte {
	groups := s.hostedGroups()
	b = infoInt(b, "raft_groups", int64(len(groups)))
	if len(groups) > 0 {
		g := groups[0]
		st := g.Status()
		ready := "0"
		if g.Ready() {
			ready = "1"
		}
		b = infoLine(b, "raft_state", st.State)
		b = infoLine(b, "raft_ready", ready)
		b = infoLine(b, "raft_leader", st.Leader)
		b = infoInt(b, "raft_term", int64(st.Term))
		b = infoInt(b, "raft_last_index", int64(st.LastIndex))
		b = infoInt(b, "raft_applied_index", int64(st.AppliedIndex))
		b = infoInt(b, "raft_commit_index", int64(st.CommitIndex))
		b = infoLine(b, "raft_num_peers", st.Peers)
	}
	b = infoInt(b, "proposals", s.stats.proposals.Load())
	b = infoInt(b, "proposed_commands", s.stats.proposedCmds.Load())
	b = infoInt(b, "route_holds", s.stats.holds.Load())
	b = infoInt(b, "route_hold_timeouts", s.stats.holdTimeouts.Load())
	for _, g := range groups {
		st := g.Status()
		b = append(b, "group_"...)
		b = append(b, g.ID()...)
		b = append(b, ":state="...)
		b = append(b, st.State...)
		b = append(b, ",term="...)
		b = strconv.AppendUint(b, st.Term, 10)
		b = append(b, ",last_index="...)
		b = strconv.AppendUint(b, st.LastIndex, 10)
		b = append(b, ",applied_index="...)
		b = strconv.AppendUint(b, st.AppliedIndex, 10)
		b = append(b, "\r\n"...)
	}
	return b
}

func infoCPU(s *Server, b []byte) []byte {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) string {
		us := strconv.FormatInt(int64(t.Usec), 10)
		return strconv.FormatInt(int64(t.Sec), 10) + "." + strings.Repeat("0", max(6-len(us), 0)) + us
	}
	b = infoLine(b, "used_cpu_sys", tv(ru.Stime))
	b = infoLine(b, "used_cpu_user", tv(ru.Utime))
	b = infoLine(b, "used_cpu_sys_children", "0.000000")
	return infoLine(b, "used_cpu_user_children", "0.000000")
}

// infoKeyspace reports each database with keys (dbN, ascending, as Redis)
// over the groups this node leads, as DBSIZE counts them.
// dbKeyCounts sums the keys and the keys with a TTL of each database over
// the stores of groups, taking each store's RLock in turn.
func dbKeyCounts(groups []Group) (keys, expires [shard.NumDBs]int64) {
	eachStore(groups, func(st *shard.Store) {
		for _, d := range st.Databases() {
			keys[d.Index()] += d.Len()
			expires[d.Index()] += d.VolatileLen()
		}
	})
	return keys, expires
}

func infoKeyspace(s *Server, b []byte) []byte {
	keys, expires := dbKeyCounts(s.localGroups())
	for db := range keys {
		if keys[db] == 0 {
			continue
		}
		b = append(b, "db"...)
		b = strconv.AppendInt(b, int64(db), 10)
		b = append(b, ":keys="...)
		b = strconv.AppendInt(b, keys[db], 10)
		b = append(b, ",expires="...)
		b = strconv.AppendInt(b, expires[db], 10)
		b = append(b, ",avg_ttl=0\r\n"...)
	}
	return b
}

// infoCommandStats: cmdstat_<name> for every command called (or refused)
// since the last CONFIG RESETSTAT.
func infoCommandStats(s *Server, b []byte) []byte {
	for _, cs := range s.CommandStats() {
		b = append(b, "cmdstat_"...)
		b = append(b, cs.Name...)
		b = append(b, ":calls="...)
		b = strconv.AppendInt(b, cs.Calls, 10)
		b = append(b, ",usec="...)
		b = strconv.AppendInt(b, cs.Usec, 10)
		b = append(b, ",usec_per_call="...)
		perCall := 0.0
		if cs.Calls != 0 {
			perCall = float64(float32(cs.Usec) / float32(cs.Calls)) // Redis divides in float
		}
		b = strconv.AppendFloat(b, perCall, 'f', 2, 64)
		b = append(b, ",rejected_calls="...)
		b = strconv.AppendInt(b, cs.RejectedCalls, 10)
		b = append(b, ",failed_calls="...)
		b = strconv.AppendInt(b, cs.FailedCalls, 10)
		b = append(b, "\r\n"...)
	}
	return b
}

// infoErrorStats: errorstat_<prefix>:count=N, by prefix (Redis keeps them
// in a radix tree: byte order).
func infoErrorStats(s *Server, b []byte) []byte {
	errs := s.ErrorStats()
	names := make([]string, 0, len(errs))
	for k := range errs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b = append(b, "errorstat_"...)
		b = append(b, k...)
		b = append(b, ":count="...)
		b = strconv.AppendInt(b, errs[k], 10)
		b = append(b, "\r\n"...)
	}
	return b
}

// infoLatencyStats: latency_percentiles_usec_<name>:p50=...,p99=... for
// every command with a latency histogram, at the percentiles of
// latency-tracking-info-percentiles.
func infoLatencyStats(s *Server, b []byte) []byte {
	ps := *s.intro.percentiles.Load()
	for _, cmd := range allCommands() {
		st := s.intro.stat(cmd)
		if st == nil {
			continue
		}
		h := st.hist.Load()
		if h == nil {
			continue
		}
		snap := h.snapshot()
		b = append(b, "latency_percentiles_usec_"...)
		b = append(b, cmd.Name...)
		b = append(b, ':')
		for j, p := range ps {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, 'p')
			b = append(b, formatPercentile(p)...)
			b = append(b, '=')
			b = strconv.AppendFloat(b, float64(snap.percentile(p))/1000, 'f', 3, 64)
		}
		b = append(b, "\r\n"...)
	}
	return b
}

// formatPercentile prints p as Redis does: %f without trailing zeros
// (trimDoubleString).
func formatPercentile(p float64) string {
	f := strconv.FormatFloat(p, 'f', 6, 64)
	if strings.Contains(f, ".") {
		f = strings.TrimRight(f, "0")
		f = strings.TrimSuffix(f, ".")
	}
	return f
}
