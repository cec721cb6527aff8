package testutil

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/proc"
	"github.com/shoalcache/shoal/internal/respclient"
)

// Redis is a redis-server started by StartRedis.
type Redis struct {
	*proc.Process
	Port int
	Dir  string
}

// StartRedis starts Debian's redis-server (no persistence, loopback, on a
// free port; extra arguments are appended) and waits until it answers PING.
// It is killed when the test ends. A missing redis-server fails the test:
// apt-get install redis-server.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	dir := t.TempDir()
	p, err := proc.StartRedis(dir, nil, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	port, _ := strconv.Atoi(p.Addr[strings.LastIndexByte(p.Addr, ':')+1:])
	return &Redis{Process: p, Port: port, Dir: dir}
}

// StartRedisCluster starts a Redis Cluster of masters masters with
// replicas replicas each (`redis-cli --cluster create --cluster-replicas`,
// cluster-node-timeout 5000 ms) and waits until every node reports
// cluster_state:ok and all agree on the current epoch. The nodes are
// returned in the order given to redis-cli: masters first.
func StartRedisCluster(t testing.TB, masters, replicas int) []*Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatalf("redis-cli not found in PATH (apt-get install redis-tools): %v", err)
	}
	nodes := make([]*Redis, masters*(1+replicas))
	args := []string{"--cluster", "create"}
	for i := range nodes {
		nodes[i] = StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000")
		args = append(args, nodes[i].Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	Eventually(t, 30*time.Second, "Redis Cluster converges", func() error {
		epochs := map[string]bool{}
		for _, n := range nodes {
			info, err := clusterInfo(n.Addr)
			if err != nil {
				return err
			}
			if info["cluster_state"] != "ok" {
				return fmt.Errorf("%s: cluster_state:%s", n.Addr, info["cluster_state"])
			}
			epochs[info["cluster_current_epoch"]] = true
		}
		if len(epochs) != 1 {
			return fmt.Errorf("current epochs differ: %v", epochs)
		}
		return nil
	})
	return nodes
}

// clusterInfo returns the fields of CLUSTER INFO on addr.
func clusterInfo(addr string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := respclient.Dial(ctx, addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	v, err := c.Do(ctx, "CLUSTER", "INFO")
	if err != nil {
		return nil, fmt.Errorf("%s: CLUSTER INFO: %w", addr, err)
	}
	text, _ := v.Text()
	fields := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, val, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fields[k] = val
		}
	}
	return fields, nil
}
