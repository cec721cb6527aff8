package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/node"
	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// Node ids of the hand-made replies.
var (
	tidA = strings.Repeat("a", 40)
	tidB = strings.Repeat("b", 40)
	tidC = "bc" + strings.Repeat("c", 38)
)

// shoalGroupsRESP2 and shoalGroupsRESP3 are SHOAL GROUPS replies of a
// 3-node cluster whose g1 has no known leader.
const (
	shoalGroupsRESP2 = "*3\r\n" +
		"*8\r\n$2\r\nid\r\n$2\r\ng0\r\n$6\r\nleader\r\n$40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" +
		"$7\r\nmembers\r\n*2\r\n$40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n$40\r\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n" +
		"$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n" +
		"*8\r\n$2\r\nid\r\n$2\r\ng1\r\n$6\r\nleader\r\n$-1\r\n" +
		"$7\r\nmembers\r\n*2\r\n$40\r\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n$40\r\nbccccccccccccccccccccccccccccccccccccccc\r\n" +
		"$5\r\nslots\r\n*4\r\n:5461\r\n:6000\r\n:6002\r\n:10921\r\n" +
		"*8\r\n$2\r\nid\r\n$2\r\ng2\r\n$6\r\nleader\r\n$40\r\nbccccccccccccccccccccccccccccccccccccccc\r\n" +
		"$7\r\nmembers\r\n*2\r\n$40\r\nbccccccccccccccccccccccccccccccccccccccc\r\n$40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" +
		"$5\r\nslots\r\n*2\r\n:10922\r\n:16383\r\n"
	shoalGroupsRESP3 = "*1\r\n" +
		"%4\r\n$2\r\nid\r\n$2\r\ng0\r\n$6\r\nleader\r\n_\r\n" +
		"$7\r\nmembers\r\n*1\r\n$40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" +
		"$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n"
)

func readValue(t *testing.T, raw string) respclient.Value {
	t.Helper()
	v, err := respclient.Read(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return v
}

func TestParseShoalGroups(t *testing.T) {
	groups, err := parseShoalGroups(readValue(t, shoalGroupsRESP2))
	if err != nil {
		t.Fatal(err)
	}
	want := []groupInfo{
		{ID: "g0", Leader: tidA, Members: []string{tidA, tidB}, Slots: []slotRange{{0, 5460}}},
		{ID: "g1", Members: []string{tidB, tidC}, Slots: []slotRange{{5461, 6000}, {6002, 10921}}},
		{ID: "g2", Leader: tidC, Members: []string{tidC, tidA}, Slots: []slotRange{{10922, 16383}}},
	}
	if got, w := must(json.Marshal(groups)), must(json.Marshal(want)); !bytes.Equal(got, w) {
		t.Errorf("RESP2 groups:\n%s\nwant\n%s", got, w)
	}
	groups, err = parseShoalGroups(readValue(t, shoalGroupsRESP3))
	if err != nil || len(groups) != 1 || groups[0].Leader != "" || len(groups[0].Slots) != 1 {
		t.Errorf("RESP3 groups: %+v, %v", groups, err)
	}
	for _, bad := range []string{
		"+OK\r\n",
		"*1\r\n*2\r\n$2\r\nid\r\n$0\r\n\r\n",
		"*1\r\n%4\r\n$2\r\nid\r\n$2\r\ng0\r\n$6\r\nleader\r\n_\r\n$7\r\nmembers\r\n*0\r\n$5\r\nslots\r\n*0\r\n",
		"*1\r\n%4\r\n$2\r\nid\r\n$2\r\ng0\r\n$6\r\nleader\r\n_\r\n$7\r\nmembers\r\n*1\r\n$1\r\na\r\n$5\r\nslots\r\n*1\r\n:1\r\n",
		"*1\r\n%4\r\n$2\r\nid\r\n$2\r\ng0\r\n$6\r\nleader\r\n_\r\n$7\r\nmembers\r\n*1\r\n$1\r\na\r\n$5\r\nslots\r\n*2\r\n:9\r\n:1\r\n",
		"*1\r\n%4\r\n$2\r\nid\r\n$2\r\ng0\r\n$6\r\nleader\r\n*0\r\n$7\r\nmembers\r\n*1\r\n$1\r\na\r\n$5\r\nslots\r\n*0\r\n",
	} {
		if g, err := parseShoalGroups(readValue(t, bad)); err == nil {
			t.Errorf("%q: parsed as %+v", bad, g)
		}
	}
}

func TestResolveMember(t *testing.T) {
	g := groupInfo{ID: "g1", Members: []string{tidB, tidC, tidA}}
	for _, tc := range []struct {
		to, want, err string
	}{
		{"", "", ""},
		{tidC, tidC, ""},
		{strings.ToUpper(tidA[:8]), tidA, ""},
		{" bcc ", tidC, ""},
		{"b", "", `"b" names more than one member of group g1`},
		{"d", "", `node "d" is not a member of group g1 (members: ` + tidB},
	} {
		got, err := resolveMember(g, tc.to)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("resolveMember(%q) = %q, %v; want %q, %q", tc.to, got, err, tc.want, tc.err)
		}
	}
}

