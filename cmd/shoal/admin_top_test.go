package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/server"
)

// redisInfo is `INFO clients memory stats keyspace commandstats
// latencystats` of redis-server 7.0.15 (lines of each section cut), with
// its CRLFs and the blank lines between sections.
const redisInfo = "# Clients\r\nconnected_clients:1\r\ncluster_connections:0\r\nmaxclients:10000\r\n\r\n" +
	"# Memory\r\nused_memory:1014368\r\nused_memory_human:990.59K\r\n\r\n" +
	"# Stats\r\ntotal_connections_received:7\r\ntotal_commands_processed:6\r\ninstantaneous_ops_per_sec:3\r\n\r\n" +
	"# Commandstats\r\n" +
	"cmdstat_get:calls=1,usec=77,usec_per_call=77.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_set:calls=3,usec=28,usec_per_call=9.33,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_client|list:calls=1,usec=21,usec_per_call=21.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_select:calls=1,usec=3,usec_per_call=3.00,rejected_calls=0,failed_calls=0\r\n\r\n" +
	"# Latencystats\r\n" +
	"latency_percentiles_usec_get:p50=77.311,p99=77.311,p99.9=77.311\r\n" +
	"latency_percentiles_usec_set:p50=9.023,p99=11.007,p99.9=11.007\r\n" +
	"latency_percentiles_usec_client|list:p50=21.119,p99=21.119,p99.9=21.119\r\n" +
	"latency_percentiles_usec_select:p50=3.007,p99=3.007,p99.9=3.007\r\n\r\n" +
	"# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\ndb2:keys=1,expires=0,avg_ttl=0\r\n"

// shoalRaftInfo is INFO raft of a Shoal node hosting two groups.
const shoalRaftInfo = "# Raft\r\nraft_groups:2\r\nraft_state:leader\r\nraft_ready:1\r\nraft_leader:aaaa\r\n" +
	"raft_term:2\r\nraft_last_index:12\r\nraft_applied_index:12\r\nraft_commit_index:12\r\nraft_num_peers:2\r\n" +
	"proposals:9\r\nproposed_commands:9\r\n" +
	"group_g0:state=leader,term=2,last_index=12,applied_index=12\r\n" +
	"group_g1:state=follower,term=3,last_index=40,applied_index=37\r\n"

func TestParseInfoSections(t *testing.T) {
	info := parseInfoSections(redisInfo + "\r\n" + shoalRaftInfo)
	for _, tc := range []struct{ sec, key, want string }{
		{"clients", "connected_clients", "1"},
		{"memory", "used_memory", "1014368"},
		{"stats", "total_commands_processed", "6"},
		{"keyspace", "db2", "keys=1,expires=0,avg_ttl=0"},
		{"latencystats", "latency_percentiles_usec_client|list", "p50=21.119,p99=21.119,p99.9=21.119"},
		{"raft", "group_g1", "state=follower,term=3,last_index=40,applied_index=37"},
	} {
		if got, ok := info[tc.sec][tc.key]; !ok || got != tc.want {
			t.Errorf("[%s][%s] = %q, %v; want %q", tc.sec, tc.key, got, ok, tc.want)
		}
	}
	if len(info["memory"]) != 2 || len(info) != 7 {
		t.Errorf("sections: %v", info)
	}
	if got := keyspaceKeys(info["keyspace"]); got != 3 {
		t.Errorf("keyspaceKeys = %d, want 3 (db0 and db2)", got)
	}
	if got := keyspaceKeys(nil); got != 0 {
		t.Errorf("keyspaceKeys(no section) = %d", got)
	}
	if p := infoIntPtr(info, "memory", "used_memory_human"); p != nil {
		t.Errorf("a non-integer read as %d", *p)
	}
	want := map[string]raftReplica{
		"g0": {State: "leader", Term: 2, LastIndex: 12, AppliedIndex: 12},
		"g1": {State: "follower", Term: 3, LastIndex: 40, AppliedIndex: 37},
	}
	if got := parseRaftGroups(info["raft"]); !reflect.DeepEqual(got, want) {
		t.Errorf("parseRaftGroups = %+v, want %+v", got, want)
	}
}

