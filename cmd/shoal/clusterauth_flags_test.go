package main

import (
	"strings"
	"testing"
)

// TestClusterSecretAndGossipKeyFlags: --cluster-secret (a list) and
// --gossip-key from flags, SHOAL_* and the config file, and their errors.
func TestClusterSecretAndGossipKeyFlags(t *testing.T) {
	const key = "5K9OtfjNIgXh3S1fV8lDkjHbOmDG5VPU0uYQd7Wjpus="
	cfg, _, err := parseServerFlags(t, "--cluster-secret", "new-secret-0123456789, old-secret-0123456789", "--gossip-key", key)
	if err != nil || len(cfg.ClusterSecrets) != 2 || string(cfg.ClusterSecrets[1]) != "old-secret-0123456789" ||
		cfg.Placement.GossipKey != key {
		t.Fatalf("flags: %q %q %v", cfg.ClusterSecrets, cfg.Placement.GossipKey, err)
	}
	t.Setenv("SHOAL_CLUSTER_SECRET", "env-secret-0123456789")
	path := writeConf(t, "gossip-key "+key+"\n")
	if cfg, _, err = parseServerFlags(t, "--config", path); err != nil || len(cfg.ClusterSecrets) != 1 ||
		string(cfg.ClusterSecrets[0]) != "env-secret-0123456789" || cfg.Placement.GossipKey != key {
		t.Fatalf("env and file: %q %q %v", cfg.ClusterSecrets, cfg.Placement.GossipKey, err)
	}
	t.Setenv("SHOAL_CLUSTER_SECRET", "")
	if cfg, _, err = parseServerFlags(t); err != nil || cfg.ClusterSecrets != nil || cfg.Placement.GossipKey != "" {
		t.Fatalf("defaults: %q %q %v", cfg.ClusterSecrets, cfg.Placement.GossipKey, err)
	}
	for _, bad := range [][]string{{"--cluster-secret", "short"}, {"--gossip-key", "abc"}, {"--gossip-key", "AAAA"}} {
		if _, _, err := parseServerFlags(t, bad...); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(bad[0], "--")) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}
