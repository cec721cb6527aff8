package server

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalcache/shoal/command"
)

// latencyTSLen is how many samples an event keeps (LATENCY_TS_LEN).
const latencyTSLen = 160

// latencyGraphCols is LATENCY GRAPH's width (LATENCY_GRAPH_COLS).
const latencyGraphCols = 80

// latencySample is one second's worst latency of an event.
type latencySample struct {
	unix    int64 // 0: unused slot
	latency int64 // ms
}

// latencySeries is one event's history, a ring as Redis's
// latencyTimeSeries.
type latencySeries struct {
	idx     int
	max     int64
	samples [latencyTSLen]latencySample
}

// latencyMonitor holds the latency monitor's events ("command",
// "fast-command") in creation order. Connection goroutines add samples on
// the slow path; LATENCY reads them. Guarded by mu.
type latencyMonitor struct {
	mu     sync.Mutex
	names  []string
	series map[string]*latencySeries
}

// add records a latency of ms milliseconds for event, as Redis's
// latencyAddSample: one sample per second, the worst of that second.
func (m *latencyMonitor) add(event string, ms int64) {
	now := time.Now().Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := m.series[event]
	if ts == nil {
		if m.series == nil {
			m.series = make(map[string]*latencySeries)
		}
		ts = new(latencySeries)
		m.series[event] = ts
		m.names = append(m.names, event)
	}
	ts.max = max(ts.max, ms)
	prev := (ts.idx + latencyTSLen - 1) % latencyTSLen
	if ts.samples[prev].unix == now {
		ts.samples[prev].latency = max(ts.samples[prev].latency, ms)
		return
	}
	ts.samples[ts.idx] = latencySample{now, ms}
	ts.idx = (ts.idx + 1) % latencyTSLen
}

// reset deletes the events named like event (case-insensitively), every
// event when all; it returns how many.
func (m *latencyMonitor) reset(event string, all bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	kept := m.names[:0]
	for _, name := range m.names {
		if all || strings.EqualFold(name, event) {
			delete(m.series, name)
			n++
			continue
		}
		kept = append(kept, name)
	}
	m.names = kept
	return n
}

// eventCopy is an event and a copy of its series.
type eventCopy struct {
	name string
	ts   latencySeries
}

// snapshot copies the events, or only the one named name when one is set.
func (m *latencyMonitor) snapshot(name string, one bool) []eventCopy {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []eventCopy
	for _, n := range m.names {
		if !one || n == name {
			out = append(out, eventCopy{n, *m.series[n]})
		}
	}
	return out
}

func init() {
	sub := func(name string, arity int, run func(*command.Ctx, [][]byte)) *command.Command {
		return &command.Command{Name: "latency|" + name, Arity: arity, Kind: command.KindLocal,
			Flags: command.FlagAdmin | command.FlagNoScript | command.FlagLoading | command.FlagStale,
			ACL:   []string{"admin", "slow", "dangerous"}, Run: run}
	}
	help := sub("help", 2, latencyHelpCommand)
	help.Flags, help.ACL = command.FlagLoading|command.FlagStale, []string{"slow"}
	command.Register(&command.Command{Name: "latency", Arity: -2, Kind: command.KindLocal, ACL: []string{"slow"},
		Subs: []*command.Command{
			sub("doctor", 2, latencyDoctorCommand),
			sub("graph", 3, latencyGraphCommand),
			help,
			sub("histogram", -2, latencyHistogramCommand),
			sub("history", 3, latencyHistoryCommand),
			sub("latest", 2, latencyLatestCommand),
			sub("reset", -2, latencyResetCommand),
		}})
}

// latencyLatestCommand: LATENCY LATEST. For each event: name, time and
// latency of its latest sample, all-time maximum.
func latencyLatestCommand(x *command.Ctx, args [][]byte) {
	events := srvOf(x).intro.latency.snapshot("", false)
	x.Array(len(events))
	for _, e := range events {
		last := e.ts.samples[(e.ts.idx+latencyTSLen-1)%latencyTSLen]
		x.Array(4)
		x.BulkString(e.name)
		x.Int(last.unix)
		x.Int(last.latency)
		x.Int(e.ts.max)
	}
}