func TestParseLatencyStats(t *testing.T) {
	// Redis 7's lines (above), with latency-tracking-info-percentiles
	// "50 99 99.9 100" (p100), one without p99, and malformed ones.
	sec := parseInfoSections(redisInfo)["latencystats"]
	for k, v := range parseInfoSections("# Latencystats\r\nlatency_percentiles_usec_del:p50=6.015,p99=6.015,p99.9=6.015,p100=6.015\r\n" +
		"latency_percentiles_usec_incr:p50=1.003,p90=2.007\r\n" +
		"latency_percentiles_usec_bad:p50=x,p99=\r\n" +
		"latency_percentiles_usec_:p99=1\r\nother_line:p99=4\r\n")["latencystats"] {
		sec[k] = v
	}
	got := parseLatencyStats(sec)
	want := map[string]map[string]float64{
		"get":         {"p50": 77.311, "p99": 77.311, "p99.9": 77.311},
		"set":         {"p50": 9.023, "p99": 11.007, "p99.9": 11.007},
		"client|list": {"p50": 21.119, "p99": 21.119, "p99.9": 21.119},
		"select":      {"p50": 3.007, "p99": 3.007, "p99.9": 3.007},
		"del":         {"p50": 6.015, "p99": 6.015, "p99.9": 6.015, "p100": 6.015},
		"incr":        {"p50": 1.003, "p90": 2.007},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseLatencyStats =\n%v\nwant\n%v", got, want)
	}
	calls := parseCommandCalls(parseInfoSections(redisInfo)["commandstats"])
	if w := map[string]int64{"get": 1, "set": 3, "client|list": 1, "select": 1}; !reflect.DeepEqual(calls, w) {
		t.Errorf("parseCommandCalls = %v, want %v", calls, w)
	}
}

func TestNodeP99(t *testing.T) {
	lat := map[string]map[string]float64{
		"get":           {"p50": 10, "p99": 50},
		"set":           {"p50": 20, "p99": 90},
		"keys":          {"p99": 9000},
		"info":          {"p99": 400},
		"cluster|nodes": {"p99": 300},
		"shoal|groups":  {"p99": 700},
		"incr":          {"p50": 5},
	}
	for _, tc := range []struct {
		name  string
		calls map[string]int64
		usec  float64
		cmd   string
		ok    bool
	}{
		// keys is 1 call in 1101: under 1%, left out; info and the other
		// admin commands are top's own.
		{"weighted", map[string]int64{"get": 1000, "set": 100, "keys": 1, "info": 5000}, 90, "set", true},
		{"rare command at 1%", map[string]int64{"get": 98, "set": 1, "keys": 1}, 9000, "keys", true},
		{"no commandstats", nil, 9000, "keys", true},
		{"only own commands", map[string]int64{"info": 10}, 9000, "keys", true},
	} {
		usec, cmd, ok := nodeP99(lat, tc.calls)
		if usec != tc.usec || cmd != tc.cmd || ok != tc.ok {
			t.Errorf("%s: nodeP99 = %v %q %v, want %v %q %v", tc.name, usec, cmd, ok, tc.usec, tc.cmd, tc.ok)
		}
	}
	if _, _, ok := nodeP99(map[string]map[string]float64{"incr": {"p50": 1}, "info": {"p99": 3}}, nil); ok {
		t.Error("nodeP99 found a p99 where only top's INFO and a p50 are")
	}
}

func ptr[T any](v T) *T { return &v }

