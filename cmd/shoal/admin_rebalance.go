// The rebalance and remove-node subcommands: spreading groups, replicas
// and slots evenly over the nodes, and draining a node out of the cluster
// (SHOAL REBALANCE, REBALANCE STATUS, REMOVE-NODE). Any node takes them:
// the meta leader carries the request out step by step, so the CLI may
// exit (or crash) without stopping it; --wait follows it here.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/respclient"
)

// How often --wait polls SHOAL REBALANCE STATUS (a variable for the
// tests); progress lines off a terminal come every jobLineEvery.
var balancePoll = time.Second

// minIDPrefix is the shortest node id prefix remove-node accepts.
const minIDPrefix = 8

// waitFlags are the flags of a subcommand that can wait for the cluster to
// carry its request out.
func waitFlags(what string) []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "wait", Usage: "follow the " + what + " until it is finished, showing its progress; " +
			"exit non-zero when a migration job it started is aborted or --wait-timeout passes"},
		&cli.DurationFlag{Name: "wait-timeout", Value: 30 * time.Minute, Usage: "with --wait, how long to wait " +
			"at most (the " + what + " goes on in the cluster when it passes)"},
	}
}

// rebalanceCommand is `shoal cluster rebalance`.
func rebalanceCommand(shared []cli.Flag) *cli.Command {
	flags := append(append(append([]cli.Flag(nil), shared...),
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan only; change nothing"}), waitFlags("rebalance")...)
	return &cli.Command{
		Name:  "rebalance",
		Usage: "spread groups, replicas and slots evenly over the nodes (SHOAL REBALANCE)",
		Description: "Prints the plan, one step per line: groups created on nodes that lead none, group replicas " +
			"moved between nodes, slots moved (by migration jobs) so that every node leads about as many slots " +
			"as the others. Without --dry-run the meta leader then carries it out step by step, resuming after " +
			"crashes; clients see at most MOVED and TRYAGAIN. --wait follows it until it is finished (a live " +
			"status line on a terminal, one line every 5 s otherwise).",
		Flags:  flags,
		Action: runClusterRebalance,
	}
}

// removeNodeCommand is `shoal cluster remove-node`.
func removeNodeCommand(shared []cli.Flag) *cli.Command {
	return &cli.Command{
		Name:      "remove-node",
		Usage:     "drain a node and take it out of the cluster (SHOAL REMOVE-NODE)",
		ArgsUsage: "NODE-ID",
		Description: "NODE-ID is a node id from `shoal cluster nodes`, or a unique prefix of it of at least 8 " +
			"characters. The node is marked draining: the meta leader moves its group replicas and leaderships " +
			"to the other nodes, then takes it out of the map; after that its process can be stopped. --wait " +
			"follows the drain until the node is removed.",
		Flags:  append(append([]cli.Flag(nil), shared...), waitFlags("removal")...),
		Action: runClusterRemoveNode,
	}
}

// balanceStatus is SHOAL REBALANCE STATUS.
type balanceStatus struct {
	Requested  bool     `json:"requested"`
	Draining   []string `json:"draining"`
	Removed    []string `json:"removed"`
	ActiveJobs int      `json:"active_jobs"`
	Plan       []string `json:"plan"`
}

// parseTextArray parses an array of strings (what describes the reply in
// errors).
func parseTextArray(v respclient.Value, what string) ([]string, error) {
	if v.Kind != respclient.KindArray {
		return nil, fmt.Errorf("%s: want an array, got %s", what, v)
	}
	out := make([]string, 0, len(v.Array))
	for _, e := range v.Array {
		s, ok := e.Text()
		if !ok {
			return nil, fmt.Errorf("%s: %s is not a string", what, e)
		}
		out = append(out, s)
	}
	return out, nil
}

// parseBalanceStatus parses a SHOAL REBALANCE STATUS reply of either
// protocol version.
func parseBalanceStatus(v respclient.Value) (balanceStatus, error) {
	const what = "SHOAL REBALANCE STATUS"
	var st balanceStatus
	if v.Kind != respclient.KindMap && v.Kind != respclient.KindArray {
		return st, fmt.Errorf("%s: want a map, got %s", what, v)
	}
	integer := func(key string) (int64, error) {
		e, ok := v.Get(key)
		if !ok || e.Kind != respclient.KindInt {
			return 0, fmt.Errorf("%s: bad or missing %s in %s", what, key, v)
		}
		return e.Int, nil
	}
	list := func(key string) ([]string, error) {
		e, ok := v.Get(key)
		if !ok {
			return nil, fmt.Errorf("%s: no %s in %s", what, key, v)
		}
		return parseTextArray(e, what+" "+key)
	}
	req, err := integer("requested")
	if err != nil {
		return st, err
	}
	active, err := integer("active-jobs")
	if err != nil {
		return st, err
	}
	st.Requested, st.ActiveJobs = req != 0, int(active)
	if st.Draining, err = list("draining"); err != nil {
		return st, err
	}
	if st.Removed, err = list("removed"); err != nil {
		return st, err
	}
	st.Plan, err = list("plan")
	return st, err
}

// queryBalance asks c for SHOAL REBALANCE STATUS.
func queryBalance(ctx context.Context, c *respclient.Conn, addr string) (balanceStatus, error) {
	v, err := c.Do(ctx, "SHOAL", "REBALANCE", "STATUS")
	if err != nil {
		return balanceStatus{}, describeMigrateErr(addr, err)
	}
	st, err := parseBalanceStatus(v)
	if err != nil {
		return st, fmt.Errorf("%s: %w", addr, err)
	}
	return st, nil
}

// rebalanceResult is what `rebalance --json` prints.
type rebalanceResult struct {
	Plan      []string `json:"plan"`
	Requested bool     `json:"requested"` // the plan is being carried out
}

func runClusterRebalance(cc *cli.Context) error {
	o := adminOptions(cc)
	dryRun, wait := cc.Bool("dry-run"), cc.Bool("wait")
	if dryRun && wait {
		return errors.New("--dry-run and --wait exclude each other: a dry run starts nothing to wait for")
	}
	if cc.NArg() != 0 {
		return fmt.Errorf("usage: shoal cluster rebalance [--addr HOST:PORT] [--dry-run] [--wait] (no arguments, got %q)",
			cc.Args().Slice())
	}
	var known map[string]bool
	if wait {
		var err error
		if known, err = jobIDs(cc.Context, o, o.addr); err != nil {
			return err
		}
	}
	args := []any{"SHOAL", "REBALANCE"}
	if dryRun {
		args = append(args, "DRYRUN")
	}
	v, err := shoalDo(cc.Context, o, args...)
	if err != nil {
		return err
	}
	plan, err := parseTextArray(v, "SHOAL REBALANCE")
	if err != nil {
		return fmt.Errorf("%s: %w", o.addr, err)
	}
	if err := printPlan(o, plan, dryRun, wait); err != nil || !wait {
		return err
	}
	w := balanceWait{o: o, addr: o.addr, known: known, timeout: cc.Duration("wait-timeout"),
		opts: waitOpts{poll: balancePoll, lineEvery: jobLineEvery, tty: isTerminal(o.out)}}
	waited := false
	err = w.run(cc.Context, "rebalancing", func(st balanceStatus) bool {
		done := !st.Requested && st.ActiveJobs == 0 && len(st.Plan) == 0
		waited = waited || !done
		return done
	}, "the rebalance goes on in the cluster: follow it with `shoal cluster jobs`")
	if err != nil || o.json || (len(plan) == 0 && !waited) {
		return err
	}
	_, err = fmt.Fprintln(o.out, "Rebalance done: the cluster is balanced.")
	return err
}

// printPlan prints the plan SHOAL REBALANCE returned: as JSON, or as
// numbered lines (how to follow it unless wait).
func printPlan(o adminOpts, plan []string, dryRun, wait bool) error {
	if o.json {
		return writeJSON(o.out, rebalanceResult{Plan: plan, Requested: !dryRun})
	}
	switch {
	case len(plan) == 0 && dryRun:
		_, err := fmt.Fprintln(o.out, "The cluster is balanced: nothing to do.")
		return err
	case len(plan) == 0:
		// The request is in the map all the same: the meta leader plans
		// with its own view (a node that just joined may not be known here).
		_, err := fmt.Fprintln(o.out, "The cluster is balanced as this node sees it; the meta leader checks the request.")
		return err
	}
	head := fmt.Sprintf("Rebalance started, %s:", plural(len(plan), "step"))
	if dryRun {
		head = fmt.Sprintf("Rebalance plan, %s (dry run: nothing changed):", plural(len(plan), "step"))
	}
	var b strings.Builder
	b.WriteString(head + "\n")
	width := len(fmt.Sprint(len(plan)))
	for i, step := range plan {
		fmt.Fprintf(&b, "  %*d. %s\n", width, i+1, step)
	}
	if !dryRun && !wait {
		fmt.Fprintf(&b, "The meta leader carries it out step by step; `shoal cluster jobs --addr %s` shows its "+
			"migrations, or run rebalance with --wait.\n", o.addr)
	}
	_, err := io.WriteString(o.out, b.String())
	return err
}

// removeResult is what `remove-node --json` prints.
type removeResult struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	State string `json:"state"` // draining, or removed (after --wait)
}

func runClusterRemoveNode(cc *cli.Context) error {
	o := adminOptions(cc)
	if cc.NArg() != 1 {
		return errors.New("usage: shoal cluster remove-node [--addr HOST:PORT] [--wait] NODE-ID " +
			"(`shoal cluster nodes` lists the ids)")
	}
	nodes, err := queryNodes(cc.Context, o, o.addr)
	if err != nil {
		return err
	}
	node, err := resolveNode(nodes, cc.Args().First())
	if err != nil {
		return fmt.Errorf("%w (`shoal cluster nodes --addr %s` lists the nodes)", err, o.addr)
	}
	res := removeResult{ID: node.ID, Addr: node.Addr, State: "draining"}
	wait := cc.Bool("wait")
	pollAddr := followAddr(nodes, node, o.addr)
	var known map[string]bool
	if wait {
		if known, err = jobIDs(cc.Context, o, pollAddr); err != nil {
			return err
		}
	}
	if _, err := shoalDo(cc.Context, o, "SHOAL", "REMOVE-NODE", node.ID); err != nil {
		return err
	}
	if !wait {
		if o.json {
			return writeJSON(o.out, res)
		}
		_, err := fmt.Fprintf(o.out, "Node %s (%s) is draining: its group replicas and leaderships move to other "+
			"nodes, then it leaves the map.\nFollow it with `shoal cluster remove-node --addr %s --wait %s` "+
			"(marking it again changes nothing).\n", node.ID, node.Addr, o.addr, node.ID)
		return err
	}
	if !o.json {
		fmt.Fprintf(o.out, "Node %s (%s) is draining.\n", node.ID, node.Addr)
	}
	w := balanceWait{o: o, addr: pollAddr, known: known, timeout: cc.Duration("wait-timeout"),
		opts: waitOpts{poll: balancePoll, lineEvery: jobLineEvery, tty: isTerminal(o.out)}}
	err = w.run(cc.Context, "draining node "+shortID(node.ID), func(st balanceStatus) bool {
		return slices.Contains(st.Removed, node.ID) && !slices.Contains(st.Draining, node.ID)
	}, "node "+node.ID+" stays draining until the cluster has moved everything off it")
	if err != nil {
		return err
	}
	if o.json {
		res.State = "removed"
		return writeJSON(o.out, res)
	}
	_, err = fmt.Fprintf(o.out, "Node %s removed; its process can now be stopped.\n", node.ID)
	return err
}

// resolveNode finds the node arg names: its id, or a unique prefix of it
// of at least minIDPrefix hex characters.
func resolveNode(nodes []clusterNode, arg string) (clusterNode, error) {
	p := strings.ToLower(strings.TrimSpace(arg))
	if len(p) < minIDPrefix {
		return clusterNode{}, fmt.Errorf("node id %q is too short: give the id or at least its first %d characters",
			arg, minIDPrefix)
	}
	if strings.TrimLeft(p, "0123456789abcdef") != "" {
		return clusterNode{}, fmt.Errorf("%q is not a node id: ids are hexadecimal", arg)
	}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	found := idsWithPrefix(ids, p)
	switch len(found) {
	case 0:
		return clusterNode{}, fmt.Errorf("no node of the cluster has an id starting with %s "+
			"(a node removed already is not listed)", p)
	case 1:
		return nodes[slices.Index(ids, found[0])], nil
	}
	return clusterNode{}, fmt.Errorf("%s is the start of %d node ids (%s): give more of the id", p, len(found),
		strings.Join(found, ", "))
}

// followAddr returns the address to follow the removal of node on: seed,
// the node nodes were listed by, unless that is node itself, which stops
// hearing of the map once it is out of it; then the first other node not
// failed (seed when there is none).
func followAddr(nodes []clusterNode, node clusterNode, seed string) string {
	if !node.hasFlag("myself") {
		return seed
	}
	for _, n := range nodes {
		if a, ok := n.dialAddr(seed); ok && n.ID != node.ID && !n.hasFlag("fail") && !n.hasFlag("fail?") {
			return a
		}
	}
	return seed
}

// jobIDs returns the ids of the jobs SHOAL JOBS on addr lists.
func jobIDs(ctx context.Context, o adminOpts, addr string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*o.timeout)
	defer cancel()
	c, err := adminDial(ctx, o, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	jobs, err := queryJobs(ctx, c, addr)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		ids[j.ID] = true
	}
	return ids, nil
}

