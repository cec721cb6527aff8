package server

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	_ "unsafe" // go:linkname runtime.nanotime

	"github.com/shoalcache/shoal/command"
)

// Per-command statistics (INFO commandstats, latencystats, LATENCY
// HISTOGRAM), error statistics (INFO errorstats) and the slow path that
// feeds SLOWLOG, the latency monitor and MONITOR.
//
// # What is counted, as Redis 7.0 counts it
//
//   - calls and usec: commands that ran, failed or not (a failed command is
//     one whose reply is an error: WRONGTYPE, syntax...).
//   - rejected_calls: commands refused before running: wrong arity, NOAUTH,
//     OOM, and the cluster's refusals (CROSSSLOT, MOVED, TRYAGAIN,
//     CLUSTERDOWN). They count in neither calls nor usec. An unknown command
//     or subcommand counts only in errorstats (Redis has no entry for it).
//   - failed_calls: commands that ran and replied an error.
//   - errorstats: every error reply by its prefix (the text after '-' up to
//     the first space within the first 32 bytes, else "ERR").
//
// # Latency
//
// A command's latency runs from the end of the previous command of its
// connection (or from the start of the batch of pipelined commands it came
// in, or from the end of the last commit wait) to the moment its reply is
// in the connection's output buffer: for reads and front-end commands the
// execution itself, plus the leadership check of a linearizable read. A
// write is queued into its connection's next Raft proposal (client.pend)
// and its latency runs from its dispatch to the moment the proposal's
// replies are back: it includes the commit wait (replication to a quorum
// and the FSM's apply), which is most of it. A read that forces pending
// writes out does not count their commit wait. As in Redis, latencies are
// kept in whole microseconds and the histograms record µs*1000 ns (at
// least 1 ns) in an HDR histogram of Redis's precision (1 ns to 1 s, two
// significant digits), so that percentiles and LATENCY HISTOGRAM buckets
// come out as Redis prints them.
//
// # Concurrency
//
// Connection goroutines update the counters with atomic adds into a fixed
// slot per command (command.Command.ID): no lock, allocation or map on
// the hot path. A command's histogram is allocated by its first call
// (compare-and-swap). Readers (INFO, LATENCY HISTOGRAM, CommandStats) load
// the counters atomically from any goroutine; a reader concurrent with
// updates may see one command's calls and usec from slightly different
// moments (single-threaded Redis never shows such a mix; it is off by the
// commands in flight). CONFIG RESETSTAT stores zeros and drops the
// histograms; updates racing with it may survive it.
//
// Every executed command loads one atomic (introState.slowNs) to decide
// whether it takes the slow path: only when it was at least as slow as the
// smallest enabled threshold (slowlog-log-slower-than,
// latency-monitor-threshold), or when a MONITOR is attached (then every
// command takes it). The slow path takes the slowlog's and the latency
// monitor's mutexes, and copies the command's line into each monitor's
// buffer under that monitor's mutex.

// nanotime is the runtime's monotonic clock in nanoseconds: what time.Now
// reads for its monotonic part, without the wall clock read (one vDSO call
// instead of two per command).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// cmdStat is one command's counters; padded to a cache line so that two
// commands updated by two cores do not share one.
type cmdStat struct {
	calls, usec, rejected, failed atomic.Int64
	hist                          atomic.Pointer[hdrHist]
	_                             [24]byte
}

// histogram returns the command's histogram, allocating it on first use.
func (st *cmdStat) histogram() *hdrHist {
	if h := st.hist.Load(); h != nil {
		return h
	}
	h := new(hdrHist)
	if st.hist.CompareAndSwap(nil, h) {
		return h
	}
	return st.hist.Load()
}

// errStats counts error replies by prefix. The map is replaced, never
// modified: the hot path looks a prefix up after one atomic load; a new
// prefix takes mu and copies the map.
type errStats struct {
	m  atomic.Pointer[map[string]*atomic.Int64]
	mu sync.Mutex
	// disabled is set once maxErrorPrefixes prefixes were seen, as Redis
	// 7.0's errors_enabled: the map then holds only ERRORSTATS_DISABLED
	// until CONFIG RESETSTAT. Written under mu.
	disabled atomic.Bool
}

// maxErrorPrefixes is Redis's ERROR_STATS_NUMBER: one more distinct prefix
// replaces them all with errorStatsDisabled (count 1), and nothing more is
// counted by prefix until CONFIG RESETSTAT; total_error_replies goes on.
const (
	maxErrorPrefixes   = 128
	errorStatsDisabled = "ERRORSTATS_DISABLED"
)

