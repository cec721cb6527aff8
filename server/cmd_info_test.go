package server

import (
	"strings"
	"testing"

	"github.com/shoalcache/shoal/internal/resp"
)

func TestBytesToHuman(t *testing.T) {
	cases := []struct {
		n    int64
		want string
	}{
		{0, "0B"}, {1023, "1023B"}, {1024, "1.00K"}, {990448, "967.23K"}, {7360512, "7.02M"},
		{25276502016, "23.54G"}, {1 << 40, "1.00T"},
	}
	for _, c := range cases {
		if got := bytesToHuman(c.n); got != c.want {
			t.Errorf("bytesToHuman(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestInfoSections(t *testing.T) {
	x := connTestCtx(t, "", resp.RESP2)
	if got := runLocal(t, x, "INFO", "foo"); got != "$0\r\n\r\n" {
		t.Errorf("INFO foo = %q", got)
	}
	if got := runLocal(t, x, "INFO", "keyspace"); got != "$12\r\n# Keyspace\r\n\r\n" {
		t.Errorf("INFO keyspace = %q", got)
	}
	got := runLocal(t, x, "INFO", "SERVER", "clients")
	for _, want := range []string{"# Server\r\nredis_version:7.0.15\r\n", "redis_mode:standalone\r\n",
		"arch_bits:64\r\n", "\r\n\r\n# Clients\r\nconnected_clients:0\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("INFO server clients = %q, missing %q", got, want)
		}
	}
	if strings.Contains(got, "# Memory") {
		t.Errorf("INFO server clients has other sections: %q", got)
	}
	all := runLocal(t, x, "INFO")
	for _, sec := range []string{"Server", "Clients", "Memory", "Persistence", "Stats", "Replication",
		"Raft", "CPU", "Cluster", "Keyspace"} {
		if !strings.Contains(all, "# "+sec+"\r\n") {
			t.Errorf("INFO lacks # %s", sec)
		}
	}
	for _, f := range []string{"used_memory:", "used_memory_human:", "maxmemory_policy:noeviction",
		"keyspace_hits:", "expired_keys:", "role:master", "proposals:", "raft_groups:0"} {
		if !strings.Contains(all, f) {
			t.Errorf("INFO lacks %s", f)
		}
	}
	connOf(x).proto = resp.RESP3
	if got := runLocal(t, x, "INFO", "keyspace"); got != "=16\r\ntxt:# Keyspace\r\n\r\n" {
		t.Errorf("RESP3 INFO keyspace = %q", got)
	}
}
