// The groups and transfer-leader subcommands: Shoal's shard groups (SHOAL
// GROUPS) and moving a group's leadership (SHOAL LEADER-TRANSFER, sent to
// the group's current leader). Unlike the other subcommands these need
// Shoal: Redis Cluster has neither command.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/respclient"
)

// preferredNote explains why a moved leadership does not stay where it was
// moved; the help and the output of transfer-leader both show it.
const preferredNote = "Shoal hands the leadership of a group back to its preferred leader (its first member) " +
	"about a second after another node took over, while that node is healthy: a transfer away from " +
	"the preferred leader is undone a few seconds later."

// groupsCommand is `shoal cluster groups`.
func groupsCommand(shared []cli.Flag) *cli.Command {
	return &cli.Command{Name: "groups", Usage: "list the shard groups: leader, members and slots (SHOAL GROUPS)",
		Flags: shared, Action: runClusterGroups}
}

// transferLeaderCommand is `shoal cluster transfer-leader`.
func transferLeaderCommand(shared []cli.Flag) *cli.Command {
	flags := append(append([]cli.Flag(nil), shared...),
		&cli.StringFlag{Name: "group", Required: true, Usage: "id of the group (`shoal cluster groups` lists them)"},
		&cli.StringFlag{Name: "to", Usage: "node id, or a unique prefix of it, of the group member to hand the " +
			"leadership to (default: the most up-to-date other member)"},
	)
	return &cli.Command{
		Name:  "transfer-leader",
		Usage: "move the leadership of a group to another member (SHOAL LEADER-TRANSFER)",
		Description: "Finds the group's leader, asks it to hand its leadership over, and prints the new leader " +
			"once a member reports it.\n\n" + preferredNote,
		Flags:  flags,
		Action: runTransferLeader,
	}
}

// groupInfo is one group of SHOAL GROUPS.
type groupInfo struct {
	ID         string      `json:"id"`
	Leader     string      `json:"leader,omitempty"` // "" when unknown
	LeaderAddr string      `json:"leader_addr,omitempty"`
	Members    []string    `json:"members"` // the preferred leader first
	Slots      []slotRange `json:"slots"`
}

// parseShoalGroups parses a SHOAL GROUPS reply of either protocol version.
func parseShoalGroups(v respclient.Value) ([]groupInfo, error) {
	if v.Kind != respclient.KindArray {
		return nil, fmt.Errorf("SHOAL GROUPS: want an array, got %s", v)
	}
	out := make([]groupInfo, 0, len(v.Array))
	for i, e := range v.Array {
		var g groupInfo
		id, _ := e.Get("id")
		leader, _ := e.Get("leader")
		members, _ := e.Get("members")
		slots, _ := e.Get("slots")
		var ok bool
		if g.ID, ok = id.Text(); !ok || g.ID == "" {
			return nil, fmt.Errorf("SHOAL GROUPS entry %d: no id in %s", i, e)
		}
		if !leader.IsNull() {
			if g.Leader, ok = leader.Text(); !ok {
				return nil, fmt.Errorf("SHOAL GROUPS %s: bad leader %s", g.ID, leader)
			}
		}
		if members.Kind != respclient.KindArray || len(members.Array) == 0 {
			return nil, fmt.Errorf("SHOAL GROUPS %s: bad members %s", g.ID, members)
		}
		for _, m := range members.Array {
			s, ok := m.Text()
			if !ok {
				return nil, fmt.Errorf("SHOAL GROUPS %s: bad member %s", g.ID, m)
			}
			g.Members = append(g.Members, s)
		}
		if slots.Kind != respclient.KindArray || len(slots.Array)%2 != 0 {
			return nil, fmt.Errorf("SHOAL GROUPS %s: bad slots %s", g.ID, slots)
		}
		g.Slots = []slotRange{}
		for j := 0; j < len(slots.Array); j += 2 {
			a, b := slots.Array[j], slots.Array[j+1]
			r := slotRange{Start: int(a.Int), End: int(b.Int)}
			if a.Kind != respclient.KindInt || b.Kind != respclient.KindInt || r.Start < 0 || r.End < r.Start || r.End >= numSlots {
				return nil, fmt.Errorf("SHOAL GROUPS %s: bad slot range %s %s", g.ID, a, b)
			}
			g.Slots = append(g.Slots, r)
		}
		out = append(out, g)
	}
	return out, nil
}

// groupsView is one node's SHOAL GROUPS with the client address of every
// node (from its CLUSTER NODES).
type groupsView struct {
	groups []groupInfo
	addrs  map[string]string // node id -> HOST:PORT
}

// group returns the group with id, or false.
func (v groupsView) group(id string) (groupInfo, bool) {
	for _, g := range v.groups {
		if g.ID == id {
			return g, true
		}
	}
	return groupInfo{}, false
}

