package integration

// SHOAL GROUPS and SHOAL LEADER-TRANSFER on a real cluster, and the helpers
// the leader-transfer nemesis shares with this test.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// shoalGroup is one group of a SHOAL GROUPS reply.
type shoalGroup struct {
	ID      string
	Leader  string // node id, "" when unknown
	Members []string
	Slots   [][2]int
}

// parseShoalGroups reads a SHOAL GROUPS reply of either protocol version.
func parseShoalGroups(v respclient.Value) ([]shoalGroup, error) {
	if v.IsError() {
		return nil, fmt.Errorf("SHOAL GROUPS: %s", v.Str)
	}
	var out []shoalGroup
	for _, e := range v.Elems() {
		var g shoalGroup
		for k := 0; k+1 < len(e.Elems()); k += 2 {
			val := e.Elems()[k+1]
			switch e.Elems()[k].Str {
			case "id":
				g.ID = val.Str
			case "leader":
				g.Leader = val.Str
			case "members":
				for _, m := range val.Elems() {
					g.Members = append(g.Members, m.Str)
				}
			case "slots":
				for i := 0; i+1 < len(val.Elems()); i += 2 {
					a, _ := strconv.Atoi(text(val.Elems()[i]))
					b, _ := strconv.Atoi(text(val.Elems()[i+1]))
					g.Slots = append(g.Slots, [2]int{a, b})
				}
			}
		}
		if g.ID == "" || len(g.Members) == 0 {
			return nil, fmt.Errorf("SHOAL GROUPS: bad entry %q", e.Raw)
		}
		out = append(out, g)
	}
	return out, nil
}

// queryGroups asks addr for SHOAL GROUPS.
func queryGroups(addr string) ([]shoalGroup, error) {
	v, err := quickDo(addr, "SHOAL", "GROUPS")
	if err != nil {
		return nil, err
	}
	return parseShoalGroups(v)
}

// groupByID returns the group with id in gs.
func groupByID(gs []shoalGroup, id string) (shoalGroup, bool) {
	for _, g := range gs {
		if g.ID == id {
			return g, true
		}
	}
	return shoalGroup{}, false
}

// slotsMasters returns, for each slot, the node id CLUSTER SLOTS of addr
// names as its master ("" when none).
func slotsMasters(addr string) ([]string, error) {
	v, err := quickDo(addr, "CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	if v.IsError() {
		return nil, errors.New(v.Str)
	}
	out := make([]string, shard.NumSlots)
	for _, r := range v.Elems() {
		if len(r.Elems()) < 3 || len(r.Elems()[2].Elems()) < 3 {
			return nil, fmt.Errorf("bad CLUSTER SLOTS entry %q", r.Raw)
		}
		a, _ := strconv.Atoi(text(r.Elems()[0]))
		b, _ := strconv.Atoi(text(r.Elems()[1]))
		for s := a; s <= b && s < len(out); s++ {
			out[s] = r.Elems()[2].Elems()[2].Str
		}
	}
	return out, nil
}

// xferLoad writes and reads keys through a go-redis ClusterClient, one
// goroutine per key subset, and checks every read: a key has one writer,
// which writes 1, 2, 3, ...; a read must return at least the last
// acknowledged value and at most the last attempted one.
type xferLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu         sync.Mutex
	acks       int
	errs       map[string]int
	violations []string
}

func startXferLoad(c *redis.ClusterClient, keys []string, workers int) *xferLoad {
	l := &xferLoad{stop: make(chan struct{}), errs: map[string]int{}}
	for w := 0; w < workers; w++ {
		var mine []string
		for i := w; i < len(keys); i += workers {
			mine = append(mine, keys[i])
		}
		l.wg.Add(1)
		go l.worker(c, mine)
	}
	return l
}

func (l *xferLoad) worker(c *redis.ClusterClient, keys []string) {
	defer l.wg.Done()
	acked := make(map[string]int64)
	tried := make(map[string]int64)
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		k := keys[i%len(keys)]
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		tried[k]++
		err := c.Set(ctx, k, tried[k], 0).Err()
		if err == nil {
			acked[k] = tried[k]
		}
		l.note(err == nil, err, "")
		v, err := c.Get(ctx, k).Int64()
		cancel()
		bad := ""
		switch {
		case errors.Is(err, redis.Nil) && acked[k] > 0:
			bad = fmt.Sprintf("GET %s = nil after %d was acknowledged", k, acked[k])
		case err == nil && (v < acked[k] || v > tried[k]):
			bad = fmt.Sprintf("GET %s = %d; acknowledged %d, attempted up to %d", k, v, acked[k], tried[k])
		}
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		l.note(false, err, bad)
	}
}

