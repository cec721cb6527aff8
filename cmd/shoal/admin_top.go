// The top subcommand: a live view of the cluster, refreshed every
// --interval. Each refresh asks one node (--addr, else another node it
// listed before) for the cluster-wide state (CLUSTER NODES and INFO, SHOAL
// GROUPS, JOBS and REBALANCE STATUS) and every node, concurrently, for its
// INFO. The view is drawn by admin_top_render.go.

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/respclient"
)

// topCommand is `shoal cluster top`.
func topCommand(shared []cli.Flag) *cli.Command {
	flags := append(append([]cli.Flag(nil), shared...),
		&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "time between refreshes"},
		&cli.BoolFlag{Name: "once", Usage: "print one snapshot and exit (it is taken one --interval after a " +
			"first one, to measure ops/s)"},
	)
	return &cli.Command{
		Name:  "top",
		Usage: "a live view of the nodes, groups, migration jobs and balancer, refreshed every --interval",
		Description: "On a terminal the screen is redrawn in place; q or Ctrl-C quits. Otherwise (or with --once) " +
			"it prints one plain-text snapshot per refresh, separated by a blank line; --json prints one JSON " +
			"object per line instead.\n\n" +
			"OPS/S counts the commands a node processed between two refreshes, less the ones top sent it " +
			"(\"-\" before the second refresh). P99 is the highest 99th percentile latency of INFO latencystats " +
			"among the commands that make at least 1% of the node's calls (INFO commandstats), leaving out the " +
			"commands top sends (INFO, AUTH, CLUSTER and SHOAL); \"-\" when the node reports none. LAG is how " +
			"many Raft entries a follower has yet to apply to catch up with what its group's leader applied.",
		Flags:  flags,
		Action: runClusterTop,
	}
}

// topInfoSections are the INFO sections top reads from every node.
var topInfoSections = []any{"INFO", "clients", "memory", "stats", "raft", "keyspace", "commandstats", "latencystats"}

// topSnapshot is one refresh of `cluster top`; --json prints it.
type topSnapshot struct {
	Time time.Time `json:"time"`
	// Addr is the node that answered the cluster-wide queries ("" when
	// none did).
	Addr string `json:"addr"`
	// ClusterState is cluster_state of its CLUSTER INFO.
	ClusterState string    `json:"cluster_state,omitempty"`
	Nodes        []topNode `json:"nodes"`
	// Groups is nil when the node has no SHOAL GROUPS (Redis Cluster).
	Groups  []topGroup     `json:"groups"`
	Jobs    []jobStatus    `json:"jobs"` // active and recently ended
	Balance *balanceStatus `json:"balance"`
	// Errors are the queries that failed, one line each.
	Errors []string `json:"errors,omitempty"`
}

// isShoal reports whether the snapshot has Shoal's groups.
func (s topSnapshot) isShoal() bool { return s.Groups != nil }

// topNode is one node of a snapshot. Its pointer fields are nil (null in
// JSON) when the node did not report them.
type topNode struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
	// State is the node as the cluster knows it: alive, suspect (Redis's
	// fail?), failed, joining (handshake) or draining.
	State string `json:"state"`
	// Role is CLUSTER NODES's: master or replica.
	Role string `json:"role"`
	// Leads and Follows count the groups whose leader, or follower, the
	// node is (SHOAL GROUPS).
	Leads   int `json:"leads"`
	Follows int `json:"follows"`
	// Error says why top has no INFO from the node.
	Error      string   `json:"error,omitempty"`
	OpsPerSec  *float64 `json:"ops_per_sec"`
	P99Usec    *float64 `json:"p99_usec"`
	P99Command string   `json:"p99_command,omitempty"` // the command P99Usec is of
	UsedMemory *int64   `json:"used_memory"`           // bytes
	Keys       *int64   `json:"keys"`
	Clients    *int64   `json:"connected_clients"`
	// Latency is INFO latencystats: command -> percentile ("p99") -> usec.
	Latency map[string]map[string]float64 `json:"latency_percentiles_usec,omitempty"`
	// Raft is the node's replica of each group it hosts (INFO raft).
	Raft map[string]raftReplica `json:"raft,omitempty"`
}

