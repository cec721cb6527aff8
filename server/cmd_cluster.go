package server

import (
	"crypto/sha1"
	"encoding/hex"
	"net"
	"strconv"
	"strings"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/slotranges"
	"github.com/shoalcache/shoal/internal/topology"
	"github.com/shoalcache/shoal/shard"
)

// RESP error texts of the CLUSTER family.
const (
	errInvalidSlot        = "ERR Invalid slot"
	errInvalidSlotOrCount = "ERR Invalid slot or number of keys"
	errNotAMaster         = "ERR The specified node is not a master"
	errMigrateStandalone  = "ERR MIGRATE is not supported by Shoal"
)

// errUnknownNode formats Redis's error for a node id the cluster does not know.
func errUnknownNode(id []byte) string {
	return command.Sanitize(append([]byte("ERR Unknown node "), truncNUL(id)...))
}

// errClusterManaged is the reply to the CLUSTER subcommands that change the
// topology by hand (sub upper case): Shoal's placement service owns the slot
// map. Each names what to use instead, so that redis-cli --cluster reshard,
// rebalance, add-node and del-node, which stop at the first error and print
// it, point at the shoal command.
func errClusterManaged(sub string) string {
	switch sub {
	case "SETSLOT", "ADDSLOTS", "ADDSLOTSRANGE", "DELSLOTS", "DELSLOTSRANGE", "FLUSHSLOTS":
		return errMovesSlots("CLUSTER " + sub)
	case "MEET":
		return "ERR Shoal nodes join through gossip: use 'shoal server --join HOST:GOSSIP-PORT' to add a node, " +
			"then 'shoal cluster rebalance' to give it groups and slots (CLUSTER MEET is not supported)"
	case "FORGET", "RESET":
		return "ERR Shoal's placement service manages the members: use 'shoal cluster remove-node NODE-ID' to " +
			"drain a node and take it out of the cluster (CLUSTER " + sub + " is not supported)"
	case "REPLICATE":
		return "ERR Shoal's placement service chooses each group's replicas: see them with 'shoal cluster groups', " +
			"spread them with 'shoal cluster rebalance' (CLUSTER REPLICATE is not supported)"
	case "FAILOVER":
		return "ERR Shoal moves leaderships itself: use 'shoal cluster transfer-leader --group GROUP [--to NODE]' " +
			"(CLUSTER FAILOVER is not supported)"
	}
	return "ERR CLUSTER " + sub + " is not supported: Shoal's placement service manages slots and replicas " +
		"('shoal cluster rebalance' spreads them)"
}

// errMovesSlots is the reply to cmd, a Redis command that moves slots or
// keys between nodes by hand.
func errMovesSlots(cmd string) string {
	return "ERR Shoal moves slots itself: use 'shoal cluster migrate --slots A-B --to GROUP' or " +
		"'shoal cluster rebalance' (" + cmd + " is not supported)"
}