// describeShoalErr is describeErr for the SHOAL commands, which Redis and
// older Shoal versions do not have.
func describeShoalErr(addr string, err error) error {
	var re *respclient.ReplyError
	if errors.As(err, &re) && strings.Contains(re.Msg, "unknown command") {
		return fmt.Errorf("%s does not know the SHOAL commands (it answered %q): this needs a Shoal cluster "+
			"of this version (with Redis Cluster, send CLUSTER FAILOVER to a replica instead)", addr, re.Msg)
	}
	return describeErr(addr, err)
}

// queryGroups asks the node at addr for SHOAL GROUPS and CLUSTER NODES.
func queryGroups(ctx context.Context, o adminOpts, addr string) (groupsView, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*o.timeout)
	defer cancel()
	c, err := adminDial(ctx, o, addr)
	if err != nil {
		return groupsView{}, err
	}
	defer c.Close()
	v, err := c.Do(ctx, "SHOAL", "GROUPS")
	if err != nil {
		return groupsView{}, describeShoalErr(addr, err)
	}
	view := groupsView{addrs: map[string]string{}}
	if view.groups, err = parseShoalGroups(v); err != nil {
		return groupsView{}, fmt.Errorf("%s: %w", addr, err)
	}
	text, err := doText(ctx, c, addr, "CLUSTER", "NODES")
	if err != nil {
		return groupsView{}, err
	}
	nodes, err := parseClusterNodes(text)
	if err != nil {
		return groupsView{}, fmt.Errorf("%s: %w", addr, err)
	}
	for _, n := range nodes {
		a, ok := n.dialAddr(addr)
		if n.hasFlag("myself") {
			a, ok = addr, true
		}
		if ok {
			view.addrs[n.ID] = a
		}
	}
	for i := range view.groups {
		view.groups[i].LeaderAddr = view.addrs[view.groups[i].Leader]
	}
	return view, nil
}

func runClusterGroups(cc *cli.Context) error {
	o := adminOptions(cc)
	view, err := queryGroups(cc.Context, o, o.addr)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(o.out, view.groups)
	}
	return renderGroups(o.out, view.groups)
}

func renderGroups(w io.Writer, groups []groupInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tLEADER\tMEMBERS (PREFERRED FIRST)\tSLOTS")
	for _, g := range groups {
		leader := "-"
		if g.Leader != "" {
			leader = strings.TrimSpace(shortID(g.Leader) + " " + g.LeaderAddr)
		}
		members := make([]string, len(g.Members))
		for i, m := range g.Members {
			members[i] = shortID(m)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.ID, leader, strings.Join(members, ","), slotsText(clusterNode{Slots: g.Slots}))
	}
	return tw.Flush()
}

// resolveMember finds the member of g that to names: its full id or a
// unique prefix of it. An empty to resolves to "".
func resolveMember(g groupInfo, to string) (string, error) {
	to = strings.ToLower(strings.TrimSpace(to))
	if to == "" {
		return "", nil
	}
	found := idsWithPrefix(g.Members, to)
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("node %q is not a member of group %s (members: %s)", to, g.ID, strings.Join(g.Members, ", "))
	}
	return "", fmt.Errorf("%q names more than one member of group %s (%s): give more of the id", to, g.ID, strings.Join(found, ", "))
}

// idsWithPrefix returns the ids that start with prefix: only the id equal
// to it when there is one.
func idsWithPrefix(ids []string, prefix string) []string {
	var found []string
	for _, id := range ids {
		if id == prefix {
			return []string{id}
		}
		if strings.HasPrefix(id, prefix) {
			found = append(found, id)
		}
	}
	return found
}

// transferResult is what transfer-leader did.
type transferResult struct {
	Group     string `json:"group"`
	From      string `json:"from"`
	FromAddr  string `json:"from_addr"`
	To        string `json:"to"`
	ToAddr    string `json:"to_addr"`
	Preferred string `json:"preferred"`
	// Moved is false when the requested node led the group already.
	Moved bool `json:"moved"`
}

func runTransferLeader(cc *cli.Context) error {
	o := adminOptions(cc)
	res, err := transferLeader(cc.Context, o, cc.String("group"), cc.String("to"))
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(o.out, res)
	}
	return renderTransfer(o.out, res)
}

// transferAttempts is how often transfer-leader looks the leader up again
// when the node it asked no longer leads the group.
const transferAttempts = 3

