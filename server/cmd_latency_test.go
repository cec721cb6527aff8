package server

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// TestLatencyErrorsMatchRedis compares LATENCY's and its settings' replies
// that do not depend on timing with redis-server's, in RESP2 and RESP3.
func TestLatencyErrorsMatchRedis(t *testing.T) {
	p, _ := newPair(t)
	cases := [][]string{
		{"LATENCY"},
		{"LATENCY", "HISTORY"},
		{"LATENCY", "HISTORY", "a", "b"},
		{"LATENCY", "foo"},
		{"LATENCY", "HELP"},
		{"LATENCY", "GRAPH", "nosuch"},
		{"LATENCY", "GRAPH", "a\r\nb"},
		{"LATENCY", "HISTORY", "nosuch"},
		{"LATENCY", "LATEST"},
		{"LATENCY", "LATEST", "x"},
		{"LATENCY", "DOCTOR"},
		{"LATENCY", "RESET"},
		{"LATENCY", "RESET", "command", "x"},
		{"LATENCY", "HISTOGRAM", "nosuch", "config|nosuch"},
		{"CONFIG", "GET", "latency-monitor-threshold"},
		{"CONFIG", "GET", "latency-tracking"},
		{"CONFIG", "GET", "latency-tracking-info-percentiles"},
		{"CONFIG", "SET", "latency-monitor-threshold", "-1"},
		{"CONFIG", "SET", "latency-monitor-threshold", "x"},
		{"CONFIG", "SET", "latency-tracking", "maybe"},
		{"CONFIG", "SET", "latency-tracking-info-percentiles", "101"},
		{"CONFIG", "SET", "latency-tracking-info-percentiles", "-0.5"},
		{"CONFIG", "SET", "latency-tracking-info-percentiles", "x"},
		{"CONFIG", "SET", "latency-tracking-info-percentiles", "50 x"},
		{"CONFIG", "SET", "latency-tracking-info-percentiles", "0 100 12.5 99.999"},
		{"CONFIG", "GET", "latency-tracking-info-percentiles"},
		{"CONFIG", "SET", "latency-tracking-info-percentiles", ""},
		{"CONFIG", "GET", "latency-tracking-info-percentiles"},
		{"CONFIG", "SET", "latency-tracking-info-percentiles", "50 99 99.9"},
		{"CONFIG", "SET", "latency-monitor-threshold", "100"},
		{"LATENCY", "DOCTOR"}, // enabled, no event
	}
	for _, args := range cases {
		p.same(args...)
	}
	p.do("HELLO", "3") // replies differ by the connection id
	for _, args := range cases[:14] {
		p.same(args...)
	}
}

// latencyLevels are the keys LATENCY HISTOGRAM can print.
var latencyLevels = func() map[int64]bool {
	m := map[int64]bool{}
	for j := range histLevels {
		m[hdrHighest(hdrValueAt(hdrIndex(int64(1024)<<j)))/1000] = true
	}
	return m
}()

// histogramShape checks a LATENCY HISTOGRAM reply (RESP2 or RESP3) and
// returns it with each command's bucket map replaced by "buckets" after
// checking it: keys among latencyLevels, ascending, with cumulative counts
// growing up to the command's calls.
func histogramShape(t *testing.T, v respclient.Value) string {
	t.Helper()
	pairs := func(v respclient.Value) []respclient.Value {
		if v.Kind == respclient.KindMap {
			var out []respclient.Value
			for _, kv := range v.Map {
				out = append(out, kv.Key, kv.Value)
			}
			return out
		}
		if v.Kind != respclient.KindArray || len(v.Array)%2 != 0 {
			t.Fatalf("not a map: %s", v)
		}
		return v.Array
	}
	var b strings.Builder
	cmds := pairs(v)
	for i := 0; i < len(cmds); i += 2 {
		f := pairs(cmds[i+1])
		if len(f) != 4 || f[0].Str != "calls" || f[2].Str != "histogram_usec" || f[1].Kind != respclient.KindInt {
			t.Fatalf("malformed entry %s", cmds[i+1])
		}
		buckets := pairs(f[3])
		var prevKey, prevCount int64
		for j := 0; j < len(buckets); j += 2 {
			k, n := buckets[j].Int, buckets[j+1].Int
			if !latencyLevels[k] || k <= prevKey || n <= prevCount {
				t.Errorf("%s: bucket %d => %d after %d => %d", cmds[i].Str, k, n, prevKey, prevCount)
			}
			prevKey, prevCount = k, n
		}
		if prevCount != f[1].Int {
			t.Errorf("%s: last bucket %d, calls %d", cmds[i].Str, prevCount, f[1].Int)
		}
		b.WriteString(cmds[i].Str + " calls=" + f[1].String() + " buckets;")
	}
	return b.String()
}

