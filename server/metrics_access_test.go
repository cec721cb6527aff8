package server

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
)

// TestInfoStatsMatchesInfo checks that InfoStats reports what INFO does,
// after traffic that moves every counter it copies.
func TestInfoStatsMatchesInfo(t *testing.T) {
	g := newFakeGroup(t)
	s, err := New(DefaultConfig(), SingleRouter{Group: g})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTest(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := respclient.Dial(ctx, addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, cmd := range [][]any{{"SET", "a", "1"}, {"SET", "b", "2", "EX", "100"}, {"GET", "a"}, {"GET", "a"},
		{"GET", "nope"}} {
		if _, err := c.Do(ctx, cmd...); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	if _, err := c.Do(ctx, "INCR", "a", "b"); err == nil {
		t.Fatal("INCR a b did not fail")
	}

	got := s.InfoStats()
	v, err := c.Do(ctx, "INFO", "everything")
	if err != nil {
		t.Fatal(err)
	}
	info := v.Str
	field := func(name string) int64 {
		t.Helper()
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("INFO %s = %q", name, v)
				}
				return n
			}
		}
		t.Fatalf("INFO has no %s", name)
		return 0
	}
	for _, c := range []struct {
		name     string
		got      int64
		info     int64
		infoDiff int64
	}{
		{"keyspace_hits", got.KeyspaceHits, field("keyspace_hits"), 0},
		{"keyspace_misses", got.KeyspaceMisses, field("keyspace_misses"), 0},
		{"total_commands_processed", got.CommandsProcessed, field("total_commands_processed"), 0},
		{"total_error_replies", got.ErrorReplies, field("total_error_replies"), 0},
		{"total_connections_received", got.ConnectionsReceived, field("total_connections_received"), 0},
		{"connected_clients", got.ConnectedClients, field("connected_clients"), 0},
		{"proposals", got.Proposals, field("proposals"), 0},
		{"proposed_commands", got.ProposedCommands, field("proposed_commands"), 0},
		{"used_memory_dataset", got.DatasetMemory, field("used_memory_dataset"), 0},
		{"maxmemory", got.MaxMemory, field("maxmemory"), 0},
	} {
		if c.got+c.infoDiff != c.info {
			t.Errorf("%s: InfoStats %d (+%d), INFO %d", c.name, c.got, c.infoDiff, c.info)
		}
	}
	// INCR a b is refused before it runs: an error reply, but not a
	// command processed (as in Redis).
	if got.KeyspaceHits != 2 || got.KeyspaceMisses != 1 || got.CommandsProcessed != 5 || got.ErrorReplies != 1 || got.ConnectedClients != 1 {
		t.Errorf("hits %d misses %d commands %d errors %d clients %d, want 2 1 5 1 1",
			got.KeyspaceHits, got.KeyspaceMisses, got.CommandsProcessed, got.ErrorReplies, got.ConnectedClients)
	}
	if got.Keys != 2 || got.Expires != 1 {
		t.Errorf("keys %d expires %d, want 2 1", got.Keys, got.Expires)
	}
	if got.NetInputBytes == 0 || got.NetOutputBytes == 0 || got.UsedMemory <= got.DatasetMemory || got.RSS == 0 {
		t.Errorf("net in %d out %d, used memory %d (dataset %d), rss %d: want all non-zero",
			got.NetInputBytes, got.NetOutputBytes, got.UsedMemory, got.DatasetMemory, got.RSS)
	}
}