// latencyHistoryCommand: LATENCY HISTORY event. The event's samples,
// oldest first, as [time, latency] pairs.
func latencyHistoryCommand(x *command.Ctx, args [][]byte) {
	events := srvOf(x).intro.latency.snapshot(string(truncNUL(args[2])), true)
	if len(events) == 0 {
		x.Array(0)
		return
	}
	ts := &events[0].ts
	var samples []latencySample
	for j := range latencyTSLen {
		if s := ts.samples[(ts.idx+j)%latencyTSLen]; s.unix != 0 {
			samples = append(samples, s)
		}
	}
	x.Array(len(samples))
	for _, s := range samples {
		x.Array(2)
		x.Int(s.unix)
		x.Int(s.latency)
	}
}

// latencyResetCommand: LATENCY RESET [event ...]. The number of events
// reset.
func latencyResetCommand(x *command.Ctx, args [][]byte) {
	m := &srvOf(x).intro.latency
	if len(args) == 2 {
		x.Int(int64(m.reset("", true)))
		return
	}
	n := 0
	for _, a := range args[2:] {
		n += m.reset(string(truncNUL(a)), false)
	}
	x.Int(int64(n))
}

// latencyHistogramCommand: LATENCY HISTOGRAM [command ...]. For each
// command with a histogram (every one when none is named; a container
// command stands for its subcommands): calls and the cumulative
// distribution by power-of-two microseconds.
func latencyHistogramCommand(x *command.Ctx, args [][]byte) {
	s := srvOf(x)
	type entry struct {
		name string
		snap *histSnap
	}
	var list []entry
	addAll := func(cmds []*command.Command) {
		for _, c := range cmds {
			if st := s.intro.stat(c); st != nil {
				if h := st.hist.Load(); h != nil {
					list = append(list, entry{c.Name, h.snapshot()})
				}
			}
		}
	}
	if len(args) == 2 {
		addAll(allCommands())
	} else {
		for _, a := range args[2:] {
			cmd := command.LookupFullName(a)
			if cmd == nil {
				continue
			}
			addAll([]*command.Command{cmd})
			addAll(cmd.Subs)
		}
	}
	x.MapHeader(len(list))
	for _, e := range list {
		x.BulkString(e.name)
		x.MapHeader(2)
		x.BulkString("calls")
		x.Int(e.snap.total)
		x.BulkString("histogram_usec")
		bounds, cum := e.snap.levels(true)
		x.MapHeader(len(bounds))
		for i := range bounds {
			x.Int(bounds[i])
			x.Int(cum[i])
		}
	}
}

// latencyGraphCommand: LATENCY GRAPH event. An ASCII sparkline of the
// event's samples, as Redis's latencyCommandGenSparkeline.
func latencyGraphCommand(x *command.Ctx, args [][]byte) {
	events := srvOf(x).intro.latency.snapshot(string(truncNUL(args[2])), true)
	if len(events) == 0 {
		x.Err(command.Sanitize(append(append([]byte("ERR No samples available for event '"), truncNUL(args[2])...), '\'')))
		return
	}
	x.Verbatim(latencyGraph(events[0].name, &events[0].ts, time.Now().Unix()))
}

// latencyGraph renders an event's samples.
func latencyGraph(event string, ts *latencySeries, now int64) []byte {
	var values []float64
	var labels []string
	var lo, hi int64
	for j := range latencyTSLen {
		s := ts.samples[(ts.idx+j)%latencyTSLen]
		if s.unix == 0 {
			continue
		}
		if len(values) == 0 {
			lo, hi = s.latency, s.latency
		} else {
			lo, hi = min(lo, s.latency), max(hi, s.latency)
		}
		elapsed := now - s.unix
		var label string
		switch {
		case elapsed < 60:
			label = strconv.FormatInt(elapsed, 10) + "s"
		case elapsed < 3600:
			label = strconv.FormatInt(elapsed/60, 10) + "m"
		case elapsed < 3600*24:
			label = strconv.FormatInt(elapsed/3600, 10) + "h"
		default:
			label = strconv.FormatInt(elapsed/(3600*24), 10) + "d"
		}
		values = append(values, float64(s.latency))
		labels = append(labels, label)
	}
	b := []byte(event + " - high " + strconv.FormatInt(hi, 10) + " ms, low " + strconv.FormatInt(lo, 10) +
		" ms (all time high " + strconv.FormatInt(ts.max, 10) + " ms)\n")
	b = append(b, strings.Repeat("-", latencyGraphCols)...)
	b = append(b, '\n')
	return sparkline(b, values, labels, latencyGraphCols, 4)
}

