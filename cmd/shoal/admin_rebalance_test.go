package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/topology"
	"github.com/shoalcache/shoal/server"
)

// The rebalancing methods of fakeAdmin: each records its call; Balance
// returns the next of a.balances.

func (a *fakeAdmin) Rebalance(_ context.Context, dryRun bool) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, fmt.Sprintf("rebalance dry-run=%v", dryRun))
	return a.plan, a.rebalanceErr
}

func (a *fakeAdmin) RemoveNode(_ context.Context, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, "remove "+id)
	return a.removeErr
}

func (a *fakeAdmin) Balance(context.Context) (server.BalanceStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.balances) == 0 {
		return server.BalanceStatus{}, errors.New("no balances in this test")
	}
	st := a.balances[min(a.bpolls, len(a.balances)-1)]
	a.bpolls++
	return st, nil
}

// linePolls is shortPolls with a progress line for every poll.
func linePolls(t *testing.T) {
	shortPolls(t)
	jobLineEvery = 0
}

// balanceJob is a job of a rebalance: moving slots 0-99 from g0 to g1.
func balanceJob(id, phase string, keysPerSec float64, eta time.Duration) server.JobStatus {
	return server.JobStatus{ID: id, Slots: []topology.SlotRange{{Start: 0, End: 99}}, Source: "g0", Target: "g1",
		Phase: phase, KeysPerSec: keysPerSec, ETA: eta, Created: time.UnixMilli(1700000000000)}
}

func TestRebalanceCLI(t *testing.T) {
	ctx := context.Background()
	a := &fakeAdmin{}
	addr := startFakeAdmin(t, a)
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = fmt.Sprintf("step %d", i+1)
	}
	for _, tc := range []struct {
		plan []string
		args []string
		want string
		call string
	}{
		{[]string{"add node aaaa to group g1", "move slots 0-99 from g0 to g1"}, []string{"--dry-run"},
			"Rebalance plan, 2 steps (dry run: nothing changed):\n  1. add node aaaa to group g1\n" +
				"  2. move slots 0-99 from g0 to g1\n", "rebalance dry-run=true"},
		{ten[:1], nil, "Rebalance started, 1 step:\n  1. step 1\nThe meta leader carries it out step by step; " +
			"`shoal cluster jobs --addr " + addr + "` shows its migrations, or run rebalance with --wait.\n",
			"rebalance dry-run=false"},
		{ten, []string{"--dry-run"}, "Rebalance plan, 10 steps (dry run: nothing changed):\n" +
			"   1. step 1\n   2. step 2\n   3. step 3\n   4. step 4\n   5. step 5\n   6. step 6\n   7. step 7\n" +
			"   8. step 8\n   9. step 9\n  10. step 10\n", "rebalance dry-run=true"},
		{nil, nil, "The cluster is balanced as this node sees it; the meta leader checks the request.\n", "rebalance dry-run=false"},
		{nil, []string{"--dry-run"}, "The cluster is balanced: nothing to do.\n", "rebalance dry-run=true"},
		{[]string{"s1", "s2"}, []string{"--json"}, `{ "plan": [ "s1", "s2" ], "requested": true }`, "rebalance dry-run=false"},
		{[]string{"s1"}, []string{"--json", "--dry-run"}, `{ "plan": [ "s1" ], "requested": false }`, "rebalance dry-run=true"},
		{nil, []string{"--json"}, `{ "plan": [], "requested": true }`, "rebalance dry-run=false"},
	} {
		a.plan, a.calls = tc.plan, nil
		out, err := runCLI(ctx, append([]string{"cluster", "rebalance", "--addr", addr}, tc.args...)...)
		if strings.Contains(tc.want, "{") {
			out = strings.Join(strings.Fields(out), " ")
		}
		if err != nil || out != tc.want {
			t.Errorf("rebalance %q with plan %q: %v\n%q\nwant\n%q", tc.args, tc.plan, err, out, tc.want)
		}
		if fmt.Sprint(a.calls) != "["+tc.call+"]" {
			t.Errorf("rebalance %q: calls %q, want [%s]", tc.args, a.calls, tc.call)
		}
	}

	a.calls, a.rebalanceErr = nil, errors.New("no meta leader")
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{nil, addr + " refused: rebalance failed: no meta leader"},
		{[]string{"--dry-run", "--wait"}, "--dry-run and --wait exclude each other"},
		{[]string{"now"}, "usage: shoal cluster rebalance"},
	} {
		_, err := runCLI(ctx, append([]string{"cluster", "rebalance", "--addr", addr}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("rebalance %q: %v, want an error with %q", tc.args, err, tc.err)
		}
	}
	if fmt.Sprint(a.calls) != "[rebalance dry-run=false]" {
		t.Errorf("calls %q: the refused requests reached the Admin", a.calls)
	}
}

