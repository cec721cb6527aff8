package server

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/internal/topology"
	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// clusterTestRouter is a cluster-mode Router over a fixed topology. local,
// when set, is this node's replica of the group at index localGI.
type clusterTestRouter struct {
	topo    *Topology
	local   Group
	localGI int
}

func (r *clusterTestRouter) ClusterEnabled() bool { return true }

func (r *clusterTestRouter) Route(slot int) (Group, bool, string, bool) {
	gi := int(r.topo.Map.Slots[slot])
	if gi < 0 {
		return nil, false, "", false
	}
	if r.local != nil && gi == r.localGI {
		return r.local, true, "", true
	}
	if n := r.topo.Map.Node(r.topo.leaderOf(gi)); n != nil {
		return nil, false, n.RESPAddr, true
	}
	return nil, false, "", true
}

func (r *clusterTestRouter) LocalGroups() []Group { return r.HostedGroups() }

func (r *clusterTestRouter) HostedGroups() []Group {
	if r.local == nil {
		return nil
	}
	return []Group{r.local}
}

func (r *clusterTestRouter) Topology() *Topology { return r.topo }
func (r *clusterTestRouter) Admin() Admin        { return nil }
func (r *clusterTestRouter) Incoming(int) Group  { return nil }

// Node ids of the test cluster, in id order.
var (
	idA = strings.Repeat("a", 40)
	idB = strings.Repeat("b", 40)
	idC = strings.Repeat("c", 40)
)