func TestFillNodeOps(t *testing.T) {
	s := newTopSampler(adminOpts{})
	t0 := time.Unix(1000, 0)
	info := func(total int) map[string]map[string]string {
		return parseInfoSections(fmt.Sprintf("# Stats\r\ntotal_commands_processed:%d\r\n", total))
	}
	var n topNode
	s.fillNode(&n, nodeInfo{info: info(100), sent: 10, at: t0})
	if n.OpsPerSec != nil || n.Keys == nil || *n.Keys != 0 || n.UsedMemory != nil || n.P99Usec != nil {
		t.Fatalf("first sample: %+v", n)
	}
	// 2 s later: 700 commands, 6 of them top's (INFO and the cluster-wide queries).
	n = topNode{}
	s.fillNode(&n, nodeInfo{info: info(800), sent: 16, at: t0.Add(2 * time.Second)})
	if n.OpsPerSec == nil || *n.OpsPerSec != 347 {
		t.Fatalf("second sample: ops/s %v, want 347", n.OpsPerSec)
	}
	// A restarted node (counter went back): no rate, then a rate again.
	n = topNode{}
	s.fillNode(&n, nodeInfo{info: info(5), sent: 17, at: t0.Add(3 * time.Second)})
	if n.OpsPerSec != nil {
		t.Errorf("after a counter reset: ops/s %v", *n.OpsPerSec)
	}
	n = topNode{}
	s.fillNode(&n, nodeInfo{info: info(6), sent: 18, at: t0.Add(4 * time.Second)})
	if n.OpsPerSec == nil || *n.OpsPerSec != 0 {
		t.Errorf("only top's own INFO: ops/s %v, want 0", n.OpsPerSec)
	}
	n = topNode{}
	s.fillNode(&n, nodeInfo{err: fmt.Errorf("refused")})
	if n.Error != "refused" || n.Keys != nil || len(s.prev) != 0 {
		t.Errorf("failed node: %+v, prev %v", n, s.prev)
	}
	n = topNode{}
	s.fillNode(&n, nodeInfo{info: parseInfoSections(redisInfo + "\r\n" + shoalRaftInfo), at: t0})
	if n.P99Usec == nil || *n.P99Usec != 77.311 || n.P99Command != "get" || *n.UsedMemory != 1014368 ||
		*n.Keys != 3 || *n.Clients != 1 || len(n.Latency) != 4 || n.Raft["g1"].AppliedIndex != 37 {
		t.Errorf("from Redis's INFO: %+v", n)
	}
}

func TestBuildGroups(t *testing.T) {
	nodes := []topNode{
		{ID: tidA, Addr: "127.0.0.1:7000", Raft: map[string]raftReplica{
			"g0": {State: "leader", AppliedIndex: 50}, "g1": {State: "follower", AppliedIndex: 9}}},
		{ID: tidB, Addr: "127.0.0.1:7001", Raft: map[string]raftReplica{
			"g0": {State: "follower", AppliedIndex: 47}, "g1": {State: "candidate", AppliedIndex: 10}}},
		{ID: tidC, Addr: "127.0.0.1:7002", Raft: map[string]raftReplica{"g1": {State: "follower", AppliedIndex: 12}}},
	}
	groups := buildGroups([]groupInfo{
		{ID: "g0", Leader: tidA, Members: []string{tidA, tidB, tidC}, Slots: []slotRange{{0, 8191}}},
		{ID: "g1", Leader: tidB, Members: []string{tidB, tidC, tidA}, Slots: []slotRange{{8192, 16383}}},
		{ID: "g2", Members: []string{tidC}, Slots: []slotRange{}},
	}, nodes)
	want := []topGroup{
		{ID: "g0", Slots: []slotRange{{0, 8191}}, Leader: tidA, LeaderAddr: "127.0.0.1:7000", Followers: []topFollower{
			{ID: tidB, Addr: "127.0.0.1:7001", Lag: ptr[int64](3)}, {ID: tidC, Addr: "127.0.0.1:7002"}}},
		// A follower ahead of the leader's report (queried later) has lag
		// 0; the leader SHOAL GROUPS names is a candidate by its INFO.
		{ID: "g1", Slots: []slotRange{{8192, 16383}}, Leader: tidB, LeaderAddr: "127.0.0.1:7001", SteppedDown: true, Followers: []topFollower{
			{ID: tidC, Addr: "127.0.0.1:7002", Lag: ptr[int64](0)}, {ID: tidA, Addr: "127.0.0.1:7000", Lag: ptr[int64](1)}}},
		{ID: "g2", Slots: []slotRange{}, Followers: []topFollower{{ID: tidC, Addr: "127.0.0.1:7002"}}},
	}
	if got, w := must(json.Marshal(groups)), must(json.Marshal(want)); string(got) != string(w) {
		t.Errorf("groups:\n%s\nwant\n%s", got, w)
	}
	for i, lf := range [][2]int{{1, 1}, {1, 1}, {0, 3}} {
		if nodes[i].Leads != lf[0] || nodes[i].Follows != lf[1] {
			t.Errorf("node %d leads %d follows %d, want %v", i, nodes[i].Leads, nodes[i].Follows, lf)
		}
	}
}

