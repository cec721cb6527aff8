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
	"github.com/shoalcache/shoal/internal/topology"
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

	// Migrate creates a job that moves slots (ranges within 0-16383,
	// start <= end, sorted, neither overlapping nor touching: SHOAL
	// MIGRATE checks and merges them) from the one group that owns them to
	// targetGroup, and returns its id once the job is in the map
	// (docs/migration.md, "Create"); the copy runs in the background.
	// Requests it refuses, with nothing changed, return (wrapped)
	// ErrUnknownGroup, ErrBadSlots, ErrUnassignedSlots, ErrMixedSources,
	// ErrAlreadyOwner, ErrSlotsBusy or ErrTooManyJobs.
	Migrate(ctx context.Context, slots []topology.SlotRange, targetGroup string) (jobID string, err error)
	// Jobs returns the migration jobs of the map, the active ones and the
	// newest finished ones, oldest first.
	Jobs(ctx context.Context) ([]JobStatus, error)
	// CancelJob aborts job jobID, which must not have flipped yet, and
	// returns once the abort is in the map. Requests it refuses return
	// (wrapped) ErrUnknownJob or ErrJobNotActive.
	CancelJob(ctx context.Context, jobID string) error

	// Rebalance computes the plan that balances the cluster: groups created on nodes that lead none,
	// group replicas moved between nodes, slots moved so that every node leads about the same number
	// of slots (see placement.Plan). With dryRun it only returns the plan. Otherwise it also records
	// the request in the map (the meta leader carries it out step by step, resuming after crashes)
	// unless the plan is empty. Each step is one line of text, e.g. "add node 3f2a.. to group g1".
	Rebalance(ctx context.Context, dryRun bool) (plan []string, err error)
	// RemoveNode marks node nodeID draining: the meta leader moves its group replicas and
	// leaderships away, then takes it out of the map. It returns once the mark is in the map;
	// marking a draining node again is a no-op. Refusals: (wrapped) ErrUnknownNode, ErrTooFewNodes.
	RemoveNode(ctx context.Context, nodeID string) error
	// Balance reports the rebalancer's state.
	Balance(ctx context.Context) (BalanceStatus, error)

	// SetClusterConfig records the cluster-wide settings kv (CONFIG SET's
	// parameter names, lower case, to values the caller validated) in the
	// map, in one change through the meta group, and returns once the
	// change is committed and in force on this node (applied through the
	// Server's ApplyClusterConfig); every other node applies it when its
	// map changes. Settings the map holds already change nothing. On an
	// error nothing was applied here; when ctx ended first the change may
	// still commit, and then applies everywhere.
	SetClusterConfig(ctx context.Context, kv map[string]string) error
}

// JobStatus is one migration job as SHOAL JOBS reports it.
type JobStatus struct {
	ID             string
	Slots          []topology.SlotRange
	Source, Target string // group ids
	Phase          string // "copying", "fenced" (copying, S fenced), "done", "aborted"
	// Keys and Bytes moved so far (ingested by the target).
	Keys, Bytes             int64
	KeysPerSec, BytesPerSec float64
	ETA                     time.Duration // < 0 when unknown
	Created, Ended          time.Time     // Ended zero while running
	Reason                  string        // why it was aborted
}

// BalanceStatus is the rebalancer's state as SHOAL REBALANCE STATUS reports it.
type BalanceStatus struct {
	Requested  bool     // a rebalance was requested and is not finished
	Draining   []string // ids of nodes being removed
	Removed    []string // ids of nodes removed from the map (the most recent ones)
	ActiveJobs int      // migration jobs still copying
	Plan       []string // the steps still to take, as the plan stands now
}