func init() {
	sub := func(name string, arity int, flags command.Flag, admin bool, run func(*command.Ctx, [][]byte)) *command.Command {
		c := &command.Command{Name: "cluster|" + name, Arity: arity, Kind: command.KindLocal, Flags: flags,
			ACL: []string{"slow"}, Run: run}
		if admin {
			c.ACL = []string{"admin", "slow", "dangerous"}
		}
		return c
	}
	// managed is a subcommand Redis uses to change the topology by hand.
	managed := func(name string, arity int, flags command.Flag) *command.Command {
		msg := errClusterManaged(strings.ToUpper(name))
		return sub(name, arity, flags, true, func(x *command.Ctx, args [][]byte) {
			if clusterTopology(x) != nil {
				x.Err(msg)
			}
		})
	}
	adm := command.FlagAdmin | command.FlagStale
	// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH...]
	// [KEYS key...]: redis-cli --cluster moves keys with it after CLUSTER
	// SETSLOT. No key positions: the refusal is local, never redirected.
	migrateMsg := errMovesSlots("MIGRATE")
	command.Register(&command.Command{Name: "migrate", Arity: -6, Kind: command.KindLocal,
		ACL: []string{"keyspace", "write", "slow", "dangerous"}, Run: func(x *command.Ctx, args [][]byte) {
			if srvOf(x).clusterEnabled() {
				x.Err(migrateMsg)
			} else {
				x.Err(errMigrateStandalone)
			}
		}})
	command.Register(&command.Command{Name: "cluster", Arity: -2, Kind: command.KindLocal, ACL: []string{"slow"},
		Subs: []*command.Command{
			managed("addslots", -3, adm),
			managed("addslotsrange", -4, adm),
			managed("bumpepoch", 2, adm),
			sub("count-failure-reports", 3, adm, true, clusterCountFailureReportsCommand),
			sub("countkeysinslot", 3, command.FlagStale, false, clusterCountKeysInSlotCommand),
			managed("delslots", -3, adm),
			managed("delslotsrange", -4, adm),
			managed("failover", -2, adm),
			managed("flushslots", 2, adm),
			managed("forget", 3, adm),
			sub("getkeysinslot", 4, command.FlagStale, false, clusterGetKeysInSlotCommand),
			sub("help", 2, command.FlagLoading|command.FlagStale, false, clusterHelpCommand),
			sub("info", 2, command.FlagStale, false, clusterInfoCommand),
			sub("keyslot", 3, command.FlagStale, false, clusterKeySlotCommand),
			sub("links", 2, command.FlagStale, false, clusterLinksCommand),
			managed("meet", -4, adm),
			sub("myid", 2, command.FlagStale, false, clusterMyIDCommand),
			sub("myshardid", 2, command.FlagLoading|command.FlagStale, false, clusterMyShardIDCommand),
			sub("nodes", 2, command.FlagStale, false, clusterNodesCommand),
			sub("replicas", 3, adm, true, clusterReplicasCommand),
			managed("replicate", 3, adm),
			managed("reset", -2, command.FlagAdmin|command.FlagNoScript|command.FlagStale),
			sub("saveconfig", 2, adm, true, clusterSaveConfigCommand),
			managed("set-config-epoch", 3, adm),
			managed("setslot", -4, adm),
			sub("shards", 2, command.FlagStale, false, clusterShardsCommand),
			sub("slaves", 3, adm, true, clusterReplicasCommand),
			sub("slots", 2, command.FlagStale, false, clusterSlotsCommand),
		}})
}

// clusterTopology returns the cluster topology, or appends Redis's "cluster
// support disabled" error and returns nil in standalone mode.
func clusterTopology(x *command.Ctx) *Topology {
	var t *Topology
	if srvOf(x).clusterEnabled() {
		t = srvOf(x).router.Topology()
	}
	if t == nil {
		x.Err(command.ErrClusterDisabled)
		return nil
	}
	t.plain = usePlainPort(x)
	if t.Map == nil {
		// No map yet (the node is joining): report an empty cluster.
		c := *t
		c.Map = emptyMap
		t = &c
	}
	return t
}

// emptyMap is the map reported before the node knows one: no nodes, no
// groups, every slot unassigned.
var emptyMap = func() *topology.Map {
	m := &topology.Map{}
	for s := range m.Slots {
		m.Slots[s] = -1
	}
	return m
}()

// leaderOf returns the id of the node leading group gi, "" when unknown.
func (t *Topology) leaderOf(gi int) string {
	if gi < 0 || gi >= len(t.Leaders) {
		return ""
	}
	return t.Leaders[gi]
}

// failed reports whether node id is down as membership sees it. This node
// never is; a nil Alive map means nothing is known to be down.
func (t *Topology) failed(id string) bool {
	return id != t.Self && t.Alive != nil && !t.Alive[id]
}

// masterOf returns, for a node that leads no group, the node Shoal reports
// as its master: the leader of the first group (with a known leader) it is a
// member of. It returns "" for a node that leads a group or belongs to none.
func (t *Topology) masterOf(id string) string {
	m := t.Map
	for gi := range m.Groups {
		if t.leaderOf(gi) == id {
			return ""
		}
	}
	for gi, g := range m.Groups {
		if l := t.leaderOf(gi); l != "" && member(g.Members, id) {
			return l
		}
	}
	return ""
}

func member(ids []string, id string) bool {
	for _, m := range ids {
		if m == id {
			return true
		}
	}
	return false
}

