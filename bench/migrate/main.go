// Command migrate measures slot migration, side by side: a 3-node Shoal
// cluster moving one group's slots to another group (shoal cluster migrate:
// SHOAL MIGRATE, polled with SHOAL JOBS) against Redis Cluster (3 masters +
// 3 replicas) moving the same number of slots with `redis-cli --cluster
// reshard`. Both clusters are started fresh on free loopback ports, loaded
// with the same keys, and stopped at the end. It prints one markdown row per
// side with keys/s and MB/s. `make bench-migrate` runs it for 1M keys of
// 64 B and 10k keys of 100 KB; see BENCHMARKS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/proc"
	"github.com/shoalcache/shoal/shard"
)

func main() {
	shoalBin := flag.String("shoal", "bin/shoal", "shoal binary")
	keys := flag.Int("keys", 1000000, "keys to load")
	size := flag.Int("d", 64, "value size in bytes")
	slots := flag.Int("slots", 5461, "slots to move (from the start of the first master's range)")
	skipRedis := flag.Bool("skip-redis", false, "measure Shoal only")
	profDir := flag.String("profile-dir", "", "write each Shoal node's CPU profile to DIR/shoal-<i>.prof (for a missed target)")
	flag.Parse()
	dir, err := os.MkdirTemp("", "shoal-bench-migrate-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	fmt.Printf("| system | keys | value | slots moved | keys moved | seconds | keys/s | MB/s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")

	sh, err := startShoal(*shoalBin, dir, *profDir)
	if err != nil {
		log.Fatal(err)
	}
	row, err := measure(ctx, "shoal", sh, *keys, *size, *slots, func(from, to string, n int) error {
		return shoalMigrate(ctx, sh[0], from, to, n)
	})
	stopAll(sh)
	if err != nil {
		log.Fatalf("shoal: %v", err)
	}
	fmt.Println(row)
	if *skipRedis {
		return
	}
	rc, err := startRedisCluster(dir)
	if err != nil {
		log.Fatal(err)
	}
	row, err = measure(ctx, "redis-cluster", rc, *keys, *size, *slots, func(from, to string, n int) error {
		return redisReshard(rc[0], from, to, n)
	})
	stopAll(rc)
	if err != nil {
		log.Fatalf("redis cluster: %v", err)
	}
	fmt.Println(row)
}

// measure loads the keys, moves n slots from the master of slot 0 to the
// master of the last slot with move(fromID, toID, n) and times it.
func measure(ctx context.Context, name string, nodes []*proc.Process, keys, size, n int,
	move func(from, to string, n int) error) (string, error) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addrOf(nodes[0])}, MaxRedirects: 16})
	defer c.Close()
	if err := load(ctx, c, keys, size); err != nil {
		return "", fmt.Errorf("load: %w", err)
	}
	from, fromAddr, to, err := masters(ctx, addrOf(nodes[0]))
	if err != nil {
		return "", err
	}
	// Count on the slots' master: a Redis Cluster node counts only its own.
	src := redis.NewClient(&redis.Options{Addr: fromAddr})
	defer src.Close()
	var moved int64
	for s := 0; s < n; s++ {
		k, err := src.ClusterCountKeysInSlot(ctx, s).Result()
		if err != nil {
			return "", fmt.Errorf("CLUSTER COUNTKEYSINSLOT %d: %w", s, err)
		}
		moved += k
	}
	start := time.Now()
	if err := move(from, to, n); err != nil {
		return "", err
	}
	secs := time.Since(start).Seconds()
	mb := float64(moved) * float64(size+16) / 1e6
	return fmt.Sprintf("| %s | %d | %d B | %d | %d | %.2f | %.0f | %.1f |", name, keys, size, n, moved, secs,
		float64(moved)/secs, mb/secs), nil
}

