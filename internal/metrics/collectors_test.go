package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/server"
)

// check compares what c collects of the named families with want (text
// exposition format) and lints c's metrics.
func check(t *testing.T, c prometheus.Collector, want string, names ...string) {
	t.Helper()
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

type fakeServer struct{ st server.InfoStats }

func (f *fakeServer) InfoStats() server.InfoStats { return f.st }

// fakeServerLimits also counts blocked clients and output-buffer
// disconnects.
type fakeServerLimits struct {
	fakeServer
	blocked, obuf int64
}

func (f *fakeServerLimits) BlockedClients() int64          { return f.blocked }
func (f *fakeServerLimits) OutputBufferDisconnects() int64 { return f.obuf }

func TestServerCollector(t *testing.T) {
	st := server.InfoStats{
		KeyspaceHits: 7, KeyspaceMisses: 3, Keys: 5, Expires: 2, ExpiredKeys: 11, EvictedKeys: 13,
		UsedMemory: 4096, DatasetMemory: 1024, RSS: 8192, MaxMemory: 1 << 20,
		ConnectedClients: 4, ConnectionsReceived: 9, CommandsProcessed: 100,
		NetInputBytes: 1000, NetOutputBytes: 2000, ErrorReplies: 6, RejectedOOM: 1,
		Proposals: 20, ProposedCommands: 40, RouteHolds: 3, RouteHoldTimeouts: 1,
	}
	src := &fakeServer{st: st}
	check(t, NewServerCollector(src), `
# HELP shoal_keyspace_hits_total Reads that found their key (INFO keyspace_hits).
# TYPE shoal_keyspace_hits_total counter
shoal_keyspace_hits_total 7
# HELP shoal_keyspace_misses_total Reads that did not find their key (INFO keyspace_misses).
# TYPE shoal_keyspace_misses_total counter
shoal_keyspace_misses_total 3
# HELP shoal_keys Keys in the groups this node leads (INFO keyspace, as DBSIZE).
# TYPE shoal_keys gauge
shoal_keys 5
# HELP shoal_keys_with_ttl Keys with a time to live in the groups this node leads (INFO keyspace expires).
# TYPE shoal_keys_with_ttl gauge
shoal_keys_with_ttl 2
# HELP shoal_expired_keys_total Keys deleted because their time to live ran out, in the groups hosted here (INFO expired_keys).
# TYPE shoal_expired_keys_total counter
shoal_expired_keys_total 11
# HELP shoal_evicted_keys_total Keys evicted for maxmemory, in the groups hosted here (INFO evicted_keys).
# TYPE shoal_evicted_keys_total counter
shoal_evicted_keys_total 13
# HELP shoal_memory_used_bytes Accounted memory of the hosted groups' data plus the start-up baseline (INFO used_memory).
# TYPE shoal_memory_used_bytes gauge
shoal_memory_used_bytes 4096
# HELP shoal_memory_rss_bytes Resident set size of the process (INFO used_memory_rss).
# TYPE shoal_memory_rss_bytes gauge
shoal_memory_rss_bytes 8192
# HELP shoal_connected_clients Open client connections.
# TYPE shoal_connected_clients gauge
shoal_connected_clients 4
# HELP shoal_commands_processed_total Client commands run (INFO total_commands_processed).
# TYPE shoal_commands_processed_total counter
shoal_commands_processed_total 100
# HELP shoal_net_input_bytes_total Bytes read from clients.
# TYPE shoal_net_input_bytes_total counter
shoal_net_input_bytes_total 1000
# HELP shoal_net_output_bytes_total Bytes written to clients.
# TYPE shoal_net_output_bytes_total counter
shoal_net_output_bytes_total 2000
# HELP shoal_proposed_commands_total Client commands carried by the front end's proposals.
# TYPE shoal_proposed_commands_total counter
shoal_proposed_commands_total 40
# HELP shoal_route_hold_timeouts_total Commands whose wait for a handover or a leader ran out: answered TRYAGAIN or CLUSTERDOWN (INFO route_hold_timeouts).
# TYPE shoal_route_hold_timeouts_total counter
shoal_route_hold_timeouts_total 1
# HELP shoal_route_holds_total Commands that waited for a migration's handover or a group's leader instead of a redirect or error at once (INFO route_holds).
# TYPE shoal_route_holds_total counter
shoal_route_holds_total 3
`, "shoal_keyspace_hits_total", "shoal_keyspace_misses_total", "shoal_keys", "shoal_keys_with_ttl",
		"shoal_expired_keys_total", "shoal_evicted_keys_total", "shoal_memory_used_bytes", "shoal_memory_rss_bytes",
		"shoal_connected_clients", "shoal_commands_processed_total", "shoal_net_input_bytes_total",
		"shoal_net_output_bytes_total", "shoal_proposed_commands_total", "shoal_route_holds_total",
		"shoal_route_hold_timeouts_total", "shoal_blocked_clients",
		"shoal_client_output_buffer_disconnects_total")
	if n := testutil.CollectAndCount(NewServerCollector(src)); n != 21 {
		t.Errorf("%d series without the optional sources, want 21", n)
	}

	// A front end that counts blocked clients and output-buffer
	// disconnects gets those families too.
	lim := &fakeServerLimits{fakeServer: fakeServer{st: st}, blocked: 2, obuf: 5}
	check(t, NewServerCollector(lim), `
# HELP shoal_blocked_clients Clients blocked in a blocking command.
# TYPE shoal_blocked_clients gauge
shoal_blocked_clients 2
# HELP shoal_client_output_buffer_disconnects_total Clients disconnected for exceeding an output-buffer limit.
# TYPE shoal_client_output_buffer_disconnects_total counter
shoal_client_output_buffer_disconnects_total 5
`, "shoal_blocked_clients", "shoal_client_output_buffer_disconnects_total")
}

type fakeGroup struct {
	id string
	st raftfsm.Status
	m  raftfsm.GroupMetrics
}

func (g *fakeGroup) ID() string                    { return g.id }
func (g *fakeGroup) Status() raftfsm.Status        { return g.st }
func (g *fakeGroup) Metrics() raftfsm.GroupMetrics { return g.m }

func TestGroupCollector(t *testing.T) {
	g1 := &fakeGroup{id: "g1", st: raftfsm.Status{State: "leader", Term: 3, LastIndex: 60, CommitIndex: 55, AppliedIndex: 50}}
	// Proposal latencies: 10 µs (bucket 4, <= 16), 20 µs (bucket 5), and
	// one above 2^24 µs (bucket 25: only in +Inf).
	g1.m.ProposalMicros.Buckets[4], g1.m.ProposalMicros.Buckets[5], g1.m.ProposalMicros.Buckets[25] = 1, 1, 1
	g1.m.ProposalMicros.Count, g1.m.ProposalMicros.Sum = 3, 30_000_030
	// Batches of 1, 3 and 3 commands.
	g1.m.BatchCommands.Buckets[0], g1.m.BatchCommands.Buckets[2] = 1, 2
	g1.m.BatchCommands.Count, g1.m.BatchCommands.Sum = 3, 7
	g1.m.ProposalFailures, g1.m.LeaderChanges, g1.m.FastElections = 2, 4, 1
	g1.m.CohortWaits, g1.m.CohortTimeouts = 40, 3
	g1.m.Snapshots, g1.m.SnapshotFailures, g1.m.LastSnapshotBytes = 5, 1, 12345
	g2 := &fakeGroup{id: "g2", st: raftfsm.Status{State: "follower", Term: 7, LastIndex: 9, CommitIndex: 9, AppliedIndex: 9}}
	groups := []GroupSource{g1, g2}
	c := NewGroupCollector(func() []GroupSource { return groups })

	check(t, c, `
# HELP shoal_groups Raft groups this node hosts a replica of.
# TYPE shoal_groups gauge
shoal_groups 2
# HELP shoal_group_raft_state 1 for the replica's Raft state, 0 for the others.
# TYPE shoal_group_raft_state gauge
shoal_group_raft_state{group="g1",state="candidate"} 0
shoal_group_raft_state{group="g1",state="follower"} 0
shoal_group_raft_state{group="g1",state="leader"} 1
shoal_group_raft_state{group="g1",state="shutdown"} 0
shoal_group_raft_state{group="g2",state="candidate"} 0
shoal_group_raft_state{group="g2",state="follower"} 1
shoal_group_raft_state{group="g2",state="leader"} 0
shoal_group_raft_state{group="g2",state="shutdown"} 0
# HELP shoal_group_raft_apply_lag_entries Committed entries not applied yet (commit index minus applied index).
# TYPE shoal_group_raft_apply_lag_entries gauge
shoal_group_raft_apply_lag_entries{group="g1"} 5
shoal_group_raft_apply_lag_entries{group="g2"} 0
# HELP shoal_group_raft_term Current Raft term of the replica.
# TYPE shoal_group_raft_term gauge
shoal_group_raft_term{group="g1"} 3
shoal_group_raft_term{group="g2"} 7
# HELP shoal_group_raft_last_log_index Index of the last entry in the replica's log.
# TYPE shoal_group_raft_last_log_index gauge
shoal_group_raft_last_log_index{group="g1"} 60
shoal_group_raft_last_log_index{group="g2"} 9
# HELP shoal_group_raft_leader_changes_total Times the replica learned of a new leader of its group.
# TYPE shoal_group_raft_leader_changes_total counter
shoal_group_raft_leader_changes_total{group="g1"} 4
shoal_group_raft_leader_changes_total{group="g2"} 0
# HELP shoal_group_fast_elections_total Elections the replica started because its leader fell silent for --raft-suspect-after and a quorum of voters agreed.
# TYPE shoal_group_fast_elections_total counter
shoal_group_fast_elections_total{group="g1"} 1
shoal_group_fast_elections_total{group="g2"} 0
# HELP shoal_group_proposal_failures_total Log entries of client commands that failed (not leader, shut down, indeterminate).
# TYPE shoal_group_proposal_failures_total counter
shoal_group_proposal_failures_total{group="g1"} 2
shoal_group_proposal_failures_total{group="g2"} 0
# HELP shoal_group_cohort_waits_total Times a group leader waited for the proposers of the entry just answered before packing the next, by outcome: all came back (full) or the wait timed out (timeout).
# TYPE shoal_group_cohort_waits_total counter
shoal_group_cohort_waits_total{group="g1",result="full"} 40
shoal_group_cohort_waits_total{group="g1",result="timeout"} 3
shoal_group_cohort_waits_total{group="g2",result="full"} 0
shoal_group_cohort_waits_total{group="g2",result="timeout"} 0
# HELP shoal_group_last_snapshot_size_bytes Size of the last snapshot: bytes written with a data directory, the accounted bytes of its data in memory.
# TYPE shoal_group_last_snapshot_size_bytes gauge
shoal_group_last_snapshot_size_bytes{group="g1"} 12345
shoal_group_last_snapshot_size_bytes{group="g2"} 0
`, "shoal_groups", "shoal_group_raft_state", "shoal_group_raft_apply_lag_entries", "shoal_group_raft_term",
		"shoal_group_raft_last_log_index", "shoal_group_raft_leader_changes_total", "shoal_group_fast_elections_total", "shoal_group_proposal_failures_total",
		"shoal_group_cohort_waits_total", "shoal_group_last_snapshot_size_bytes")

	// Proposal latency in seconds: bounds 2^4..2^24 µs, the first taking
	// the buckets below it, the slow entry only in +Inf.
	lat := collectHistogram(t, c, "shoal_group_proposal_duration_seconds", "g1")
	if len(lat.buckets) != 21 {
		t.Errorf("%d latency buckets, want 21: %v", len(lat.buckets), lat.buckets)
	}
	for le, want := range map[float64]uint64{16e-6: 1, 32e-6: 2, 1024e-6: 2, float64(1<<24) * 1e-6: 2} {
		if n, ok := lat.buckets[le]; !ok || n != want {
			t.Errorf("latency bucket le=%g: %d (present %v), want %d", le, n, ok, want)
		}
	}
	if lat.count != 3 || lat.sum < 30.00002 || lat.sum > 30.00004 {
		t.Errorf("latency count %d sum %g, want 3 and 30.00003", lat.count, lat.sum)
	}
	if empty := collectHistogram(t, c, "shoal_group_proposal_duration_seconds", "g2"); empty.count != 0 || len(empty.buckets) != 21 {
		t.Errorf("g2 latency: count %d, %d buckets", empty.count, len(empty.buckets))
	}

	// The batch-size histogram: cumulative counts at 1, 2, 4, ...
	got := collectHistogram(t, c, "shoal_group_batch_commands", "g1")
	for le, want := range map[float64]uint64{1: 1, 2: 1, 4: 3, 16384: 3} {
		if got.buckets[le] != want {
			t.Errorf("batch buckets: le=%g: %d, want %d (all: %v)", le, got.buckets[le], want, got.buckets)
		}
	}
	if got.count != 3 || got.sum != 7 || len(got.buckets) != 15 {
		t.Errorf("batch histogram: count %d sum %g, %d buckets; want 3 7 15", got.count, got.sum, len(got.buckets))
	}

	// The set of groups is read at each scrape.
	groups = groups[1:]
	if n := testutil.CollectAndCount(c, "shoal_group_raft_term"); n != 1 {
		t.Errorf("%d shoal_group_raft_term series after g1 left, want 1", n)
	}
}

// histogram is one collected histogram series.
type histogram struct {
	buckets map[float64]uint64 // cumulative, by upper bound (without +Inf)
	count   uint64
	sum     float64
}

// collectHistogram returns the series of family name whose group label is
// group, collected from c.
func collectHistogram(t *testing.T, c prometheus.Collector, name, group string) histogram {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() != group {
					continue
				}
				h := histogram{buckets: make(map[float64]uint64), count: m.GetHistogram().GetSampleCount(), sum: m.GetHistogram().GetSampleSum()}
				for _, b := range m.GetHistogram().GetBucket() {
					h.buckets[b.GetUpperBound()] = b.GetCumulativeCount()
				}
				return h
			}
		}
	}
	t.Fatalf("no %s series with label value %q", name, group)
	return histogram{}
}