// nodeAddr splits a node's RESP address into ip and port and returns the
// port of its cluster address (the cluster bus port of CLUSTER NODES).
// plain (usePlainPort) gives a tls-cluster node's plain port, if it has
// one, instead of its TLS port.
func nodeAddr(n *topology.Node, plain bool) (ip string, port, cport int64) {
	ip, p, err := net.SplitHostPort(n.RESPAddr)
	if err != nil {
		ip = n.RESPAddr
	}
	port, _ = strconv.ParseInt(p, 10, 32)
	if plain && n.PlainPort > 0 {
		port = int64(n.PlainPort)
	}
	if _, cp, err := net.SplitHostPort(n.ClusterAddr); err == nil {
		cport, _ = strconv.ParseInt(cp, 10, 32)
	}
	return ip, port, cport
}

// nodeRanges returns the slot ranges each node serves as a master: the slots
// of the groups it leads, merged where they touch, in slot order.
func (t *Topology) nodeRanges() map[string][]topology.SlotRange {
	out := make(map[string][]topology.SlotRange)
	for _, r := range slotranges.Of(t.Map.Slots[:]) {
		gi, s, e := int(r.Value), r.Start, r.End
		if l := t.leaderOf(gi); gi >= 0 && l != "" {
			rs := out[l]
			if n := len(rs); n > 0 && rs[n-1].End == s-1 {
				rs[n-1].End = e
			} else {
				rs = append(rs, topology.SlotRange{Start: s, End: e})
			}
			out[l] = rs
		}
	}
	return out
}

// intArg parses an integer argument as Redis's getLongLongFromObjectOrReply
// does; ok is false (and the error appended) when it is not an integer.
func intArg(x *command.Ctx, arg []byte) (int64, bool) {
	n, ok := command.ParseInt(arg)
	if !ok {
		x.Err(command.ErrNotInteger)
	}
	return n, ok
}

// slotStore returns the store holding slot's keys when this node hosts the
// slot's group (leader or follower), nil otherwise.
func slotStore(x *command.Ctx, slot int) *shard.Store {
	g, _, _, _ := srvOf(x).router.Route(slot)
	if g == nil {
		return nil
	}
	return g.Store()
}

// clusterKeySlotCommand: CLUSTER KEYSLOT key.
func clusterKeySlotCommand(x *command.Ctx, args [][]byte) {
	if clusterTopology(x) == nil {
		return
	}
	x.Int(int64(shard.Slot(args[2])))
}

// clusterCountKeysInSlotCommand: CLUSTER COUNTKEYSINSLOT slot. Counts the
// live keys of the slot when this node hosts it, 0 otherwise.
func clusterCountKeysInSlotCommand(x *command.Ctx, args [][]byte) {
	if clusterTopology(x) == nil {
		return
	}
	slot, ok := intArg(x, args[2])
	if !ok {
		return
	}
	if slot < 0 || slot >= topology.NumSlots {
		x.Err(errInvalidSlot)
		return
	}
	var n int64
	if st := slotStore(x, int(slot)); st != nil {
		st.RLock()
		st.RangeSlot(int(slot), func(_ string, e *shard.Entry) bool {
			if e.ExpireAt == 0 || e.ExpireAt > x.Now {
				n++
			}
			return true
		})
		st.RUnlock()
	}
	x.Int(n)
}

// clusterGetKeysInSlotCommand: CLUSTER GETKEYSINSLOT slot count. Returns up
// to count live keys of the slot when this node hosts it.
func clusterGetKeysInSlotCommand(x *command.Ctx, args [][]byte) {
	if clusterTopology(x) == nil {
		return
	}
	slot, ok := intArg(x, args[2])
	if !ok {
		return
	}
	count, ok := intArg(x, args[3])
	if !ok {
		return
	}
	if slot < 0 || slot >= topology.NumSlots || count < 0 {
		x.Err(errInvalidSlotOrCount)
		return
	}
	var keys []string
	if st := slotStore(x, int(slot)); st != nil && count > 0 {
		st.RLock()
		st.RangeSlot(int(slot), func(k string, e *shard.Entry) bool {
			if e.ExpireAt == 0 || e.ExpireAt > x.Now {
				keys = append(keys, k)
			}
			return int64(len(keys)) < count
		})
		st.RUnlock()
	}
	x.Array(len(keys))
	for _, k := range keys {
		x.BulkString(k)
	}
}

// clusterMyIDCommand: CLUSTER MYID.
func clusterMyIDCommand(x *command.Ctx, args [][]byte) {
	if t := clusterTopology(x); t != nil {
		x.BulkString(t.Self)
	}
}

