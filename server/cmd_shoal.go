package server

// The SHOAL command family: Shoal-specific cluster administration that has
// no Redis Cluster equivalent. CLUSTER FAILOVER does not map onto Shoal: it
// promotes the receiving replica to master of "its" master's slots, but a
// Shoal node is a follower in several groups at once, and FORCE/TAKEOVER
// (a failover without the master's agreement) has no Raft counterpart. So
// leadership moves with SHOAL LEADER-TRANSFER, which names the group.
//
// The commands are not in Redis's metadata: COMMAND synthesizes their
// entries from the table.

import (
	"context"
	"errors"
	"time"

	"github.com/shoalcache/shoal/command"
)

// Admin is the cluster administration a Router offers to the SHOAL
// commands (Router.Admin; nil when the node has none, as a standalone node).
// Its methods are called from connection goroutines, concurrently, with no
// front-end lock held; each blocks until its outcome or ctx's end.
type Admin interface {
	// TransferLeadership hands the leadership of group groupID, which this
	// node must lead, to the voter toNodeID, or to the voter Raft picks
	// when toNodeID is "". It returns once this node has stepped down, or
	// with an error when the transfer failed or ctx ended first. Requests
	// it refuses return (wrapped) ErrUnknownGroup, ErrUnknownNode,
	// ErrNotGroupVoter, ErrNotGroupLeader or ErrAlreadyLeader; any other
	// error is a failed transfer, its text shown to the client.
	TransferLeadership(ctx context.Context, groupID, toNodeID string) error
}

// Errors an Admin returns, possibly wrapped, for the requests it
// refuses; SHOAL LEADER-TRANSFER turns each into its own error reply.
var (
	// ErrUnknownGroup means the map has no group with the id.
	ErrUnknownGroup = errors.New("server: unknown group")
	// ErrUnknownNode means the map has no node with the target id.
	ErrUnknownNode = errors.New("server: unknown node")
	// ErrNotGroupVoter means the target node is not a voter of the group.
	ErrNotGroupVoter = errors.New("server: node is not a voter of the group")
	// ErrNotGroupLeader means this node does not lead the group.
	ErrNotGroupLeader = errors.New("server: this node does not lead the group")
	// ErrAlreadyLeader means the target node is this node, which leads the
	// group already.
	ErrAlreadyLeader = errors.New("server: the node already leads the group")
)

// leaderTransferTimeout bounds how long SHOAL LEADER-TRANSFER waits for the
// transfer's outcome. Raft gives up by itself after an election timeout.
const leaderTransferTimeout = 5 * time.Second

// RESP error texts of the SHOAL family.
const (
	errTransferUnsupported = "ERR leadership transfer is not supported by this node"
	errTransferFailed      = "ERR leadership transfer failed: "
)

// errUnknownGroup formats the error for a group id the map does not know.
func errUnknownGroup(id []byte) string {
	return command.Sanitize(command.AppendTrunc([]byte("ERR unknown group '"), id, 128)) + "'"
}

// errNotVoter formats the error for a target that is not a voter of group.
func errNotVoter(node []byte, group string) string {
	return command.Sanitize(append([]byte("ERR node "), truncNUL(node)...)) + " is not a voter of group " + group
}

// errAlreadyLeads formats the error for a target that leads group already.
func errAlreadyLeads(node []byte, group string) string {
	return command.Sanitize(append([]byte("ERR node "), truncNUL(node)...)) + " already leads group " + group
}

// errNotLeaderOf formats the error for a group this node does not lead;
// leader is the RESP address of its leader, "" when unknown.
func errNotLeaderOf(group, leader string) string {
	if leader == "" {
		leader = "unknown"
	}
	return "ERR this node does not lead group " + group + " (leader: " + leader + ")"
}

func init() {
	sub := func(name string, arity int, flags command.Flag, acl []string, run func(*command.Ctx, [][]byte)) *command.Command {
		return &command.Command{Name: "shoal|" + name, Arity: arity, Kind: command.KindLocal, Flags: flags, ACL: acl, Run: run}
	}
	command.Register(&command.Command{Name: "shoal", Arity: -2, Kind: command.KindLocal, ACL: []string{"slow"},
		Subs: []*command.Command{
			sub("groups", 2, command.FlagStale, []string{"slow"}, shoalGroupsCommand),
			sub("help", 2, command.FlagLoading|command.FlagStale, []string{"slow"}, shoalHelpCommand),
			sub("leader-transfer", -3, command.FlagAdmin|command.FlagNoScript, []string{"admin", "slow", "dangerous"},
				shoalLeaderTransferCommand),
		}})
}