// testTopology lays out 3 nodes (RESP ports 7000-7002, cluster ports
// 17000-17002) and 3 groups of 2 replicas: g0 = [A B] slots 0-5460, g1 =
// [B C] 5461-10921, g2 = [C A] 10922-16383. Leaders are the preferred ones
// and self is A.
func testTopology(t *testing.T) *Topology {
	t.Helper()
	var nodes []topology.Node
	for i, id := range []string{idA, idB, idC} {
		p := strconv.Itoa(7000 + i)
		nodes = append(nodes, topology.Node{ID: id, RESPAddr: "127.0.0.1:" + p,
			ClusterAddr: "127.0.0.1:1" + p, GossipAddr: "127.0.0.1:2" + p})
	}
	m, err := placement.InitialMap(nodes, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	leaders := make([]string, len(m.Groups))
	for i, g := range m.Groups {
		leaders[i] = g.Members[0]
	}
	return &Topology{Map: m, Self: idA, Leaders: leaders,
		Alive: map[string]bool{idA: true, idB: true, idC: true}}
}

// clusterCtx returns a command.Ctx for a local command on a connection of a server
// routed by r (nil: standalone), with the clock at now.
func clusterCtx(t *testing.T, r Router, proto resp.Proto, now int64) *command.Ctx {
	t.Helper()
	s, err := New(DefaultConfig(), r)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{srv: s, id: 1, proto: proto, authed: true}
	return &command.Ctx{Proto: proto, Now: now, Conn: c, Rng: command.NewRand()}
}

// RESP builders for the expected replies.

func rArr(n int) string     { return "*" + strconv.Itoa(n) + "\r\n" }
func rInt(n int) string     { return ":" + strconv.Itoa(n) + "\r\n" }
func rBulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

func rMap(p resp.Proto, n int) string {
	if p == resp.RESP3 {
		return "%" + strconv.Itoa(n) + "\r\n"
	}
	return rArr(2 * n)
}

func rVerbatim(p resp.Proto, s string) string {
	if p == resp.RESP3 {
		return "=" + strconv.Itoa(len(s)+4) + "\r\ntxt:" + s + "\r\n"
	}
	return rBulk(s)
}

// slotsNode is a CLUSTER SLOTS node entry of the test cluster.
func slotsNode(p resp.Proto, id string, port int) string {
	return rArr(4) + rBulk("127.0.0.1") + rInt(port) + rBulk(id) + rMap(p, 0)
}

// shardNode is a CLUSTER SHARDS node map of the test cluster.
func shardNode(p resp.Proto, id string, port int, role string, health string) string {
	return rMap(p, 7) + rBulk("id") + rBulk(id) + rBulk("port") + rInt(port) +
		rBulk("ip") + rBulk("127.0.0.1") + rBulk("endpoint") + rBulk("127.0.0.1") +
		rBulk("role") + rBulk(role) + rBulk("replication-offset") + rInt(0) +
		rBulk("health") + rBulk(health)
}

func shard2(p resp.Proto, start, end int, nodes ...string) string {
	return rMap(p, 2) + rBulk("slots") + rArr(2) + rInt(start) + rInt(end) +
		rBulk("nodes") + rArr(len(nodes)) + strings.Join(nodes, "")
}

func clusterInfoText(state string, assigned, ok, fail, known, size, epoch int) string {
	lines := []string{
		"cluster_state:" + state,
		"cluster_slots_assigned:" + strconv.Itoa(assigned),
		"cluster_slots_ok:" + strconv.Itoa(ok),
		"cluster_slots_pfail:0",
		"cluster_slots_fail:" + strconv.Itoa(fail),
		"cluster_known_nodes:" + strconv.Itoa(known),
		"cluster_size:" + strconv.Itoa(size),
		"cluster_current_epoch:" + strconv.Itoa(epoch),
		"cluster_my_epoch:" + strconv.Itoa(epoch),
		"cluster_stats_messages_sent:0",
		"cluster_stats_messages_received:0",
		"total_cluster_links_buffer_limit_exceeded:0",
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

func TestClusterStandalone(t *testing.T) {
	for _, r := range []Router{nil, SingleRouter{}} {
		x := clusterCtx(t, r, resp.RESP2, 1)
		for _, args := range [][]string{
			{"CLUSTER", "INFO"}, {"CLUSTER", "KEYSLOT", "foo"}, {"CLUSTER", "COUNTKEYSINSLOT", "1"},
			{"CLUSTER", "GETKEYSINSLOT", "1", "1"}, {"CLUSTER", "MYID"}, {"CLUSTER", "MYSHARDID"},
			{"CLUSTER", "SLOTS"}, {"CLUSTER", "SHARDS"}, {"CLUSTER", "NODES"}, {"CLUSTER", "HELP"},
			{"CLUSTER", "LINKS"}, {"CLUSTER", "ADDSLOTS", "1"}, {"cluster", "replicas", idA},
			{"CLUSTER", "COUNTKEYSINSLOT", "abc"},
		} {
			if got, want := runLocal(t, x, args...), "-"+command.ErrClusterDisabled+"\r\n"; got != want {
				t.Errorf("standalone %q = %q, want %q", args, got, want)
			}
		}
		runCases(t, x, []lineCase{
			{[]string{"CLUSTER", "KEYSLOT"}, "-ERR wrong number of arguments for 'cluster|keyslot' command\r\n"},
			{[]string{"CLUSTER", "INFO", "x"}, "-ERR wrong number of arguments for 'cluster|info' command\r\n"},
		})
	}
	if c := command.Lookup([]byte("cluster")); c.Sub([]byte("foo")) != nil || c.Run != nil ||
		command.UnknownSubcommand(c.Name, []byte("FOO")) != "ERR unknown subcommand 'FOO'. Try CLUSTER HELP." {
		t.Error("CLUSTER FOO is not an unknown subcommand")
	}
}

func TestClusterSimpleReplies(t *testing.T) {
	topo := testTopology(t)
	x := clusterCtx(t, &clusterTestRouter{topo: topo}, resp.RESP2, 1)
	help := runLocal(t, x, "CLUSTER", "HELP")
	runCases(t, x, []lineCase{
		{[]string{"CLUSTER", "KEYSLOT", "foo"}, ":12182\r\n"},
		{[]string{"cluster", "keyslot", "{user1}.a"}, rInt(shard.Slot("user1"))},
		{[]string{"CLUSTER", "KEYSLOT", ""}, ":0\r\n"},
		{[]string{"CLUSTER", "MYID"}, rBulk(idA)},
		{[]string{"CLUSTER", "MYSHARDID"}, rBulk(shardID("g0"))},
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "16384"}, "-ERR Invalid slot\r\n"},
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "-1"}, "-ERR Invalid slot\r\n"},
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "abc"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "12182"}, ":0\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "12182", "10"}, "*0\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "12182", "-1"}, "-ERR Invalid slot or number of keys\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "16384", "1"}, "-ERR Invalid slot or number of keys\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "abc", "1"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "1", "abc"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"CLUSTER", "COUNT-FAILURE-REPORTS", idB}, ":0\r\n"},
		{[]string{"CLUSTER", "COUNT-FAILURE-REPORTS", "abc"}, "-ERR Unknown node abc\r\n"},
		{[]string{"CLUSTER", "REPLICAS", "abc"}, "-ERR Unknown node abc\r\n"},
		{[]string{"CLUSTER", "REPLICAS", idA}, "*0\r\n"},
		{[]string{"CLUSTER", "LINKS"}, "*0\r\n"},
		{[]string{"CLUSTER", "SAVECONFIG"}, "+OK\r\n"},
		{[]string{"CLUSTER", "ADDSLOTS", "1"}, "-" + errClusterManaged("ADDSLOTS") + "\r\n"},
		{[]string{"CLUSTER", "SET-CONFIG-EPOCH", "1"}, "-" + errClusterManaged("SET-CONFIG-EPOCH") + "\r\n"},
	})
	if !strings.HasPrefix(help, "*56\r\n+CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+ADDSLOTS") ||
		!strings.HasSuffix(help, "+HELP\r\n+    Prints this help.\r\n") {
		t.Errorf("CLUSTER HELP = %q", help)
	}
	// Every shard id is 40 hex characters and differs per group.
	if a, b := shardID("g0"), shardID("g1"); len(a) != 40 || a == b || strings.Trim(a, "0123456789abcdef") != "" {
		t.Errorf("shard ids %q %q", a, b)
	}
	// A node that leads nothing reports the first group it is a member of.
	topo.Leaders = []string{idB, idB, idC}
	if got := runLocal(t, x, "CLUSTER", "MYSHARDID"); got != rBulk(shardID("g0")) {
		t.Errorf("MYSHARDID of a follower = %q", got)
	}
	topo.Leaders = []string{idB, idB, idA}
	if got := runLocal(t, x, "CLUSTER", "MYSHARDID"); got != rBulk(shardID("g2")) {
		t.Errorf("MYSHARDID of g2's leader = %q", got)
	}
}

