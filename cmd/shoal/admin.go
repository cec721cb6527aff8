package main

// `shoal cluster info|nodes|slots|check`: an admin client of a running
// cluster. It speaks RESP to the nodes (internal/respclient) and reads the
// Redis Cluster replies (CLUSTER INFO, NODES, SLOTS), so it works against
// Shoal and against Redis Cluster alike; the latter is what its tests use as
// the reference. `shoal cluster groups|transfer-leader` (admin_transfer.go),
// `shoal cluster migrate|jobs|cancel` (admin_migrate.go) and
// `shoal cluster rebalance|remove-node` (admin_rebalance.go) use Shoal's own
// SHOAL commands; `shoal cluster top` (admin_top.go) shows them all live.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/shard"
)

// numSlots is the number of hash slots of a Redis Cluster.
const numSlots = shard.NumSlots

func clusterCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: "127.0.0.1:7000", Usage: "HOST:PORT of any node of the cluster"},
		&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"},
		&cli.StringFlag{Name: "password", EnvVars: []string{"SHOAL_PASSWORD"}, Usage: "password for AUTH (the nodes' --requirepass)"},
		&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "bound on connecting to and waiting for each node"},
	}
	flags = append(flags, adminTLSFlags()...) // tls.go
	sub := func(name, usage string, action cli.ActionFunc) *cli.Command {
		return &cli.Command{Name: name, Usage: usage, Flags: flags, Action: action}
	}
	return &cli.Command{
		Name:  "cluster",
		Usage: "inspect and check a running cluster, move group leaderships and slots, rebalance it, remove nodes, rotate gossip keys",
		Subcommands: []*cli.Command{
			sub("info", "print CLUSTER INFO of a node", runClusterInfo),
			sub("nodes", "list the nodes (CLUSTER NODES) as a table", runClusterNodes),
			sub("slots", "list the slot ranges and their nodes (CLUSTER SLOTS)", runClusterSlots),
			sub("check", "verify slot coverage, masters, epochs and state on every node", runClusterCheck),
			groupsCommand(flags),
			transferLeaderCommand(flags),
			migrateCommand(flags),
			jobsCommand(flags),
			cancelCommand(flags),
			rebalanceCommand(flags),
			removeNodeCommand(flags),
			keysCommand(flags),
			topCommand(flags),
		},
	}
}

// adminOpts are the flags every `shoal cluster` subcommand shares.
type adminOpts struct {
	addr     string
	json     bool
	password string
	timeout  time.Duration
	out      io.Writer
	// tls is the TLS client configuration (--tls); nil for plain TCP.
	tls *tls.Config
	// tlsErr is --tls's flags' error, reported by adminDial.
	tlsErr error
}

func adminOptions(cc *cli.Context) adminOpts {
	return adminOpts{
		addr:     cc.String("addr"),
		json:     cc.Bool("json"),
		password: cc.String("password"),
		timeout:  cc.Duration("timeout"),
		out:      cc.App.Writer,
	}.withTLS(cc) // tls.go
}

func runClusterInfo(cc *cli.Context) error {
	o := adminOptions(cc)
	text, err := queryText(cc.Context, o, o.addr, "CLUSTER", "INFO")
	if err != nil {
		return err
	}
	fields := parseClusterInfo(text)
	if o.json {
		return writeJSON(o.out, infoJSON(fields))
	}
	return renderInfo(o.out, fields)
}

func runClusterNodes(cc *cli.Context) error {
	o := adminOptions(cc)
	nodes, err := queryNodes(cc.Context, o, o.addr)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(o.out, nodes)
	}
	return renderNodes(o.out, nodes, false)
}

func runClusterSlots(cc *cli.Context) error { return showQuery(cc, querySlots, renderSlots) }

// showQuery runs a read-only admin subcommand: one connection to --addr,
// query, then the result as JSON (--json) or as render draws it.
func showQuery[T any](cc *cli.Context, query func(context.Context, *respclient.Conn, string) (T, error),
	render func(io.Writer, T) error) error {
	o := adminOptions(cc)
	ctx, cancel := context.WithTimeout(cc.Context, 2*o.timeout)
	defer cancel()
	c, err := adminDial(ctx, o, o.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := query(ctx, c, o.addr)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(o.out, v)
	}
	return render(o.out, v)
}