// sparkline renders values with their labels below, columns wide and rows
// high, as Redis's sparklineRender with SPARKLINE_FILL.
func sparkline(b []byte, values []float64, labels []string, columns, rows int) []byte {
	if len(values) == 0 {
		return b
	}
	lo, hi := values[0], values[0]
	for _, v := range values[1:] {
		if v < lo {
			lo = v
		} else if v > hi {
			hi = v
		}
	}
	for j := 0; j < len(values); j += columns {
		if j != 0 {
			b = append(b, '\n')
		}
		n := min(len(values)-j, columns)
		b = sparklineRange(b, values[j:j+n], labels[j:j+n], lo, hi, rows)
	}
	return b
}

// sparklineRange is Redis's sparklineRenderRange with SPARKLINE_FILL.
func sparklineRange(b []byte, values []float64, labels []string, lo, hi float64, rows int) []byte {
	const charset = "_o#"
	const labelMarginTop = 1
	relmax := hi - lo
	if relmax == 0 {
		relmax = 1
	}
	steps := len(charset) * rows
	chars := make([]byte, len(values))
	for row := 0; ; row++ {
		loop := false
		for j := range chars {
			chars[j] = ' '
		}
		for j, v := range values {
			// C: step = (int) (relval*steps)/relmax;
			step := int(math.Trunc(math.Trunc((v-lo)*float64(steps)) / relmax))
			step = min(max(step, 0), steps-1)
			if row < rows {
				idx := step - (rows-row-1)*len(charset)
				loop = true
				if idx >= 0 && idx < len(charset) {
					chars[j] = charset[idx]
				} else if idx >= len(charset) {
					chars[j] = '|'
				}
				continue
			}
			if row-rows < labelMarginTop {
				loop = true
				break
			}
			if k := row - rows - labelMarginTop; k < len(labels[j]) {
				loop = true
				chars[j] = labels[j][k]
			}
		}
		if !loop {
			return b
		}
		b = append(b, chars...)
		b = append(b, '\n')
	}
}

// latencyDoctorCommand: LATENCY DOCTOR. Redis's report on the events and
// the settings.
func latencyDoctorCommand(x *command.Ctx, args [][]byte) {
	x.Verbatim(latencyReport(srvOf(x), time.Now().Unix()))
}