func TestRebalanceWait(t *testing.T) {
	linePolls(t)
	ctx := context.Background()
	old := balanceJob("j0", "aborted", 0, -1) // aborted before the request
	j5, j6 := balanceJob("j5", "copying", 1500, 2*time.Second), balanceJob("j6", "fenced", 20, -1)
	done5, done6 := j5, j6
	done5.Phase, done6.Phase = "done", "done"
	a := &fakeAdmin{plan: []string{"p1", "p2"},
		balances: []server.BalanceStatus{
			{Requested: true, ActiveJobs: 1, Plan: []string{"p1", "p2"}},
			{ActiveJobs: 2},                         // not requested, jobs still copying
			{Plan: []string{"p2"}},                  // not requested, no jobs, plan left
			{Requested: true},                       // requested
			{Removed: []string{"x"}},                // done
			{Requested: true, Plan: []string{"p9"}}, // never read
		},
		jobsAt: [][]server.JobStatus{{old}, {old, j5}, {old, j5, j6}, {old, done5, done6}},
	}
	addr := startFakeAdmin(t, a)
	out, err := runCLI(ctx, "cluster", "rebalance", "--addr", addr, "--wait")
	want := "Rebalance started, 2 steps:\n  1. p1\n  2. p2\n" +
		"rebalancing: 2 steps left, 1 active job (j5 1500 keys/s ETA 2s)\n" +
		"rebalancing: 0 steps left, 2 active jobs (j5 1500 keys/s ETA 2s, j6 20 keys/s ETA ?)\n" +
		"rebalancing: 1 step left, 0 active jobs\n" +
		"rebalancing: 0 steps left, 0 active jobs\n" +
		"Rebalance done: the cluster is balanced.\n"
	if err != nil || out != want {
		t.Errorf("rebalance --wait: %v\n%s\nwant\n%s", err, out, want)
	}
	if a.bpolls != 5 || fmt.Sprint(a.calls) != "[rebalance dry-run=false]" {
		t.Errorf("%d Balance calls, want 5; calls %q", a.bpolls, a.calls)
	}

	a.bpolls = 0
	out, err = runCLI(ctx, "cluster", "rebalance", "--addr", addr, "--wait", "--json")
	if err != nil || strings.Join(strings.Fields(out), " ") != `{ "plan": [ "p1", "p2" ], "requested": true }` ||
		a.bpolls != 5 {
		t.Errorf("rebalance --wait --json: %v, %d polls\n%s", err, a.bpolls, out)
	}

	// A balanced cluster: the wait ends at the first poll, quietly.
	a.plan, a.bpolls, a.balances = nil, 0, []server.BalanceStatus{{}}
	out, err = runCLI(ctx, "cluster", "rebalance", "--addr", addr, "--wait")
	if err != nil || out != "The cluster is balanced as this node sees it; the meta leader checks the request.\n" || a.bpolls != 1 {
		t.Errorf("rebalance --wait of a balanced cluster: %v, %d polls\n%q", err, a.bpolls, out)
	}
	// An empty plan while a rebalance still runs: wait for it.
	a.bpolls, a.balances = 0, []server.BalanceStatus{{Requested: true, ActiveJobs: 1}, {}}
	out, err = runCLI(ctx, "cluster", "rebalance", "--addr", addr, "--wait")
	want = "The cluster is balanced as this node sees it; the meta leader checks the request.\nrebalancing: 0 steps left, 1 active job (j5 1500 keys/s ETA 2s)\n" +
		"Rebalance done: the cluster is balanced.\n"
	if err != nil || out != want {
		t.Errorf("rebalance --wait with a rebalance running: %v\n%q\nwant\n%q", err, out, want)
	}
}