func TestClusterSlots(t *testing.T) {
	for _, p := range []resp.Proto{resp.RESP2, resp.RESP3} {
		topo := testTopology(t)
		x := clusterCtx(t, &clusterTestRouter{topo: topo}, p, 1)
		// Every node leads a group: each is a master only, never also
		// listed as a replica of another range (one role per node, as in
		// Redis Cluster).
		want := rArr(3) +
			rArr(3) + rInt(0) + rInt(5460) + slotsNode(p, idA, 7000) +
			rArr(3) + rInt(5461) + rInt(10921) + slotsNode(p, idB, 7001) +
			rArr(3) + rInt(10922) + rInt(16383) + slotsNode(p, idC, 7002)
		if got := runLocal(t, x, "CLUSTER", "SLOTS"); got != want {
			t.Errorf("RESP%d healthy SLOTS =\n%q\nwant\n%q", p, got, want)
		}

		// A leads nothing: it is the replica of the groups it belongs to
		// whose leader leads that group only (g2); C, a master, is not
		// listed under g1. B leads two groups, so A is not listed under
		// g0: when A takes g0 back, redis-py would otherwise swap the
		// roles of A and B and drop B, still g1's master, from its
		// primaries (see clusterSlotsCommand).
		topo.Leaders = []string{idB, idB, idC}
		want = rArr(3) +
			rArr(3) + rInt(0) + rInt(5460) + slotsNode(p, idB, 7001) +
			rArr(3) + rInt(5461) + rInt(10921) + slotsNode(p, idB, 7001) +
			rArr(4) + rInt(10922) + rInt(16383) + slotsNode(p, idC, 7002) + slotsNode(p, idA, 7000)
		if got := runLocal(t, x, "CLUSTER", "SLOTS"); got != want {
			t.Errorf("RESP%d SLOTS with A a replica =\n%q\nwant\n%q", p, got, want)
		}

		// B leads g0 alone and A leads nothing: A is g0's replica
		// (READONLY clients read from it); C leads g1 and g2, whose
		// ranges list no replica.
		topo.Leaders = []string{idB, idC, idC}
		want = rArr(3) +
			rArr(4) + rInt(0) + rInt(5460) + slotsNode(p, idB, 7001) + slotsNode(p, idA, 7000) +
			rArr(3) + rInt(5461) + rInt(10921) + slotsNode(p, idC, 7002) +
			rArr(3) + rInt(10922) + rInt(16383) + slotsNode(p, idC, 7002)
		if got := runLocal(t, x, "CLUSTER", "SLOTS"); got != want {
			t.Errorf("RESP%d SLOTS with B leading g0 alone =\n%q\nwant\n%q", p, got, want)
		}

		// B is down, leads nothing, and C took over g0 and g1: C leads
		// every group, so no range lists a replica (and B, failed,
		// would not be listed anyway).
		topo.Leaders = []string{idC, idC, idC}
		topo.Alive[idB] = false
		want = rArr(3) +
			rArr(3) + rInt(0) + rInt(5460) + slotsNode(p, idC, 7002) +
			rArr(3) + rInt(5461) + rInt(10921) + slotsNode(p, idC, 7002) +
			rArr(3) + rInt(10922) + rInt(16383) + slotsNode(p, idC, 7002)
		if got := runLocal(t, x, "CLUSTER", "SLOTS"); got != want {
			t.Errorf("RESP%d SLOTS with B down =\n%q\nwant\n%q", p, got, want)
		}

		// g2 has no known leader: its slots are listed under its first
		// live member (C), as Redis lists a failing master's; with C down
		// too, under A.
		topo.Leaders = []string{idA, idB, ""}
		topo.Alive[idB] = true
		want = rArr(3) +
			rArr(3) + rInt(0) + rInt(5460) + slotsNode(p, idA, 7000) +
			rArr(3) + rInt(5461) + rInt(10921) + slotsNode(p, idB, 7001) +
			rArr(3) + rInt(10922) + rInt(16383) + slotsNode(p, idC, 7002)
		if got := runLocal(t, x, "CLUSTER", "SLOTS"); got != want {
			t.Errorf("RESP%d SLOTS without g2 leader =\n%q\nwant\n%q", p, got, want)
		}
		topo.Alive[idC] = false
		want = rArr(3) +
			rArr(3) + rInt(0) + rInt(5460) + slotsNode(p, idA, 7000) +
			rArr(3) + rInt(5461) + rInt(10921) + slotsNode(p, idB, 7001) +
			rArr(3) + rInt(10922) + rInt(16383) + slotsNode(p, idA, 7000)
		if got := runLocal(t, x, "CLUSTER", "SLOTS"); got != want {
			t.Errorf("RESP%d SLOTS without g2 leader, C down =\n%q\nwant\n%q", p, got, want)
		}
		// (A is this node, which never counts as down, so g2 always has a
		// live member here.)
	}
}