func runClusterCheck(cc *cli.Context) error {
	o := adminOptions(cc)
	nodes, err := queryNodes(cc.Context, o, o.addr)
	if err != nil {
		return err
	}
	views := gatherViews(cc.Context, o, nodes)
	results := evaluateChecks(views)
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if o.json {
		err = writeJSON(o.out, checkJSON{OK: failed == 0, Checks: results, Nodes: views})
	} else {
		err = renderCheck(o.out, views, results)
	}
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("cluster check failed: %d of %d checks failed", failed, len(results))
	}
	return nil
}

// adminDial connects to addr and authenticates when a password is given.
// Its errors say what to do about them.
func adminDial(ctx context.Context, o adminOpts, addr string) (*respclient.Conn, error) {
	if o.tlsErr != nil {
		return nil, o.tlsErr
	}
	c, err := respclient.DialTLS(ctx, addr, o.timeout, o.tls)
	if err != nil {
		return nil, describeErr(addr, err)
	}
	if o.password != "" {
		if _, err := c.Do(ctx, "AUTH", o.password); err != nil {
			c.Close()
			return nil, describeErr(addr, err)
		}
	}
	return c, nil
}

// queryText runs a command whose reply is text (CLUSTER INFO, NODES) on a
// fresh connection to addr.
func queryText(ctx context.Context, o adminOpts, addr string, args ...any) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*o.timeout)
	defer cancel()
	c, err := adminDial(ctx, o, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return doText(ctx, c, addr, args...)
}

func doText(ctx context.Context, c *respclient.Conn, addr string, args ...any) (string, error) {
	v, err := c.Do(ctx, args...)
	if err != nil {
		return "", describeErr(addr, err)
	}
	s, ok := v.Text()
	if !ok {
		return "", fmt.Errorf("%s: %v: unexpected reply %s", addr, args, v)
	}
	return s, nil
}

func querySlots(ctx context.Context, c *respclient.Conn, addr string) ([]slotEntry, error) {
	v, err := c.Do(ctx, "CLUSTER", "SLOTS")
	if err != nil {
		return nil, describeErr(addr, err)
	}
	slots, err := parseClusterSlots(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return slots, nil
}

// describeErr turns the usual failures of an admin command into messages
// that say what is wrong and what to do.
func describeErr(addr string, err error) error {
	var re *respclient.ReplyError
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &re):
		msg := re.Msg
		switch {
		case strings.Contains(msg, "cluster support disabled"),
			strings.Contains(msg, "unknown command"), strings.Contains(msg, "unknown subcommand"):
			return fmt.Errorf("%s is not in cluster mode (it answered %q); start the nodes with "+
				"--bootstrap-expect and --join, or run `shoal dev` for a local cluster", addr, msg)
		case re.Code() == "NOAUTH":
			return fmt.Errorf("%s requires a password: pass --password or set SHOAL_PASSWORD", addr)
		case re.Code() == "WRONGPASS" || strings.Contains(msg, "invalid password"):
			return fmt.Errorf("%s refused the password (%s)", addr, msg)
		}
		return fmt.Errorf("%s answered an error: %s", addr, msg)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%s did not answer in time (%v); is it overloaded or partitioned?", addr, err)
	case errors.As(err, &oe) && oe.Op == "dial":
		return fmt.Errorf("cannot connect to %s: %v; is a node running there? "+
			"(`shoal dev` starts a local cluster on 127.0.0.1:7000)", addr, oe.Err)
	}
	return fmt.Errorf("%s: %w", addr, err)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ---- CLUSTER INFO ----

// infoField is one "key:value" line of CLUSTER INFO, in reply order.
type infoField struct {
	Key, Value string
}

// infoFields is a parsed CLUSTER INFO; it encodes to JSON as an object.
type infoFields []infoField

// MarshalJSON encodes the fields as an object (see infoJSON).
func (f infoFields) MarshalJSON() ([]byte, error) { return json.Marshal(infoJSON(f)) }

// parseClusterInfo parses CLUSTER INFO text; lines without a colon are
// ignored.
func parseClusterInfo(text string) infoFields {
	var out infoFields
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if k, v, ok := strings.Cut(line, ":"); ok && k != "" {
			out = append(out, infoField{Key: k, Value: v})
		}
	}
	return out
}