// load writes keys "key:<i>" with values of size bytes, pipelined.
func load(ctx context.Context, c *redis.ClusterClient, keys, size int) error {
	val := strings.Repeat("x", size)
	const batch = 2000
	for i := 0; i < keys; i += batch {
		p := c.Pipeline()
		for j := i; j < min(i+batch, keys); j++ {
			p.Set(ctx, "key:"+strconv.Itoa(j), val, 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// masters returns the node ids of the masters of slot 0 (with its address)
// and of the last slot, from CLUSTER SLOTS.
func masters(ctx context.Context, addr string) (from, fromAddr, to string, err error) {
	cl := redis.NewClient(&redis.Options{Addr: addr})
	defer cl.Close()
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		return "", "", "", err
	}
	for _, r := range slots {
		if r.Start == 0 {
			from, fromAddr = r.Nodes[0].ID, r.Nodes[0].Addr
		}
		if r.End == shard.NumSlots-1 {
			to = r.Nodes[0].ID
		}
	}
	if from == "" || to == "" || from == to {
		return "", "", "", fmt.Errorf("cannot tell the masters apart: %v", slots)
	}
	return from, fromAddr, to, nil
}

// shoalMigrate moves slots 0..n-1 to the group led by node to, and waits.
func shoalMigrate(ctx context.Context, p *proc.Process, _, to string, n int) error {
	cl := redis.NewClient(&redis.Options{Addr: addrOf(p)})
	defer cl.Close()
	groups, err := cl.Do(ctx, "SHOAL", "GROUPS").Slice()
	if err != nil {
		return err
	}
	var target string
	for _, g := range groups {
		m, ok := g.(map[any]any)
		if !ok {
			continue
		}
		if m["leader"] == to {
			target, _ = m["id"].(string)
		}
	}
	if target == "" {
		return fmt.Errorf("no group led by %s in %v", to, groups)
	}
	job, err := cl.Do(ctx, "SHOAL", "MIGRATE", fmt.Sprintf("0-%d", n-1), target).Text()
	if err != nil {
		return err
	}
	for {
		jobs, err := cl.Do(ctx, "SHOAL", "JOBS").Slice()
		if err != nil {
			return err
		}
		for _, j := range jobs {
			m, _ := j.(map[any]any)
			if m["id"] != job {
				continue
			}
			switch m["phase"] {
			case "done":
				return nil
			case "aborted":
				return fmt.Errorf("job %s aborted: %v", job, m["reason"])
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// redisReshard moves n slots from one master to another with redis-cli.
func redisReshard(p *proc.Process, from, to string, n int) error {
	out, err := exec.Command("redis-cli", "--cluster", "reshard", addrOf(p), "--cluster-from", from,
		"--cluster-to", to, "--cluster-slots", strconv.Itoa(n), "--cluster-yes",
		"--cluster-pipeline", "100").CombinedOutput()
	if err != nil {
		return fmt.Errorf("redis-cli --cluster reshard: %v: %s", err, tail(out))
	}
	return nil
}

func startShoal(bin, dir, profDir string) ([]*proc.Process, error) {
	ports, err := proc.FreePorts(9)
	if err != nil {
		return nil, err
	}
	var out []*proc.Process
	for i := 0; i < 3; i++ {
		args := []string{"server", "--port", strconv.Itoa(ports[i]), "--bootstrap-expect", "3",
			"--cluster-port", strconv.Itoa(ports[3+i]), "--gossip-port", strconv.Itoa(ports[6+i]),
			"--join", "127.0.0.1:" + strconv.Itoa(ports[6]), "--log-level", "warn"}
		if profDir != "" {
			args = append(args, "--cpuprofile", filepath.Join(profDir, fmt.Sprintf("shoal-%d.prof", i)))
		}
		p, err := startProc(bin, args, ports[i], filepath.Join(dir, fmt.Sprintf("shoal-%d.log", i)))
		if err != nil {
			stopAll(out)
			return nil, err
		}
		out = append(out, p)
	}
	return out, waitClusterOK(out)
}

func startRedisCluster(dir string) ([]*proc.Process, error) {
	var out []*proc.Process
	var addrs []string
	for i := 0; i < 6; i++ {
		port, err := proc.FreePortWithOffsets(10000)
		if err != nil {
			return nil, err
		}
		nd := filepath.Join(dir, fmt.Sprintf("redis-%d", i))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return nil, err
		}
		args := append(proc.RedisArgs(port, nd), "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(nd, "nodes.conf"))
		p, err := startProc("redis-server", args, port, filepath.Join(dir, fmt.Sprintf("redis-%d.log", i)))
		if err != nil {
			stopAll(out)
			return nil, err
		}
		out = append(out, p)
		addrs = append(addrs, addrOf(p))
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "1", "--cluster-yes")
	if b, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		stopAll(out)
		return nil, fmt.Errorf("redis-cli --cluster create: %v: %s", err, tail(b))
	}
	return out, waitClusterOK(out)
}

func startProc(bin string, args []string, port int, logPath string) (*proc.Process, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	return proc.Start(cmd, proc.LocalAddr(port), 30*time.Second)
}

// waitClusterOK waits until every node says cluster_state:ok and the
// masters have settled.
func waitClusterOK(nodes []*proc.Process) error {
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, p := range nodes {
			cl := redis.NewClient(&redis.Options{Addr: addrOf(p)})
			info, err := cl.ClusterInfo(ctx).Result()
			cl.Close()
			ok = ok && err == nil && strings.Contains(info, "cluster_state:ok")
		}
		if ok {
			time.Sleep(3 * time.Second) // preferred leaders settle
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("cluster not ok within 90 s")
}

func stopAll(ps []*proc.Process) {
	for _, p := range ps {
		p.Stop(5 * time.Second)
	}
}

func addrOf(p *proc.Process) string { return p.Addr }

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = s[len(s)-400:]
	}
	return s
}