type fakePlacement struct {
	m       *placement.Map
	leader  bool
	members []placement.Member
}

func (f *fakePlacement) Map() *placement.Map         { return f.m }
func (f *fakePlacement) IsMetaLeader() bool          { return f.leader }
func (f *fakePlacement) Members() []placement.Member { return f.members }

func TestPlacementCollector(t *testing.T) {
	src := &fakePlacement{leader: true, members: []placement.Member{
		{ID: "a", Status: placement.StatusAlive}, {ID: "b", Status: placement.StatusAlive}, {ID: "c", Status: placement.StatusSuspect},
	}}
	c := NewPlacementCollector(src)
	// Before the cluster forms there is no map.
	check(t, c, `
# HELP shoal_placement_map_epoch Epoch of the placement map this node holds.
# TYPE shoal_placement_map_epoch gauge
shoal_placement_map_epoch 0
# HELP shoal_placement_meta_leader 1 when this node leads the meta Raft group, else 0.
# TYPE shoal_placement_meta_leader gauge
shoal_placement_meta_leader 1
# HELP shoal_cluster_members Cluster nodes as this node's gossip (Serf) sees them, by state.
# TYPE shoal_cluster_members gauge
shoal_cluster_members{state="alive"} 2
shoal_cluster_members{state="failed"} 0
shoal_cluster_members{state="left"} 0
shoal_cluster_members{state="suspect"} 1
`, "shoal_placement_map_epoch", "shoal_placement_meta_leader", "shoal_cluster_members")

	src.leader = false
	src.m = &placement.Map{Epoch: 42, Nodes: make([]placement.Node, 3), Groups: make([]placement.Group, 2), Jobs: []placement.Job{
		{ID: "j1", Phase: placement.JobDone, Keys: 100, Bytes: 1000},
		{ID: "j2", Phase: placement.JobAborted, Keys: 7, Bytes: 70},
		{ID: "j3", Phase: placement.JobCopying, Slots: []placement.SlotRange{{Start: 0, End: 9}, {Start: 20, End: 20}}},
	}}
	want := `
# HELP shoal_placement_map_epoch Epoch of the placement map this node holds.
# TYPE shoal_placement_map_epoch gauge
shoal_placement_map_epoch 42
# HELP shoal_placement_map_nodes Nodes in the placement map.
# TYPE shoal_placement_map_nodes gauge
shoal_placement_map_nodes 3
# HELP shoal_placement_map_groups Shard groups in the placement map.
# TYPE shoal_placement_map_groups gauge
shoal_placement_map_groups 2
# HELP shoal_placement_meta_leader 1 when this node leads the meta Raft group, else 0.
# TYPE shoal_placement_meta_leader gauge
shoal_placement_meta_leader 0
# HELP shoal_migration_jobs Slot migration jobs in the map, by phase (the map keeps the active jobs and the most recent finished ones).
# TYPE shoal_migration_jobs gauge
shoal_migration_jobs{phase="aborted"} 1
shoal_migration_jobs{phase="copying"} 1
shoal_migration_jobs{phase="done"} 1
# HELP shoal_migration_active_slots Slots that active migration jobs are moving.
# TYPE shoal_migration_active_slots gauge
shoal_migration_active_slots 11
# HELP shoal_migration_moved_keys_total Keys shipped by the migration jobs that finished (phase done) while this node watched the map.
# TYPE shoal_migration_moved_keys_total counter
shoal_migration_moved_keys_total 100
# HELP shoal_migration_moved_bytes_total Bytes shipped by the migration jobs that finished (phase done) while this node watched the map.
# TYPE shoal_migration_moved_bytes_total counter
shoal_migration_moved_bytes_total 1000
`
	names := []string{"shoal_placement_map_epoch", "shoal_placement_map_nodes", "shoal_placement_map_groups",
		"shoal_placement_meta_leader", "shoal_migration_jobs", "shoal_migration_active_slots",
		"shoal_migration_moved_keys_total", "shoal_migration_moved_bytes_total"}
	check(t, c, want, names...) // check scrapes twice: j1 counts once
	// j3 finishes and j1 leaves the map: the moved totals keep j1 and add
	// j3, once.
	m2 := *src.m
	m2.Epoch = 43
	m2.Jobs = []placement.Job{m2.Jobs[1], {ID: "j3", Phase: placement.JobDone, Keys: 5, Bytes: 50}}
	src.m = &m2
	for range 2 {
		if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP shoal_migration_moved_keys_total Keys shipped by the migration jobs that finished (phase done) while this node watched the map.
# TYPE shoal_migration_moved_keys_total counter
shoal_migration_moved_keys_total 105
# HELP shoal_migration_moved_bytes_total Bytes shipped by the migration jobs that finished (phase done) while this node watched the map.
# TYPE shoal_migration_moved_bytes_total counter
shoal_migration_moved_bytes_total 1050
# HELP shoal_migration_active_slots Slots that active migration jobs are moving.
# TYPE shoal_migration_active_slots gauge
shoal_migration_active_slots 0
`), "shoal_migration_moved_keys_total", "shoal_migration_moved_bytes_total", "shoal_migration_active_slots"); err != nil {
			t.Error(err)
		}
	}
}

// fakeCommands is a CommandSource with fixed statistics.
type fakeCommands struct {
	stats  []CommandStat
	errors map[string]int64
}

func (f *fakeCommands) CommandStats() []CommandStat  { return f.stats }
func (f *fakeCommands) ErrorStats() map[string]int64 { return f.errors }

func TestCommandCollector(t *testing.T) {
	src := &fakeCommands{
		stats: []CommandStat{
			// 4 calls: 1 within 1 µs, 3 within 4 µs; 10 µs in all.
			{Name: "get", Calls: 4, Usec: 10, FailedCalls: 0, RejectedCalls: 1, Buckets: []int64{1, 1, 4}},
			// A bucket read ahead of Calls is clamped to it, and a
			// decreasing one raised to its predecessor.
			{Name: "set", Calls: 2, Usec: 3, FailedCalls: 1, Buckets: []int64{3, 1}},
		},
		errors: map[string]int64{"ERR": 3, "WRONGTYPE": 1},
	}
	check(t, NewCommandCollector(src), `
# HELP shoal_commands_total Calls of each command (INFO commandstats calls).
# TYPE shoal_commands_total counter
shoal_commands_total{command="get"} 4
shoal_commands_total{command="set"} 2
# HELP shoal_command_errors_total Calls of each command that failed while running (INFO commandstats failed_calls).
# TYPE shoal_command_errors_total counter
shoal_command_errors_total{command="get"} 0
shoal_command_errors_total{command="set"} 1
# HELP shoal_command_rejected_total Calls of each command rejected before running (INFO commandstats rejected_calls).
# TYPE shoal_command_rejected_total counter
shoal_command_rejected_total{command="get"} 1
shoal_command_rejected_total{command="set"} 0
# HELP shoal_command_duration_seconds Run time of each command (from INFO commandstats usec and the power-of-two latency buckets).
# TYPE shoal_command_duration_seconds histogram
shoal_command_duration_seconds_bucket{command="get",le="1e-06"} 1
shoal_command_duration_seconds_bucket{command="get",le="2e-06"} 1
shoal_command_duration_seconds_bucket{command="get",le="4e-06"} 4
shoal_command_duration_seconds_bucket{command="get",le="+Inf"} 4
shoal_command_duration_seconds_sum{command="get"} 1e-05
shoal_command_duration_seconds_count{command="get"} 4
shoal_command_duration_seconds_bucket{command="set",le="1e-06"} 2
shoal_command_duration_seconds_bucket{command="set",le="2e-06"} 2
shoal_command_duration_seconds_bucket{command="set",le="+Inf"} 2
shoal_command_duration_seconds_sum{command="set"} 3e-06
shoal_command_duration_seconds_count{command="set"} 2
# HELP shoal_errors_total Error replies by error prefix (INFO errorstats).
# TYPE shoal_errors_total counter
shoal_errors_total{prefix="ERR"} 3
shoal_errors_total{prefix="WRONGTYPE"} 1
`)
	// CommandSourceFuncs adapts two functions.
	funcs := CommandSourceFuncs{Commands: src.CommandStats, Errors: src.ErrorStats}
	if n := testutil.CollectAndCount(NewCommandCollector(funcs)); n != 10 {
		t.Errorf("CommandSourceFuncs: %d series, want 10", n)
	}
}

// frontEndCommandStat has the shape of the front end's server.CommandStat.
type frontEndCommandStat struct {
	Name                                    string
	Calls, Usec, RejectedCalls, FailedCalls int64
	Buckets                                 []int64
}

// TestCommandSourceOf adapts functions over another struct type of the
// same shape, as the node does with the front end's CommandStats.
func TestCommandSourceOf(t *testing.T) {
	stats := func() []frontEndCommandStat {
		return []frontEndCommandStat{{Name: "incr", Calls: 3, Usec: 6, FailedCalls: 1, RejectedCalls: 2, Buckets: []int64{0, 2, 3}}}
	}
	errs := func() map[string]int64 { return map[string]int64{"ERR": 1} }
	check(t, NewCommandCollector(CommandSourceOf(stats, errs)), `
# HELP shoal_command_duration_seconds Run time of each command (from INFO commandstats usec and the power-of-two latency buckets).
# TYPE shoal_command_duration_seconds histogram
shoal_command_duration_seconds_bucket{command="incr",le="1e-06"} 0
shoal_command_duration_seconds_bucket{command="incr",le="2e-06"} 2
shoal_command_duration_seconds_bucket{command="incr",le="4e-06"} 3
shoal_command_duration_seconds_bucket{command="incr",le="+Inf"} 3
shoal_command_duration_seconds_sum{command="incr"} 6e-06
shoal_command_duration_seconds_count{command="incr"} 3
# HELP shoal_command_errors_total Calls of each command that failed while running (INFO commandstats failed_calls).
# TYPE shoal_command_errors_total counter
shoal_command_errors_total{command="incr"} 1
# HELP shoal_command_rejected_total Calls of each command rejected before running (INFO commandstats rejected_calls).
# TYPE shoal_command_rejected_total counter
shoal_command_rejected_total{command="incr"} 2
# HELP shoal_errors_total Error replies by error prefix (INFO errorstats).
# TYPE shoal_errors_total counter
shoal_errors_total{prefix="ERR"} 1
`, "shoal_command_duration_seconds", "shoal_command_errors_total", "shoal_command_rejected_total", "shoal_errors_total")
}