// raftReplica is one group_<id> line of INFO raft.
type raftReplica struct {
	State        string `json:"state"` // leader, follower, candidate
	Term         uint64 `json:"term"`
	LastIndex    uint64 `json:"last_index"`
	AppliedIndex uint64 `json:"applied_index"`
}

// topGroup is one shard group of a snapshot.
type topGroup struct {
	ID         string      `json:"id"`
	Slots      []slotRange `json:"slots"`
	Leader     string      `json:"leader,omitempty"` // "" when unknown
	LeaderAddr string      `json:"leader_addr,omitempty"`
	// SteppedDown: the leader's own INFO raft says it does not lead the
	// group (an election or a leadership transfer is under way).
	SteppedDown bool          `json:"leader_stepped_down,omitempty"`
	Followers   []topFollower `json:"followers"` // every member but the leader
}

// topFollower is a follower of a group and how far behind its leader it is.
type topFollower struct {
	ID   string `json:"id"`
	Addr string `json:"addr,omitempty"`
	// Lag is the leader's applied index less the follower's (at least 0);
	// nil when either did not report the group.
	Lag *int64 `json:"lag"`
}

// ---- INFO parsing ----

// infoSections parses an INFO reply: lower-case section name -> key ->
// value. Lines before the first "# Section" header go under "".
func parseInfoSections(text string) map[string]map[string]string {
	out := map[string]map[string]string{}
	sec := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if name, ok := strings.CutPrefix(line, "# "); ok {
			sec = strings.ToLower(strings.TrimSpace(name))
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" {
			continue
		}
		if out[sec] == nil {
			out[sec] = map[string]string{}
		}
		out[sec][k] = v
	}
	return out
}

// parseKV parses "a=1,b=2" (the values of INFO keyspace, raft,
// commandstats and latencystats lines).
func parseKV(s string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(part, "="); ok {
			out[k] = v
		}
	}
	return out
}

// infoInt returns the integer at key of section sec, or nil.
func infoIntPtr(info map[string]map[string]string, sec, key string) *int64 {
	v, ok := info[sec][key]
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

const latencyPrefix = "latency_percentiles_usec_"

// parseLatencyStats parses INFO latencystats (Redis 7):
// "latency_percentiles_usec_<command>:p50=1.003,p99=4.015,p99.9=4.015",
// into command -> percentile -> usec. Malformed values are left out.
func parseLatencyStats(sec map[string]string) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for k, v := range sec {
		cmd, ok := strings.CutPrefix(k, latencyPrefix)
		if !ok || cmd == "" {
			continue
		}
		ps := map[string]float64{}
		for p, s := range parseKV(v) {
			if !strings.HasPrefix(p, "p") {
				continue
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				ps[p] = f
			}
		}
		if len(ps) > 0 {
			out[cmd] = ps
		}
	}
	return out
}

// parseCommandCalls parses the calls of INFO commandstats:
// "cmdstat_<command>:calls=3,usec=..." into command -> calls.
func parseCommandCalls(sec map[string]string) map[string]int64 {
	out := map[string]int64{}
	for k, v := range sec {
		cmd, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(parseKV(v)["calls"], 10, 64); err == nil {
			out[cmd] = n
		}
	}
	return out
}

// topOwnCommand reports whether cmd is one top sends itself (or an admin
// client does): left out of a node's P99.
func topOwnCommand(cmd string) bool {
	return cmd == "info" || cmd == "auth" || strings.HasPrefix(cmd, "cluster|") || strings.HasPrefix(cmd, "shoal|") ||
		cmd == "cluster" || cmd == "shoal"
}

// nodeP99 is the highest p99 of lat among the commands that are not top's
// own and, when calls is known, make at least 1% of the calls of those
// commands. ok is false when no command qualifies.
func nodeP99(lat map[string]map[string]float64, calls map[string]int64) (usec float64, cmd string, ok bool) {
	var total int64
	for c, n := range calls {
		if !topOwnCommand(c) {
			total += n
		}
	}
	for c, ps := range lat {
		p, has := ps["p99"]
		if !has || topOwnCommand(c) {
			continue
		}
		if n, known := calls[c]; total > 0 && known && n*100 < total {
			continue
		}
		if !ok || p > usec || (p == usec && c < cmd) {
			usec, cmd, ok = p, c, true
		}
	}
	return usec, cmd, ok
}