// shardID is the stable 40-hex shard id of a group.
func shardID(groupID string) string {
	sum := sha1.Sum([]byte("shoal-shard:" + groupID))
	return hex.EncodeToString(sum[:])
}

// clusterMyShardIDCommand: CLUSTER MYSHARDID (Redis 7.2). The shard of this
// node is the first group it leads, else the first group it is a member of.
func clusterMyShardIDCommand(x *command.Ctx, args [][]byte) {
	t := clusterTopology(x)
	if t == nil {
		return
	}
	id := ""
	for gi, g := range t.Map.Groups {
		if t.leaderOf(gi) == t.Self {
			id = g.ID
			break
		}
	}
	if id == "" {
		if gs := t.Map.GroupsOf(t.Self); len(gs) > 0 {
			id = gs[0]
		} else {
			id = "node:" + t.Self
		}
	}
	x.BulkString(shardID(id))
}

// clusterInfoCommand: CLUSTER INFO. Slots whose group has no known leader
// count as failed; the cluster is ok when every slot is assigned and served.
func clusterInfoCommand(x *command.Ctx, args [][]byte) {
	t := clusterTopology(x)
	if t == nil {
		return
	}
	m := t.Map
	var assigned, okSlots int64
	served := make([]bool, len(m.Groups))
	for _, gi := range m.Slots {
		if gi < 0 || int(gi) >= len(m.Groups) {
			continue
		}
		assigned++
		served[gi] = true
		if t.leaderOf(int(gi)) != "" {
			okSlots++
		}
	}
	var size int64
	for _, s := range served {
		if s {
			size++
		}
	}
	state := "fail"
	if assigned == topology.NumSlots && okSlots == assigned {
		state = "ok"
	}
	epoch := strconv.FormatUint(m.Epoch, 10)
	b := make([]byte, 0, 400)
	b = infoLine(b, "cluster_state", state)
	b = infoLine(b, "cluster_slots_assigned", strconv.FormatInt(assigned, 10))
	b = infoLine(b, "cluster_slots_ok", strconv.FormatInt(okSlots, 10))
	b = infoLine(b, "cluster_slots_pfail", "0")
	b = infoLine(b, "cluster_slots_fail", strconv.FormatInt(assigned-okSlots, 10))
	b = infoLine(b, "cluster_known_nodes", strconv.Itoa(len(m.Nodes)))
	b = infoLine(b, "cluster_size", strconv.FormatInt(size, 10))
	b = infoLine(b, "cluster_current_epoch", epoch)
	b = infoLine(b, "cluster_my_epoch", epoch)
	b = infoLine(b, "cluster_stats_messages_sent", "0")
	b = infoLine(b, "cluster_stats_messages_received", "0")
	b = infoLine(b, "total_cluster_links_buffer_limit_exceeded", "0")
	x.Verbatim(b)
}

// appendNodeLine appends node n's CLUSTER NODES line, without the newline:
// <id> <ip>:<port>@<cport> <flags> <master-id|-> <ping-sent> <pong-recv>
// <config-epoch> <link-state> <slot-range>...
func (t *Topology) appendNodeLine(b []byte, n *topology.Node, ranges []topology.SlotRange, now int64) []byte {
	ip, port, cport := nodeAddr(n, t.plain)
	master := t.masterOf(n.ID)
	down := t.failed(n.ID)
	b = append(b, n.ID...)
	b = append(b, ' ')
	b = append(b, ip...)
	b = append(b, ':')
	b = strconv.AppendInt(b, port, 10)
	b = append(b, '@')
	b = strconv.AppendInt(b, cport, 10)
	b = append(b, ' ')
	if n.ID == t.Self {
		b = append(b, "myself,"...)
	}
	if master == "" {
		b = append(b, "master"...)
	} else {
		b = append(b, "slave"...)
	}
	if down {
		b = append(b, ",fail"...)
	}
	b = append(b, ' ')
	if master == "" {
		b = append(b, '-')
	} else {
		b = append(b, master...)
	}
	pong := now
	if down {
		pong = 0
	}
	b = append(b, " 0 "...)
	b = strconv.AppendInt(b, pong, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, t.Map.Epoch, 10)
	if down {
		b = append(b, " disconnected"...)
	} else {
		b = append(b, " connected"...)
	}
	for _, r := range ranges {
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(r.Start), 10)
		if r.End != r.Start {
			b = append(b, '-')
			b = strconv.AppendInt(b, int64(r.End), 10)
		}
	}
	return b
}

