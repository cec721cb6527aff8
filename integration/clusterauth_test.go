package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/raftfsm"
)

// Cluster-port authentication (--cluster-secret) and gossip encryption
// (--gossip-key) with real processes.

const (
	authSecret      = "integration-cluster-secret-1"
	authWrongSecret = "integration-cluster-secret-X"
	gossipKey1      = "5K9OtfjNIgXh3S1fV8lDkjHbOmDG5VPU0uYQd7Wjpus="
	gossipKey2      = "9a0TgGs/p6mH3uEyIRVN4HXhjswv8Xn/0u0+jc8qBQw="
	gossipKeyWrong  = "Yh0mxRXr1ZxkSAhTQfMgjzGzzXfM+pRqQKGCvRmhT0s="
)

// argAfter returns the value of flag in the node's arguments.
func argAfter(t *testing.T, n *testutil.ShoalNode, flag string) string {
	t.Helper()
	for i, a := range n.Args {
		if a == flag && i+1 < len(n.Args) {
			return n.Args[i+1]
		}
	}
	t.Fatalf("%s: no %s in %q", n.Addr, flag, n.Args)
	return ""
}

// clusterPortOf returns the --cluster-port a test cluster node was started
// with.
func clusterPortOf(t *testing.T, n *testutil.ShoalNode) string {
	t.Helper()
	for i, a := range n.Args {
		if a == "--cluster-port" && i+1 < len(n.Args) {
			return "127.0.0.1:" + n.Args[i+1]
		}
	}
	t.Fatalf("%s: no --cluster-port in %q", n.Addr, n.Args)
	return ""
}

// raftGroupState is a replica's term and last log index (INFO raft).
type raftGroupState struct{ term, last uint64 }

// groupStates returns the node's replicas by group id, from INFO raft's
// group_<id>:state=...,term=T,last_index=L lines.
func groupStates(t *testing.T, addr string) map[string]raftGroupState {
	t.Helper()
	conn := mustDial(t, addr)
	defer conn.Close()
	_, v, err := conn.DoValue("INFO", "raft")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]raftGroupState{}
	for _, line := range strings.Split(text(v), "\n") {
		id, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(id, "group_") {
			continue
		}
		var st raftGroupState
		for _, kv := range strings.Split(rest, ",") {
			k, val, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseUint(val, 10, 64)
			switch k {
			case "term":
				st.term = n
			case "last_index":
				st.last = n
			}
		}
		out[strings.TrimPrefix(id, "group_")] = st
	}
	if len(out) == 0 {
		t.Fatalf("%s: INFO raft lists no group:\n%s", addr, text(v))
	}
	return out
}

// plainLayer is a raft.StreamLayer that dials a group's stream with the
// SHL1 header and no cluster secret, as a node without (or with a wrong)
// secret would.
type plainLayer struct {
	stream string
	done   chan struct{}
}

func (l *plainLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return raftfsm.DialStream(string(addr), l.stream, timeout)
}
func (l *plainLayer) Accept() (net.Conn, error) { <-l.done; return nil, errors.New("closed") }
func (l *plainLayer) Close() error              { close(l.done); return nil }
func (l *plainLayer) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// attackGroup sends an AppendEntries with a much higher term (which would
// depose the group's leader and bump every replica's term) to the group's
// replica at clusterAddr, without the cluster secret, and returns the
// transport's error.
func attackGroup(t *testing.T, clusterAddr, group string, term uint64) error {
	t.Helper()
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: &plainLayer{stream: group, done: make(chan struct{})}, MaxPool: 1, Timeout: 3 * time.Second})
	defer tr.Close()
	req := &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("intruder"), Addr: []byte("127.0.0.1:1")},
		Term:              term + 1000,
		LeaderCommitIndex: 0,
	}
	var resp raft.AppendEntriesResponse
	err := tr.AppendEntries("victim", raft.ServerAddress(clusterAddr), req, &resp)
	if err == nil {
		t.Logf("AppendEntries to %s/%s answered: term %d success %v", clusterAddr, group, resp.Term, resp.Success)
	}
	return err
}

// clusterNodesIDs returns the node ids CLUSTER NODES lists on addr.
func clusterNodesIDs(addr string) (map[string]bool, error) {
	conn, err := dialRESP(addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_, v, err := conn.DoValue("CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(text(v)), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			ids[f[0]] = true
		}
	}
	return ids, nil
}

// clusterSet sets k through a go-redis ClusterClient seeded with addr
// only, and reads it back.
func clusterSet(t *testing.T, addr, k, v string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
	defer c.Close()
	if err := c.Set(ctx, k, v, 0).Err(); err != nil {
		t.Fatalf("SET %s via %s: %v", k, addr, err)
	}
	if got, err := c.Get(ctx, k).Result(); err != nil || got != v {
		t.Fatalf("GET %s via %s = %q, %v", k, addr, got, err)
	}
}