// parseRaftGroups parses the group_<id> lines of INFO raft.
func parseRaftGroups(sec map[string]string) map[string]raftReplica {
	out := map[string]raftReplica{}
	for k, v := range sec {
		id, ok := strings.CutPrefix(k, "group_")
		if !ok || id == "" {
			continue
		}
		kv := parseKV(v)
		u := func(key string) uint64 {
			n, _ := strconv.ParseUint(kv[key], 10, 64)
			return n
		}
		out[id] = raftReplica{State: kv["state"], Term: u("term"), LastIndex: u("last_index"), AppliedIndex: u("applied_index")}
	}
	return out
}

// keyspaceKeys sums keys= over the db<n> lines of INFO keyspace. A node
// with no keys has no line: 0.
func keyspaceKeys(sec map[string]string) int64 {
	var total int64
	for k, v := range sec {
		if !strings.HasPrefix(k, "db") {
			continue
		}
		n, _ := strconv.ParseInt(parseKV(v)["keys"], 10, 64)
		total += n
	}
	return total
}

// ---- sampling ----

// topConn is top's connection to one node, kept across refreshes.
type topConn struct {
	c *respclient.Conn
	// sent counts the commands top sent to the address (over every
	// connection), to take them out of the node's ops/s.
	sent int64
	// allInfo: the node refused INFO with several sections (before Redis
	// 7): ask for INFO all.
	allInfo bool
}

// opsSample is a node's total_commands_processed at one refresh.
type opsSample struct {
	total int64
	sent  int64 // topConn.sent before the INFO that read total
	at    time.Time
}

// topSampler takes the snapshots of one `cluster top` run. Only the
// goroutine of the run calls its methods; refresh queries the nodes from
// goroutines of its own, each on its node's topConn only.
type topSampler struct {
	o     adminOpts
	conns map[string]*topConn  // by address
	prev  map[string]opsSample // by node id
	known []string             // node addresses of the last snapshot
	now   func() time.Time
}

func newTopSampler(o adminOpts) *topSampler {
	return &topSampler{o: o, conns: map[string]*topConn{}, prev: map[string]opsSample{}, now: time.Now}
}

// close closes every connection.
func (s *topSampler) close() {
	for _, tc := range s.conns {
		if tc.c != nil {
			tc.c.Close()
		}
	}
}

func (s *topSampler) conn(addr string) *topConn {
	tc := s.conns[addr]
	if tc == nil {
		tc = &topConn{}
		s.conns[addr] = tc
	}
	return tc
}

// do sends one command on addr's connection, dialling (and
// authenticating) it first when needed. A failed connection is dropped
// (dialled again next time). Its errors are undescribed: see describeErr.
func (s *topSampler) do(ctx context.Context, tc *topConn, addr string, args ...any) (respclient.Value, error) {
	if tc.c == nil {
		c, err := respclient.DialTLS(ctx, addr, s.o.timeout, s.o.tls)
		if err != nil {
			return respclient.Value{}, err
		}
		if s.o.password != "" {
			tc.sent++
			if _, err := c.Do(ctx, "AUTH", s.o.password); err != nil {
				c.Close()
				return respclient.Value{}, err
			}
		}
		tc.c = c
	}
	tc.sent++
	v, err := tc.c.Do(ctx, args...)
	var re *respclient.ReplyError
	if err != nil && !errors.As(err, &re) {
		tc.c.Close()
		tc.c = nil
	}
	return v, err
}

// clusterView is what the node asked for the cluster-wide state answered.
type clusterView struct {
	addr    string
	state   string
	nodes   []clusterNode
	groups  []groupInfo // nil without SHOAL GROUPS
	jobs    []jobStatus
	balance *balanceStatus
	errs    []string
}