// clusterNodesCommand: CLUSTER NODES. A node is a master when it leads a
// group (its slots are those of the groups it leads), else a replica of the
// leader of its first group.
func clusterNodesCommand(x *command.Ctx, args [][]byte) {
	t := clusterTopology(x)
	if t == nil {
		return
	}
	ranges := t.nodeRanges()
	b := make([]byte, 0, 128*len(t.Map.Nodes))
	for i := range t.Map.Nodes {
		n := &t.Map.Nodes[i]
		b = t.appendNodeLine(b, n, ranges[n.ID], x.Now)
		b = append(b, '\n')
	}
	x.Verbatim(b)
}

// clusterReplicasCommand: CLUSTER REPLICAS node-id (and CLUSTER SLAVES).
// Replies the CLUSTER NODES lines of the node's replicas.
func clusterReplicasCommand(x *command.Ctx, args [][]byte) {
	t := clusterTopology(x)
	if t == nil {
		return
	}
	id := string(args[2])
	if t.Map.Node(id) == nil {
		x.Err(errUnknownNode(args[2]))
		return
	}
	if t.masterOf(id) != "" {
		x.Err(errNotAMaster)
		return
	}
	var lines [][]byte
	for i := range t.Map.Nodes {
		n := &t.Map.Nodes[i]
		if t.masterOf(n.ID) == id {
			lines = append(lines, t.appendNodeLine(nil, n, nil, x.Now))
		}
	}
	x.Array(len(lines))
	for _, l := range lines {
		x.Bulk(l)
	}
}

// clusterCountFailureReportsCommand: CLUSTER COUNT-FAILURE-REPORTS node-id.
// Shoal's membership has no failure reports: always 0 for a known node.
func clusterCountFailureReportsCommand(x *command.Ctx, args [][]byte) {
	t := clusterTopology(x)
	if t == nil {
		return
	}
	if t.Map.Node(string(args[2])) == nil {
		x.Err(errUnknownNode(args[2]))
		return
	}
	x.Int(0)
}

// clusterLinksCommand: CLUSTER LINKS. Shoal has no cluster bus links to
// report: an empty array.
func clusterLinksCommand(x *command.Ctx, args [][]byte) {
	if clusterTopology(x) != nil {
		x.Array(0)
	}
}

// clusterSaveConfigCommand: CLUSTER SAVECONFIG. The map is persisted by the
// placement service's Raft group: nothing to do.
func clusterSaveConfigCommand(x *command.Ctx, args [][]byte) {
	if clusterTopology(x) != nil {
		x.OK()
	}
}

// appendSlotsNode appends one node of a CLUSTER SLOTS range: ip, port, id
// and an empty map of extra fields.
func appendSlotsNode(x *command.Ctx, n *topology.Node) {
	ip, port, _ := nodeAddr(n, usePlainPort(x))
	x.Array(4)
	x.BulkString(ip)
	x.Int(port)
	x.BulkString(n.ID)
	x.MapHeader(0)
}