// TestClusterAuthRefusesStrangers: in a cluster with a cluster secret and
// a gossip key, a node with a wrong secret and one with a wrong gossip key
// never get into the map, a raft RPC and a meta-rpc call without the
// secret are refused (the groups' terms and logs unchanged), and a node
// with the right settings joins.
func TestClusterAuthRefusesStrangers(t *testing.T) {
	ctx := context.Background()
	tc := testutil.StartShoalCluster(t, 3, "--cluster-secret", authSecret, "--gossip-key", gossipKey1)
	n0 := tc.Nodes[0]
	caddr := clusterPortOf(t, n0)

	// Raft RPCs without the secret: refused, nothing changes.
	before := groupStates(t, n0.Addr)
	for g, st := range before {
		if err := attackGroup(t, caddr, g, st.term); err == nil {
			t.Fatalf("group %s accepted an AppendEntries without the cluster secret", g)
		}
	}
	after := groupStates(t, n0.Addr)
	for g, st := range before {
		if after[g] != st {
			t.Fatalf("group %s changed after refused RPCs: %+v -> %+v", g, st, after[g])
		}
	}

	// meta-rpc: refused without the secret, answered with it.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if b, err := raftfsm.Call(cctx, caddr, raftfsm.StreamMetaRPC, []byte(`{"op":"epoch"}`), 0); err == nil {
		t.Fatalf("meta-rpc without the secret answered %q", b)
	}
	secrets, _ := raftfsm.ParseClusterSecrets(authWrongSecret + "," + authSecret)
	for _, s := range [][][]byte{secrets[:1], secrets[1:]} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		m := raftfsm.NewMux(ln, nil, nil)
		m.RequireSecret(s)
		b, err := m.Call(cctx, caddr, raftfsm.StreamMetaRPC, []byte(`{"op":"epoch"}`), 0)
		m.Close()
		if right := string(s[0]) == authSecret; right != (err == nil) {
			t.Fatalf("meta-rpc with secret %q: %q, %v", s[0], b, err)
		}
	}

	// Strangers: a wrong secret (right gossip key), a wrong gossip key.
	badSecret := tc.AddNode("--cluster-secret", authWrongSecret)
	badKey := tc.AddNode("--gossip-key", gossipKeyWrong)
	strangers := map[string]string{myID(t, badSecret.Addr): "wrong secret", myID(t, badKey.Addr): "wrong gossip key"}
	// A node with the right settings, started after them, joins: once it
	// is in the map the meta leader has seen the strangers too.
	good := tc.AddNode()
	goodID := myID(t, good.Addr)
	testutil.Eventually(t, 60*time.Second, "the good node in CLUSTER NODES of every member", func() error {
		for _, nd := range tc.Nodes[:3] {
			ids, err := clusterNodesIDs(nd.Addr)
			if err != nil {
				return err
			}
			if !ids[goodID] {
				return fmt.Errorf("%s: %d nodes, not the good one", nd.Addr, len(ids))
			}
		}
		return nil
	})
	// Another reconcile round or two for good measure: the map must not
	// take the strangers, however long they knock.
	deadline := time.Now().Add(3 * time.Second)
	testutil.Until(t, 10*time.Second, "strangers kept out for 3 s", func() bool {
		for _, nd := range append(tc.Nodes[:3], good) {
			ids, err := clusterNodesIDs(nd.Addr)
			if err != nil {
				t.Fatalf("%s: %v", nd.Addr, err)
			}
			for id, why := range strangers {
				if ids[id] {
					t.Fatalf("%s lists the node with a %s (%s) in CLUSTER NODES", nd.Addr, why, id)
				}
			}
		}
		return time.Now().After(deadline)
	})
	// The cluster still serves, through the new node too.
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("auth:%d", i)
		clusterSet(t, good.Addr, k, "v")
	}
}