func (e *errStats) add(prefix []byte) {
	if m := e.m.Load(); m != nil {
		if n := (*m)[string(prefix)]; n != nil {
			n.Add(1)
			return
		}
	}
	if e.disabled.Load() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.disabled.Load() {
		return
	}
	old := e.m.Load()
	if old != nil {
		if n := (*old)[string(prefix)]; n != nil {
			n.Add(1)
			return
		}
	}
	n := new(atomic.Int64)
	n.Store(1)
	if lenMap(old) >= maxErrorPrefixes {
		e.disabled.Store(true)
		m := map[string]*atomic.Int64{errorStatsDisabled: n}
		e.m.Store(&m)
		return
	}
	m := make(map[string]*atomic.Int64, 1+lenMap(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[string(prefix)] = n
	e.m.Store(&m)
}

// reset clears the counts (CONFIG RESETSTAT).
func (e *errStats) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.disabled.Store(false)
	e.m.Store(nil)
}

func lenMap(m *map[string]*atomic.Int64) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// prefixERR is the prefix of errors that have none.
var prefixERR = []byte("ERR")

// errorPrefix is the errorstats name of an error reply ("-WRONGTYPE ...").
func errorPrefix(r []byte) []byte {
	if len(r) == 0 || r[0] != '-' {
		return prefixERR
	}
	n := min(len(r), 32)
	for i := 1; i < n; i++ {
		switch r[i] {
		case ' ':
			return r[1:i]
		case '\r':
			n = i
		}
	}
	return prefixERR
}

// introState is the Server's introspection state: statistics, SLOWLOG,
// the latency monitor and MONITOR. It is a field of Server (intro).
type introState struct {
	cmds []cmdStat // by command.ID
	errs errStats

	// slowNs: an executed command at least this slow (ns) takes the slow
	// path; math.MaxInt64 when nothing needs it, 0 while a MONITOR is
	// attached. Derived from the settings below by updateSlowPath.
	slowNs atomic.Int64

	// Settings (CONFIG SET), read without locks; cfgMu serializes their
	// writers with updateSlowPath.
	cfgMu       sync.Mutex
	tracking    atomic.Bool               // latency-tracking
	percentiles atomic.Pointer[[]float64] // latency-tracking-info-percentiles
	slowlogThr  atomic.Int64              // slowlog-log-slower-than, µs; < 0 disabled
	slowlogMax  atomic.Int64              // slowlog-max-len
	latencyThr  atomic.Int64              // latency-monitor-threshold, ms; 0 off

	slowlog  slowlog
	latency  latencyMonitor
	monitors monitorSet
}

// initIntro sets Redis's defaults.
func initIntro(in *introState) {
	in.cmds = make([]cmdStat, command.NumIDs()+1)
	in.tracking.Store(true)
	p := []float64{50, 99, 99.9}
	in.percentiles.Store(&p)
	in.slowlogThr.Store(10000)
	in.slowlogMax.Store(128)
	in.updateSlowPath()
}

// updateSlowPath recomputes slowNs from the settings and the monitors.
func (in *introState) updateSlowPath() {
	in.cfgMu.Lock()
	defer in.cfgMu.Unlock()
	t := int64(math.MaxInt64)
	if v := in.slowlogThr.Load(); v >= 0 {
		t = min(t, v*1000)
	}
	if v := in.latencyThr.Load(); v > 0 {
		t = min(t, v*1_000_000)
	}
	if in.monitors.attached() {
		t = 0
	}
	in.slowNs.Store(t)
}

// stat returns cmd's counters, nil for a command without a slot.
func (in *introState) stat(cmd *command.Command) *cmdStat {
	if cmd == nil || cmd.ID <= 0 || cmd.ID >= len(in.cmds) {
		return nil
	}
	return &in.cmds[cmd.ID]
}

// countError counts the error reply r in errorstats and
// total_error_replies.
func (s *Server) countError(r []byte) {
	s.stats.errorReplies.Add(1)
	s.intro.errs.add(errorPrefix(r))
}

// countCall counts one execution of cmd that took ns nanoseconds.
func (s *Server) countCall(cmd *command.Command, ns int64, failed bool) {
	st := s.intro.stat(cmd)
	if st == nil {
		return
	}
	us := ns / 1000
	st.calls.Add(1)
	st.usec.Add(us)
	if failed {
		st.failed.Add(1)
	}
	if s.intro.tracking.Load() {
		st.histogram().record(us)
	}
}

// ran accounts a command that ran on the connection goroutine (read,
// front-end or keyless command) and whose reply starts at c.out[at:]; t0 is
// when it started (nanotime). It moves c.tick to now.
func (c *client) ran(cmd *command.Command, args [][]byte, at int, t0 int64) {
	end := nanotime()
	c.tick = end
	c.executed++
	s := c.srv
	failed := at < len(c.out) && c.out[at] == '-'
	if failed {
		s.countError(c.out[at:])
	}
	s.countCall(cmd, end-t0, failed)
	if end-t0 >= s.intro.slowNs.Load() {
		c.slowPath(cmd, args, end-t0)
	}
}

// reject accounts a command refused before it ran (c.cur; nil for an
// unknown command or subcommand), whose error reply starts at c.out[at:].
func (c *client) reject(at int) {
	s := c.srv
	if at < len(c.out) {
		s.countError(c.out[at:])
	}
	if st := s.intro.stat(c.cur); st != nil {
		st.rejected.Add(1)
	}
	c.tick = nanotime()
}

// wrote accounts the write pending at index p of the last proposal, whose
// reply starts at c.out[at:]; rejected when the group refused it (the slot
// moved: MOVED or TRYAGAIN). c.flushEnd is when the replies came back.
func (c *client) wrote(p, at int, rejected bool) {
	cmd := c.pendC[p]
	if cmd == nil {
		return // a keyless write, accounted by keyless
	}
	if rejected {
		c.cur = cmd
		c.reject(at)
		c.cur = nil
		return
	}
	c.executed++
	s := c.srv
	failed := at < len(c.out) && c.out[at] == '-'
	if failed {
		s.countError(c.out[at:])
	}
	d := c.flushEnd - c.pendT[p]
	s.countCall(cmd, d, failed)
	if d >= s.intro.slowNs.Load() {
		c.slowPath(cmd, c.pend[p], d)
	}
}

// slowPath feeds the slowlog, the latency monitor and the monitors with a
// command that took ns nanoseconds.
func (c *client) slowPath(cmd *command.Command, args [][]byte, ns int64) {
	in := &c.srv.intro
	us := ns / 1000
	shown := redactArgs(cmd, args)
	if thr := in.slowlogThr.Load(); thr >= 0 && us >= thr && cmd.Flags&command.FlagSkipSlowlog == 0 {
		in.slowlog.push(c, shown, us, in.slowlogMax.Load())
	}
	if thr := in.latencyThr.Load(); thr > 0 && us/1000 >= thr {
		event := "command"
		if cmd.Flags&command.FlagFast != 0 {
			event = "fast-command"
		}
		in.latency.add(event, us/1000)
	}
	if cmd.Flags&command.FlagAdmin == 0 {
		in.monitors.feed(c, shown)
	}
}

// redacted replaces secrets in SLOWLOG and MONITOR, as Redis 7.0's
// redactClientCommandArgument.
var redacted = []byte("(redacted)")

// redactArgs returns args with AUTH's arguments and HELLO's AUTH username
// and password replaced by "(redacted)" (a copy; args otherwise).
func redactArgs(cmd *command.Command, args [][]byte) [][]byte {
	switch cmd.Name {
	case "auth", "acl|setuser":
		// ACL SETUSER: the user and every rule, as Redis 7.0.
		from := 1
		if cmd.Name == "acl|setuser" {
			from = 2
		}
		out := make([][]byte, len(args))
		copy(out, args[:from])
		for i := from; i < len(args); i++ {
			out[i] = redacted
		}
		return out
	case "hello":
		var out [][]byte
		for j := 2; j < len(args); j++ {
			more := len(args) - 1 - j
			switch {
			case command.EqFold(args[j], "auth") && more >= 2:
				if out == nil {
					out = append([][]byte(nil), args...)
				}
				out[j+1], out[j+2] = redacted, redacted
				j += 2
			case command.EqFold(args[j], "setname") && more >= 1:
				j++
			default:
				j = len(args)
			}
		}
		if out != nil {
			return out
		}
	}
	return args
}

// resetStats clears the command and error statistics (CONFIG RESETSTAT).
func (in *introState) resetStats() {
	for i := range in.cmds {
		st := &in.cmds[i]
		st.calls.Store(0)
		st.usec.Store(0)
		st.rejected.Store(0)
		st.failed.Store(0)
		st.hist.Store(nil)
	}
	in.errs.reset()
}

// CommandStat is one command's counters (INFO commandstats).
type CommandStat struct {
	Name                                    string // "get", "config|get"
	Calls, Usec, RejectedCalls, FailedCalls int64
	// Buckets[i] counts calls whose latency was at most 1<<i microseconds:
	// the counts are cumulative, as a Prometheus histogram's (Buckets[i]
	// includes Buckets[i-1]). The bounds are those of LATENCY HISTOGRAM,
	// taken from Redis's HDR histogram: bucket i ends at the highest value
	// HDR does not tell apart from 1024<<i ns, so the exact bounds in µs
	// are 1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056... (at most 2.4%
	// above 1<<i). There are 20 buckets (up to about 0.54 s); slower calls
	// count only in Calls, which serves as the +Inf bucket. Empty when
	// latency-tracking is off or the command has no recorded call.
	Buckets []int64
}

// CommandStats returns every command called at least once (or rejected),
// sorted by name. Safe from any goroutine.
func (s *Server) CommandStats() []CommandStat {
	var out []CommandStat
	for _, cmd := range allCommands() {
		st := s.intro.stat(cmd)
		if st == nil {
			continue
		}
		cs := CommandStat{Name: cmd.Name, Calls: st.calls.Load(), Usec: st.usec.Load(),
			RejectedCalls: st.rejected.Load(), FailedCalls: st.failed.Load()}
		if cs.Calls == 0 && cs.RejectedCalls == 0 && cs.FailedCalls == 0 {
			continue
		}
		if h := st.hist.Load(); h != nil {
			snap := h.snapshot()
			_, cum := snap.levels(false)
			cs.Buckets = make([]int64, histLevels)
			for i := range cs.Buckets {
				if i < len(cum) {
					cs.Buckets[i] = cum[i]
				} else {
					cs.Buckets[i] = snap.total
				}
			}
		}
		out = append(out, cs)
	}
	return out
}

// ErrorStats returns error reply counts by prefix ("ERR", "WRONGTYPE",
// ...). Safe from any goroutine.
func (s *Server) ErrorStats() map[string]int64 {
	out := make(map[string]int64)
	if m := s.intro.errs.m.Load(); m != nil {
		for k, v := range *m {
			out[k] = v.Load()
		}
	}
	return out
}

// allCommands returns every command and subcommand of the table, by full
// name.
func allCommands() []*command.Command {
	var out []*command.Command
	for _, c := range command.All() {
		out = append(out, c)
		out = append(out, c.Subs...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CONFIG parameters of the introspection family (configParams entries).

// Redis's numeric CONFIG SET errors.
const (
	cfgErrInteger     = "argument couldn't be parsed into an integer"
	cfgErrPercentiles = "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
	cfgErrPctParse    = "Invalid latency-tracking-info-percentiles parameters"
)

// setIntroInt returns a CONFIG setter of an integer parameter in
// [lo, math.MaxInt64] stored in v, as Redis's createLongLongConfig.
func setIntroInt(v func(s *Server) *atomic.Int64, lo int64) func(s *Server, val string) (func(), string) {
	return func(s *Server, val string) (func(), string) {
		n, ok := command.ParseInt([]byte(val))
		if !ok {
			return nil, cfgErrInteger
		}
		if n < lo {
			return nil, "argument must be between " + strconv.FormatInt(lo, 10) + " and 9223372036854775807 inclusive"
		}
		return func() {
			v(s).Store(n)
			s.intro.updateSlowPath()
		}, ""
	}
}

// getIntroInt returns a CONFIG getter of v.
func getIntroInt(v func(s *Server) *atomic.Int64) func(s *Server) string {
	return func(s *Server) string { return strconv.FormatInt(v(s).Load(), 10) }
}

func slowlogThrOf(s *Server) *atomic.Int64 { return &s.intro.slowlogThr }
func slowlogMaxOf(s *Server) *atomic.Int64 { return &s.intro.slowlogMax }
func latencyThrOf(s *Server) *atomic.Int64 { return &s.intro.latencyThr }

func getLatencyTracking(s *Server) string {
	if s.intro.tracking.Load() {
		return "yes"
	}
	return "no"
}

func setLatencyTracking(s *Server, v string) (func(), string) {
	var on bool
	switch {
	case strings.EqualFold(v, "yes"):
		on = true
	case strings.EqualFold(v, "no"):
	default:
		return nil, cfgErrYesNo
	}
	return func() { s.intro.tracking.Store(on) }, ""
}

// getPercentiles prints latency-tracking-info-percentiles as Redis: each
// %f without trailing zeros, space-separated.
func getPercentiles(s *Server) string {
	ps := *s.intro.percentiles.Load()
	f := make([]string, len(ps))
	for i, p := range ps {
		f[i] = formatPercentile(p)
	}
	return strings.Join(f, " ")
}

// setPercentiles parses space-separated percentiles in [0, 100].
func setPercentiles(s *Server, v string) (func(), string) {
	fields := strings.Fields(v)
	ps := make([]float64, 0, len(fields))
	for _, f := range fields {
		p, err := strconv.ParseFloat(f, 64)
		if err != nil || math.IsNaN(p) {
			return nil, cfgErrPctParse
		}
		if p < 0 || p > 100 {
			return nil, cfgErrPercentiles
		}
		ps = append(ps, p)
	}
	return func() { s.intro.percentiles.Store(&ps) }, ""
}