func TestRenderTransferAndGroups(t *testing.T) {
	var b bytes.Buffer
	if err := renderTransfer(&b, transferResult{Group: "g1", From: tidB, FromAddr: "127.0.0.1:7001", To: tidC,
		ToAddr: "127.0.0.1:7002", Preferred: tidB, Moved: true}); err != nil {
		t.Fatal(err)
	}
	want := "Leadership of group g1 moved from bbbbbbbb (127.0.0.1:7001) to bccccccc (127.0.0.1:7002).\n" +
		"Note: bbbbbbbb is the group's preferred leader. " + preferredNote + "\n"
	if b.String() != want {
		t.Errorf("moved away from the preferred leader:\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	renderTransfer(&b, transferResult{Group: "g1", From: tidC, To: tidB, ToAddr: "127.0.0.1:7001", Preferred: tidB, Moved: true})
	if want := "Leadership of group g1 moved from bccccccc to bbbbbbbb (127.0.0.1:7001).\n"; b.String() != want {
		t.Errorf("moved to the preferred leader: %q, want %q", b.String(), want)
	}
	b.Reset()
	renderTransfer(&b, transferResult{Group: "g1", From: tidB, To: tidB, ToAddr: "127.0.0.1:7001", Preferred: tidB})
	if want := "Node bbbbbbbb (127.0.0.1:7001) already leads group g1; nothing to do.\n"; b.String() != want {
		t.Errorf("not moved: %q, want %q", b.String(), want)
	}
	groups, err := parseShoalGroups(readValue(t, shoalGroupsRESP2))
	if err != nil {
		t.Fatal(err)
	}
	groups[0].LeaderAddr = "127.0.0.1:7000"
	b.Reset()
	if err := renderGroups(&b, groups); err != nil {
		t.Fatal(err)
	}
	want = "GROUP  LEADER                   MEMBERS (PREFERRED FIRST)  SLOTS\n" +
		"g0     aaaaaaaa 127.0.0.1:7000  aaaaaaaa,bbbbbbbb          0-5460 (5461)\n" +
		"g1     -                        bbbbbbbb,bccccccc          5461-6000,6002-10921 (5460)\n" +
		"g2     bccccccc                 bccccccc,aaaaaaaa          10922-16383 (5462)\n"
	if b.String() != want {
		t.Errorf("groups table:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestTransferLeaderArgs checks the flags and the errors that come before
// any transfer.
func TestTransferLeaderArgs(t *testing.T) {
	ctx := context.Background()
	closed := closedAddr(t)
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--addr", closed}, `Required flag "group" not set`},
		{[]string{"--addr", closed, "--group", "g0"}, "cannot connect to " + closed},
		{[]string{"--addr", closed, "--group", "g0", "--to", "ab", "--json"}, "cannot connect to " + closed},
	} {
		_, err := runCLI(ctx, append([]string{"cluster", "transfer-leader"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.err)
		}
	}
	if _, err := runCLI(ctx, "cluster", "groups", "--addr", closed); err == nil ||
		!strings.Contains(err.Error(), "cannot connect to "+closed) {
		t.Errorf("groups on a closed port: %v", err)
	}
	redis := testutil.StartRedis(t)
	for _, args := range [][]string{
		{"cluster", "groups", "--addr", redis.Addr},
		{"cluster", "transfer-leader", "--addr", redis.Addr, "--group", "g0"},
	} {
		_, err := runCLI(ctx, args...)
		if err == nil || !strings.Contains(err.Error(), "does not know the SHOAL commands") {
			t.Errorf("%q on redis-server: %v", args, err)
		}
	}
}

// startShoalCluster starts n Shoal nodes in this process as one cluster
// and waits until every node leads the group it prefers. It returns their
// RESP addresses; the nodes stop when the test ends. The ports are probed
// free and released before the nodes bind them, so another process may
// take one meanwhile: a start that fails with "address already in use"
// stops the nodes it started and begins again on new ports.
func startShoalCluster(t *testing.T, n int) []string {
	t.Helper()
	const attempts = 5
	for attempt := 1; ; attempt++ {
		addrs, err := tryStartShoalCluster(t, n)
		if err == nil {
			testutil.Eventually(t, 60*time.Second, "every group led by its preferred leader", func() error { return preferredLeaders(addrs) })
			return addrs
		}
		if attempt == attempts || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("start attempt %d: %v; again on new ports", attempt, err)
	}
}

// tryStartShoalCluster is one attempt of startShoalCluster: on an error it
// has shut down the nodes that started.
func tryStartShoalCluster(t *testing.T, n int) ([]string, error) {
	t.Helper()
	ports := testutil.FreePorts(t, 3*n)
	cfgs := make([]node.Config, n)
	for i := range cfgs {
		var raw [20]byte
		if _, err := rand.Read(raw[:]); err != nil {
			t.Fatal(err)
		}
		cfg := node.DefaultConfig()
		cfg.ID = hex.EncodeToString(raw[:])
		cfg.Port, cfg.ClusterPort, cfg.GossipPort = ports[3*i], ports[3*i+1], ports[3*i+2]
		cfg.BootstrapExpect, cfg.Groups, cfg.Replicas = n, n, min(3, n)
		cfgs[i] = cfg
	}
	addrs := make([]string, n)
	for i := range cfgs {
		cfgs[i].Join = []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(cfgs[0].GossipPort))}
		addrs[i] = cfgs[i].AdvertiseAddr()
	}
	nodes := make([]*node.Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			nodes[i], errs[i] = node.Start(context.Background(), cfgs[i])
		}(i)
	}
	wg.Wait()
	shutdown := func(i int, nd *node.Node) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := nd.Shutdown(ctx); err != nil {
			t.Logf("node %d shutdown: %v", i, err)
		}
	}
	for i, err := range errs {
		if err != nil {
			for j, nd := range nodes {
				if nd != nil {
					shutdown(j, nd)
				}
			}
			return nil, fmt.Errorf("start node %d: %w", i, err)
		}
	}
	for i, nd := range nodes {
		t.Cleanup(func() { shutdown(i, nd) })
	}
	return addrs, nil
}

// preferredLeaders returns nil when every node answers cluster_state:ok and
// reports each group led by its preferred leader.
func preferredLeaders(addrs []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, a := range addrs {
		if err := nodeClusterOK(ctx, a, nil); err != nil {
			return err
		}
		view, err := queryGroups(ctx, adminOpts{timeout: time.Second}, a)
		if err != nil {
			return err
		}
		for _, g := range view.groups {
			if g.Leader != g.Members[0] {
				return fmt.Errorf("%s: group %s led by %q, prefers %s", a, g.ID, g.Leader, g.Members[0])
			}
		}
	}
	return nil
}

// covers reports whether the ranges rs hold every slot of want.
func covers(rs []slotRange, want []slotRange) bool {
	var in [numSlots]bool
	for _, r := range rs {
		for s := r.Start; s <= r.End; s++ {
			in[s] = true
		}
	}
	for _, r := range want {
		for s := r.Start; s <= r.End; s++ {
			if !in[s] {
				return false
			}
		}
	}
	return true
}

// TestTransferLeaderAgainstShoal moves a group's leadership with the CLI on
// a real 3-node cluster and looks for the new leader in CLUSTER SLOTS and
// NODES (through `cluster slots` and `cluster nodes`) before Shoal moves it
// back to the preferred leader.
func TestTransferLeaderAgainstShoal(t *testing.T) {
	addrs := startShoalCluster(t, 3)
	ctx := context.Background()
	out, err := runCLI(ctx, "cluster", "groups", "--addr", addrs[0], "--json")
	var groups []groupInfo
	if err != nil || json.Unmarshal([]byte(out), &groups) != nil || len(groups) != 3 {
		t.Fatalf("groups --json: %v\n%s", err, out)
	}
	g := groups[1]
	target := g.Members[1]
	out, err = runCLI(ctx, "cluster", "transfer-leader", "--addr", addrs[0], "--group", g.ID, "--to", target[:10], "--json")
	var res transferResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("transfer-leader --json: %v\n%s", err, out)
	}
	t.Logf("transfer-leader --json: %s", out)
	if res.Group != g.ID || res.From != g.Leader || res.To != target || !res.Moved || res.Preferred != g.Members[0] || res.ToAddr == "" {
		t.Fatalf("transfer-leader: %+v; want %s moved from %s to %s", res, g.ID, g.Leader, target)
	}
	// The new leader's view, within the second before leadership goes back.
	testutil.Eventually(t, 3*time.Second, "the new leader in CLUSTER SLOTS and NODES", func() error {
		out, err := runCLI(ctx, "cluster", "slots", "--addr", res.ToAddr, "--json")
		var slots []slotEntry
		if err != nil || json.Unmarshal([]byte(out), &slots) != nil {
			return fmt.Errorf("slots: %v %s", err, out)
		}
		var led []slotRange
		for _, e := range slots {
			if e.Master.ID == target {
				led = append(led, slotRange{e.Start, e.End})
			}
		}
		if !covers(led, g.Slots) {
			return fmt.Errorf("CLUSTER SLOTS of %s: %s leads %v, not all of %v", res.ToAddr, shortID(target), led, g.Slots)
		}
		out, err = runCLI(ctx, "cluster", "nodes", "--addr", res.ToAddr, "--json")
		var nodes []clusterNode
		if err != nil || json.Unmarshal([]byte(out), &nodes) != nil {
			return fmt.Errorf("nodes: %v %s", err, out)
		}
		for _, n := range nodes {
			if n.ID == target && n.isMaster() && covers(n.Slots, g.Slots) {
				return nil
			}
		}
		return fmt.Errorf("CLUSTER NODES of %s does not show %s as master of %v: %s", res.ToAddr, shortID(target), g.Slots, out)
	})
	// Shoal moves it back to the preferred leader; then a transfer without
	// --to goes to another member, and a transfer to the leader is a no-op.
	testutil.Eventually(t, 20*time.Second, "every group led by its preferred leader", func() error { return preferredLeaders(addrs) })
	out, err = runCLI(ctx, "cluster", "transfer-leader", "--addr", addrs[2], "--group", g.ID)
	if err != nil || !strings.HasPrefix(out, "Leadership of group "+g.ID+" moved from "+shortID(g.Leader)) ||
		!strings.Contains(out, "Note: "+shortID(g.Leader)+" is the group's preferred leader.") {
		t.Fatalf("transfer-leader without --to: %v\n%s", err, out)
	}
	testutil.Eventually(t, 20*time.Second, "every group led by its preferred leader", func() error { return preferredLeaders(addrs) })
	out, err = runCLI(ctx, "cluster", "transfer-leader", "--addr", addrs[1], "--group", g.ID, "--to", g.Leader)
	if err != nil || !strings.Contains(out, "already leads group "+g.ID+"; nothing to do.") {
		t.Errorf("transfer-leader to the leader: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--group", "nosuch"}, `knows no group "nosuch" (groups: g0, g1, g2)`},
		{[]string{"--group", g.ID, "--to", "zz"}, `node "zz" is not a member of group ` + g.ID},
	} {
		_, err := runCLI(ctx, append([]string{"cluster", "transfer-leader", "--addr", addrs[0]}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.err)
		}
	}
	out, err = runCLI(ctx, "cluster", "groups", "--addr", addrs[0])
	if err != nil || !strings.HasPrefix(out, "GROUP ") || strings.Count(out, "\n") != 4 {
		t.Errorf("groups: %v\n%s", err, out)
	}
}