// topFixture is a snapshot of a 3-node Shoal cluster with one node down
// and one migration running.
func topFixture() topSnapshot {
	return topSnapshot{
		Time: time.Date(2026, 12, 2, 5, 30, 1, 0, time.UTC), Addr: "127.0.0.1:7000", ClusterState: "ok",
		Nodes: []topNode{
			{ID: tidA, Addr: "127.0.0.1:7000", State: "alive", Role: "master", Leads: 2, Follows: 0,
				OpsPerSec: ptr(1234.4), P99Usec: ptr(85.2), P99Command: "get", UsedMemory: ptr[int64](2202009),
				Keys: ptr[int64](3402), Clients: ptr[int64](5)},
			{ID: tidB, Addr: "127.0.0.1:7001", State: "draining", Role: "master", Leads: 1, Follows: 1,
				OpsPerSec: ptr(0.5), UsedMemory: ptr[int64](512), Keys: ptr[int64](0), Clients: ptr[int64](1)},
			{ID: tidC, Addr: "127.0.0.1:7002", State: "failed", Role: "slave", Follows: 2, Error: "cannot connect"},
		},
		Groups: []topGroup{
			{ID: "g0", Slots: []slotRange{{0, 5460}}, Leader: tidA, LeaderAddr: "127.0.0.1:7000",
				Followers: []topFollower{{ID: tidB, Lag: ptr[int64](0)}, {ID: tidC}}},
			{ID: "g1", Slots: []slotRange{{5461, 16383}}, Followers: []topFollower{{ID: tidB}, {ID: tidC}}},
		},
		Jobs: []jobStatus{
			{ID: "j1", Slots: []slotRange{{0, 99}}, Source: "g0", Target: "g1", Phase: "copying", Keys: 1200,
				Bytes: 3400000, KeysPerSec: 600, ETAMs: 4000},
			{ID: "j0", Slots: []slotRange{{100, 199}}, Source: "g0", Target: "g1", Phase: "done", Ended: &time.Time{}},
		},
		Balance: &balanceStatus{Requested: true, Draining: []string{tidB}, ActiveJobs: 1,
			Plan: []string{"migrate 100 slots (0-99) from group g0 to group g1", "remove node bbbbbbbb"}},
		Errors: []string{"node bccccccc (127.0.0.1:7002): cannot connect"},
	}
}

func TestRenderTop(t *testing.T) {
	got := strings.Join(topLines(topFixture(), 0, ""), "\n") + "\n"
	want := `Shoal cluster top  state ok, 3 nodes, 2 groups  via 127.0.0.1:7000  2026-12-02 05:30:01 UTC

NODE      ADDRESS         STATE     LEADS/FOLLOWS  OPS/S   P99   MEM  KEYS  CLIENTS
aaaaaaaa  127.0.0.1:7000  alive     2/0             1234  85us  2.1M  3402        5
bbbbbbbb  127.0.0.1:7001  draining  1/1              0.5     -  512B     0        1
bccccccc  127.0.0.1:7002  failed    0/2                -     -     -     -        -
total                                               1235        2.1M  3402        6

GROUP  SLOTS               LEADER                   FOLLOWERS (LAG IN ENTRIES)
g0     0-5460 (5461)       aaaaaaaa 127.0.0.1:7000  bbbbbbbb 0, bccccccc ?
g1     5461-16383 (10923)  -                        bbbbbbbb ?, bccccccc ?

JOB  SLOTS       SOURCE → TARGET  PHASE    KEYS   MB  KEYS/S  ETA
j1   0-99 (100)  g0 → g1          copying  1200  3.4     600   4s
1 ended recently: ` + "`shoal cluster jobs`" + ` lists them

BALANCER  rebalancing: 2 steps left, 1 active job; next: migrate 100 slots (0-99) from group g0 to group g1; draining bbbbbbbb

ERRORS
  node bccccccc (127.0.0.1:7002): cannot connect
`
	if got != want {
		t.Errorf("plain snapshot:\n%s\nwant\n%s", got, want)
	}

	snap := topFixture()
	snap.Groups[0].SteppedDown = true
	if f := rowFields(strings.Join(topLines(snap, 0, ""), "\n"), "g0"); strings.Join(f, " ") !=
		"g0 0-5460 (5461) aaaaaaaa 127.0.0.1:7000 (stepped down) bbbbbbbb 0, bccccccc ?" {
		t.Errorf("group whose leader stepped down: %q", f)
	}

	// Redis Cluster: roles instead of group counts, no group sections.
	snap = topFixture()
	snap.Groups, snap.Balance, snap.Jobs = nil, nil, []jobStatus{}
	snap.Nodes[2].Role = "replica"
	lines := topLines(snap, 0, "")
	text := strings.Join(lines, "\n")
	if !strings.HasPrefix(lines[0], "Shoal cluster top  state ok, 3 nodes  via") || !strings.Contains(text, "  ROLE  ") ||
		!strings.Contains(text, "  replica  ") || strings.Contains(text, "GROUP") || strings.Contains(text, "JOB") ||
		strings.Contains(text, "BALANCER") {
		t.Errorf("without groups:\n%s", text)
	}
	snap.Jobs = []jobStatus{}
	snap.Groups = []topGroup{}
	if text := strings.Join(topLines(snap, 0, ""), "\n"); !strings.Contains(text, "\nGROUPS  none\n\nJOBS  none running") {
		t.Errorf("no groups, no jobs:\n%s", text)
	}
}

