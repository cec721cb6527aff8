package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"strings"

	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// TestClusterACLSeed runs three in-process nodes, only the first with an
// --aclfile: its users are put in the map (which had none) and reach the
// other nodes, where they authenticate.
func TestClusterACLSeed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes")
	}
	file := filepath.Join(t.TempDir(), "users.acl")
	if err := os.WriteFile(file, []byte("user ops on >pw ~ops:* +@all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := startNodes(t, []string{nid('a'), nid('b'), nid('c')}, 3, func(i int, cfg *Config) {
		if i == 0 {
			cfg.Server.ACLFile = file
		}
	}).nodes
	testutil.Eventually(t, 30*time.Second, "the aclfile's users in every node's map", func() error {
		for i, n := range nodes {
			m := n.cluster.pl.Map()
			if m == nil || m.ACL == nil {
				return fmt.Errorf("node %d: no users in the map", i)
			}
			if len(m.ACL.Lines) != 1 || !strings.HasPrefix(m.ACL.Lines[0], "user ops on #") {
				return fmt.Errorf("node %d: map users %q", i, m.ACL.Lines)
			}
		}
		return nil
	})
	testutil.Eventually(t, 10*time.Second, "AUTH ops on node c", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := respclient.Dial(ctx, nodes[2].Addr().String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Do(ctx, "AUTH", "ops", "pw"); err != nil {
			return err
		}
		return nil
	})
}
