package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/shoalcache/shoal/internal/proc"
	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// The fixtures in testdata/rediscluster are replies of a real Redis 7.0.15
// cluster (see testdata/rediscluster/README.md). Names: <scenario>-<port>-
// <reply>, with reply nodes.txt / info.txt (the text of CLUSTER NODES / INFO)
// or slots.resp / slots-resp3.resp (the raw RESP2 / RESP3 reply bytes).

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Ports of the captured clusters.
var (
	sixPorts   = []string{"34489", "36985", "37871", "52129", "52243", "53277"}
	threePorts = []string{"46023", "39061", "51493"}
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "rediscluster", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fixtureNodes(t *testing.T, name string) []clusterNode {
	t.Helper()
	nodes, err := parseClusterNodes(fixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return nodes
}

func fixtureSlots(t *testing.T, name string) []slotEntry {
	t.Helper()
	v, err := respclient.Read(bufio.NewReader(strings.NewReader(fixture(t, name))))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	slots, err := parseClusterSlots(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return slots
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func TestParseClusterNodes(t *testing.T) {
	for _, port := range sixPorts {
		nodes := fixtureNodes(t, "six-"+port+"-nodes.txt")
		if len(nodes) != 6 {
			t.Fatalf("%s: %d nodes", port, len(nodes))
		}
		masters, myself := map[string]clusterNode{}, 0
		for _, n := range nodes {
			if len(n.ID) != 40 || n.Link != "connected" {
				t.Errorf("%s: node %+v", port, n)
			}
			if _, p, _ := splitHostPort(n.Addr); p == port {
				if !n.hasFlag("myself") {
					t.Errorf("%s: own line lacks myself: %+v", port, n)
				}
			}
			if n.hasFlag("myself") {
				myself++
			}
			if n.isMaster() {
				masters[n.ID] = n
			}
		}
		if myself != 1 || len(masters) != 3 {
			t.Fatalf("%s: %d myself, %d masters", port, myself, len(masters))
		}
		total := 0
		for _, n := range nodes {
			switch n.role() {
			case "master":
				total += n.slotCount()
				if n.MasterID != "" || len(n.Slots) != 1 {
					t.Errorf("%s: master %+v", port, n)
				}
			case "replica":
				if _, ok := masters[n.MasterID]; !ok || len(n.Slots) != 0 {
					t.Errorf("%s: replica %+v of an unknown master", port, n)
				}
			default:
				t.Errorf("%s: role %q", port, n.role())
			}
		}
		if total != numSlots {
			t.Errorf("%s: masters serve %d slots", port, total)
		}
	}
	n := fixtureNodes(t, "six-34489-nodes.txt")[0]
	want := clusterNode{ID: "eba2bc21c9cd4c271b3de52961cf37dc3507ec29", Addr: "127.0.0.1:34489", BusPort: 44489,
		Flags: []string{"myself", "master"}, PongRecv: 1795708949000, ConfigEpoch: 1, Link: "connected",
		Slots: []slotRange{{0, 5460}}}
	if got, _ := json.Marshal(n); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("first line = %s, want %s", got, must(json.Marshal(want)))
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseClusterNodesMigratingAndFailed(t *testing.T) {
	m := fixtureNodes(t, "migrating-34489-nodes.txt")[0]
	if len(m.Slots) != 1 || len(m.Migrating) != 1 || m.Migrating[0] != "[100->-231fc8e9e6ea210e0a13cfbfc6e601c611a532d2]" {
		t.Errorf("migrating node = %+v", m)
	}
	for _, n := range fixtureNodes(t, "migrating-52243-nodes.txt") {
		if n.hasFlag("myself") && (len(n.Migrating) != 1 || !strings.Contains(n.Migrating[0], "-<-")) {
			t.Errorf("importing node = %+v", n)
		}
	}
	var failed []string
	for _, n := range fixtureNodes(t, "replicafail-34489-nodes.txt") {
		if n.hasFlag("fail") {
			failed = append(failed, n.Addr+" "+nodeStatus(n)+" "+n.role())
		}
	}
	if len(failed) != 1 || failed[0] != "127.0.0.1:53277 disconnected,fail replica" {
		t.Errorf("failed nodes = %q", failed)
	}
}

func TestParseClusterNodesVariants(t *testing.T) {
	text := "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-a.example slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected\n" +
		"e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca ::1:30001@31001 myself,master - 0 0 1 connected 0-5460 7000 [5461-<-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]\n" +
		"6ec23923021cf3ffec47632106199cb7f496ce01 :0@0 master,noaddr - 0 0 5 disconnected\n"
	nodes, err := parseClusterNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	if nodes[0].Hostname != "host-a.example" || nodes[0].Addr != "127.0.0.1:30004" || nodes[0].BusPort != 31004 {
		t.Errorf("hostname form: %+v", nodes[0])
	}
	if a, ok := nodes[1].dialAddr("x:1"); !ok || a != "[::1]:30001" {
		t.Errorf("IPv6 dial address %q %v", a, ok)
	}
	if got := slotsText(nodes[1]); got != "0-5460,7000 (5462) [5461-<-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]" {
		t.Errorf("slotsText = %q", got)
	}
	if _, ok := nodes[2].dialAddr("x:1"); ok {
		t.Error("a noaddr node has a dial address")
	}
	for _, bad := range []string{"", "abc 1.2.3.4:5@6 master", "a 1:2@3 master - x 0 0 connected",
		"a 1:2@3 master - 0 0 0 connected 5-3", "a 1:2@3 master - 0 0 0 connected 16384"} {
		if _, err := parseClusterNodes(bad); err == nil {
			t.Errorf("parseClusterNodes(%q) succeeded", bad)
		}
	}
}

func TestParseClusterSlots(t *testing.T) {
	for _, port := range sixPorts {
		s2 := fixtureSlots(t, "six-"+port+"-slots.resp")
		s3 := fixtureSlots(t, "six-"+port+"-slots-resp3.resp")
		if a, b := must(json.Marshal(s2)), must(json.Marshal(s3)); !bytes.Equal(a, b) {
			t.Errorf("%s: RESP2 and RESP3 differ:\n%s\n%s", port, a, b)
		}
		// CLUSTER SLOTS agrees with CLUSTER NODES of the same node.
		byID := map[string]clusterNode{}
		for _, n := range fixtureNodes(t, "six-"+port+"-nodes.txt") {
			byID[n.ID] = n
		}
		if len(s2) != 3 {
			t.Fatalf("%s: %d ranges", port, len(s2))
		}
		replicas := 0
		for _, e := range s2 {
			m := byID[e.Master.ID]
			if !m.isMaster() || m.Addr != e.Master.addr() || m.Slots[0] != (slotRange{e.Start, e.End}) {
				t.Errorf("%s: entry %+v vs node %+v", port, e, m)
			}
			// Redis lists a replica only once it has synced: the capture,
			// taken seconds after the cluster was created, has ranges
			// without their replica on some nodes.
			for _, r := range e.Replicas {
				if byID[r.ID].MasterID != m.ID || byID[r.ID].Addr != r.addr() {
					t.Errorf("%s: replica %+v of %+v", port, r, e)
				}
			}
			replicas += len(e.Replicas)
		}
		if port == "36985" && replicas != 3 {
			t.Errorf("%s: %d replicas listed, want 3", port, replicas)
		}
	}
	for _, bad := range []string{"+OK\r\n", "*1\r\n:1\r\n", "*1\r\n*3\r\n:5\r\n:1\r\n*2\r\n+h\r\n:1\r\n",
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n+h\r\n+x\r\n", "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n+h\r\n:1\r\n"} {
		v, err := respclient.Read(bufio.NewReader(strings.NewReader(bad)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseClusterSlots(v); err == nil {
			t.Errorf("parseClusterSlots(%q) succeeded", bad)
		}
	}
}

func TestParseClusterInfo(t *testing.T) {
	f := parseClusterInfo(fixture(t, "six-34489-info.txt"))
	if infoValue(f, "cluster_state") != "ok" || infoValue(f, "cluster_current_epoch") != "6" ||
		infoValue(f, "cluster_known_nodes") != "6" || f[0].Key != "cluster_state" {
		t.Errorf("parsed %+v", f)
	}
	j := string(must(json.Marshal(f)))
	if !strings.Contains(j, `"cluster_state":"ok"`) || !strings.Contains(j, `"cluster_slots_assigned":16384`) {
		t.Errorf("JSON %s", j)
	}
	if st := infoValue(parseClusterInfo(fixture(t, "masterfail-46023-info.txt")), "cluster_state"); st != "fail" {
		t.Errorf("masterfail state %q", st)
	}
}

func TestRenderTables(t *testing.T) {
	var b bytes.Buffer
	if err := renderNodes(&b, fixtureNodes(t, "six-34489-nodes.txt"), false); err != nil {
		t.Fatal(err)
	}
	golden(t, "nodes-six.txt", b.String())
	b.Reset()
	renderNodes(&b, fixtureNodes(t, "replicafail-34489-nodes.txt"), true)
	renderNodes(&b, fixtureNodes(t, "migrating-34489-nodes.txt"), false)
	golden(t, "nodes-fail-migrating.txt", b.String())
	b.Reset()
	renderSlots(&b, fixtureSlots(t, "six-36985-slots.resp"))
	golden(t, "slots-six.txt", b.String())
	b.Reset()
	renderInfo(&b, parseClusterInfo(fixture(t, "masterfail-46023-info.txt")))
	golden(t, "info-masterfail.txt", b.String())
}

// fixtureViews builds the views `cluster check` would gather from a
// captured cluster.
func fixtureViews(t *testing.T, scenario string, ports []string) []nodeView {
	t.Helper()
	var views []nodeView
	for _, p := range ports {
		views = append(views, nodeView{
			Addr:  "127.0.0.1:" + p,
			Slots: fixtureSlots(t, scenario+"-"+p+"-slots.resp"),
			Info:  parseClusterInfo(fixture(t, scenario+"-"+p+"-info.txt")),
		})
	}
	return views
}

// failures returns "name: details" for every failed check.
func failures(results []checkResult) []string {
	var out []string
	for _, r := range results {
		if !r.OK {
			out = append(out, r.Name+": "+strings.Join(r.Details, " | "))
		}
	}
	return out
}

func TestCheckFixtures(t *testing.T) {
	for name, views := range map[string][]nodeView{
		"three": fixtureViews(t, "three", threePorts),
		"six":   fixtureViews(t, "six", sixPorts),
	} {
		if f := failures(evaluateChecks(views)); len(f) != 0 {
			t.Errorf("%s: %q", name, f)
		}
	}

	views := fixtureViews(t, "masterfail", []string{"46023", "39061"})
	views = append(views, nodeView{Addr: "127.0.0.1:51493", ID: "8207a91a33ef1b4e896a37dc255ee5b47565550c",
		Error: "cannot connect to 127.0.0.1:51493: connection refused"})
	want := []string{
		"all 3 nodes reachable: 127.0.0.1:51493 (8207a91a): cannot connect to 127.0.0.1:51493: connection refused",
		"cluster_state:ok on every node: 127.0.0.1:46023: cluster_state:fail | 127.0.0.1:39061: cluster_state:fail",
	}
	if f := failures(evaluateChecks(views)); strings.Join(f, "\n") != strings.Join(want, "\n") {
		t.Errorf("masterfail:\n%s\nwant\n%s", strings.Join(f, "\n"), strings.Join(want, "\n"))
	}

	if f := failures(evaluateChecks([]nodeView{{Addr: "a", Error: "down"}})); len(f) != 5 {
		t.Errorf("nothing reachable: %q", f)
	}
}

// TestCheckDetectsFaults alters a healthy cluster's views in the ways the
// checks exist for.
func TestCheckDetectsFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alter func(v []nodeView)
		want  []string
	}{
		{"uncovered slots", func(v []nodeView) {
			// Node 1 stops listing the last range, and cuts the first short.
			v[1].Slots = append([]slotEntry(nil), v[1].Slots[:2]...)
			v[1].Slots[0].Start = 10
		}, []string{
			"all 16384 slots covered (CLUSTER SLOTS): 127.0.0.1:39061: 5471 slots without a master: 0-9,10923-16383",
			"one master per slot, the same on every node: " +
				"slots 0-9: 127.0.0.1:46023 says 0b0112be, 127.0.0.1:39061 says none, 127.0.0.1:51493 says 0b0112be | " +
				"slots 10923-16383: 127.0.0.1:46023 says 8207a91a, 127.0.0.1:39061 says none, 127.0.0.1:51493 says 8207a91a",
		}},
		{"disagreeing masters", func(v []nodeView) {
			v[2].Slots = append([]slotEntry(nil), v[2].Slots...)
			v[2].Slots[1].Master = v[2].Slots[0].Master
		}, []string{
			"one master per slot, the same on every node: " +
				"slots 5461-10922: 127.0.0.1:46023 says 70d7c7cc, 127.0.0.1:39061 says 70d7c7cc, 127.0.0.1:51493 says 0b0112be",
		}},
		{"two masters for one range", func(v []nodeView) {
			extra := v[0].Slots[0]
			extra.Start, extra.End = 5000, 5600
			v[0].Slots = append(append([]slotEntry(nil), v[0].Slots...), extra)
		}, []string{
			"one master per slot, the same on every node: 127.0.0.1:46023: slots listed in more than one range: 5000-5600 | " +
				"slots 5461-5600: 127.0.0.1:46023 says 0b0112be, 127.0.0.1:39061 says 70d7c7cc, 127.0.0.1:51493 says 70d7c7cc",
		}},
		{"differing epochs", func(v []nodeView) {
			v[1].Info = parseClusterInfo("cluster_state:ok\r\ncluster_current_epoch:4\r\n")
			v[2].Info = parseClusterInfo("cluster_state:ok\r\n")
		}, []string{
			"same cluster_current_epoch on every node: cluster_current_epoch differs: " +
				"3 on 127.0.0.1:46023; 4 on 127.0.0.1:39061; (missing) on 127.0.0.1:51493",
		}},
	} {
		views := fixtureViews(t, "three", threePorts)
		tc.alter(views)
		if got := failures(evaluateChecks(views)); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

func TestRenderCheck(t *testing.T) {
	views := fixtureViews(t, "three", threePorts)
	views[1].Info = parseClusterInfo("cluster_state:fail\r\ncluster_current_epoch:3\r\n")
	var b bytes.Buffer
	renderCheck(&b, views, evaluateChecks(views))
	golden(t, "check-state-fail.txt", b.String())
}

// runCLI runs `shoal <args...>` with clusterCommand and devCommand and
// returns what it printed and its error.
func runCLI(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	app := &cli.App{
		Name:      "shoal",
		Commands:  []*cli.Command{clusterCommand(), devCommand()},
		Writer:    &out,
		ErrWriter: &out,
	}
	err := app.RunContext(ctx, append([]string{"shoal"}, args...))
	return out.String(), err
}

// TestClusterCommandsAgainstRedisCluster runs every subcommand against a
// real Redis Cluster, the reference `check` must pass on, then kills a node.
func TestClusterCommandsAgainstRedisCluster(t *testing.T) {
	nodes := testutil.StartRedisCluster(t, 3, 0)
	ctx := context.Background()
	addr := nodes[1].Addr

	out, err := runCLI(ctx, "cluster", "check", "--addr", addr)
	if err != nil || !strings.Contains(out, "Cluster OK.") || strings.Contains(out, "FAIL") {
		t.Fatalf("check on a healthy Redis Cluster: %v\n%s", err, out)
	}
	t.Logf("check:\n%s", out)

	out, err = runCLI(ctx, "cluster", "check", "--addr", addr, "--json")
	var report struct {
		OK     bool
		Checks []checkResult
		Nodes  []struct{ Addr, ID string }
	}
	if err != nil || json.Unmarshal([]byte(out), &report) != nil || !report.OK || len(report.Checks) != 5 || len(report.Nodes) != 3 {
		t.Fatalf("check --json: %v\n%s", err, out)
	}

	out, err = runCLI(ctx, "cluster", "info", "--addr", addr, "--json")
	var info map[string]any
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info["cluster_state"] != "ok" || info["cluster_size"] != 3.0 {
		t.Errorf("info --json: %v\n%s", err, out)
	}
	out, err = runCLI(ctx, "cluster", "info", "--addr", addr)
	if err != nil || !strings.HasPrefix(out, "cluster_state ") || !strings.Contains(out, "cluster_slots_ok ") {
		t.Errorf("info: %v\n%s", err, out)
	}

	out, err = runCLI(ctx, "cluster", "nodes", "--addr", addr)
	if err != nil || strings.Count(out, "\n") != 4 || !strings.Contains(out, "master (myself)") ||
		!strings.Contains(out, nodes[1].Addr) {
		t.Errorf("nodes: %v\n%s", err, out)
	}
	var listed []clusterNode
	out, err = runCLI(ctx, "cluster", "nodes", "--addr", addr, "--json")
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 3 {
		t.Errorf("nodes --json: %v\n%s", err, out)
	}

	out, err = runCLI(ctx, "cluster", "slots", "--addr", addr)
	if err != nil || !strings.HasPrefix(out, "RANGE ") || !strings.Contains(out, "\n0-") || !strings.Contains(out, "-16383 ") {
		t.Errorf("slots: %v\n%s", err, out)
	}
	var slots []slotEntry
	out, err = runCLI(ctx, "cluster", "slots", "--addr", addr, "--json")
	if err != nil || json.Unmarshal([]byte(out), &slots) != nil || len(slots) != 3 || slots[2].End != numSlots-1 {
		t.Errorf("slots --json: %v\n%s", err, out)
	}

	// A dead node fails the check at once (it is unreachable) and the
	// command exits non-zero.
	nodes[2].Kill()
	out, err = runCLI(ctx, "cluster", "check", "--addr", addr, "--timeout", "1s")
	if err == nil || !strings.Contains(out, "[FAIL] all 3 nodes reachable") || !strings.Contains(out, nodes[2].Addr) {
		t.Errorf("check with a dead node: %v\n%s", err, out)
	}
}

// TestClusterCommandErrors checks the messages for a node that is down and
// for one that is not in cluster mode.
func TestClusterCommandErrors(t *testing.T) {
	ctx := context.Background()
	closed := closedAddr(t)
	for _, sub := range []string{"info", "nodes", "slots", "check"} {
		_, err := runCLI(ctx, "cluster", sub, "--addr", closed)
		if err == nil || !strings.Contains(err.Error(), "cannot connect to "+closed) {
			t.Errorf("%s on a closed port: %v", sub, err)
		}
	}

	standalone := testutil.StartRedis(t, "--requirepass", "secret")
	_, err := runCLI(ctx, "cluster", "info", "--addr", standalone.Addr)
	if err == nil || !strings.Contains(err.Error(), "requires a password") {
		t.Errorf("without a password: %v", err)
	}
	_, err = runCLI(ctx, "cluster", "info", "--addr", standalone.Addr, "--password", "nope")
	if err == nil || !strings.Contains(err.Error(), "refused the password") {
		t.Errorf("wrong password: %v", err)
	}
	for _, sub := range []string{"info", "nodes", "slots", "check"} {
		_, err := runCLI(ctx, "cluster", sub, "--addr", standalone.Addr, "--password", "secret")
		if err == nil || !strings.Contains(err.Error(), "is not in cluster mode") ||
			!strings.Contains(err.Error(), "ERR This instance has cluster support disabled") {
			t.Errorf("%s on a standalone server: %v", sub, err)
		}
	}
}

// closedAddr returns a loopback address nothing listens on (a port the OS
// handed out and that was closed again).
func closedAddr(t *testing.T) string {
	t.Helper()
	return proc.LocalAddr(testutil.FreePort(t))
}
