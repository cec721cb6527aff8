package server

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFrontEndDependencies: the front end reads maps through
// internal/topology and groups through its Group interface; it must not
// grow a dependency on the placement service (meta Raft group, Serf).
func TestFrontEndDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %q", deps)
	}
	for _, d := range deps {
		for _, banned := range []string{"github.com/shoalcache/shoal/placement", "github.com/hashicorp/serf", "github.com/shoalcache/shoal/internal/node"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("package server depends on %s", d)
			}
		}
	}
}