// Errors an Admin returns, possibly wrapped, for the requests it
// refuses; the SHOAL commands turn each into its own error reply
// (adminErr, cmd_shoal_jobs.go). Text an implementation wraps after one of
// them (fmt.Errorf("%w: slot 7 is in job j3", ErrSlotsBusy)) is shown as a
// detail where the reply has room for it.
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
	// ErrUnknownJob means the map has no migration job with the id.
	ErrUnknownJob = errors.New("server: unknown job")
	// ErrJobNotActive means the job is done or aborted already.
	ErrJobNotActive = errors.New("server: the job is not active")
	// ErrBadSlots means the slot ranges are malformed: out of range,
	// reversed or overlapping.
	ErrBadSlots = errors.New("server: bad slot ranges")
	// ErrSlotsBusy means a slot is in another active job already.
	ErrSlotsBusy = errors.New("server: slots are in an active job")
	// ErrAlreadyOwner means the target group owns the slots already.
	ErrAlreadyOwner = errors.New("server: the target group owns the slots already")
	// ErrMixedSources means the slots belong to more than one group.
	ErrMixedSources = errors.New("server: the slots belong to more than one group")
	// ErrUnassignedSlots means a slot belongs to no group.
	ErrUnassignedSlots = errors.New("server: slots not assigned to a group")
	// ErrTooManyJobs means the cap on active jobs is reached.
	ErrTooManyJobs = errors.New("server: too many active jobs")
	// ErrTooFewNodes means removing the node would leave fewer nodes than
	// the groups' replicas need.
	ErrTooFewNodes = errors.New("server: too few nodes would remain")

	// ErrNotClusterConfig means ApplyClusterConfig got a name that is not
	// a cluster-wide parameter (ignored).
	ErrNotClusterConfig = errors.New("server: not a cluster-wide parameter")
	// ErrBadClusterConfig means ApplyClusterConfig got a value the
	// parameter's setter refuses (the parameter is left unchanged).
	ErrBadClusterConfig = errors.New("server: invalid cluster-wide setting")
)

// leaderTransferTimeout bounds how long SHOAL LEADER-TRANSFER waits for the
// transfer's outcome. Raft gives up by itself after an election timeout.
const leaderTransferTimeout = 5 * time.Second

// RESP error texts of the SHOAL family.
const (
	errTransferUnsupported = "ERR leadership transfer is not supported by this node"
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
	adm, dangerous := command.FlagAdmin|command.FlagNoScript, []string{"admin", "slow", "dangerous"}
	command.Register(&command.Command{Name: "shoal", Arity: -2, Kind: command.KindLocal, ACL: []string{"slow"},
		Subs: []*command.Command{
			sub("cancel", 3, adm, dangerous, shoalCancelCommand),
			sub("groups", 2, command.FlagStale, []string{"slow"}, shoalGroupsCommand),
			sub("help", 2, command.FlagLoading|command.FlagStale, []string{"slow"}, shoalHelpCommand),
			sub("jobs", 2, command.FlagStale, []string{"slow"}, shoalJobsCommand),
			sub("keys", -3, adm, dangerous, shoalKeysCommand),
			sub("leader-transfer", -3, adm, dangerous, shoalLeaderTransferCommand),
			sub("migrate", 4, adm, dangerous, shoalMigrateCommand),
			sub("rebalance", -2, adm, dangerous, shoalRebalanceCommand),
			sub("remove-node", 3, adm, dangerous, shoalRemoveNodeCommand),
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
	if err := lt.TransferLeadership(ctx, string(args[2]), string(target)); err != nil {
		x.Err(adminErr(x, err, adminReq{op: "leadership transfer", group: args[2], node: target}))
		return
	}
	x.OK()
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
	"CANCEL <job-id>",
	"    Abort migration job <job-id> if its slots have not moved yet.",
	"GROUPS",
	"    Return every shard group: its id, the node id of its current leader",
	"    (nil when unknown), its members (the preferred leader first) and its",
	"    slot ranges.",
	"JOBS",
	"    Return the migration jobs, active and recently ended: id, slots, source",
	"    and target group, phase, keys and bytes moved, rates, ETA (ms), created",
	"    and ended time (unix ms) and the reason of an abort.",
	"KEYS INSTALL|USE|REMOVE <key> | KEYS LIST",
	"    Install a gossip encryption key (base64) on every node, make it the one",
	"    they encrypt with, remove it; or list every node's keys.",
	"LEADER-TRANSFER <group-id> [<node-id>]",
	"    Move the leadership of <group-id> to <node-id>, a voter of the group,",
	"    or to the most up-to-date other voter. Send it to the group's leader.",
	"    Leadership returns to the group's preferred leader (its first member)",
	"    a few seconds later while that node is healthy.",
	"MIGRATE <start>-<end>[,<start>-<end>...] <group-id>",
	"    Move the slots from the group that owns them to <group-id> while both",
	"    serve them; returns the id of the job (see JOBS).",
	"REBALANCE [DRYRUN]",
	"    Return the plan that balances the cluster (groups created on nodes that",
	"    lead none, group replicas and slots moved between nodes), one step per",
	"    line, and start carrying it out unless DRYRUN is given.",
	"REBALANCE STATUS",
	"    Return the rebalancer's state: requested (0/1), draining and removed",
	"    node ids, active-jobs and the plan still to carry out.",
	"REMOVE-NODE <node-id>",
	"    Drain <node-id>: move its group replicas and leaderships to other nodes,",
	"    then take it out of the map (see REBALANCE STATUS).",
	"HELP",
	"    Print this help.",
}