func TestClusterNodes(t *testing.T) {
	const now = 1700000000123
	for _, p := range []resp.Proto{resp.RESP2, resp.RESP3} {
		topo := testTopology(t)
		x := clusterCtx(t, &clusterTestRouter{topo: topo}, p, now)
		want := idA + " 127.0.0.1:7000@17000 myself,master - 0 1700000000123 1 connected 0-5460\n" +
			idB + " 127.0.0.1:7001@17001 master - 0 1700000000123 1 connected 5461-10921\n" +
			idC + " 127.0.0.1:7002@17002 master - 0 1700000000123 1 connected 10922-16383\n"
		if got := runLocal(t, x, "CLUSTER", "NODES"); got != rVerbatim(p, want) {
			t.Errorf("RESP%d NODES =\n%q\nwant\n%q", p, got, rVerbatim(p, want))
		}

		// B down, C leads g1 and g2 (adjacent ranges merge), B a failed
		// replica of A (its first group is g0).
		topo.Leaders = []string{idA, idC, idC}
		topo.Alive[idB] = false
		topo.Map.Epoch = 7
		want = idA + " 127.0.0.1:7000@17000 myself,master - 0 1700000000123 7 connected 0-5460\n" +
			idB + " 127.0.0.1:7001@17001 slave,fail " + idA + " 0 0 7 disconnected\n" +
			idC + " 127.0.0.1:7002@17002 master - 0 1700000000123 7 connected 5461-16383\n"
		if got := runLocal(t, x, "CLUSTER", "NODES"); got != rVerbatim(p, want) {
			t.Errorf("RESP%d NODES with B down =\n%q\nwant\n%q", p, got, rVerbatim(p, want))
		}
		replica := idB + " 127.0.0.1:7001@17001 slave,fail " + idA + " 0 0 7 disconnected"
		if got := runLocal(t, x, "CLUSTER", "REPLICAS", idA); got != rArr(1)+rBulk(replica) {
			t.Errorf("RESP%d REPLICAS A = %q", p, got)
		}
		if got := runLocal(t, x, "CLUSTER", "SLAVES", idB); got != "-ERR The specified node is not a master\r\n" {
			t.Errorf("RESP%d SLAVES B = %q", p, got)
		}

		// A leads nothing: myself,slave of B; C leads g2 alone; one slot of
		// g0 alone and a single-slot range.
		topo.Leaders = []string{idB, idB, idC}
		topo.Alive[idB] = true
		topo.Map.Slots[100] = 2
		want = idA + " 127.0.0.1:7000@17000 myself,slave " + idB + " 0 1700000000123 7 connected\n" +
			idB + " 127.0.0.1:7001@17001 master - 0 1700000000123 7 connected 0-99 101-10921\n" +
			idC + " 127.0.0.1:7002@17002 master - 0 1700000000123 7 connected 100 10922-16383\n"
		if got := runLocal(t, x, "CLUSTER", "NODES"); got != rVerbatim(p, want) {
			t.Errorf("RESP%d NODES with A a replica =\n%q\nwant\n%q", p, got, rVerbatim(p, want))
		}
	}
}

