package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/proc"
)

// system is one of the two clusters under test.
type system struct {
	name  string
	nodes []*proc.Process
	// owner returns who owns slot: the id move takes (Shoal: the group id;
	// Redis: the master's node id) and the address of the node that serves
	// the slot (where CLUSTER COUNTKEYSINSLOT counts its keys).
	owner func(ctx context.Context, slot int) (id, addr string, err error)
	// move moves slots lo..hi, all owned by from, to to, and returns when
	// the move has ended.
	move func(ctx context.Context, from, to string, lo, hi int) (span, error)
	// pprof are the nodes' net/http/pprof addresses (Shoal with
	// -profile-dir and -load).
	pprof []string
}

// span is when one move happened.
type span struct {
	req time.Time // the request was sent
	end time.Time // the move was seen done (Shoal: SHOAL JOBS; Redis: redis-cli exited)
	// flip is Shoal's commit point, the job's ended-ms (the meta leader's
	// clock, the same machine's); zero for Redis.
	flip time.Time
}

// moveTimeout bounds one move.
const moveTimeout = 10 * time.Minute

// newShoal starts a 3-node Shoal cluster, extra added to each server's
// arguments. With profDir, each node writes
// its CPU profile from start to stop to profDir/shoal-<i>.prof, or, with
// windows, serves net/http/pprof so that run can profile chosen windows.
func newShoal(bin string, extra []string, dir, profDir string, windows bool) (*system, error) {
	nodes, pprofAddrs, err := startShoal(bin, extra, dir, profDir, windows)
	if err != nil {
		return nil, err
	}
	s := &system{name: "shoal", nodes: nodes, pprof: pprofAddrs}
	entry := addrOf(nodes[0])
	s.owner = func(ctx context.Context, slot int) (string, string, error) {
		return shoalOwner(ctx, entry, slot)
	}
	s.move = func(ctx context.Context, _, to string, lo, hi int) (span, error) {
		return shoalMigrate(ctx, entry, to, lo, hi)
	}
	return s, nil
}

// newRedis starts Redis Cluster, 3 masters + 3 replicas.
func newRedis(dir string) (*system, error) {
	nodes, err := startRedisCluster(dir)
	if err != nil {
		return nil, err
	}
	s := &system{name: "redis-cluster", nodes: nodes}
	entry := addrOf(nodes[0])
	s.owner = func(ctx context.Context, slot int) (string, string, error) {
		return slotMaster(ctx, entry, slot)
	}
	s.move = func(ctx context.Context, from, to string, lo, hi int) (span, error) {
		return redisReshard(ctx, entry, from, to, lo, hi)
	}
	return s, nil
}

// slotMaster returns the node id and address of slot's master, from
// CLUSTER SLOTS on addr.
func slotMaster(ctx context.Context, addr string, slot int) (id, maddr string, err error) {
	cl := redis.NewClient(&redis.Options{Addr: addr})
	defer cl.Close()
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		return "", "", err
	}
	for _, r := range slots {
		if r.Start <= slot && slot <= r.End && len(r.Nodes) > 0 {
			return r.Nodes[0].ID, r.Nodes[0].Addr, nil
		}
	}
	return "", "", fmt.Errorf("%s: no master for slot %d in %v", addr, slot, slots)
}

// shoalOwner returns the id of the group that owns slot (SHOAL GROUPS) and
// the address of its leader (CLUSTER SLOTS).
func shoalOwner(ctx context.Context, addr string, slot int) (string, string, error) {
	_, maddr, err := slotMaster(ctx, addr, slot)
	if err != nil {
		return "", "", err
	}
	cl := redis.NewClient(&redis.Options{Addr: addr})
	defer cl.Close()
	groups, err := cl.Do(ctx, "SHOAL", "GROUPS").Slice()
	if err != nil {
		return "", "", err
	}
	for _, g := range groups {
		m, _ := g.(map[any]any)
		ranges, _ := m["slots"].([]any)
		for i := 0; i+1 < len(ranges); i += 2 {
			lo, _ := ranges[i].(int64)
			hi, _ := ranges[i+1].(int64)
			if lo <= int64(slot) && int64(slot) <= hi {
				id, _ := m["id"].(string)
				return id, maddr, nil
			}
		}
	}
	return "", "", fmt.Errorf("no group owns slot %d in %v", slot, groups)
}