// latencyReport is Redis's createLatencyReport for the events Shoal
// records.
func latencyReport(s *Server, now int64) []byte {
	events := s.intro.latency.snapshot("", false)
	thr := s.intro.latencyThr.Load()
	if len(events) == 0 && thr == 0 {
		return []byte("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. " +
			"You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. " +
			"If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n")
	}
	var b []byte
	var slowlogEnabled, slowlogTuning, slowlogInspect, scheduler, largeObjects, disableTHP bool
	advices := 0
	for i, e := range events {
		if i == 0 {
			b = append(b, "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n"...)
		}
		n, avg, mad, period := analyzeLatency(&e.ts, now)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, ". "+e.name+": "...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, " latency spikes (average "...)
		b = strconv.AppendInt(b, avg, 10)
		b = append(b, "ms, mean deviation "...)
		b = strconv.AppendInt(b, mad, 10)
		b = append(b, "ms, period "...)
		b = strconv.AppendFloat(b, float64(period)/float64(n), 'f', 2, 64)
		b = append(b, " sec). Worst all time event "...)
		b = strconv.AppendInt(b, e.ts.max, 10)
		b = append(b, "ms."...)
		switch strings.ToLower(e.name) {
		case "command":
			if sl := s.intro.slowlogThr.Load(); sl < 0 {
				slowlogEnabled = true
				advices++
			} else if sl/1000 > thr {
				slowlogTuning = true
				advices++
			}
			slowlogInspect, largeObjects = true, true
			advices += 2
		case "fast-command":
			scheduler = true
			advices++
		}
		b = append(b, '\n')
	}
	if anonHugePages() > 0 {
		disableTHP = true
		advices++
	}
	switch {
	case len(events) == 0 && advices == 0:
		return append(b, "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. "+
			"I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n"...)
	case len(events) > 0 && advices == 0:
		return append(b, "\nWhile there are latency events logged, I'm not able to suggest any easy fix. "+
			"Please use the Redis community to get some help, providing this report in your help request.\n"...)
	}
	b = append(b, "\nI have a few advices for you:\n\n"...)
	if slowlogEnabled {
		b = append(b, "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log "+
			"Redis feature using the command 'CONFIG SET slowlog-log-slower-than "+strconv.FormatInt(thr*1000, 10)+
			"'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n"...)
	}
	if slowlogTuning {
		b = append(b, "- Your current Slow Log configuration only logs events that are slower than your configured latency "+
			"monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than "+strconv.FormatInt(thr*1000, 10)+"'.\n"...)
	}
	if slowlogInspect {
		b = append(b, "- Check your Slow Log to understand what are the commands you are running which are too slow to execute. "+
			"Please check https://redis.io/commands/slowlog for more information.\n"...)
	}
	if scheduler {
		b = append(b, "- The system is slow to execute Redis code paths not containing system calls. This usually means the "+
			"system does not provide Redis CPU time to run for long periods. You should try to:\n"+
			"  1) Lower the system load.\n"+
			"  2) Use a computer / VM just for Redis if you are running other software in the same system.\n"+
			"  3) Check if you have a \"noisy neighbour\" problem.\n"+
			"  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n"+
			"  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. "+
			"However this may create fragmentation problems.\n"...)
	}
	if largeObjects {
		b = append(b, "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. "+
			"If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects "+
			"into multiple smaller objects.\n"...)
	}
	if disableTHP {
		b = append(b, "- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious "+
			"latency events in different conditions, especially when Redis is persisting on disk. To disable THP support "+
			"use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into "+
			"/etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already "+
			"disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n"...)
	}
	return b
}

// analyzeLatency is Redis's analyzeLatencyForEvent: the number of samples,
// their average and mean absolute deviation (ms), and the seconds since
// the oldest (at least 1).
func analyzeLatency(ts *latencySeries, now int64) (n, avg, mad, period int64) {
	var sum, oldest int64
	for _, s := range ts.samples {
		if s.unix == 0 {
			continue
		}
		n++
		sum += s.latency
		if oldest == 0 || s.unix < oldest {
			oldest = s.unix
		}
	}
	if n == 0 {
		return 0, 0, 0, 0
	}
	avg = sum / n
	period = max(now-oldest, 1)
	var dev int64
	for _, s := range ts.samples {
		if s.unix != 0 {
			d := avg - s.latency
			if d < 0 {
				d = -d
			}
			dev += d
		}
	}
	return n, avg, dev / n, period
}

// anonHugePages is the AnonHugePages total of the process (bytes), as
// Redis's THPGetAnonHugePagesSize.
func anonHugePages() int64 {
	f, err := os.Open("/proc/self/smaps_rollup")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("AnonHugePages:")); ok {
			kb, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

var latencyHelp = []string{
	"LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"DOCTOR",
	"    Return a human readable latency analysis report.",
	"GRAPH <event>",
	"    Return an ASCII latency graph for the <event> class.",
	"HISTORY <event>",
	"    Return time-latency samples for the <event> class.",
	"LATEST",
	"    Return the latest latency samples for all events.",
	"RESET [<event> ...]",
	"    Reset latency data of one or more <event> classes.",
	"    (default: reset all data for all event classes)",
	"HISTOGRAM [COMMAND ...]",
	"    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
	"    If no commands are specified then all histograms are replied.",
	"HELP",
	"    Prints this help.",
}

// latencyHelpCommand: LATENCY HELP.
func latencyHelpCommand(x *command.Ctx, args [][]byte) { x.Help(latencyHelp) }