func TestClusterShards(t *testing.T) {
	for _, p := range []resp.Proto{resp.RESP2, resp.RESP3} {
		topo := testTopology(t)
		x := clusterCtx(t, &clusterTestRouter{topo: topo}, p, 1)
		// A node leading a group is that shard's master and no other
		// shard's replica.
		want := rArr(3) +
			shard2(p, 0, 5460, shardNode(p, idA, 7000, "master", "online")) +
			shard2(p, 5461, 10921, shardNode(p, idB, 7001, "master", "online")) +
			shard2(p, 10922, 16383, shardNode(p, idC, 7002, "master", "online"))
		if got := runLocal(t, x, "CLUSTER", "SHARDS"); got != want {
			t.Errorf("RESP%d SHARDS =\n%q\nwant\n%q", p, got, want)
		}

		// A leads nothing: a replica in both its shards.
		topo.Leaders = []string{idB, idB, idC}
		want = rArr(3) +
			shard2(p, 0, 5460, shardNode(p, idB, 7001, "master", "online"), shardNode(p, idA, 7000, "replica", "online")) +
			shard2(p, 5461, 10921, shardNode(p, idB, 7001, "master", "online")) +
			shard2(p, 10922, 16383, shardNode(p, idC, 7002, "master", "online"), shardNode(p, idA, 7000, "replica", "online"))
		if got := runLocal(t, x, "CLUSTER", "SHARDS"); got != want {
			t.Errorf("RESP%d SHARDS with A a replica =\n%q\nwant\n%q", p, got, want)
		}

		// B down and g1 led by C; g2 without a leader lists all its
		// members.
		topo.Leaders = []string{idA, idC, ""}
		topo.Alive[idB] = false
		want = rArr(3) +
			shard2(p, 0, 5460, shardNode(p, idA, 7000, "master", "online"), shardNode(p, idB, 7001, "replica", "fail")) +
			shard2(p, 5461, 10921, shardNode(p, idC, 7002, "master", "online"), shardNode(p, idB, 7001, "replica", "fail")) +
			shard2(p, 10922, 16383, shardNode(p, idC, 7002, "replica", "online"), shardNode(p, idA, 7000, "replica", "online"))
		if got := runLocal(t, x, "CLUSTER", "SHARDS"); got != want {
			t.Errorf("RESP%d SHARDS with B down =\n%q\nwant\n%q", p, got, want)
		}
	}
}