// shoalMigrate moves slots lo..hi to group target with SHOAL MIGRATE and
// polls SHOAL JOBS every 5 ms until the job is done.
func shoalMigrate(ctx context.Context, addr, target string, lo, hi int) (span, error) {
	cl := redis.NewClient(&redis.Options{Addr: addr})
	defer cl.Close()
	sp := span{req: time.Now()}
	job, err := cl.Do(ctx, "SHOAL", "MIGRATE", fmt.Sprintf("%d-%d", lo, hi), target).Text()
	if err != nil {
		return sp, err
	}
	for deadline := sp.req.Add(moveTimeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		jobs, err := cl.Do(ctx, "SHOAL", "JOBS").Slice()
		if err != nil {
			return sp, err
		}
		for _, j := range jobs {
			m, _ := j.(map[any]any)
			if m["id"] != job {
				continue
			}
			switch m["phase"] {
			case "done":
				sp.end = time.Now()
				ms, _ := m["ended-ms"].(int64)
				if ms == 0 {
					return sp, fmt.Errorf("job %s done without ended-ms: %v", job, m)
				}
				sp.flip = time.UnixMilli(ms)
				return sp, nil
			case "aborted":
				return sp, fmt.Errorf("job %s aborted: %v", job, m["reason"])
			}
		}
	}
	return sp, fmt.Errorf("job %s not done within %v", job, moveTimeout)
}

// redisReshard moves hi-lo+1 slots from master from to master to with
// redis-cli --cluster reshard, which takes the source's lowest slots, and
// checks that these were lo..hi.
func redisReshard(ctx context.Context, addr, from, to string, lo, hi int) (span, error) {
	sp := span{req: time.Now()}
	out, err := exec.CommandContext(ctx, "redis-cli", "--cluster", "reshard", addr, "--cluster-from", from,
		"--cluster-to", to, "--cluster-slots", strconv.Itoa(hi-lo+1), "--cluster-yes",
		"--cluster-pipeline", "100").CombinedOutput()
	sp.end = time.Now()
	if err != nil {
		return sp, fmt.Errorf("redis-cli --cluster reshard: %v: %s", err, tail(out))
	}
	for _, s := range []int{lo, hi} {
		id, _, err := slotMaster(ctx, addr, s)
		if err != nil {
			return sp, err
		}
		if id != to {
			return sp, fmt.Errorf("after reshard slot %d is on %s, not %s", s, id, to)
		}
	}
	return sp, nil
}