func TestRebalanceWaitFails(t *testing.T) {
	shortPolls(t)
	ctx := context.Background()
	aborted := balanceJob("j5", "aborted", 0, -1)
	aborted.Reason = "group g1 had no leader for 30s"
	busy := []server.BalanceStatus{{Requested: true, ActiveJobs: 1, Plan: []string{"p1", "p2"}}}
	a := &fakeAdmin{plan: []string{"p1", "p2"}, balances: busy,
		jobsAt: [][]server.JobStatus{{}, {balanceJob("j5", "copying", 10, -1)}, {aborted}}}
	addr := startFakeAdmin(t, a)
	_, err := runCLI(ctx, "cluster", "rebalance", "--addr", addr, "--wait")
	want := "rebalancing: job j5 aborted: group g1 had no leader for 30s; slots 0-99 stay with group g0; " +
		"the rebalance goes on in the cluster: follow it with `shoal cluster jobs`"
	if err == nil || err.Error() != want {
		t.Errorf("rebalance --wait with an aborted job: %v, want %q", err, want)
	}

	a.bpolls, a.jobsAt = 0, nil
	_, err = runCLI(ctx, "cluster", "rebalance", "--addr", addr, "--wait", "--wait-timeout", "200ms")
	want = "gave up waiting after --wait-timeout 200ms (rebalancing: 2 steps left, 1 active job); " +
		"the rebalance goes on in the cluster: follow it with `shoal cluster jobs`"
	if err == nil || err.Error() != want || a.bpolls == 0 {
		t.Errorf("rebalance --wait past its timeout: %v, want %q", err, want)
	}

	// A node that stops answering SHOAL REBALANCE STATUS.
	a.bpolls, a.balances = 0, nil
	_, err = runCLI(ctx, "cluster", "rebalance", "--addr", addr, "--wait", "--timeout", "100ms")
	if err == nil || !strings.Contains(err.Error(), "stopped waiting (rebalancing: starting): "+addr+
		" refused: rebalance status failed: no balances in this test") {
		t.Errorf("rebalance --wait on a failing node: %v", err)
	}
}

// Node ids of TestRemoveNodeCLI: two share their first 8 characters.
var (
	ridSelf = "0123456789abcdef0123456789abcdef01234567"
	ridA1   = "aaaa1111" + strings.Repeat("0", 32)
	ridA2   = "aaaa1111" + strings.Repeat("1", 32)
	ridC    = "ccccdddd" + strings.Repeat("2", 32)
)