func TestClusterInfo(t *testing.T) {
	for _, p := range []resp.Proto{resp.RESP2, resp.RESP3} {
		topo := testTopology(t)
		x := clusterCtx(t, &clusterTestRouter{topo: topo}, p, 1)
		if got, want := runLocal(t, x, "CLUSTER", "INFO"), rVerbatim(p, clusterInfoText("ok", 16384, 16384, 0, 3, 3, 1)); got != want {
			t.Errorf("RESP%d INFO =\n%q\nwant\n%q", p, got, want)
		}
		topo.Leaders[2] = ""
		topo.Map.Slots[0] = -1
		topo.Map.Epoch = 12
		if got, want := runLocal(t, x, "CLUSTER", "INFO"), rVerbatim(p, clusterInfoText("fail", 16383, 10921, 5462, 3, 3, 12)); got != want {
			t.Errorf("RESP%d INFO with g2 down =\n%q\nwant\n%q", p, got, want)
		}
		// No map yet: an empty cluster.
		topo.Map = nil
		if got, want := runLocal(t, x, "CLUSTER", "INFO"), rVerbatim(p, clusterInfoText("fail", 0, 0, 0, 0, 0, 0)); got != want {
			t.Errorf("RESP%d INFO without a map =\n%q\nwant\n%q", p, got, want)
		}
		// CLUSTER SLOTS refuses rather than report no slots: the node is
		// not a member without slots, it does not know them yet.
		if got := runLocal(t, x, "CLUSTER", "SLOTS"); got != "-CLUSTERDOWN The cluster is down\r\n" {
			t.Errorf("RESP%d SLOTS without a map = %q", p, got)
		}
	}
}

// Replies captured from redis-server 7.0.15: a cluster of masters 30001
// (slots 0-5460, replica 30004), 30002 (5461-10922) and 30003
// (10923-16383), and a single-node cluster on 30005 that owns every slot.
const (
	redisID1 = "57da13c66b22c232004bebe55c8f36f7cca50c15"
	redisID2 = "54393811b84892fbe2661cd2bb2c151d3da9baf8"
	redisID3 = "a45ecc8d62fd1f017179342d0ddda6b4ae1f215e"
	redisID4 = "67ffe7cf0038f2213f97aa52a71baeed5599f47e"

	redisSlots2 = "*3\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:30001\r\n$40\r\n57da13c66b22c232004bebe55c8f36f7cca50c15\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:30004\r\n$40\r\n67ffe7cf0038f2213f97aa52a71baeed5599f47e\r\n*0\r\n*3\r\n:5461\r\n:10922\r\n*4\r\n$9\r\n127.0.0.1\r\n:30002\r\n$40\r\n54393811b84892fbe2661cd2bb2c151d3da9baf8\r\n*0\r\n*3\r\n:10923\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:30003\r\n$40\r\na45ecc8d62fd1f017179342d0ddda6b4ae1f215e\r\n*0\r\n"
	redisSlots3 = "*3\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:30001\r\n$40\r\n57da13c66b22c232004bebe55c8f36f7cca50c15\r\n%0\r\n*4\r\n$9\r\n127.0.0.1\r\n:30004\r\n$40\r\n67ffe7cf0038f2213f97aa52a71baeed5599f47e\r\n%0\r\n*3\r\n:5461\r\n:10922\r\n*4\r\n$9\r\n127.0.0.1\r\n:30002\r\n$40\r\n54393811b84892fbe2661cd2bb2c151d3da9baf8\r\n%0\r\n*3\r\n:10923\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:30003\r\n$40\r\na45ecc8d62fd1f017179342d0ddda6b4ae1f215e\r\n%0\r\n"
	// The shards of 30002 and 30003, as 30001 lists them (30002's shard
	// was last in Redis's dict order).
	redisShard2 = "*4\r\n$5\r\nslots\r\n*2\r\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*1\r\n*14\r\n$2\r\nid\r\n$40\r\n54393811b84892fbe2661cd2bb2c151d3da9baf8\r\n$4\r\nport\r\n:30002\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
	redisShard3 = "*4\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n*14\r\n$2\r\nid\r\n$40\r\na45ecc8d62fd1f017179342d0ddda6b4ae1f215e\r\n$4\r\nport\r\n:30003\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$4\r\nfail\r\n"
	// CLUSTER INFO of the single-node cluster (epoch 0).
	redisInfo2 = "$312\r\ncluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\ncluster_size:1\r\ncluster_current_epoch:0\r\ncluster_my_epoch:0\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n\r\n"
	redisInfo3 = "=316\r\ntxt:cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\ncluster_size:1\r\ncluster_current_epoch:0\r\ncluster_my_epoch:0\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n\r\n"
	// CLUSTER NODES of 30004 (the replica), lines sorted by id; Redis's
	// ping/pong times and per-node config epochs replaced by Shoal's.
	redisNodes4 = "54393811b84892fbe2661cd2bb2c151d3da9baf8 127.0.0.1:30002@40002 master - 0 1795708820101 3 connected 5461-10922\n" +
		"57da13c66b22c232004bebe55c8f36f7cca50c15 127.0.0.1:30001@40001 master - 0 1795708820101 3 connected 0-5460\n" +
		"67ffe7cf0038f2213f97aa52a71baeed5599f47e 127.0.0.1:30004@40004 myself,slave 57da13c66b22c232004bebe55c8f36f7cca50c15 0 1795708820101 3 connected\n" +
		"a45ecc8d62fd1f017179342d0ddda6b4ae1f215e 127.0.0.1:30003@40003 master - 0 1795708820101 3 connected 10923-16383\n"
)