// balanceWait follows the rebalancer on addr (--wait of rebalance and
// remove-node).
type balanceWait struct {
	o       adminOpts
	addr    string
	known   map[string]bool // the jobs before the request: the others are the request's
	timeout time.Duration   // --wait-timeout
	opts    waitOpts
}

// run polls SHOAL REBALANCE STATUS and SHOAL JOBS until done says the
// status is the outcome, showing progress lines "<what>: ...". A job the
// request started that aborts, the deadline and a node that stops
// answering end the wait with an error; goesOn says what becomes of the
// request then.
func (w balanceWait) run(ctx context.Context, what string, done func(balanceStatus) bool, goesOn string) error {
	line := what + ": starting"
	deadline := time.Now().Add(w.timeout)
	return waitLoop(ctx, w.o, w.addr, w.opts, func(ctx context.Context, c *respclient.Conn) (pollResult, error) {
		if time.Now().After(deadline) {
			return pollResult{done: true, err: fmt.Errorf("gave up waiting after --wait-timeout %s (%s); %s",
				w.timeout, line, goesOn)}, nil
		}
		st, err := queryBalance(ctx, c, w.addr)
		if err != nil {
			return pollResult{}, err
		}
		jobs, err := queryJobs(ctx, c, w.addr)
		if err != nil {
			return pollResult{}, err
		}
		for _, j := range jobs {
			if !w.known[j.ID] && j.Phase == "aborted" {
				return pollResult{done: true, err: fmt.Errorf("%s: %w; %s", what, jobAbortErr(j), goesOn)}, nil
			}
		}
		line = balanceLine(what, st, jobs)
		return pollResult{line: line, done: done(st)}, nil
	}, func(err error) error {
		return fmt.Errorf("stopped waiting (%s): %w; %s", line, err, goesOn)
	})
}

// balanceLine is one progress line of the rebalancer: steps left, active
// jobs and the rates of the first three.
func balanceLine(what string, st balanceStatus, jobs []jobStatus) string {
	const shown = 3
	s := fmt.Sprintf("%s: %s left, %s", what, plural(len(st.Plan), "step"), plural(st.ActiveJobs, "active job"))
	var parts []string
	active := 0
	for _, j := range jobs {
		if j.ended() {
			continue
		}
		if active++; active <= shown {
			parts = append(parts, fmt.Sprintf("%s %.0f keys/s ETA %s", j.ID, j.KeysPerSec, etaText(j.ETAMs)))
		}
	}
	if active > shown {
		parts = append(parts, fmt.Sprintf("+%d more", active-shown))
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// plural is "1 step", "2 steps".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