// shoalGroupsCommand: SHOAL GROUPS. One map per group of the placement map,
// in map order: {id, leader, members, slots}. leader is the node id of the
// group's current leader as this node sees it (nil when unknown); members
// are the node ids of its voters, the preferred leader first; slots are
// its slot ranges as CLUSTER SHARDS gives them: [start, end, ...].
func shoalGroupsCommand(x *command.Ctx, args [][]byte) {
	t := clusterTopology(x)
	if t == nil {
		return
	}
	m := t.Map
	x.Array(len(m.Groups))
	for gi, g := range m.Groups {
		x.MapHeader(4)
		x.BulkString("id")
		x.BulkString(g.ID)
		x.BulkString("leader")
		if l := t.leaderOf(gi); l != "" {
			x.BulkString(l)
		} else {
			x.Null()
		}
		x.BulkString("members")
		x.Array(len(g.Members))
		for _, id := range g.Members {
			x.BulkString(id)
		}
		ranges := m.Ranges(gi)
		x.BulkString("slots")
		x.Array(2 * len(ranges))
		for _, r := range ranges {
			x.Int(int64(r.Start))
			x.Int(int64(r.End))
		}
	}
}

// shoalLeaderTransferCommand: SHOAL LEADER-TRANSFER group-id [node-id].
// Served by the node that leads the group: it hands the leadership to
// node-id (a voter of the group) or, without node-id, to the most
// up-to-date other voter, waits for the outcome (at most 5 s) and replies
// +OK once it has stepped down. The new leader then takes a moment to win
// its election; SHOAL GROUPS and CLUSTER SLOTS show it once it has.
//
// Shoal moves the leadership of each group back to its preferred leader
// (the group's first member) about a second after another node took over,
// when the preferred node is healthy: a transfer away from the preferred
// leader is undone a few seconds later.
func shoalLeaderTransferCommand(x *command.Ctx, args [][]byte) {
	if len(args) > 4 {
		x.Err(command.ErrWrongArgs("shoal|leader-transfer"))
		return
	}
	t := clusterTopology(x)
	if t == nil {
		return
	}
	lt := srvOf(x).router.Admin()
	if lt == nil {
		x.Err(errTransferUnsupported)
		return
	}
	var target []byte
	if len(args) == 4 {
		target = args[3]
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaderTransferTimeout)
	defer cancel()
	err := lt.TransferLeadership(ctx, string(args[2]), string(target))
	// The group's name as error texts show it (an existing group's id is
	// plain; this keeps any other from breaking the protocol).
	group := command.Sanitize(append([]byte(nil), args[2]...))
	switch {
	case err == nil:
		x.OK()
	case errors.Is(err, ErrUnknownGroup):
		x.Err(errUnknownGroup(args[2]))
	case errors.Is(err, ErrUnknownNode):
		x.Err(errUnknownNode(target))
	case errors.Is(err, ErrNotGroupVoter):
		x.Err(errNotVoter(target, group))
	case errors.Is(err, ErrAlreadyLeader):
		x.Err(errAlreadyLeads(target, group))
	case errors.Is(err, ErrNotGroupLeader):
		x.Err(errNotLeaderOf(group, groupLeaderAddr(srvOf(x).router.Topology(), string(args[2]))))
	default:
		x.Err(errTransferFailed + command.Sanitize([]byte(err.Error())))
	}
}

// groupLeaderAddr returns the RESP address of the node t reports as the
// leader of group id: "" when unknown, or when t says this node leads it
// (it just found it does not).
func groupLeaderAddr(t *Topology, id string) string {
	if t == nil || t.Map == nil {
		return ""
	}
	for gi, g := range t.Map.Groups {
		if g.ID != id {
			continue
		}
		l := t.leaderOf(gi)
		if n := t.Map.Node(l); n != nil && l != t.Self {
			return n.RESPAddr
		}
	}
	return ""
}

// shoalHelpCommand: SHOAL HELP.
func shoalHelpCommand(x *command.Ctx, args [][]byte) { x.Help(shoalHelp) }

var shoalHelp = []string{
	"SHOAL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GROUPS",
	"    Return every shard group: its id, the node id of its current leader",
	"    (nil when unknown), its members (the preferred leader first) and its",
	"    slot ranges.",
	"LEADER-TRANSFER <group-id> [<node-id>]",
	"    Move the leadership of <group-id> to <node-id>, a voter of the group,",
	"    or to the most up-to-date other voter. Send it to the group's leader.",
	"    Leadership returns to the group's preferred leader (its first member)",
	"    a few seconds later while that node is healthy.",
	"HELP",
	"    Print this help.",
}