// queryCluster asks addr for the cluster-wide state. Only CLUSTER NODES
// must answer; the SHOAL queries' failures are in errs (once, for a node
// that has no SHOAL commands).
func (s *topSampler) queryCluster(ctx context.Context, addr string) (clusterView, error) {
	tc := s.conn(addr)
	v := clusterView{addr: addr}
	text := func(args ...any) (string, error) {
		r, err := s.do(ctx, tc, addr, args...)
		if err != nil {
			return "", describeErr(addr, err)
		}
		t, ok := r.Text()
		if !ok {
			return "", fmt.Errorf("%s: %v: unexpected reply %s", addr, args, r)
		}
		return t, nil
	}
	nodesText, err := text("CLUSTER", "NODES")
	if err != nil {
		return v, err
	}
	if v.nodes, err = parseClusterNodes(nodesText); err != nil {
		return v, fmt.Errorf("%s: %w", addr, err)
	}
	if info, err := text("CLUSTER", "INFO"); err != nil {
		v.errs = append(v.errs, err.Error())
	} else {
		v.state = infoValue(parseClusterInfo(info), "cluster_state")
	}
	r, err := s.do(ctx, tc, addr, "SHOAL", "GROUPS")
	if err != nil {
		var re *respclient.ReplyError
		if errors.As(err, &re) && strings.Contains(re.Msg, "unknown command") {
			v.errs = append(v.errs, fmt.Sprintf("%s has no SHOAL commands (not a Shoal cluster): "+
				"no groups, jobs or balancer", addr))
			return v, nil
		}
		v.errs = append(v.errs, describeShoalErr(addr, err).Error())
	} else if v.groups, err = parseShoalGroups(r); err != nil {
		v.errs = append(v.errs, fmt.Sprintf("%s: %v", addr, err))
	}
	if r, err := s.do(ctx, tc, addr, "SHOAL", "JOBS"); err != nil {
		v.errs = append(v.errs, describeMigrateErr(addr, err).Error())
	} else if v.jobs, err = parseShoalJobs(r); err != nil {
		v.errs = append(v.errs, fmt.Sprintf("%s: %v", addr, err))
	}
	if r, err := s.do(ctx, tc, addr, "SHOAL", "REBALANCE", "STATUS"); err != nil {
		v.errs = append(v.errs, describeMigrateErr(addr, err).Error())
	} else if st, err := parseBalanceStatus(r); err != nil {
		v.errs = append(v.errs, fmt.Sprintf("%s: %v", addr, err))
	} else {
		v.balance = &st
	}
	return v, nil
}

// nodeInfo is one node's INFO, parsed.
type nodeInfo struct {
	info map[string]map[string]string
	sent int64 // topConn.sent before the INFO
	at   time.Time
	err  error
}

// queryInfo asks addr for the INFO sections top shows.
func (s *topSampler) queryInfo(ctx context.Context, tc *topConn, addr string) nodeInfo {
	args := topInfoSections
	if tc.allInfo {
		args = []any{"INFO", "all"}
	}
	sent := tc.sent
	if tc.c == nil && s.o.password != "" {
		sent++ // the AUTH of the dial
	}
	r, err := s.do(ctx, tc, addr, args...)
	var re *respclient.ReplyError
	if errors.As(err, &re) && !tc.allInfo && strings.Contains(strings.ToLower(re.Msg), "syntax") {
		tc.allInfo = true
		return s.queryInfo(ctx, tc, addr)
	}
	if err != nil {
		return nodeInfo{err: describeErr(addr, err)}
	}
	text, ok := r.Text()
	if !ok {
		return nodeInfo{err: fmt.Errorf("%s: INFO: unexpected reply %s", addr, r)}
	}
	return nodeInfo{info: parseInfoSections(text), sent: sent, at: s.now()}
}

// refresh takes one snapshot. It fails only when no node answered CLUSTER
// NODES; the snapshot then holds the errors.
func (s *topSampler) refresh(ctx context.Context) (topSnapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*s.o.timeout)
	defer cancel()
	snap := topSnapshot{Time: s.now(), Nodes: []topNode{}, Jobs: []jobStatus{}}
	var view clusterView
	var err error
	tried := map[string]bool{}
	for _, addr := range append([]string{s.o.addr}, s.known...) {
		if tried[addr] {
			continue
		}
		tried[addr] = true
		if view, err = s.queryCluster(ctx, addr); err == nil {
			break
		}
		snap.Errors = append(snap.Errors, err.Error())
		if ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return snap, err
	}
	snap.Addr, snap.ClusterState, snap.Balance = view.addr, view.state, view.balance
	snap.Errors = append(snap.Errors, view.errs...)
	if view.jobs != nil {
		snap.Jobs = view.jobs
	}
	snap.Nodes, snap.Groups = s.gather(ctx, view)
	s.known = s.known[:0]
	for _, n := range snap.Nodes {
		s.known = append(s.known, n.Addr)
		if n.Error != "" {
			snap.Errors = append(snap.Errors, fmt.Sprintf("node %s (%s): %s", shortID(n.ID), n.Addr, n.Error))
		}
	}
	s.dropConns(snap.Nodes, view.addr)
	return snap, nil
}