// redisTopology mirrors the captured Redis cluster: g0 = [30001 30004],
// g1 = [30002], g2 = [30003], as seen from self.
func redisTopology(t *testing.T, self string) *Topology {
	t.Helper()
	m := &topology.Map{Epoch: 3}
	for _, n := range []struct {
		id   string
		port int
	}{{redisID1, 30001}, {redisID2, 30002}, {redisID3, 30003}, {redisID4, 30004}} {
		p := strconv.Itoa(n.port)
		m.Nodes = append(m.Nodes, topology.Node{ID: n.id, RESPAddr: "127.0.0.1:" + p,
			ClusterAddr: "127.0.0.1:" + strconv.Itoa(n.port+10000)})
	}
	sort.Slice(m.Nodes, func(i, j int) bool { return m.Nodes[i].ID < m.Nodes[j].ID })
	m.Groups = []topology.Group{{ID: "g0", Members: []string{redisID1, redisID4}},
		{ID: "g1", Members: []string{redisID2}}, {ID: "g2", Members: []string{redisID3}}}
	for s := range m.Slots {
		m.Slots[s] = int16(min(s/5461, 2))
		if s == 10922 {
			m.Slots[s] = 1
		}
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return &Topology{Map: m, Self: self, Leaders: []string{redisID1, redisID2, redisID3},
		Alive: map[string]bool{redisID1: true, redisID2: true, redisID3: true, redisID4: true}}
}

// TestClusterMatchesRedisCapture compares replies with redis-server's for
// the same topology.
func TestClusterMatchesRedisCapture(t *testing.T) {
	topo := redisTopology(t, redisID1)
	for p, want := range map[resp.Proto]string{resp.RESP2: redisSlots2, resp.RESP3: redisSlots3} {
		x := clusterCtx(t, &clusterTestRouter{topo: topo}, p, 1)
		if got := runLocal(t, x, "CLUSTER", "SLOTS"); got != want {
			t.Errorf("RESP%d SLOTS =\n%q\nRedis\n%q", p, got, want)
		}
	}
	x := clusterCtx(t, &clusterTestRouter{topo: topo}, resp.RESP2, 1)
	topo.Alive[redisID3] = false
	if got := runLocal(t, x, "CLUSTER", "SHARDS"); !strings.HasSuffix(got, redisShard2+redisShard3) {
		t.Errorf("SHARDS =\n%q\nwant suffix (Redis)\n%q", got, redisShard2+redisShard3)
	}

	one := redisTopology(t, redisID1)
	one.Map.Nodes = one.Map.Nodes[1:2]
	one.Map.Groups = []topology.Group{{ID: "g0", Members: []string{redisID1}}}
	one.Map.Slots = [topology.NumSlots]int16{}
	one.Map.Epoch = 0
	one.Leaders = one.Leaders[:1]
	for p, want := range map[resp.Proto]string{resp.RESP2: redisInfo2, resp.RESP3: redisInfo3} {
		x := clusterCtx(t, &clusterTestRouter{topo: one}, p, 1)
		if got := runLocal(t, x, "CLUSTER", "INFO"); got != want {
			t.Errorf("RESP%d INFO =\n%q\nRedis\n%q", p, got, want)
		}
	}

	x = clusterCtx(t, &clusterTestRouter{topo: redisTopology(t, redisID4)}, resp.RESP2, 1795708820101)
	if got := runLocal(t, x, "CLUSTER", "NODES"); got != rBulk(redisNodes4) {
		t.Errorf("NODES =\n%q\nRedis (normalized)\n%q", got, rBulk(redisNodes4))
	}
}

// TestClusterKeysInSlot checks COUNTKEYSINSLOT and GETKEYSINSLOT on a node
// hosting group g1 (slots 5461-10921) of the test cluster.
func TestClusterKeysInSlot(t *testing.T) {
	cfg := raftfsm.DefaultConfig()
	cfg.GroupID, cfg.NodeID = "g1", raft.ServerID(idA)
	addr, trans := raft.NewInmemTransport(raft.ServerAddress(idA))
	cfg.Transport = trans
	cfg.Bootstrap = []raft.Server{{Suffrage: raft.Voter, ID: cfg.NodeID, Address: addr}}
	g, err := raftfsm.NewGroup(cfg, shard.New(), command.Executor())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	})
	const now = 1000
	st := g.Store()
	st.Lock()
	// Keys with a hash tag of a slot of g1.
	var tag string
	for i := 0; ; i++ {
		tag = "t" + strconv.Itoa(i)
		if s := shard.Slot(tag); s >= 5461 && s <= 10921 {
			break
		}
	}
	slot := strconv.Itoa(shard.Slot(tag))
	for i, exp := range []int64{0, 0, now + 10, now - 1, now} {
		k := "{" + tag + "}" + strconv.Itoa(i)
		st.Set([]byte(k), []byte("v"), exp, now-100)
	}
	st.Unlock()

	topo := testTopology(t)
	x := clusterCtx(t, &clusterTestRouter{topo: topo, local: g, localGI: 1}, resp.RESP2, now)
	runCases(t, x, []lineCase{
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", slot}, ":3\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", slot, "0"}, "*0\r\n"},
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "5461"}, ":0\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "5461", "5"}, "*0\r\n"},
		// Slots of groups this node does not host: 0 and empty.
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "0"}, ":0\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "16383", "5"}, "*0\r\n"},
	})
	got := runLocal(t, x, "CLUSTER", "GETKEYSINSLOT", slot, "10")
	var keys []string
	for _, l := range strings.Split(got, "\r\n") {
		if strings.HasPrefix(l, "{") {
			keys = append(keys, l)
		}
	}
	sort.Strings(keys)
	want := []string{"{" + tag + "}0", "{" + tag + "}1", "{" + tag + "}2"}
	if !strings.HasPrefix(got, "*3\r\n") || strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("GETKEYSINSLOT %s 10 = %q, want the keys %v", slot, got, want)
	}
	if got := runLocal(t, x, "CLUSTER", "GETKEYSINSLOT", slot, "2"); !strings.HasPrefix(got, "*2\r\n") {
		t.Errorf("GETKEYSINSLOT %s 2 = %q", slot, got)
	}
}
