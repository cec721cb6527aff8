package integration

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
)

// replaceNemesis is "replace a node": the fault drains a random node with
// SHOAL REMOVE-NODE (the balancer moves its group replicas, leaderships and
// meta vote to other nodes with Raft membership changes, empties and
// deletes the group it led, and takes it out of the map) while the
// workloads go on; healing waits until the node is out of the map, stops
// it, wipes its data and starts it again as a new node (a new id, the same
// addresses), and asks for a rebalance, which gives it a group, replicas
// and slots again. Every step is a membership change or a slot migration
// under load; the phase's end checks (histories, key placement, a
// balanced cluster) cover them.
func replaceNemesis() *nemesis {
	pending := -1 // the node being drained
	return &nemesis{name: "replace", rebalances: true,
		inject: func(c *jCluster, rng *rand.Rand) (string, error) {
			if pending >= 0 {
				return "replace: a replacement is still pending", nil
			}
			victim := rng.IntN(len(c.nodes))
			via := c.otherUsable(victim, rng)
			if via < 0 {
				return "replace: no usable node", errors.New("no usable node")
			}
			what := fmt.Sprintf("drain n%d (%.8s) via n%d", victim, c.nodes[victim].id, via)
			v, err := doWithin(c.nodes[via].addr(), 15*time.Second, "SHOAL", "REMOVE-NODE", c.nodes[victim].id)
			switch {
			case err != nil:
				return what, err
			case v.IsError():
				return what, errors.New(v.Str)
			}
			pending = victim
			return what, nil
		},
		heal: func(c *jCluster) (string, error) {
			if pending < 0 {
				return "no-op", nil
			}
			victim := pending
			n := c.nodes[victim]
			if err := c.waitRemoved(n.id, 90*time.Second); err != nil {
				return fmt.Sprintf("n%d not removed", victim), err
			}
			pending = -1
			n.kill()
			old := n.id
			h := sha1.Sum([]byte("replaced-" + old))
			n.id = hex.EncodeToString(h[:])
			for i, a := range n.args {
				if a == old {
					n.args[i] = n.id
				}
			}
			if err := os.RemoveAll(n.dataDir); err != nil {
				return "wipe", err
			}
			if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
				return "wipe", err
			}
			if err := n.start(); err != nil {
				return fmt.Sprintf("restart n%d", victim), err
			}
			what := fmt.Sprintf("n%d removed, restarted empty as %.8s", victim, n.id)
			// The new node is in the map once the meta leader registered it.
			deadline := time.Now().Add(30 * time.Second)
			for {
				v, err := quickDo(c.nodes[(victim+1)%len(c.nodes)].addr(), "SHOAL", "REBALANCE")
				if err == nil && !v.IsError() && len(v.Elems()) > 0 {
					return fmt.Sprintf("%s; rebalance requested (%d steps)", what, len(v.Elems())), nil
				}
				if time.Now().After(deadline) {
					return what + "; no rebalance", fmt.Errorf("SHOAL REBALANCE: %v %s", err, v.Str)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}}
}

// otherUsable returns a random usable node other than skip, or -1.
func (c *jCluster) otherUsable(skip int, rng *rand.Rand) int {
	for _, i := range rng.Perm(len(c.nodes)) {
		if i != skip && c.nodes[i].usable() {
			return i
		}
	}
	return -1
}

// waitRemoved waits until SHOAL REBALANCE STATUS, on some usable node,
// lists id as removed.
func (c *jCluster) waitRemoved(id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := errors.New("no answer")
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if n.id == id || !n.usable() {
				continue
			}
			v, err := quickDo(n.addr(), "SHOAL", "REBALANCE", "STATUS")
			if err != nil {
				last = err
				continue
			}
			if slices.ContainsFunc(statusList(v, "removed"), func(x respclient.Value) bool { return x.Str == id }) {
				return nil
			}
			last = fmt.Errorf("draining %d nodes, plan %d steps", len(statusList(v, "draining")), len(statusList(v, "plan")))
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("node %.8s not removed after %v: %v", id, timeout, last)
}

// statusList returns the array field key of a SHOAL REBALANCE STATUS
// reply (a map in RESP3, a flat key-value array in RESP2).
func statusList(v respclient.Value, key string) []respclient.Value {
	for _, p := range v.Map {
		if k, _ := p.Key.Text(); k == key {
			return p.Value.Elems()
		}
	}
	kv := v.Elems()
	for i := 0; i+1 < len(kv); i += 2 {
		if k, _ := kv[i].Text(); k == key {
			return kv[i+1].Elems()
		}
	}
	return nil
}