func TestRenderTopWidth(t *testing.T) {
	snap := topFixture()
	full := topLines(snap, 0, "")
	for _, width := range []int{100, 72, 50, 30} {
		lines := topLines(snap, width, "every 1s")
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > width {
				t.Errorf("width %d: %d runes: %q", width, n, l)
			}
		}
		if len(lines) != len(full) {
			t.Errorf("width %d: %d lines, want %d", width, len(lines), len(full))
		}
	}
	// At 72 columns the node table drops CLIENTS, then LEADS/FOLLOWS; the
	// header and long lines end in an ellipsis.
	lines := topLines(snap, 72, "every 1s")
	want := []string{
		"NODE      ADDRESS         STATE     OPS/S   P99   MEM  KEYS",
		"aaaaaaaa  127.0.0.1:7000  alive      1234  85us  2.1M  3402",
		"total                                1235        2.1M  3402",
	}
	text := strings.Join(lines, "\n")
	for _, w := range want {
		if !strings.Contains(text, w+"\n") {
			t.Errorf("width 72: no line %q in\n%s", w, text)
		}
	}
	if !strings.HasSuffix(lines[0], "…") || !strings.HasPrefix(lines[0], "Shoal cluster top  state ok") {
		t.Errorf("width 72 header: %q", lines[0])
	}
	// At 30 columns only the columns that cannot go are left, cut short.
	lines = topLines(snap, 30, "")
	if lines[2] != "NODE      ADDRESS         STA…" || lines[3] != "aaaaaaaa  127.0.0.1:7000  ali…" {
		t.Errorf("width 30:\n%s", strings.Join(lines, "\n"))
	}
	if got := truncLine("héllo wörld", 6); got != "héllo…" {
		t.Errorf("truncLine = %q", got)
	}
}

func TestTopFrame(t *testing.T) {
	snap := topFixture()
	frame := string(topFrame(snap, 80, 0, time.Second))
	if !strings.HasPrefix(frame, escHome+"Shoal cluster top  state ok") || !strings.HasSuffix(frame, escClearLine+escClearBelow) {
		t.Errorf("frame: %q", frame)
	}
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(frame, escHome), escClearBelow), "\n")
	if len(lines) != len(topLines(snap, 80, "")) {
		t.Errorf("frame has %d lines, want %d", len(lines), len(topLines(snap, 80, "")))
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, escClearLine) || utf8.RuneCountInString(strings.TrimSuffix(l, escClearLine)) > 80 {
			t.Errorf("frame line %q", l)
		}
	}
	// 10 rows: 9 lines and a note of the rest.
	frame = string(topFrame(snap, 80, 10, time.Second))
	lines = strings.Split(frame, "\n")
	total := len(topLines(snap, 80, ""))
	if len(lines) != 10 || !strings.HasPrefix(lines[9], fmt.Sprintf("… %d more lines: enlarge the terminal", total-9)) {
		t.Errorf("10-row frame:\n%s", frame)
	}
}