// waitMoved polls every node's CLUSTER SLOTS until all name the same
// master for slot, other than fromAddr, so that the next move (redis-cli
// checks that all nodes agree) and the next owner lookup see the new map.
func waitMoved(ctx context.Context, nodes []*proc.Process, slot int, fromAddr string) error {
	var last []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		last = last[:0]
		ok := true
		for _, p := range nodes {
			_, m, err := slotMaster(ctx, addrOf(p), slot)
			last = append(last, m)
			ok = ok && err == nil && m != fromAddr && m == last[0]
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("nodes do not agree that slot %d left %s within 30 s: %v", slot, fromAddr, last)
}

func startShoal(bin string, extra []string, dir, profDir string, windows bool) (out []*proc.Process, pprofAddrs []string, err error) {
	ports, err := proc.FreePorts(12)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i < 3; i++ {
		args := []string{"server", "--port", strconv.Itoa(ports[i]), "--bootstrap-expect", "3",
			"--cluster-port", strconv.Itoa(ports[3+i]), "--gossip-port", strconv.Itoa(ports[6+i]),
			"--join", "127.0.0.1:" + strconv.Itoa(ports[6]), "--log-level", "warn"}
		args = append(args, extra...)
		switch {
		case profDir != "" && windows:
			pprofAddrs = append(pprofAddrs, proc.LocalAddr(ports[9+i]))
			args = append(args, "--pprof-addr", pprofAddrs[i])
		case profDir != "":
			args = append(args, "--cpuprofile", filepath.Join(profDir, fmt.Sprintf("shoal-%d.prof", i)))
		}
		p, err := startProc(bin, args, ports[i], filepath.Join(dir, fmt.Sprintf("shoal-%d.log", i)))
		if err != nil {
			stopAll(out)
			return nil, nil, err
		}
		out = append(out, p)
	}
	if err := waitClusterOK(out); err != nil {
		stopAll(out)
		return nil, nil, err
	}
	return out, pprofAddrs, nil
}

// profileWindow fetches a CPU profile of the next d from every pprof
// address into dir/<name>-<i>.prof, in the background; wait for the
// WaitGroup before stopping the nodes.
func profileWindow(wg *sync.WaitGroup, addrs []string, dir, name string, d time.Duration) {
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", a, max(1, int(d.Round(time.Second).Seconds())))
			resp, err := http.Get(url)
			if err != nil {
				log.Printf("profile %s: %v", url, err)
				return
			}
			defer resp.Body.Close()
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.prof", name, i))
			f, err := os.Create(path)
			if err == nil {
				_, err = io.Copy(f, resp.Body)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				log.Printf("profile %s: %v", path, err)
			}
		}()
	}
}

// startRedisCluster starts 6 nodes and joins them with redis-cli --cluster
// create. cluster-allow-replica-migration is off so that a master that gave
// away all its slots stays a master (the handovers move slots back to it).
func startRedisCluster(dir string) ([]*proc.Process, error) {
	var out []*proc.Process
	var addrs []string
	for i := 0; i < 6; i++ {
		port, err := proc.FreePortWithOffsets(10000)
		if err != nil {
			stopAll(out)
			return nil, err
		}
		nd := filepath.Join(dir, fmt.Sprintf("redis-%d", i))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			stopAll(out)
			return nil, err
		}
		args := append(proc.RedisArgs(port, nd), "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(nd, "nodes.conf"), "--cluster-allow-replica-migration", "no")
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
	if err := waitClusterOK(out); err != nil {
		stopAll(out)
		return nil, err
	}
	return out, nil
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

// settle is how long the masters must stay the same on every node before a
// cluster counts as formed: Shoal moves each group's leadership to its
// preferred node a second or two after forming.
const settle = 3 * time.Second

// waitClusterOK polls every node until all say cluster_state:ok and name
// the same 3 masters in CLUSTER SLOTS, unchanged for settle.
func waitClusterOK(nodes []*proc.Process) error {
	ctx := context.Background()
	var prev string
	var since time.Time
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		sig, ok := clusterSignature(ctx, nodes)
		switch {
		case !ok:
			prev = ""
		case sig != prev:
			prev, since = sig, time.Now()
		case time.Since(since) >= settle:
			return nil
		}
	}
	return fmt.Errorf("cluster not ok and settled within 90 s (last masters: %q)", prev)
}

// clusterSignature is the masters of the slot ranges, when every node is
// cluster_state:ok, names the same ones, and there are 3 of them.
func clusterSignature(ctx context.Context, nodes []*proc.Process) (string, bool) {
	sig := ""
	for i, p := range nodes {
		cl := redis.NewClient(&redis.Options{Addr: addrOf(p)})
		info, err := cl.ClusterInfo(ctx).Result()
		var slots []redis.ClusterSlot
		if err == nil {
			slots, err = cl.ClusterSlots(ctx).Result()
		}
		cl.Close()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return "", false
		}
		masters := map[string]bool{}
		var b strings.Builder
		for _, r := range slots {
			if len(r.Nodes) == 0 {
				return "", false
			}
			masters[r.Nodes[0].ID] = true
			fmt.Fprintf(&b, "%d-%d=%s ", r.Start, r.End, r.Nodes[0].ID)
		}
		if len(masters) != 3 || (i > 0 && b.String() != sig) {
			return "", false
		}
		sig = b.String()
	}
	return sig, true
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