// TestLatencyHistogramMatchesRedis compares LATENCY HISTOGRAM's replies
// with redis-server's, bucket bounds and counts aside (they depend on
// timing; histogramShape checks them).
func TestLatencyHistogramMatchesRedis(t *testing.T) {
	p, _ := newPair(t)
	for range 3 {
		p.same("SET", "a", "b")
	}
	p.same("GET", "a")
	p.same("CONFIG", "GET", "maxmemory")
	check := func(args ...string) {
		t.Helper()
		s, r := p.vals(args...)
		if ss, rs := histogramShape(t, s), histogramShape(t, r); ss != rs {
			t.Errorf("%q:\nshoal %s\nredis %s", args, ss, rs)
		}
	}
	check("LATENCY", "HISTOGRAM", "set")
	check("LATENCY", "HISTOGRAM", "SET", "nosuch", "get", "set")
	check("LATENCY", "HISTOGRAM", "config")
	check("LATENCY", "HISTOGRAM", "config|get")
	p.do("HELLO", "3")
	check("LATENCY", "HISTOGRAM", "set", "config")
	// Every command: Redis lists them in its dict's order.
	s, r := p.vals("LATENCY", "HISTOGRAM")
	ss, rs := strings.Split(histogramShape(t, s), ";"), strings.Split(histogramShape(t, r), ";")
	// testutil.StartRedis waited for redis-server with a PING.
	rs = slices.DeleteFunc(rs, func(e string) bool { return strings.HasPrefix(e, "ping ") })
	slices.Sort(ss)
	slices.Sort(rs)
	if !slices.Equal(ss, rs) {
		t.Errorf("LATENCY HISTOGRAM:\nshoal %q\nredis %q", ss, rs)
	}
}

// TestLatencyMonitorMatchesRedis makes one slow command on each server (a
// write waiting 30 ms for its commit on Shoal, DEBUG SLEEP on Redis) with
// latency-monitor-threshold 10 and compares LATENCY LATEST, HISTORY, GRAPH
// and DOCTOR, times and latencies aside.
func TestLatencyMonitorMatchesRedis(t *testing.T) {
	r := testutil.StartRedis(t, "--enable-debug-command", "yes")
	_, addr := introServer(t, slowGroup{newFakeGroup(t), 30 * time.Millisecond}, nil)
	p := &pair{t: t, shoal: dialRaw(t, addr), redis: dialRaw(t, r.Addr)}
	p.same("CONFIG", "SET", "latency-monitor-threshold", "10")
	p.same("CONFIG", "SET", "slowlog-log-slower-than", "-1") // the doctor then advises enabling it
	if got := p.shoal.do("SET", "a", "b"); got != "+OK\r\n" {
		t.Fatalf("SET = %q", got)
	}
	if got := p.redis.do("DEBUG", "SLEEP", "0.03"); got != "+OK\r\n" {
		t.Fatalf("DEBUG SLEEP = %q", got)
	}
	// A fast command below the threshold is not an event.
	p.same("PING")
	digits := regexp.MustCompile(`[0-9]+`)
	norm := func(s string) string { return digits.ReplaceAllString(s, "N") }
	for _, args := range [][]string{{"LATENCY", "LATEST"}, {"LATENCY", "HISTORY", "command"}} {
		s, r := p.do(args...)
		if norm(s) != norm(r) {
			t.Errorf("%q:\nshoal %q\nredis %q", args, s, r)
		}
	}
	s, _ := p.vals("LATENCY", "LATEST")
	if e := s.Elems(); len(e) != 1 || e[0].Elems()[0].Str != "command" || e[0].Elems()[2].Int < 30 ||
		e[0].Elems()[2].Int != e[0].Elems()[3].Int || time.Since(time.Unix(e[0].Elems()[1].Int, 0)) > time.Minute {
		t.Errorf("LATENCY LATEST = %s, want one command event of at least 30 ms, now", s)
	}
	for _, args := range [][]string{{"LATENCY", "GRAPH", "command"}, {"LATENCY", "DOCTOR"}} {
		s, r := p.do(args...)
		// The huge-pages advice depends on each process's memory.
		s, r = dropTHPAdvice(s), dropTHPAdvice(r)
		if norm(s) != norm(r) {
			t.Errorf("%q:\nshoal %q\nredis %q", args, s, r)
		}
	}
	p.same("LATENCY", "RESET", "COMMAND")
	p.same("LATENCY", "LATEST")
}

// dropTHPAdvice removes LATENCY DOCTOR's transparent-huge-pages advice
// and renumbers the length of the bulk string.
func dropTHPAdvice(s string) string {
	i := strings.Index(s, "- I detected a non zero amount of anonymous huge pages")
	if i < 0 {
		return s
	}
	j := strings.Index(s[i:], "\n")
	return s[:i] + s[i+j+1:]
}

// TestSparkline renders Redis's LATENCY GRAPH for a known series (checked
// by hand against sparkline.c: 4 rows of "_o#", '|' below the top, labels
// one row under).
func TestSparkline(t *testing.T) {
	var ts latencySeries
	for i, ms := range []int64{10, 20, 40} {
		ts.samples[i] = latencySample{unix: 1000 + int64(i)*30, latency: ms}
	}
	ts.idx, ts.max = 3, 40
	got := string(latencyGraph("command", &ts, 1070))
	want := "command - high 40 ms, low 10 ms (all time high 40 ms)\n" + strings.Repeat("-", 80) + "\n" +
		"  #\n" +
		"  |\n" +
		" o|\n" +
		"_||\n" +
		"   \n" +
		"141\n" + // 70 s ago is "1m", then "40s", "10s"
		"m00\n" +
		" ss\n"
	if got != want {
		t.Errorf("graph:\n%s\nwant:\n%s", got, want)
	}
}