func TestTopArgs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--interval", "0s"}, "--interval 0s: give a positive duration"},
		{[]string{"extra"}, "usage: shoal cluster top"},
		{[]string{"--addr", closedAddr(t), "--once", "--interval", "10ms", "--timeout", "1s"}, "cannot connect to"},
	} {
		_, err := runCLI(ctx, append([]string{"cluster", "top"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.err)
		}
	}
}

// rowFields returns the fields of the first line of out whose first or
// second field is key.
func rowFields(out, key string) []string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && (f[0] == key || f[1] == key) {
			return f
		}
	}
	return nil
}

// TestTopAgainstShoal runs top on a real 3-node cluster holding 100 keys.
func TestTopAgainstShoal(t *testing.T) {
	addrs := startShoalCluster(t, 3)
	ctx := context.Background()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { c.Close() })
	for i := range 100 {
		if err := c.Set(ctx, fmt.Sprintf("top:%d", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	view, err := queryGroups(ctx, adminOpts{timeout: time.Second}, addrs[0])
	if err != nil {
		t.Fatal(err)
	}

	// The checks are retried: under load (-race, a busy machine) a group may
	// be between leaders for a moment, and keys are counted on leaders.
	testutil.Eventually(t, 30*time.Second, "top --once shows the cluster", func() error {
		out, err := runCLI(ctx, "cluster", "top", "--addr", addrs[0], "--once", "--interval", "200ms")
		if err != nil {
			return fmt.Errorf("top --once: %v\n%s", err, out)
		}
		if err := checkTopText(out, addrs, view); err != nil {
			return fmt.Errorf("%w in\n%s", err, out)
		}
		t.Logf("top --once:\n%s", out)
		return nil
	})
	testutil.Eventually(t, 30*time.Second, "top --once --json shows the cluster", func() error {
		out, err := runCLI(ctx, "cluster", "top", "--addr", addrs[1], "--once", "--json", "--interval", "200ms")
		var snap topSnapshot
		if err != nil || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &snap) != nil {
			return fmt.Errorf("top --once --json: %v\n%s", err, out)
		}
		if err := checkTopJSON(snap, addrs[1], view); err != nil {
			return fmt.Errorf("%w in\n%s", err, out)
		}
		return nil
	})

	// Live, not on a terminal: a snapshot every interval, a blank line
	// apart, until the context ends (not an error).
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out, err := runCLI(lctx, "cluster", "top", "--addr", addrs[2], "--interval", "300ms")
	if n := strings.Count(out, "\n\nShoal cluster top  "); err != nil || n < 2 || !strings.HasPrefix(out, "Shoal cluster top  ") {
		t.Errorf("live: %v, %d snapshots after the first\n%s", err, n, out)
	}

	// The seed stops answering: the next refresh asks a node it listed.
	s := newTopSampler(adminOpts{addr: addrs[0], timeout: 2 * time.Second})
	t.Cleanup(s.close)
	if _, err := s.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	s.o.addr = closedAddr(t)
	snap, err := s.refresh(ctx)
	if err != nil || snap.Addr == s.o.addr || len(snap.Nodes) != 3 || len(snap.Errors) != 1 ||
		!strings.Contains(snap.Errors[0], "cannot connect to "+s.o.addr) {
		t.Errorf("after the seed went: %v, %+v", err, snap)
	}
}

// checkTopText checks the plain snapshot of a settled 3-node cluster
// holding 100 keys, whose groups view lists.
func checkTopText(out string, addrs []string, view groupsView) error {
	if !strings.HasPrefix(out, "Shoal cluster top  state ok, 3 nodes, 3 groups  via "+addrs[0]) {
		return fmt.Errorf("header %q", strings.SplitN(out, "\n", 2)[0])
	}
	for _, a := range addrs {
		// NODE ADDRESS STATE LEADS/FOLLOWS OPS/S P99 MEM KEYS CLIENTS
		f := rowFields(out, a)
		// P99 comes from INFO latencystats (the keys' SETs on each node).
		if len(f) != 9 || f[2] != "alive" || f[3] != "1/2" || f[5] == "-" || f[8] == "-" {
			return fmt.Errorf("node %s: row %q", a, f)
		}
	}
	if f := rowFields(out, "total"); len(f) != 5 || f[3] != "100" {
		return fmt.Errorf("total row %q: want 100 keys", f)
	}
	for _, g := range view.groups {
		// GROUP SLOTS (N) LEADER-ID LEADER-ADDR FOLLOWER LAG, FOLLOWER LAG
		f := rowFields(out, g.ID)
		want := []string{g.ID, slotsText(clusterNode{Slots: g.Slots}), shortID(g.Leader), g.LeaderAddr}
		if len(f) != 9 || strings.Join(f[:5], " ") != strings.Join(want, " ") {
			return fmt.Errorf("group %s: row %q, want it to start with %q", g.ID, f, want)
		}
	}
	if !strings.Contains(out, "\nJOBS  none running") || !strings.Contains(out, "\nBALANCER  idle") || strings.Contains(out, "ERRORS") {
		return errors.New("jobs, balancer or errors")
	}
	return nil
}

// checkTopJSON is checkTopText for --json, asked of addr.
func checkTopJSON(snap topSnapshot, addr string, view groupsView) error {
	var keys int64
	for _, n := range snap.Nodes {
		if n.State != "alive" || n.Leads != 1 || n.Follows != 2 || n.Error != "" || n.OpsPerSec == nil ||
			n.Keys == nil || n.UsedMemory == nil || *n.UsedMemory <= 0 || n.Clients == nil || *n.Clients < 1 ||
			len(n.Raft) != 3 || n.P99Usec == nil {
			return fmt.Errorf("node %+v", n)
		}
		keys += *n.Keys
	}
	if len(snap.Nodes) != 3 || keys != 100 || snap.Addr != addr || snap.ClusterState != "ok" ||
		snap.Balance == nil || snap.Balance.Requested || len(snap.Errors) != 0 {
		return fmt.Errorf("snapshot: %d nodes, %d keys", len(snap.Nodes), keys)
	}
	if len(snap.Groups) != 3 {
		return fmt.Errorf("groups: %+v", snap.Groups)
	}
	for i, g := range snap.Groups {
		if g.ID != view.groups[i].ID || g.Leader != view.groups[i].Leader || g.LeaderAddr == "" || g.SteppedDown ||
			len(g.Followers) != 2 {
			return fmt.Errorf("group %+v, want as %+v", g, view.groups[i])
		}
		for _, f := range g.Followers {
			if f.Lag == nil || f.Addr == "" || f.ID == g.Leader {
				return fmt.Errorf("group %s follower %+v", g.ID, f)
			}
		}
	}
	return nil
}

// TestTopAgainstRedisCluster runs top on Redis Cluster, whose INFO has the
// latencystats and commandstats Shoal's lacks on this branch.
func TestTopAgainstRedisCluster(t *testing.T) {
	nodes := testutil.StartRedisCluster(t, 3, 0)
	ctx := context.Background()
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { c.Close() })
	// Enough SETs that the connection's HELLO and CLIENT SETINFO stay
	// under 1% of the calls of every node.
	for i := range 1000 {
		if err := c.Set(ctx, fmt.Sprintf("top:%d", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runCLI(ctx, "cluster", "top", "--addr", addrs[0], "--once", "--json", "--interval", "100ms")
	var snap topSnapshot
	if err != nil || json.Unmarshal([]byte(out), &snap) != nil {
		t.Fatalf("top --once --json: %v\n%s", err, out)
	}
	var keys int64
	for _, n := range snap.Nodes {
		if n.Role != "master" || n.State != "alive" || n.Keys == nil || n.P99Usec == nil || *n.P99Usec <= 0 ||
			n.P99Command != "set" || n.Latency["set"]["p99.9"] <= 0 || n.OpsPerSec == nil {
			t.Errorf("node %+v", n)
			continue
		}
		keys += *n.Keys
	}
	if len(snap.Nodes) != 3 || keys != 1000 || snap.Groups != nil || snap.Balance != nil ||
		len(snap.Errors) != 1 || !strings.Contains(snap.Errors[0], "has no SHOAL commands") {
		t.Errorf("snapshot: %s", out)
	}
	out, err = runCLI(ctx, "cluster", "top", "--addr", addrs[0], "--once", "--interval", "100ms")
	if err != nil || !strings.Contains(out, "  ROLE  ") || !strings.Contains(out, "  master  ") ||
		!strings.Contains(out, "us  ") {
		t.Errorf("top --once: %v\n%s", err, out)
	}
	t.Logf("top --once:\n%s", out)
}

// fakeRESP serves RESP on a local port: reply gives the raw reply to each
// command. It returns the address; it stops when the test ends.
func fakeRESP(t *testing.T, reply func(args []string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, nc := range conns {
			nc.Close()
		}
	})
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			go func() {
				r := bufio.NewReader(nc)
				for {
					v, err := respclient.Read(r)
					if err != nil {
						return
					}
					var args []string
					for _, a := range v.Array {
						s, _ := a.Text()
						args = append(args, s)
					}
					if _, err := io.WriteString(nc, reply(args)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestQueryInfoOldRedis: a node that refuses INFO with several sections
// (Redis 6) is asked for INFO all, on this and later refreshes; the
// commands top sends are counted, AUTH included.
func TestQueryInfoOldRedis(t *testing.T) {
	var mu sync.Mutex
	var got []string
	addr := fakeRESP(t, func(args []string) string {
		mu.Lock()
		got = append(got, strings.Join(args, " "))
		mu.Unlock()
		switch {
		case args[0] == "AUTH":
			return "+OK\r\n"
		case len(args) > 2:
			return "-ERR syntax error\r\n"
		}
		text := "# Stats\r\ntotal_commands_processed:42\r\n"
		return fmt.Sprintf("$%d\r\n%s\r\n", len(text), text)
	})
	s := newTopSampler(adminOpts{password: "pw", timeout: 2 * time.Second})
	t.Cleanup(s.close)
	tc := s.conn(addr)
	for i := range 2 {
		ni := s.queryInfo(context.Background(), tc, addr)
		if ni.err != nil || ni.info["stats"]["total_commands_processed"] != "42" {
			t.Fatalf("refresh %d: %+v", i, ni)
		}
		// Before the first INFO top sent AUTH and the refused INFO; before
		// the second, also the first INFO all.
		if want := int64(2 + i); ni.sent != want {
			t.Errorf("refresh %d: sent %d before the INFO, want %d", i, ni.sent, want)
		}
	}
	want := []string{"AUTH pw", "INFO clients memory stats raft keyspace commandstats latencystats", "INFO all", "INFO all"}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
}

// TestTopJobsAndBalancer runs top on Shoal's front end with a fake Admin
// in the middle of a rebalance: a job copying, node b... draining. (The
// map's other nodes are at ports 7001 and 7002, whatever answers there:
// only the cluster-wide part is checked.)
func TestTopJobsAndBalancer(t *testing.T) {
	job := jobStates(server.JobStatus{})[1]
	a := &fakeAdmin{states: []server.JobStatus{job}, balances: []server.BalanceStatus{{Requested: true,
		Draining: []string{tidB}, ActiveJobs: 1, Plan: []string{"migrate 100 slots (0-99) from group g0 to group g1"}}}}
	addr := startFakeAdmin(t, a)
	ctx := context.Background()
	out, err := runCLI(ctx, "cluster", "top", "--addr", addr, "--once", "--interval", "10ms", "--timeout", "1s")
	if err != nil {
		t.Fatalf("top --once: %v\n%s", err, out)
	}
	t.Logf("top --once:\n%s", out)
	if f := rowFields(out, "j1"); strings.Join(f, " ") != "j1 0-99 (100) g0 → g1 copying 1000 2.5 2000 2s" {
		t.Errorf("job row %q", f)
	}
	if f := rowFields(out, shortID(tidB)); len(f) < 3 || f[2] != "draining" {
		t.Errorf("node b row %q", f)
	}
	if f := rowFields(out, shortID(tidA)); len(f) != 9 || f[1] != addr || f[2] != "alive" || f[3] != "1/1" {
		t.Errorf("node a row %q", f)
	}
	// Whatever happened at 7001, its error names the address once.
	if !strings.Contains(out, "\n  node bbbbbbbb (127.0.0.1:7001): ") || strings.Contains(out, "(127.0.0.1:7001): 127.0.0.1:7001") {
		t.Errorf("error line of node b")
	}
	if !strings.Contains(out, "\nBALANCER  rebalancing: 1 step left, 1 active job; next: migrate 100 slots (0-99) "+
		"from group g0 to group g1; draining bbbbbbbb\n") {
		t.Errorf("no balancer line")
	}
}