// transferLeader moves the leadership of group to the member to names ("":
// any other member) and waits until a member reports the new leader.
func transferLeader(ctx context.Context, o adminOpts, group, to string) (transferResult, error) {
	var lastErr error
	for attempt := 0; attempt < transferAttempts; attempt++ {
		view, g, err := findGroupLeader(ctx, o, group)
		if err != nil {
			return transferResult{}, err
		}
		target, err := resolveMember(g, to)
		if err != nil {
			return transferResult{}, err
		}
		res := transferResult{Group: g.ID, From: g.Leader, FromAddr: g.LeaderAddr, Preferred: g.Members[0]}
		if target == g.Leader {
			res.To, res.ToAddr = g.Leader, g.LeaderAddr
			return res, nil
		}
		if g.LeaderAddr == "" {
			return transferResult{}, fmt.Errorf("no address known for %s, the leader of group %s", g.Leader, g.ID)
		}
		args := []any{"SHOAL", "LEADER-TRANSFER", g.ID}
		if target != "" {
			args = append(args, target)
		}
		_, err = queryValue(ctx, o, g.LeaderAddr, args...)
		var re *respclient.ReplyError
		switch {
		case errors.As(err, &re) && strings.Contains(re.Msg, "does not lead group"):
			lastErr = fmt.Errorf("%s: %s", g.LeaderAddr, re.Msg)
			continue // leadership moved meanwhile: look again
		case errors.As(err, &re):
			return transferResult{}, describeShoalErr(g.LeaderAddr, err)
		case err != nil:
			return transferResult{}, err
		}
		res.To, err = waitNewLeader(ctx, o, view, g)
		if err != nil {
			return transferResult{}, err
		}
		res.ToAddr, res.Moved = view.addrs[res.To], true
		return res, nil
	}
	return transferResult{}, fmt.Errorf("group %s: the leader changed under every attempt: %w", group, lastErr)
}

// findGroupLeader returns the view of o.addr and group in it, waiting (up
// to 2*o.timeout) until the group has a known leader.
func findGroupLeader(ctx context.Context, o adminOpts, group string) (groupsView, groupInfo, error) {
	deadline := time.Now().Add(2 * o.timeout)
	for {
		view, err := queryGroups(ctx, o, o.addr)
		if err != nil {
			return view, groupInfo{}, err
		}
		g, ok := view.group(group)
		if !ok {
			ids := make([]string, len(view.groups))
			for i, g := range view.groups {
				ids[i] = g.ID
			}
			return view, g, fmt.Errorf("%s knows no group %q (groups: %s)", o.addr, group, strings.Join(ids, ", "))
		}
		if g.Leader != "" {
			return view, g, nil
		}
		if time.Now().After(deadline) {
			return view, g, fmt.Errorf("group %s has no known leader (asked %s); is a majority of %d members up?",
				g.ID, o.addr, len(g.Members))
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return view, g, err
		}
	}
}

// waitNewLeader polls the members of g (up to 2*o.timeout) until one of
// them reports a leader other than g.Leader, and returns it.
func waitNewLeader(ctx context.Context, o adminOpts, view groupsView, g groupInfo) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*o.timeout)
	defer cancel()
	conns := make(map[string]*respclient.Conn)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	seen := g.Leader
	for {
		for _, m := range g.Members {
			addr := view.addrs[m]
			if addr == "" {
				continue
			}
			c := conns[addr]
			if c == nil {
				var err error
				if c, err = adminDial(ctx, o, addr); err != nil {
					continue
				}
				conns[addr] = c
			}
			v, err := c.Do(ctx, "SHOAL", "GROUPS")
			if err != nil {
				c.Close()
				delete(conns, addr)
				continue
			}
			groups, err := parseShoalGroups(v)
			if err != nil {
				continue
			}
			for _, ng := range groups {
				if ng.ID == g.ID && ng.Leader != "" {
					if ng.Leader != g.Leader {
						return ng.Leader, nil
					}
					seen = ng.Leader
				}
			}
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return "", fmt.Errorf("%s acknowledged the transfer, but no member of group %s reported a new leader "+
				"in time (last seen: %s)", g.LeaderAddr, g.ID, seen)
		}
	}
}

// queryValue runs one command on a fresh connection to addr. An error
// reply is returned as is (a *respclient.ReplyError), other errors
// described.
func queryValue(ctx context.Context, o adminOpts, addr string, args ...any) (respclient.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*o.timeout)
	defer cancel()
	c, err := adminDial(ctx, o, addr)
	if err != nil {
		return respclient.Value{}, err
	}
	defer c.Close()
	v, err := c.Do(ctx, args...)
	var re *respclient.ReplyError
	if err != nil && !errors.As(err, &re) {
		err = describeErr(addr, err)
	}
	return v, err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func renderTransfer(w io.Writer, r transferResult) error {
	node := func(id, addr string) string {
		if addr == "" {
			return shortID(id)
		}
		return shortID(id) + " (" + addr + ")"
	}
	if !r.Moved {
		_, err := fmt.Fprintf(w, "Node %s already leads group %s; nothing to do.\n", node(r.To, r.ToAddr), r.Group)
		return err
	}
	fmt.Fprintf(w, "Leadership of group %s moved from %s to %s.\n", r.Group, node(r.From, r.FromAddr), node(r.To, r.ToAddr))
	if r.To != r.Preferred {
		fmt.Fprintf(w, "Note: %s is the group's preferred leader. %s\n", shortID(r.Preferred), preferredNote)
	}
	return nil
}