// infoValue returns the value of key in fields, or "".
func infoValue(fields []infoField, key string) string {
	for _, f := range fields {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

// infoJSON turns CLUSTER INFO into a JSON object; integer values become
// numbers.
func infoJSON(fields []infoField) map[string]any {
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		if n, err := strconv.ParseInt(f.Value, 10, 64); err == nil {
			m[f.Key] = n
		} else {
			m[f.Key] = f.Value
		}
	}
	return m
}

func renderInfo(w io.Writer, fields []infoField) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s\t%s\n", f.Key, f.Value)
	}
	return tw.Flush()
}

// ---- CLUSTER NODES ----

// slotRange is an inclusive range of hash slots; JSON [start, end].
type slotRange struct {
	Start, End int
}

func (r slotRange) String() string {
	if r.Start == r.End {
		return strconv.Itoa(r.Start)
	}
	return strconv.Itoa(r.Start) + "-" + strconv.Itoa(r.End)
}

// MarshalJSON encodes r as [start, end].
func (r slotRange) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]int{r.Start, r.End})
}

// UnmarshalJSON decodes [start, end].
func (r *slotRange) UnmarshalJSON(b []byte) error {
	var a [2]int
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	r.Start, r.End = a[0], a[1]
	return nil
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	ID          string      `json:"id"`
	Addr        string      `json:"addr"`               // ip:port for clients
	BusPort     int         `json:"bus_port"`           // the @cport
	Hostname    string      `json:"hostname,omitempty"` // after the comma, Redis 7
	Flags       []string    `json:"flags"`
	MasterID    string      `json:"master_id,omitempty"` // "" for "-"
	PingSent    int64       `json:"ping_sent"`
	PongRecv    int64       `json:"pong_recv"`
	ConfigEpoch int64       `json:"config_epoch"`
	Link        string      `json:"link"` // connected or disconnected
	Slots       []slotRange `json:"slots"`
	// Migrating holds the "[slot->-id]" and "[slot-<-id]" entries as sent.
	Migrating []string `json:"migrating,omitempty"`
}

func (n clusterNode) hasFlag(f string) bool {
	for _, x := range n.Flags {
		if x == f {
			return true
		}
	}
	return false
}

// isMaster reports whether the node is flagged master.
func (n clusterNode) isMaster() bool { return n.hasFlag("master") }

// role is "master" or "replica".
func (n clusterNode) role() string {
	if n.isMaster() {
		return "master"
	}
	if n.hasFlag("slave") || n.MasterID != "" {
		return "replica"
	}
	return "none"
}

// slotCount is the number of slots the node serves.
func (n clusterNode) slotCount() int {
	total := 0
	for _, r := range n.Slots {
		total += r.End - r.Start + 1
	}
	return total
}