// TestClusterGossipKeyRotation: install a new gossip key, use it, remove
// the old one (shoal cluster keys); the cluster stays healthy and a node
// that has only the new key joins.
func TestClusterGossipKeyRotation(t *testing.T) {
	// --data-dir (relative: each node runs in its own directory) keeps the
	// keyring in data/serf.keyring.
	tc := testutil.StartShoalCluster(t, 3, "--cluster-secret", authSecret, "--gossip-key", gossipKey1, "--data-dir", "data")
	addr := tc.Nodes[1].Addr
	list := func() string { return shoalCLI(t, "cluster", "keys", "list", "--json", "--addr", addr) }
	if out := list(); !strings.Contains(out, `"`+gossipKey1+`": 3`) {
		t.Fatalf("keys list before rotation:\n%s", out)
	}
	for _, step := range [][]string{{"install", gossipKey2}, {"use", gossipKey2}, {"remove", gossipKey1}} {
		out := shoalCLI(t, "cluster", "keys", step[0], "--addr", addr, step[1])
		t.Logf("keys %s:\n%s", step[0], out)
	}
	out := list()
	if !strings.Contains(out, `"`+gossipKey2+`": 3`) || strings.Contains(out, gossipKey1) {
		t.Fatalf("keys list after rotation:\n%s", out)
	}
	// A node that knows only the new key joins; one that knows only the
	// old one does not.
	old := tc.AddNode("--gossip-key", gossipKey1)
	oldID := myID(t, old.Addr)
	nd := tc.AddNode("--gossip-key", gossipKey2)
	id := myID(t, nd.Addr)
	testutil.Eventually(t, 60*time.Second, "the node with the new key in CLUSTER NODES", func() error {
		ids, err := clusterNodesIDs(addr)
		if err != nil {
			return err
		}
		if ids[oldID] {
			t.Fatalf("the node with only the removed key joined")
		}
		if !ids[id] {
			return fmt.Errorf("%d nodes, not the new one", len(ids))
		}
		return nil
	})
	old.Kill()
	tc.Nodes = tc.Nodes[:len(tc.Nodes)-2]
	tc.Nodes = append(tc.Nodes, nd)
	tc.WaitOK(30 * time.Second)
	clusterSet(t, nd.Addr, "rotated", "1")
	if out := shoalCLI(t, "cluster", "keys", "list", "--json", "--addr", nd.Addr); !strings.Contains(out, `"`+gossipKey2+`": 4`) {
		t.Fatalf("keys list with the new node:\n%s", out)
	}
	// A node restarted with its old --gossip-key flag rejoins: the keyring
	// file, which serf rewrote at each step, wins over the flag.
	r := tc.Nodes[2]
	r.Stop(5 * time.Second)
	r.Restart()
	testutil.Eventually(t, 60*time.Second, "the restarted node back in gossip with the new key only", func() error {
		conn, err := dialRESP(nd.Addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, v, err := conn.DoValue("SHOAL", "KEYS", "LIST")
		if err != nil {
			return err
		}
		if v.IsError() {
			return v.Err()
		}
		keys, _ := v.Get("keys")
		if n, _ := keys.Get(gossipKey2); n.Int != 4 || len(keys.Elems()) != 2 {
			return fmt.Errorf("SHOAL KEYS LIST: %s", v.String())
		}
		return nil
	})
	tc.WaitOK(60 * time.Second)
}

// TestClusterSecretRollingRotation: the documented rolling change of the
// cluster secret (restart node by node with OLD,NEW, then NEW,OLD, then
// NEW) keeps every node able to talk to every other: after each restart
// the restarted node leads its preferred group again, which takes Raft
// traffic both ways.
func TestClusterSecretRollingRotation(t *testing.T) {
	const newSecret = "integration-cluster-secret-2"
	tc := testutil.StartShoalCluster(t, 3, "--cluster-secret", authSecret)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: tc.Addrs(), MaxRedirects: 16, ClusterStateReloadInterval: time.Second})
	defer c.Close()
	ctx := context.Background()
	written := 0
	write := func() {
		t.Helper()
		for end := written + 50; written < end; written++ {
			k := "rot:" + strconv.Itoa(written)
			testutil.Eventually(t, 20*time.Second, "SET "+k, func() error { return c.Set(ctx, k, written, 0).Err() })
		}
	}
	write()
	for _, phase := range []string{authSecret + "," + newSecret, newSecret + "," + authSecret, newSecret} {
		for _, i := range []int{1, 2, 0} {
			nd := tc.Nodes[i]
			for j, a := range nd.Args {
				switch {
				case a == "--cluster-secret":
					nd.Args[j+1] = phase
				case a == "--join" && i == 0:
					// Node 0 joined itself: it rejoins through node 1.
					nd.Args[j+1] = "127.0.0.1:" + argAfter(t, tc.Nodes[1], "--gossip-port")
				}
			}
			nd.Stop(5 * time.Second)
			nd.Restart()
			tc.WaitOK(60 * time.Second)
			tc.WaitBalanced(60 * time.Second)
			t.Logf("node %d restarted with secrets %q", i, phase)
			write()
		}
	}
	for i := 0; i < written; i++ {
		k := "rot:" + strconv.Itoa(i)
		var got string
		testutil.Eventually(t, 20*time.Second, "GET "+k, func() error {
			var err error
			got, err = c.Get(ctx, k).Result()
			return err
		})
		if got != strconv.Itoa(i) {
			t.Fatalf("GET %s = %q", k, got)
		}
	}
}