// clusterSlotsCommand: CLUSTER SLOTS. One entry per contiguous slot range of
// each group: [start, end, leader, replicas...], the replicas being the
// group's live members that lead no group (see below). A group whose
// leader is not known is listed under its first live member; only ranges
// whose group has no live member are left out, as Redis leaves unserved
// slots out.
func clusterSlotsCommand(x *command.Ctx, args [][]byte) {
	t := clusterTopology(x)
	if t == nil {
		return
	}
	if t.Map == emptyMap {
		// A node that does not know the map yet (it just started, in
		// memory) is not a fresh node with no slots: an empty answer
		// would tell a client the cluster serves nothing, and redis-py
		// then fails outright when the other nodes it asks are briefly
		// unreachable. CLUSTERDOWN sends the client to another node.
		x.Err(command.ErrClusterDown)
		return
	}
	m := t.Map
	type entry struct {
		r     topology.SlotRange
		lead  *topology.Node
		group int
	}
	// First each range's master: its group's leader or, when the leader
	// is not known right now (an election, a node that just started),
	// its first live member, as Redis lists a failing master's slots
	// under it: a client that finds no master for a range cannot route
	// (and redis-py fails outright); one sent to a non-leader is
	// redirected.
	var entries []entry
	masters := t.leaders()
	for _, r := range slotranges.Of(m.Slots[:]) {
		gi := int(r.Value)
		if gi < 0 || gi >= len(m.Groups) {
			continue
		}
		lead := m.Node(t.leaderOf(gi))
		if lead == nil {
			for _, id := range m.Groups[gi].Members {
				if n := m.Node(id); n != nil && !t.failed(id) {
					lead = n
					break
				}
			}
		}
		if lead != nil {
			masters[lead.ID] = true
			entries = append(entries, entry{topology.SlotRange{Start: r.Start, End: r.End}, lead, gi})
		}
	}
	// Then the replicas: the group's other live members that are no
	// master (lead no group and head no range). A node is listed as a
	// master or as a replica, never both, as in Redis Cluster: clients keep
	// one role per node, and redis-py, which takes a node's role from its
	// first appearance, would otherwise see one master only (and send the
	// commands meant for every master, such as FLUSHALL, to it alone).
	//
	// Nor is a node listed as a replica of a range whose master leads
	// other groups too (after an election, until the preferred leader takes
	// its group back): when that replica becomes the range's master, a
	// client that keeps one role per node and swaps roles on MOVED when the
	// new master was the slot's replica (redis-py's
	// NodesManager._update_moved_slots) would mark the old master a
	// replica, although it still leads its own group, and leave it out of
	// every fan-out to the primaries (DBSIZE, KEYS, SCAN, FLUSHALL).
	led := make(map[string]int, len(masters))
	for gi := range m.Groups {
		if l := t.leaderOf(gi); l != "" {
			led[l]++
		}
	}
	x.Array(len(entries))
	var replicas []*topology.Node
	for _, en := range entries {
		replicas = replicas[:0]
		for _, id := range m.Groups[en.group].Members {
			if led[en.lead.ID] <= 1 && !masters[id] && !t.failed(id) {
				if n := m.Node(id); n != nil {
					replicas = append(replicas, n)
				}
			}
		}
		x.Array(3 + len(replicas))
		x.Int(int64(en.r.Start))
		x.Int(int64(en.r.End))
		appendSlotsNode(x, en.lead)
		for _, n := range replicas {
			appendSlotsNode(x, n)
		}
	}
}

// leaders returns the set of nodes leading a group: CLUSTER NODES's
// masters.
func (t *Topology) leaders() map[string]bool {
	out := make(map[string]bool, len(t.Leaders))
	for gi := range t.Map.Groups {
		if l := t.leaderOf(gi); l != "" {
			out[l] = true
		}
	}
	return out
}

// clusterShardsCommand: CLUSTER SHARDS. One shard per group:
// {slots: [start, end, ...], nodes: [{id, port, ip, endpoint, role,
// replication-offset, health}, ...]}, the leader first.
func clusterShardsCommand(x *command.Ctx, args [][]byte) {
	t := clusterTopology(x)
	if t == nil {
		return
	}
	m := t.Map
	masters := t.leaders()
	x.Array(len(m.Groups))
	for gi, g := range m.Groups {
		lead := t.leaderOf(gi)
		ids := make([]string, 0, len(g.Members))
		if lead != "" && m.Node(lead) != nil {
			ids = append(ids, lead)
		}
		for _, id := range g.Members {
			// A member leading another group is that shard's master, not a
			// replica here (see CLUSTER SLOTS); a shard without a leader
			// lists all its members.
			if id != lead && (lead == "" || !masters[id]) && m.Node(id) != nil {
				ids = append(ids, id)
			}
		}
		ranges := m.Ranges(gi)
		x.MapHeader(2)
		x.BulkString("slots")
		x.Array(2 * len(ranges))
		for _, r := range ranges {
			x.Int(int64(r.Start))
			x.Int(int64(r.End))
		}
		x.BulkString("nodes")
		x.Array(len(ids))
		for _, id := range ids {
			appendShardNode(x, t, m.Node(id), id == lead, replOffset(x, t, g.ID, id))
		}
	}
}