// queryNodes asks addr for CLUSTER NODES and parses the reply.
func queryNodes(ctx context.Context, o adminOpts, addr string) ([]clusterNode, error) {
	text, err := queryText(ctx, o, addr, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	nodes, err := parseClusterNodes(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return nodes, nil
}

// parseClusterNodes parses the text of CLUSTER NODES.
func parseClusterNodes(text string) ([]clusterNode, error) {
	var out []clusterNode
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n, err := parseNodeLine(line)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER NODES line %d: %w: %q", i+1, err, line)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("CLUSTER NODES is empty")
	}
	return out, nil
}

func parseNodeLine(line string) (clusterNode, error) {
	f := strings.Fields(line)
	if len(f) < 8 {
		return clusterNode{}, fmt.Errorf("%d fields, want at least 8", len(f))
	}
	n := clusterNode{ID: f[0], Flags: strings.Split(f[2], ","), Link: f[7]}
	addr := f[1]
	if a, host, ok := strings.Cut(addr, ","); ok {
		addr = a
		n.Hostname, _, _ = strings.Cut(host, ",")
	}
	addr, bus, ok := strings.Cut(addr, "@")
	if ok {
		p, err := strconv.Atoi(bus)
		if err != nil {
			return clusterNode{}, fmt.Errorf("bad bus port %q", bus)
		}
		n.BusPort = p
	}
	n.Addr = addr
	if f[3] != "-" {
		n.MasterID = f[3]
	}
	var err error
	if n.PingSent, err = strconv.ParseInt(f[4], 10, 64); err != nil {
		return clusterNode{}, fmt.Errorf("bad ping-sent %q", f[4])
	}
	if n.PongRecv, err = strconv.ParseInt(f[5], 10, 64); err != nil {
		return clusterNode{}, fmt.Errorf("bad pong-recv %q", f[5])
	}
	if n.ConfigEpoch, err = strconv.ParseInt(f[6], 10, 64); err != nil {
		return clusterNode{}, fmt.Errorf("bad config-epoch %q", f[6])
	}
	for _, s := range f[8:] {
		if strings.HasPrefix(s, "[") {
			n.Migrating = append(n.Migrating, s)
			continue
		}
		r, err := parseSlotRange(s)
		if err != nil {
			return clusterNode{}, err
		}
		n.Slots = append(n.Slots, r)
	}
	return n, nil
}

func parseSlotRange(s string) (slotRange, error) {
	a, b, isRange := strings.Cut(s, "-")
	start, err1 := strconv.Atoi(a)
	end := start
	var err2 error
	if isRange {
		end, err2 = strconv.Atoi(b)
	}
	if err1 != nil || err2 != nil || start < 0 || end < start || end >= numSlots {
		return slotRange{}, fmt.Errorf("bad slot range %q", s)
	}
	return slotRange{Start: start, End: end}, nil
}

// dialAddr returns the address to connect to for n: its ip:port, with the
// host of seed when the node does not know its own IP yet (":7000").
func (n clusterNode) dialAddr(seed string) (string, bool) {
	host, port, ok := splitHostPort(n.Addr)
	if !ok || port == "0" || n.hasFlag("noaddr") {
		return "", false
	}
	if host == "" {
		host, _, _ = splitHostPort(seed)
	}
	return net.JoinHostPort(host, port), true
}

// splitHostPort splits "host:port" at the last colon, so that the
// unbracketed IPv6 addresses of CLUSTER NODES work too.
func splitHostPort(s string) (host, port string, ok bool) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		return h, p, true
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// sortNodes orders nodes for display: masters by their first slot (those
// without slots last), each followed by its replicas, then the rest.
func sortNodes(nodes []clusterNode) []clusterNode {
	first := func(n clusterNode) int {
		if len(n.Slots) == 0 {
			return numSlots
		}
		return n.Slots[0].Start
	}
	var masters, others []clusterNode
	replicas := map[string][]clusterNode{}
	known := map[string]bool{}
	for _, n := range nodes {
		if n.isMaster() {
			masters = append(masters, n)
			known[n.ID] = true
		}
	}
	for _, n := range nodes {
		if n.isMaster() {
			continue
		}
		if known[n.MasterID] {
			replicas[n.MasterID] = append(replicas[n.MasterID], n)
		} else {
			others = append(others, n)
		}
	}
	sort.SliceStable(masters, func(i, j int) bool {
		if a, b := first(masters[i]), first(masters[j]); a != b {
			return a < b
		}
		return masters[i].Addr < masters[j].Addr
	})
	out := make([]clusterNode, 0, len(nodes))
	for _, m := range masters {
		out = append(out, m)
		rs := replicas[m.ID]
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Addr < rs[j].Addr })
		out = append(out, rs...)
	}
	return append(out, others...)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// nodeStatus is the link state with the flags that describe trouble.
func nodeStatus(n clusterNode) string {
	parts := []string{n.Link}
	for _, f := range n.Flags {
		switch f {
		case "fail", "fail?", "handshake", "noaddr", "nofailover":
			parts = append(parts, f)
		}
	}
	return strings.Join(parts, ",")
}

// slotsText is the SLOTS cell: ranges, the slot count, and slots being
// migrated; long range lists are cut short.
func slotsText(n clusterNode) string {
	const maxRanges = 6
	if len(n.Slots) == 0 && len(n.Migrating) == 0 {
		return "-"
	}
	var parts []string
	for i, r := range n.Slots {
		if i == maxRanges {
			parts = append(parts, fmt.Sprintf("...+%d ranges", len(n.Slots)-maxRanges))
			break
		}
		parts = append(parts, r.String())
	}
	s := strings.Join(parts, ",")
	if len(n.Slots) > 0 {
		s += fmt.Sprintf(" (%d)", n.slotCount())
	}
	for _, m := range n.Migrating {
		s += " " + m
	}
	return strings.TrimSpace(s)
}