// dropConns closes the connections to addresses no longer in the cluster.
func (s *topSampler) dropConns(nodes []topNode, keep string) {
	in := map[string]bool{keep: true}
	for _, n := range nodes {
		in[n.Addr] = true
	}
	for a, tc := range s.conns {
		if !in[a] {
			if tc.c != nil {
				tc.c.Close()
			}
			delete(s.conns, a)
		}
	}
}

// gather asks every node of view for its INFO, concurrently, and builds
// the nodes and groups of the snapshot.
func (s *topSampler) gather(ctx context.Context, view clusterView) ([]topNode, []topGroup) {
	draining := map[string]bool{}
	if view.balance != nil {
		for _, id := range view.balance.Draining {
			draining[id] = true
		}
	}
	nodes := make([]topNode, len(view.nodes))
	infos := make([]nodeInfo, len(view.nodes))
	var wg sync.WaitGroup
	for i, n := range view.nodes {
		addr, ok := n.dialAddr(view.addr)
		if n.hasFlag("myself") {
			addr, ok = view.addr, true
		}
		nodes[i] = topNode{ID: n.ID, Addr: addr, State: topState(n, draining[n.ID]), Role: n.role()}
		if !ok {
			nodes[i].Addr = n.Addr
			infos[i].err = errors.New("no address known for this node")
			continue
		}
		tc := s.conn(addr)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			infos[i] = s.queryInfo(ctx, tc, nodes[i].Addr)
		}(i)
	}
	wg.Wait()
	for i := range nodes {
		s.fillNode(&nodes[i], infos[i])
	}
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Addr < nodes[j].Addr })
	if view.groups == nil {
		return nodes, nil
	}
	return nodes, buildGroups(view.groups, nodes)
}

// topState is the State of n.
func topState(n clusterNode, draining bool) string {
	switch {
	case n.hasFlag("fail"):
		return "failed"
	case draining:
		return "draining"
	case n.hasFlag("fail?"):
		return "suspect"
	case n.hasFlag("handshake"):
		return "joining"
	}
	return "alive"
}

// fillNode sets n's figures from its INFO, and its ops/s from the previous
// sample of the same node.
func (s *topSampler) fillNode(n *topNode, ni nodeInfo) {
	if ni.err != nil {
		n.Error = ni.err.Error()
		delete(s.prev, n.ID)
		return
	}
	info := ni.info
	n.UsedMemory = infoIntPtr(info, "memory", "used_memory")
	n.Clients = infoIntPtr(info, "clients", "connected_clients")
	keys := keyspaceKeys(info["keyspace"]) // no db line: no keys
	n.Keys = &keys
	if lat := parseLatencyStats(info["latencystats"]); len(lat) > 0 {
		n.Latency = lat
		if p, cmd, ok := nodeP99(lat, parseCommandCalls(info["commandstats"])); ok {
			n.P99Usec, n.P99Command = &p, cmd
		}
	}
	if r := parseRaftGroups(info["raft"]); len(r) > 0 {
		n.Raft = r
	}
	total := infoIntPtr(info, "stats", "total_commands_processed")
	if total == nil {
		delete(s.prev, n.ID)
		return
	}
	cur := opsSample{total: *total, sent: ni.sent, at: ni.at}
	if p, ok := s.prev[n.ID]; ok && cur.at.After(p.at) && cur.total >= p.total {
		ops := float64(max(cur.total-p.total-(cur.sent-p.sent), 0)) / cur.at.Sub(p.at).Seconds()
		n.OpsPerSec = &ops
	}
	s.prev[n.ID] = cur
}