// replOffset is the replication offset CLUSTER SHARDS reports for node id in
// group gid: the applied Raft index for this node's own replica, else 0.
func replOffset(x *command.Ctx, t *Topology, gid, id string) int64 {
	if id != t.Self {
		return 0
	}
	for _, g := range srvOf(x).hostedGroups() {
		if g != nil && g.ID() == gid {
			return int64(g.AppliedIndex())
		}
	}
	return 0
}

// appendShardNode appends one node map of a CLUSTER SHARDS shard.
func appendShardNode(x *command.Ctx, t *Topology, n *topology.Node, master bool, offset int64) {
	ip, port, _ := nodeAddr(n, false)
	// Under tls-cluster, as Redis: "port" is the plain port (left out
	// when none), "tls-port" the TLS port.
	tlsPort, cluster := port, srvOf(x).cfg.TLS.Cluster
	if cluster {
		port = int64(n.PlainPort)
	}
	fields := 7
	if cluster {
		fields++
		if port == 0 {
			fields--
		}
	}
	x.MapHeader(fields)
	x.BulkString("id")
	x.BulkString(n.ID)
	if port > 0 || !cluster {
		x.BulkString("port")
		x.Int(port)
	}
	if cluster {
		x.BulkString("tls-port")
		x.Int(tlsPort)
	}
	x.BulkString("ip")
	x.BulkString(ip)
	x.BulkString("endpoint")
	x.BulkString(ip)
	x.BulkString("role")
	if master {
		x.BulkString("master")
	} else {
		x.BulkString("replica")
	}
	x.BulkString("replication-offset")
	x.Int(offset)
	x.BulkString("health")
	if t.failed(n.ID) {
		x.BulkString("fail")
	} else {
		x.BulkString("online")
	}
}

// clusterHelpCommand: CLUSTER HELP.
func clusterHelpCommand(x *command.Ctx, args [][]byte) {
	if clusterTopology(x) != nil {
		x.Help(clusterHelp)
	}
}

// clusterHelp is Redis 7.0's CLUSTER HELP text.
var clusterHelp = []string{
	"CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"ADDSLOTS <slot> [<slot> ...]",
	"    Assign slots to current node.",
	"ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
	"    Assign slots which are between <start-slot> and <end-slot> to current node.",
	"BUMPEPOCH",
	"    Advance the cluster config epoch.",
	"COUNT-FAILURE-REPORTS <node-id>",
	"    Return number of failure reports for <node-id>.",
	"COUNTKEYSINSLOT <slot>",
	"    Return the number of keys in <slot>.",
	"DELSLOTS <slot> [<slot> ...]",
	"    Delete slots information from current node.",
	"DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
	"    Delete slots information which are between <start-slot> and <end-slot> from current node.",
	"FAILOVER [FORCE|TAKEOVER]",
	"    Promote current replica node to being a master.",
	"FORGET <node-id>",
	"    Remove a node from the cluster.",
	"GETKEYSINSLOT <slot> <count>",
	"    Return key names stored by current node in a slot.",
	"FLUSHSLOTS",
	"    Delete current node own slots information.",
	"INFO",
	"    Return information about the cluster.",
	"KEYSLOT <key>",
	"    Return the hash slot for <key>.",
	"MEET <ip> <port> [<bus-port>]",
	"    Connect nodes into a working cluster.",
	"MYID",
	"    Return the node id.",
	"NODES",
	"    Return cluster configuration seen by node. Output format:",
	"    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
	"REPLICATE <node-id>",
	"    Configure current node as replica to <node-id>.",
	"RESET [HARD|SOFT]",
	"    Reset current node (default: soft).",
	"SET-CONFIG-EPOCH <epoch>",
	"    Set config epoch of current node.",
	"SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
	"    Set slot state.",
	"REPLICAS <node-id>",
	"    Return <node-id> replicas.",
	"SAVECONFIG",
	"    Force saving cluster configuration on disk.",
	"SLOTS",
	"    Return information about slots range mappings. Each range is made of:",
	"    start, end, master and replicas IP addresses, ports and ids",
	"SHARDS",
	"    Return information about slot range mappings and the nodes associated with them.",
	"LINKS",
	"    Return information about all network links between this node and its peers.",
	"    Output format is an array where each array element is a map containing attributes of a link",
	"HELP",
	"    Prints this help.",
}
