package node

import (
	"context"
	"slices"
	"time"

	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/server"
)

// ACL users in cluster mode: the map holds them (Map.ACL, ACL LIST
// lines). ACL SETUSER, DELUSER and LOAD on any node change the map through
// the meta group (UpdateACL); every node applies the map's users to its
// front end with the cluster-wide settings (configSync.applyACL, on the
// config sync goroutine and on the connection that made the change). A
// node started with --aclfile seeds a map that has no users yet with the
// file's (seedACL); once the map has users, the map wins over the file.

var _ server.ACLAdmin = (*clusterState)(nil)

// UpdateACL implements server.ACLAdmin: the change goes into the map
// through the meta group; once this node's replica holds the new map,
// this node applies it before returning.
func (cs *clusterState) UpdateACL(ctx context.Context, change func(lines []string) ([]string, error)) error {
	if err := cs.pl.UpdateACL(ctx, change); err != nil {
		return err
	}
	cs.applyConfig(cs.pl.Map())
	return nil
}

// applyACL applies m's users to the server when they differ from the ones
// applied last. The caller holds c.mu (applyConfig).
func (cs *clusterState) applyACL(m *placement.Map) {
	c := &cs.cfgSync
	if m.ACL == nil || (c.aclSet && slices.Equal(c.aclLines, m.ACL.Lines)) {
		return
	}
	if err := c.srv.ApplyClusterACL(m.ACL.Lines); err != nil {
		// A node of another version: it keeps its users.
		cs.n.log.Warn("cluster acl users not applied", "epoch", m.Epoch, "err", err)
		return
	}
	c.aclLines, c.aclSet = slices.Clone(m.ACL.Lines), true
	cs.n.log.Info("cluster acl users applied", "epoch", m.Epoch, "users", len(m.ACL.Lines))
}

// seedACL, in the background, puts the users of srv's --aclfile in the
// map when the map has none yet (the first node to get there wins; the
// others find users and change nothing). It gives up after a minute
// without a map, or when the node stops.
func (cs *clusterState) seedACL(srv *server.Server) {
	lines, err := srv.ACLFileUsers()
	if err != nil || lines == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for cs.pl.Map() == nil {
			select {
			case <-ctx.Done():
				return
			case <-cs.pl.Changes():
			}
		}
		err := cs.pl.UpdateACL(ctx, func(cur []string) ([]string, error) {
			if cur != nil {
				return cur, nil
			}
			return lines, nil
		})
		if err != nil {
			cs.n.log.Warn("acl users not seeded from the aclfile", "err", err)
		}
	}()
}