// buildGroups joins SHOAL GROUPS with the nodes' INFO raft: leaders'
// addresses, followers and their lag.
func buildGroups(groups []groupInfo, nodes []topNode) []topGroup {
	byID := make(map[string]*topNode, len(nodes))
	for i := range nodes {
		byID[nodes[i].ID] = &nodes[i]
	}
	out := make([]topGroup, 0, len(groups))
	for _, g := range groups {
		tg := topGroup{ID: g.ID, Slots: g.Slots, Leader: g.Leader, Followers: []topFollower{}}
		var lead *raftReplica
		if l := byID[g.Leader]; l != nil {
			tg.LeaderAddr = l.Addr
			l.Leads++
			if r, ok := l.Raft[g.ID]; ok {
				lead = &r
				tg.SteppedDown = r.State != "leader"
			}
		}
		for _, m := range g.Members {
			if m == g.Leader {
				continue
			}
			f := topFollower{ID: m}
			if n := byID[m]; n != nil {
				f.Addr = n.Addr
				n.Follows++
				if r, ok := n.Raft[g.ID]; ok && lead != nil {
					lag := int64(0)
					if lead.AppliedIndex > r.AppliedIndex {
						lag = int64(lead.AppliedIndex - r.AppliedIndex)
					}
					f.Lag = &lag
				}
			}
			tg.Followers = append(tg.Followers, f)
		}
		out = append(out, tg)
	}
	return out
}

// ---- the run ----

func runClusterTop(cc *cli.Context) error {
	o := adminOptions(cc)
	if cc.NArg() != 0 {
		return fmt.Errorf("usage: shoal cluster top [--addr HOST:PORT] [--interval 1s] [--once] [--json] "+
			"(no arguments, got %q)", cc.Args().Slice())
	}
	interval := cc.Duration("interval")
	if interval <= 0 {
		return fmt.Errorf("--interval %s: give a positive duration, e.g. --interval 1s", interval)
	}
	ctx, stop := signal.NotifyContext(cc.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := topRun{o: o, interval: interval, once: cc.Bool("once")}
	if !o.json && !r.once {
		if f, ok := o.out.(*os.File); ok && isTerminal(f) {
			r.term = f
		}
	}
	return r.run(ctx)
}

// topRun is one `cluster top`: how it refreshes and where it draws.
type topRun struct {
	o        adminOpts
	interval time.Duration
	once     bool
	// term is the terminal the screen is redrawn on; nil for plain
	// snapshots (or JSON) one after the other.
	term *os.File
}

// run refreshes every r.interval until ctx ends (Ctrl-C, or q on the
// terminal), which is not an error. With --once it prints the second
// snapshot and returns, failing when no node answered.
func (r topRun) run(ctx context.Context) error {
	s := newTopSampler(r.o)
	defer s.close()
	var redraw <-chan os.Signal
	if r.term != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		restore := enterScreen(r.term, cancel)
		defer restore()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		redraw = winch
	}
	var last topSnapshot
	for i := 0; ; i++ {
		start := time.Now()
		snap, err := s.refresh(ctx)
		if ctx.Err() != nil {
			return nil
		}
		last = snap
		switch {
		case r.once && i == 0:
			// The first sample only starts the ops/s counts.
		case r.once:
			if err != nil {
				return err
			}
			return r.show(snap, i)
		default:
			if err := r.show(snap, i); err != nil {
				return err
			}
		}
		timer := time.NewTimer(max(r.interval-time.Since(start), 0))
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case <-redraw:
				if err := r.show(last, i); err != nil {
					return err
				}
			case <-timer.C:
				break wait
			}
		}
	}
}

// show prints snapshot number i: JSON, a frame on the terminal, or plain
// text after a blank line.
func (r topRun) show(snap topSnapshot, i int) error {
	switch {
	case r.o.json:
		return writeJSONLine(r.o.out, snap)
	case r.term != nil:
		w, h := termSize(r.term)
		_, err := r.o.out.Write(topFrame(snap, w, h, r.interval))
		return err
	}
	var b strings.Builder
	if i > 0 && !r.once {
		b.WriteString("\n")
	}
	for _, line := range topLines(snap, 0, "") {
		b.WriteString(line)
		b.WriteString("\n")
	}
	_, err := r.o.out.Write([]byte(b.String()))
	return err
}
