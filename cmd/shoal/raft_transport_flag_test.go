package main

import (
	"strings"
	"testing"
)

// TestRaftTransportFlag checks --raft-transport: shoal by default,
// hashicorp on request, anything else refused.
func TestRaftTransportFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
		ok   bool
	}{
		{nil, "shoal", true},
		{[]string{"--raft-transport", "hashicorp"}, "hashicorp", true},
		{[]string{"--raft-transport", "shoal"}, "shoal", true},
		{[]string{"--raft-transport", "grpc"}, "", false},
	} {
		cfg, _, err := parseServerFlags(t, tc.args...)
		if tc.ok && (err != nil || cfg.RaftTransport != tc.want) {
			t.Errorf("%v: RaftTransport %q, %v; want %q", tc.args, cfg.RaftTransport, err, tc.want)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "raft-transport")) {
			t.Errorf("%v: %v, want an error naming raft-transport", tc.args, err)
		}
	}
}