// renderNodes prints nodes as a table; ids are cut to 8 characters unless
// fullIDs.
func renderNodes(w io.Writer, nodes []clusterNode, fullIDs bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tROLE\tSLOTS\tSTATUS")
	for _, n := range sortNodes(nodes) {
		role := n.role()
		if role == "replica" && n.MasterID != "" {
			role += " of " + shortID(n.MasterID)
		}
		if n.hasFlag("myself") {
			role += " (myself)"
		}
		id := n.ID
		if !fullIDs {
			id = shortID(id)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, n.Addr, role, slotsText(n), nodeStatus(n))
	}
	return tw.Flush()
}

// ---- CLUSTER SLOTS ----

// slotNode is one node of a CLUSTER SLOTS entry.
type slotNode struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	ID   string `json:"id"`
}

func (n slotNode) addr() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }

// slotEntry is one entry of CLUSTER SLOTS: a range, its master and replicas.
type slotEntry struct {
	Start    int        `json:"start"`
	End      int        `json:"end"`
	Master   slotNode   `json:"master"`
	Replicas []slotNode `json:"replicas"`
}

// parseClusterSlots parses a CLUSTER SLOTS reply of either protocol version.
func parseClusterSlots(v respclient.Value) ([]slotEntry, error) {
	if v.Kind != respclient.KindArray {
		return nil, fmt.Errorf("CLUSTER SLOTS: want an array, got %s", v)
	}
	out := make([]slotEntry, 0, len(v.Array))
	for i, e := range v.Array {
		if e.Kind != respclient.KindArray || len(e.Array) < 3 {
			return nil, fmt.Errorf("CLUSTER SLOTS entry %d: want [start end master ...], got %s", i, e)
		}
		a := e.Array
		if a[0].Kind != respclient.KindInt || a[1].Kind != respclient.KindInt {
			return nil, fmt.Errorf("CLUSTER SLOTS entry %d: bad range %s %s", i, a[0], a[1])
		}
		ent := slotEntry{Start: int(a[0].Int), End: int(a[1].Int), Replicas: []slotNode{}}
		if ent.Start < 0 || ent.End < ent.Start || ent.End >= numSlots {
			return nil, fmt.Errorf("CLUSTER SLOTS entry %d: bad range %d-%d", i, ent.Start, ent.End)
		}
		for j, nv := range a[2:] {
			n, err := parseSlotNode(nv)
			if err != nil {
				return nil, fmt.Errorf("CLUSTER SLOTS entry %d node %d: %w", i, j, err)
			}
			if j == 0 {
				ent.Master = n
			} else {
				ent.Replicas = append(ent.Replicas, n)
			}
		}
		out = append(out, ent)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, nil
}

// parseSlotNode parses [host, port, id?, extra?]; extra (a map, or a flat
// array in RESP2) is ignored.
func parseSlotNode(v respclient.Value) (slotNode, error) {
	if v.Kind != respclient.KindArray || len(v.Array) < 2 {
		return slotNode{}, fmt.Errorf("want [host port id], got %s", v)
	}
	host, ok := v.Array[0].Text()
	if !ok && !v.Array[0].IsNull() {
		return slotNode{}, fmt.Errorf("bad host %s", v.Array[0])
	}
	if v.Array[1].Kind != respclient.KindInt {
		return slotNode{}, fmt.Errorf("port %s is not an integer", v.Array[1])
	}
	n := slotNode{Host: host, Port: int(v.Array[1].Int)}
	if len(v.Array) > 2 {
		n.ID, _ = v.Array[2].Text()
	}
	return n, nil
}

func slotNodeText(n slotNode) string {
	return n.addr() + " " + shortID(n.ID)
}

func renderSlots(w io.Writer, slots []slotEntry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANGE\tMASTER\tREPLICAS")
	for _, e := range slots {
		reps := make([]string, 0, len(e.Replicas))
		for _, r := range e.Replicas {
			reps = append(reps, slotNodeText(r))
		}
		rs := strings.Join(reps, ", ")
		if rs == "" {
			rs = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", slotRange{e.Start, e.End}, slotNodeText(e.Master), rs)
	}
	return tw.Flush()
}
