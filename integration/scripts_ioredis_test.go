package integration

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestIoredisDefineCommand runs ioredis's defineCommand (EVALSHA, and EVAL
// after NOSCRIPT) on a 3-node cluster: a sliding-window rate limiter over a
// sorted set and a hash, written by a script, which must allow exactly its
// limit, and keep working after SCRIPT FLUSH on every node.
func TestIoredisDefineCommand(t *testing.T) {
	tc := startCluster(t, 3)
	dir := nodeModules(t)
	cmd := exec.Command("node", append([]string{filepath.Join(dir, "ioredis_script.js")}, tc.Addrs()...)...)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("node: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var res struct {
		Allowed    int               `json:"allowed"`
		Denied     int               `json:"denied"`
		AfterFlush []int             `json:"after_flush"`
		Hash       map[string]string `json:"hash"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	t.Logf("ioredis: %s", out)
	if res.Allowed != 10 || res.Denied != 20 {
		t.Fatalf("allowed %d, denied %d; want 10 and 20", res.Allowed, res.Denied)
	}
	// The window slid past the first requests: one more is allowed.
	if len(res.AfterFlush) != 2 || res.AfterFlush[0] != 1 {
		t.Fatalf("after SCRIPT FLUSH: %v, want [1 ...]", res.AfterFlush)
	}
	if res.Hash["allowed"] != "11" || res.Hash["denied"] != "20" {
		t.Fatalf("stats hash %v, want allowed 11, denied 20", res.Hash)
	}
}