func (l *xferLoad) note(ack bool, err error, violation string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ack {
		l.acks++
	}
	if err != nil {
		msg := err.Error()
		if len(msg) > 60 {
			msg = msg[:60]
		}
		l.errs[msg]++
	}
	if violation != "" {
		l.violations = append(l.violations, violation)
	}
}

func (l *xferLoad) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acks
}

// finish stops the workers and reports the errors and violations.
func (l *xferLoad) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	t.Logf("load: %d acknowledged writes; errors: %v", l.acks, l.errs)
	for _, v := range l.violations {
		t.Errorf("load: %s", v)
	}
}

// TestClusterLeaderTransfer moves the leadership of a group to a named
// member with SHOAL LEADER-TRANSFER while a ClusterClient writes and reads,
// checks that CLUSTER SLOTS names the new master, that the client goes on
// working and reads what it wrote, that leadership returns to the
// preferred leader, and the command's error replies byte for byte. With 2
// replicas per group each group has a node outside it.
func TestClusterLeaderTransfer(t *testing.T) {
	tc := startCluster(t, 3, "--replicas", "2")
	idx := map[string]int{}
	ids := make([]string, len(tc.nodes))
	for i, nd := range tc.nodes {
		raw, err := mustDial(t, nd.Addr).Do("CLUSTER", "MYID")
		v, _ := respclient.Parse(raw)
		if err != nil || len(v.Str) != 40 {
			t.Fatalf("CLUSTER MYID on %s: %q %v", nd.Addr, raw, err)
		}
		ids[i], idx[v.Str] = v.Str, i
	}
	groups, err := queryGroups(tc.nodes[0].Addr)
	if err != nil || len(groups) != 3 {
		t.Fatalf("SHOAL GROUPS: %+v %v", groups, err)
	}
	g := groups[1]
	if g.Leader != g.Members[0] || len(g.Members) != 2 {
		t.Fatalf("group %+v: want 2 members, led by the first", g)
	}
	from, to, outsider := idx[g.Members[0]], idx[g.Members[1]], 3-idx[g.Members[0]]-idx[g.Members[1]]

	// Keys of every slot range, so that some belong to g.
	var keys []string
	inG := 0
	conn := mustDial(t, tc.nodes[0].Addr)
	for i := 0; i < 48; i++ {
		k := fmt.Sprintf("xfer:%d", i)
		raw, _ := conn.Do("CLUSTER", "KEYSLOT", k)
		slot, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(raw), ":")))
		for _, r := range g.Slots {
			if r[0] <= slot && slot <= r[1] {
				inG++
			}
		}
		keys = append(keys, k)
	}
	if inG == 0 {
		t.Fatalf("no key in %s's slots %v", g.ID, g.Slots)
	}
	c := tc.clusterClient(&redis.ClusterOptions{MaxRedirects: 16, ClusterStateReloadInterval: time.Second})
	load := startXferLoad(c, keys, 4)
	testutil.Eventually(t, 10*time.Second, "load before the transfer", func() error {
		if n := load.acked(); n < 100 {
			return fmt.Errorf("%d writes acknowledged before the transfer", n)
		}
		return nil
	})

	raw, err := mustDial(t, tc.nodes[from].Addr).Do("SHOAL", "LEADER-TRANSFER", g.ID, ids[to])
	if err != nil || string(raw) != "+OK\r\n" {
		t.Fatalf("SHOAL LEADER-TRANSFER %s %s on the leader = %q, %v", g.ID, ids[to], raw, err)
	}
	transferred := load.acked()
	// Both members name the new master of g's slots at once (within the
	// second before Shoal moves leadership back to the preferred leader).
	testutil.Eventually(t, 3*time.Second, "both members name the new master", func() error {
		for _, i := range []int{to, from} {
			m, err := slotsMasters(tc.nodes[i].Addr)
			if err != nil {
				return err
			}
			for _, r := range g.Slots {
				for s := r[0]; s <= r[1]; s++ {
					if m[s] != ids[to] {
						return fmt.Errorf("node %d: CLUSTER SLOTS names %q master of slot %d", i, m[s], s)
					}
				}
			}
		}
		return nil
	})
	testutil.Eventually(t, 15*time.Second, "writes after the transfer", func() error {
		if n := load.acked() - transferred; n < 200 {
			return fmt.Errorf("%d writes acknowledged since the transfer", n)
		}
		return nil
	})
	load.finish(t)

	// Shoal hands leadership back to the preferred leader.
	testutil.Eventually(t, 20*time.Second, "leadership back at the preferred leader", func() error {
		for _, nd := range tc.nodes {
			gs, err := queryGroups(nd.Addr)
			if err != nil {
				return err
			}
			if now, _ := groupByID(gs, g.ID); now.Leader != g.Members[0] {
				return fmt.Errorf("%s: %s led by %q", nd.Addr, g.ID, now.Leader)
			}
		}
		return nil
	})
	tc.WaitBalanced(30 * time.Second)

	// Without a target, the other member (the only one) takes over.
	raw, err = mustDial(t, tc.nodes[from].Addr).Do("SHOAL", "LEADER-TRANSFER", g.ID)
	if err != nil || string(raw) != "+OK\r\n" {
		t.Fatalf("SHOAL LEADER-TRANSFER %s on the leader = %q, %v", g.ID, raw, err)
	}
	testutil.Eventually(t, 3*time.Second, "leadership moved by SHOAL LEADER-TRANSFER", func() error {
		gs, err := queryGroups(tc.nodes[to].Addr)
		if now, _ := groupByID(gs, g.ID); err != nil || now.Leader != ids[to] {
			return fmt.Errorf("%s led by %q, %v", g.ID, now.Leader, err)
		}
		return nil
	})
	tc.WaitBalanced(30 * time.Second)

	// Error replies, byte for byte.
	leaderAddr := tc.nodes[from].Addr
	notLeader := "-ERR this node does not lead group " + g.ID + " (leader: " + leaderAddr + ")\r\n"
	unknownNode := strings.Repeat("0", 40)
	for _, ec := range []struct {
		node int
		args []string
		want string
	}{
		{to, []string{"SHOAL", "LEADER-TRANSFER", g.ID}, notLeader},
		{outsider, []string{"SHOAL", "LEADER-TRANSFER", g.ID, ids[to]}, notLeader},
		{from, []string{"SHOAL", "LEADER-TRANSFER", "nosuch"}, "-ERR unknown group 'nosuch'\r\n"},
		{to, []string{"SHOAL", "LEADER-TRANSFER", "nosuch", ids[to]}, "-ERR unknown group 'nosuch'\r\n"},
		{from, []string{"SHOAL", "LEADER-TRANSFER", g.ID, unknownNode}, "-ERR Unknown node " + unknownNode + "\r\n"},
		{from, []string{"SHOAL", "LEADER-TRANSFER", g.ID, ids[outsider]},
			"-ERR node " + ids[outsider] + " is not a voter of group " + g.ID + "\r\n"},
		{from, []string{"SHOAL", "LEADER-TRANSFER", g.ID, ids[from]},
			"-ERR node " + ids[from] + " already leads group " + g.ID + "\r\n"},
		{from, []string{"SHOAL", "LEADER-TRANSFER"}, "-ERR wrong number of arguments for 'shoal|leader-transfer' command\r\n"},
		{from, []string{"SHOAL", "LEADER-TRANSFER", g.ID, ids[to], "x"},
			"-ERR wrong number of arguments for 'shoal|leader-transfer' command\r\n"},
		{from, []string{"shoal"}, "-ERR wrong number of arguments for 'shoal' command\r\n"},
		{from, []string{"SHOAL", "GROUPS", "x"}, "-ERR wrong number of arguments for 'shoal|groups' command\r\n"},
		{from, []string{"SHOAL", "NOSUCH"}, "-ERR unknown subcommand 'NOSUCH'. Try SHOAL HELP.\r\n"},
	} {
		// The outsider learns the leader by gossip: allow it a moment.
		testutil.Eventually(t, 5*time.Second, "the outsider's reply", func() error {
			c, err := dialRESP(tc.nodes[ec.node].Addr)
			if err != nil {
				return err
			}
			defer c.Close()
			raw, err := c.Do(ec.args...)
			if err != nil || string(raw) != ec.want {
				return fmt.Errorf("node %d: %q = %q, %v; want %q", ec.node, ec.args, raw, err, ec.want)
			}
			return nil
		})
	}
}