func TestRemoveNodeCLI(t *testing.T) {
	ctx := context.Background()
	a := &fakeAdmin{}
	addr := startFakeAdminNodes(t, a, ridSelf, ridA1, ridA2, ridC)
	draining := func(id, nodeAddr string) string {
		return "Node " + id + " (" + nodeAddr + ") is draining: its group replicas and leaderships move to other " +
			"nodes, then it leaves the map.\nFollow it with `shoal cluster remove-node --addr " + addr + " --wait " +
			id + "` (marking it again changes nothing).\n"
	}
	for _, tc := range []struct {
		args []string
		want string
		call string
	}{
		{[]string{"aaaa1111b"}, "", ""},
		{[]string{"AAAA1111 1"}, "", ""},
		{[]string{"aaaa11111"}, draining(ridA2, "127.0.0.1:7002"), "remove " + ridA2},
		{[]string{" AAAA11110 "}, draining(ridA1, "127.0.0.1:7001"), "remove " + ridA1},
		{[]string{"ccccdddd"}, draining(ridC, "127.0.0.1:7003"), "remove " + ridC},
		{[]string{ridC}, draining(ridC, "127.0.0.1:7003"), "remove " + ridC},
		{[]string{"--json", "ccccddd"}, "", ""},
		{[]string{"--json", "ccccdddd2"}, `{ "id": "` + ridC + `", "addr": "127.0.0.1:7003", "state": "draining" }`,
			"remove " + ridC},
	} {
		a.calls = nil
		out, err := runCLI(ctx, append([]string{"cluster", "remove-node", "--addr", addr}, tc.args...)...)
		if strings.HasPrefix(tc.want, "{") {
			out = strings.Join(strings.Fields(out), " ")
		}
		if tc.want == "" {
			if err == nil {
				t.Errorf("remove-node %q: no error\n%s", tc.args, out)
			}
		} else if err != nil || out != tc.want {
			t.Errorf("remove-node %q: %v\n%q\nwant\n%q", tc.args, err, out, tc.want)
		}
		var want []string
		if tc.call != "" {
			want = []string{tc.call}
		}
		if fmt.Sprint(a.calls) != fmt.Sprint(want) {
			t.Errorf("remove-node %q: calls %q, want %q", tc.args, a.calls, want)
		}
	}

	see := " (`shoal cluster nodes --addr " + addr + "` lists the nodes)"
	a.calls = nil
	for _, tc := range []struct {
		args []string
		err  error // the Admin's
		want string
	}{
		{[]string{"aaaa1111"}, nil, "aaaa1111 is the start of 2 node ids (" + ridA1 + ", " + ridA2 + "): give more of the id" + see},
		{[]string{"AAAA111"}, nil, `node id "AAAA111" is too short: give the id or at least its first 8 characters` + see},
		{[]string{"ffffffff"}, nil, "no node of the cluster has an id starting with ffffffff " +
			"(a node removed already is not listed)" + see},
		{[]string{"ccccdddx"}, nil, `"ccccdddx" is not a node id: ids are hexadecimal` + see},
		{[]string{ridC + "0"}, nil, "no node of the cluster has an id starting with " + ridC + "0"},
		{nil, nil, "usage: shoal cluster remove-node"},
		{[]string{"ccccdddd", "aaaa11110"}, nil, "usage: shoal cluster remove-node"},
		{[]string{"ccccdddd"}, fmt.Errorf("%w: 3 nodes would remain, fewer than --replicas 4", server.ErrTooFewNodes),
			addr + " refused: cannot remove node " + ridC + ": 3 nodes would remain, fewer than --replicas 4"},
		{[]string{"ccccdddd"}, server.ErrUnknownNode, addr + " refused: Unknown node " + ridC},
	} {
		a.removeErr = tc.err
		_, err := runCLI(ctx, append([]string{"cluster", "remove-node", "--addr", addr}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("remove-node %q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if want := "[remove " + ridC + " remove " + ridC + "]"; fmt.Sprint(a.calls) != want {
		t.Errorf("calls %q, want %s: a request the CLI refused reached the Admin", a.calls, want)
	}
	closed := closedAddr(t)
	if _, err := runCLI(ctx, "cluster", "remove-node", "--addr", closed, ridC); err == nil ||
		!strings.Contains(err.Error(), "cannot connect to "+closed) {
		t.Errorf("remove-node on a closed port: %v", err)
	}
}

func TestRemoveNodeWait(t *testing.T) {
	linePolls(t)
	ctx := context.Background()
	j5 := balanceJob("j5", "copying", 1500, 2*time.Second)
	a := &fakeAdmin{
		balances: []server.BalanceStatus{
			{}, // the mark is not in this node's map yet
			{Draining: []string{ridC}, ActiveJobs: 1, Plan: []string{"remove node " + ridC + " from group g2"}},
			{Draining: []string{ridC}, Removed: []string{ridC}}, // not out of draining yet
			{Removed: []string{ridA1, ridC}},
		},
		jobsAt: [][]server.JobStatus{{}, {}, {j5}},
	}
	addr := startFakeAdminNodes(t, a, ridSelf, ridA1, ridA2, ridC)
	out, err := runCLI(ctx, "cluster", "remove-node", "--addr", addr, "--wait", "ccccdddd")
	want := "Node " + ridC + " (127.0.0.1:7003) is draining.\n" +
		"draining node ccccdddd: 0 steps left, 0 active jobs\n" +
		"draining node ccccdddd: 1 step left, 1 active job (j5 1500 keys/s ETA 2s)\n" +
		"draining node ccccdddd: 0 steps left, 0 active jobs (j5 1500 keys/s ETA 2s)\n" +
		"Node " + ridC + " removed; its process can now be stopped.\n"
	if err != nil || out != want || fmt.Sprint(a.calls) != "[remove "+ridC+"]" {
		t.Errorf("remove-node --wait: %v, calls %q\n%s\nwant\n%s", err, a.calls, out, want)
	}
	a.bpolls = 0
	out, err = runCLI(ctx, "cluster", "remove-node", "--addr", addr, "--wait", "--json", "ccccdddd")
	if want := `{ "id": "` + ridC + `", "addr": "127.0.0.1:7003", "state": "removed" }`; err != nil ||
		strings.Join(strings.Fields(out), " ") != want {
		t.Errorf("remove-node --wait --json: %v\n%s\nwant\n%s", err, out, want)
	}

	a.bpolls, a.balances, a.jobsAt = 0, a.balances[1:2], [][]server.JobStatus{{}, {j5}}
	_, err = runCLI(ctx, "cluster", "remove-node", "--addr", addr, "--wait", "--wait-timeout", "200ms", "ccccdddd")
	want = "gave up waiting after --wait-timeout 200ms (draining node ccccdddd: 1 step left, 1 active job (j5 1500 keys/s " +
		"ETA 2s)); node " + ridC + " stays draining until the cluster has moved everything off it"
	if err == nil || err.Error() != want {
		t.Errorf("remove-node --wait past its timeout: %v, want %q", err, want)
	}
	aborted := j5
	aborted.Phase, aborted.Reason = "aborted", "cancelled"
	a.bpolls, a.jobsAt = 0, [][]server.JobStatus{{}, {aborted}}
	_, err = runCLI(ctx, "cluster", "remove-node", "--addr", addr, "--wait", "ccccdddd")
	if want := "draining node ccccdddd: job j5 aborted: cancelled; slots 0-99 stay with group g0; node " + ridC +
		" stays draining until the cluster has moved everything off it"; err == nil || err.Error() != want {
		t.Errorf("remove-node --wait with an aborted job: %v, want %q", err, want)
	}
}

func TestFollowAddr(t *testing.T) {
	self := clusterNode{ID: "s", Addr: "10.0.0.1:7000", Flags: []string{"myself", "master"}}
	other := clusterNode{ID: "o", Addr: "10.0.0.2:7000", Flags: []string{"master"}}
	failed := clusterNode{ID: "f", Addr: "10.0.0.3:7000", Flags: []string{"master", "fail"}}
	noAddr := clusterNode{ID: "n", Addr: ":0", Flags: []string{"slave", "noaddr"}}
	for _, tc := range []struct {
		nodes []clusterNode
		node  clusterNode
		want  string
	}{
		{[]clusterNode{self, other}, other, "seed:1"},                       // not the seed: the seed
		{[]clusterNode{self, other}, self, "10.0.0.2:7000"},                 // the seed: another node
		{[]clusterNode{self, failed, noAddr, other}, self, "10.0.0.2:7000"}, // not a failed one, not one without an address
		{[]clusterNode{self, failed}, self, "seed:1"},                       // none left: the seed
	} {
		if got := followAddr(tc.nodes, tc.node, "seed:1"); got != tc.want {
			t.Errorf("followAddr(%v, %s) = %q, want %q", tc.nodes, tc.node.ID, got, tc.want)
		}
	}
}

func TestParseBalanceStatus(t *testing.T) {
	raw2 := "*10\r\n$9\r\nrequested\r\n:1\r\n$8\r\ndraining\r\n*1\r\n$2\r\nn1\r\n$7\r\nremoved\r\n*2\r\n$2\r\nn2\r\n$2\r\nn3\r\n" +
		"$11\r\nactive-jobs\r\n:2\r\n$4\r\nplan\r\n*1\r\n$6\r\nstep 1\r\n"
	raw3 := strings.Replace(raw2, "*10\r\n", "%5\r\n", 1)
	for _, raw := range []string{raw2, raw3} {
		st, err := parseBalanceStatus(readValue(t, raw))
		if err != nil || !st.Requested || fmt.Sprint(st.Draining, st.Removed, st.Plan) != "[n1] [n2 n3] [step 1]" ||
			st.ActiveJobs != 2 {
			t.Errorf("%q: %+v, %v", raw, st, err)
		}
	}
	for _, bad := range []string{
		"+OK\r\n",
		strings.Replace(raw2, "requested", "requestex", 1),
		strings.Replace(raw2, ":2\r\n", "$1\r\n2\r\n", 1),
		strings.Replace(raw2, "*1\r\n$2\r\nn1\r\n", ":1\r\n", 1),
		strings.Replace(raw2, "$6\r\nstep 1\r\n", "*0\r\n", 1),
		strings.Replace(raw2, "$4\r\nplan", "$4\r\nplaN", 1),
	} {
		if st, err := parseBalanceStatus(readValue(t, bad)); err == nil {
			t.Errorf("%q parsed as %+v", bad, st)
		}
	}
}
