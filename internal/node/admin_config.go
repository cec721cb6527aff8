package node

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/server"
)

// Cluster-wide settings (CONFIG SET of maxmemory, maxmemory-policy and the
// slowlog and latency parameters in cluster mode): the map holds them
// (Map.Config), and every node applies them to its front end whenever its
// map changes, and once at start when it has a map, over its own flags and
// config file.

// configSync applies the map's settings to the node's server, in map order.
//
// Goroutine model: its goroutine (run) wakes on every map change
// (placement.Service.Changes); SetClusterConfig, on a connection goroutine,
// also applies the map it waited for, so that CONFIG SET replies once its
// value is in force here. mu serialises the two, and an apply of a map no
// newer than the last one applied does nothing, so that a slow caller never
// puts an older value back.
type configSync struct {
	mu      sync.Mutex
	srv     *server.Server    // nil until start
	epoch   uint64            // epoch of the map last applied
	applied map[string]string // its settings
	// aclLines are the map's ACL users last applied (aclSet: any were);
	// see admin_acl.go.
	aclLines []string
	aclSet   bool

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// startConfigSync applies the map's settings to srv, the node's front end,
// now and at every map change from then on, until stopConfigSync.
func (cs *clusterState) startConfigSync(srv *server.Server) {
	c := &cs.cfgSync
	c.mu.Lock()
	c.srv = srv
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	c.mu.Unlock()
	go func() {
		defer close(c.done)
		for {
			ch := cs.pl.Changes()
			cs.applyConfig(cs.pl.Map())
			select {
			case <-c.stop:
				return
			case <-ch:
			}
		}
	}()
}

// stopConfigSync stops the goroutine of startConfigSync and waits for it;
// it does nothing when that never started, and on later calls.
func (cs *clusterState) stopConfigSync() {
	c := &cs.cfgSync
	c.mu.Lock()
	stop, done := c.stop, c.done
	c.mu.Unlock()
	if stop == nil {
		return
	}
	c.stopOnce.Do(func() { close(stop) })
	<-done
}

// applyConfig applies the settings of m that changed since the last map
// applied (all of them the first time), unless m is nil, no newer than
// that map, or the server does not exist yet.
func (cs *clusterState) applyConfig(m *placement.Map) {
	c := &cs.cfgSync
	c.mu.Lock()
	defer c.mu.Unlock()
	if m == nil || c.srv == nil || (c.applied != nil && m.Epoch <= c.epoch) {
		return
	}
	changed := make(map[string]string)
	for k, v := range m.Config {
		if cur, ok := c.applied[k]; !ok || cur != v {
			changed[k] = v
		}
	}
	cs.applyACL(m)
	c.epoch, c.applied = m.Epoch, maps.Clone(m.Config)
	if c.applied == nil {
		c.applied = map[string]string{}
	}
	if len(changed) == 0 {
		return
	}
	params := slices.Sorted(maps.Keys(changed))
	if err := c.srv.ApplyClusterConfig(changed); err != nil {
		// A node of another version, or a value this one refuses: the
		// rest applies, this node keeps its own value for those.
		cs.n.log.Warn("cluster-wide settings applied in part", "epoch", m.Epoch, "params", params, "err", err)
		return
	}
	cs.n.log.Info("cluster-wide settings applied", "epoch", m.Epoch, "params", params)
}

// SetClusterConfig implements server.Admin: the settings go into the map
// through the meta group; once this node's replica holds the new map,
// this node applies it before returning.
func (cs *clusterState) SetClusterConfig(ctx context.Context, kv map[string]string) error {
	if err := cs.pl.SetConfig(ctx, kv); err != nil {
		return err
	}
	cs.applyConfig(cs.pl.Map())
	return nil
}
