package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// CommandStat is one command's statistics, as INFO commandstats reports
// them. It has the fields, in the order, of the front end's
// server.CommandStat, so that one converts to the other.
type CommandStat struct {
	// Name is the command's name (lower case, as in INFO commandstats).
	Name string
	// Calls, Usec, RejectedCalls and FailedCalls are INFO commandstats'
	// calls, usec (total run time in microseconds), rejected_calls and
	// failed_calls.
	Calls, Usec, RejectedCalls, FailedCalls int64
	// Buckets[i] is the number of calls that took at most 1<<i
	// microseconds (cumulative: non-decreasing in i; calls slower than the
	// last bound are counted in Calls only).
	Buckets []int64
}

// CommandSource reports per-command statistics. The front end's
// CommandStats and ErrorStats, adapted to CommandStat, implement it (see
// docs/metrics.md). Both are called from scrape goroutines, concurrently
// with the server's work: they must be safe for concurrent use and must
// not be on the command path's locks for long.
type CommandSource interface {
	// CommandStats returns the statistics of every command called at
	// least once.
	CommandStats() []CommandStat
	// ErrorStats returns, by error prefix ("ERR", "WRONGTYPE", ...), the
	// error replies sent (INFO errorstats).
	ErrorStats() map[string]int64
}

// CommandSourceFuncs adapts two functions to a CommandSource.
type CommandSourceFuncs struct {
	Commands func() []CommandStat
	Errors   func() map[string]int64
}

// CommandStats implements CommandSource.
func (f CommandSourceFuncs) CommandStats() []CommandStat { return f.Commands() }

// ErrorStats implements CommandSource.
func (f CommandSourceFuncs) ErrorStats() map[string]int64 { return f.Errors() }

// commandStatShape is the underlying type of CommandStat: any struct type
// with these fields, in this order (the front end's server.CommandStat),
// converts to CommandStat.
type commandStatShape interface {
	~struct {
		Name                                    string
		Calls, Usec, RejectedCalls, FailedCalls int64
		Buckets                                 []int64
	}
}

// CommandSourceOf adapts the front end's statistics functions to a
// CommandSource, converting its CommandStat values to this package's:
//
//	src.Commands = metrics.CommandSourceOf(srv.CommandStats, srv.ErrorStats)
func CommandSourceOf[S commandStatShape](stats func() []S, errors func() map[string]int64) CommandSource {
	return CommandSourceFuncs{
		Commands: func() []CommandStat {
			in := stats()
			out := make([]CommandStat, len(in))
			for i, s := range in {
				out[i] = CommandStat(s)
			}
			return out
		},
		Errors: errors,
	}
}

var (
	descCmdCalls    = newDesc("commands_total", "Calls of each command (INFO commandstats calls).", "command")
	descCmdFailed   = newDesc("command_errors_total", "Calls of each command that failed while running (INFO commandstats failed_calls).", "command")
	descCmdRejected = newDesc("command_rejected_total", "Calls of each command rejected before running (INFO commandstats rejected_calls).", "command")
	descCmdDuration = newDesc("command_duration_seconds", "Run time of each command (from INFO commandstats usec and the power-of-two latency buckets).", "command")
	descErrors      = newDesc("errors_total", "Error replies by error prefix (INFO errorstats).", "prefix")
	commandDescs    = []*prometheus.Desc{descCmdCalls, descCmdFailed, descCmdRejected, descCmdDuration, descErrors}
)

// commandCollector exports per-command statistics.
type commandCollector struct {
	src CommandSource
}

// NewCommandCollector returns a collector over src.
func NewCommandCollector(src CommandSource) prometheus.Collector {
	return &commandCollector{src: src}
}

// Describe implements prometheus.Collector.
func (c *commandCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range commandDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *commandCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.src.CommandStats() {
		ch <- counter(descCmdCalls, float64(s.Calls), s.Name)
		ch <- counter(descCmdFailed, float64(s.FailedCalls), s.Name)
		ch <- counter(descCmdRejected, float64(s.RejectedCalls), s.Name)
		buckets := make(map[float64]uint64, len(s.Buckets))
		var prev int64
		for i, n := range s.Buckets {
			// The counters are read one by one while calls go on: keep
			// the buckets non-decreasing and within the count.
			prev = max(prev, min(n, s.Calls))
			buckets[pow2(i)/microsPerSecond] = uint64(prev)
		}
		ch <- prometheus.MustNewConstHistogram(descCmdDuration, uint64(max(s.Calls, 0)), float64(s.Usec)/microsPerSecond, buckets, s.Name)
	}
	for prefix, n := range c.src.ErrorStats() {
		ch <- counter(descErrors, float64(n), prefix)
	}
}
