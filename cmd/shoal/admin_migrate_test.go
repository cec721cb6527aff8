package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/internal/topology"
	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/server"
)

// fakeAdmin is the server.Admin behind a real front end (startFakeAdmin):
// Migrate records its call and creates job "j1"; each Jobs call returns
// the next of states (the last one repeats), or with jobsAt set the list
// for the number of Balance calls so far. Its rebalancing methods are in
// admin_rebalance_test.go.
type fakeAdmin struct {
	mu         sync.Mutex
	migrateErr error
	cancelErr  error
	states     []server.JobStatus
	polls      int
	calls      []string

	plan         []string               // what Rebalance returns
	rebalanceErr error                  // what Rebalance returns
	removeErr    error                  // what RemoveNode returns
	balances     []server.BalanceStatus // what Balance returns, call by call (the last one repeats)
	jobsAt       [][]server.JobStatus   // what Jobs returns after n Balance calls (the last one repeats)
	bpolls       int                    // Balance calls
}

func (a *fakeAdmin) TransferLeadership(context.Context, string, string) error {
	return errors.New("not in this test")
}

func (a *fakeAdmin) SetClusterConfig(context.Context, map[string]string) error {
	return errors.New("not in this test")
}

func (a *fakeAdmin) Migrate(_ context.Context, slots []topology.SlotRange, target string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, fmt.Sprintf("migrate %v>%s", slots, target))
	return "j1", a.migrateErr
}

func (a *fakeAdmin) Jobs(context.Context) ([]server.JobStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.jobsAt != nil {
		return a.jobsAt[min(a.bpolls, len(a.jobsAt)-1)], nil
	}
	if len(a.states) == 0 {
		return nil, nil
	}
	j := a.states[min(a.polls, len(a.states)-1)]
	a.polls++
	return []server.JobStatus{j}, nil
}

func (a *fakeAdmin) CancelJob(_ context.Context, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, "cancel "+id)
	return a.cancelErr
}

// fakeAdminRouter is a cluster-mode server.Router without groups whose
// Admin is a fakeAdmin.
type fakeAdminRouter struct {
	topo  *server.Topology
	admin *fakeAdmin
}

func (r *fakeAdminRouter) ClusterEnabled() bool                         { return true }
func (r *fakeAdminRouter) Route(int) (server.Group, bool, string, bool) { return nil, false, "", false }
func (r *fakeAdminRouter) LocalGroups() []server.Group                  { return nil }
func (r *fakeAdminRouter) HostedGroups() []server.Group                 { return nil }
func (r *fakeAdminRouter) Topology() *server.Topology                   { return r.topo }
func (r *fakeAdminRouter) Admin() server.Admin                          { return r.admin }
func (r *fakeAdminRouter) Incoming(int) server.Group                    { return nil }

// startFakeAdmin serves Shoal's front end with a as its Admin on a loopback
// port and returns the address. The map has three nodes, a..., b... and
// c... (40 characters each).
func startFakeAdmin(t *testing.T, a *fakeAdmin) string {
	t.Helper()
	return startFakeAdminNodes(t, a, strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40))
}

// startFakeAdminNodes is startFakeAdmin with a map of the nodes ids (at
// least three; the first is the node answering, at 127.0.0.1:7000, the
// others at 7001...).
func startFakeAdminNodes(t *testing.T, a *fakeAdmin, ids ...string) string {
	t.Helper()
	var nodes []topology.Node
	for i, id := range ids {
		nodes = append(nodes, topology.Node{ID: id, RESPAddr: fmt.Sprintf("127.0.0.1:%d", 7000+i)})
	}
	m, err := placement.InitialMap(nodes, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.DefaultConfig(), &fakeAdminRouter{admin: a,
		topo: &server.Topology{Map: m, Self: nodes[0].ID, Leaders: []string{nodes[0].ID, nodes[1].ID, nodes[2].ID}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// jobStates is a job's life: copying twice, fenced, then last.
func jobStates(last server.JobStatus) []server.JobStatus {
	created := time.UnixMilli(1700000000000)
	base := server.JobStatus{ID: "j1", Slots: []topology.SlotRange{{Start: 0, End: 99}}, Source: "g0", Target: "g1",
		Created: created, ETA: -1}
	s1, s2, s3 := base, base, base
	s1.Phase = "copying"
	s2.Phase, s2.Keys, s2.Bytes, s2.KeysPerSec, s2.BytesPerSec, s2.ETA = "copying", 1000, 2500000, 2000, 5e6, 1500*time.Millisecond
	s3.Phase, s3.Keys, s3.Bytes, s3.ETA = "fenced", 2000, 5000000, 0
	last.ID, last.Slots, last.Source, last.Target, last.Created = base.ID, base.Slots, base.Source, base.Target, created
	last.Ended = created.Add(4200 * time.Millisecond)
	return []server.JobStatus{s1, s2, s3, last}
}

func shortPolls(t *testing.T) {
	poll, every, bpoll := jobPoll, jobLineEvery, balancePoll
	jobPoll, jobLineEvery, balancePoll = 5*time.Millisecond, time.Hour, 5*time.Millisecond
	t.Cleanup(func() { jobPoll, jobLineEvery, balancePoll = poll, every, bpoll })
}

func TestMigrateCLI(t *testing.T) {
	shortPolls(t)
	ctx := context.Background()
	a := &fakeAdmin{}
	addr := startFakeAdmin(t, a)

	out, err := runCLI(ctx, "cluster", "migrate", "--addr", addr, "--slots", "0-99, 200", "--to", "g1")
	want := "Migration job j1 created: slots 0-99,200 to group g1.\n" +
		"Follow it with `shoal cluster jobs --addr " + addr + "`, or run migrate with --wait.\n"
	if err != nil || out != want {
		t.Errorf("migrate: %v\n%q\nwant\n%q", err, out, want)
	}
	out, err = runCLI(ctx, "cluster", "migrate", "--addr", addr, "--slots", "7", "--to", "g2", "--json")
	var res migrateResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.ID != "j1" || res.Target != "g2" ||
		fmt.Sprint(res.Slots) != "[7]" {
		t.Errorf("migrate --json: %v\n%s", err, out)
	}
	if want := "[migrate [{0 99} {200 200}]>g1 migrate [{7 7}]>g2]"; fmt.Sprint(a.calls) != want {
		t.Errorf("Admin calls %q, want %q", a.calls, want)
	}

	// Refusals: by the CLI, by the front end, by the Admin.
	a.migrateErr = server.ErrAlreadyOwner
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--slots", "0-99"}, `Required flag "to" not set`},
		{[]string{"--slots", "", "--to", "g1"}, "--slots is empty"},
		{[]string{"--slots", "0-16384", "--to", "g1"}, `--slots "0-16384": "0-16384" is not a slot (0-16383) or a range A-B`},
		{[]string{"--slots", "9-1", "--to", "g1"}, `"9-1" is not a slot`},
		{[]string{"--slots", "1-5,5", "--to", "g1"}, addr + " refused: Slot 5 specified multiple times"},
		{[]string{"--slots", "0-99", "--to", "g0"}, addr + " refused: group g0 already owns slots 0-99"},
	} {
		_, err := runCLI(ctx, append([]string{"cluster", "migrate", "--addr", addr}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("migrate %q: %v, want an error with %q", tc.args, err, tc.err)
		}
	}
}

func TestMigrateWaitDone(t *testing.T) {
	shortPolls(t)
	ctx := context.Background()
	a := &fakeAdmin{states: jobStates(server.JobStatus{Phase: "done", Keys: 2000, Bytes: 5000000, ETA: -1})}
	addr := startFakeAdmin(t, a)
	out, err := runCLI(ctx, "cluster", "migrate", "--addr", addr, "--slots", "0-99", "--to", "g1", "--wait")
	want := "job j1 copying: 0 keys, 0.0 MB, 0 keys/s, 0.0 MB/s, ETA ?\n" +
		"Job j1 done: slots 0-99 moved from group g0 to group g1 (2000 keys, 5.0 MB in 4.2s).\n"
	if err != nil || out != want {
		t.Errorf("migrate --wait:  %v\n%q\nwant\n%q", err, out, want)
	}
	a.polls = 0
	out, err = runCLI(ctx, "cluster", "migrate", "--addr", addr, "--slots", "0-99", "--to", "g1", "--wait", "--json")
	var j jobStatus
	if err != nil || json.Unmarshal([]byte(out), &j) != nil || j.Phase != "done" || j.Keys != 2000 || j.Ended == nil ||
		j.Ended.Sub(j.Created) != 4200*time.Millisecond || j.Reason != "" || strings.Contains(out, "reason") {
		t.Errorf("migrate --wait --json: %v\n%s", err, out)
	}
}

func TestMigrateWaitAborted(t *testing.T) {
	shortPolls(t)
	ctx := context.Background()
	a := &fakeAdmin{states: jobStates(server.JobStatus{Phase: "aborted", Keys: 2000, ETA: -1,
		Reason: "group g1 had no leader for 30s"})}
	addr := startFakeAdmin(t, a)
	out, err := runCLI(ctx, "cluster", "migrate", "--addr", addr, "--slots", "0-99", "--to", "g1", "--wait")
	want := "job j1 aborted: group g1 had no leader for 30s; slots 0-99 stay with group g0"
	if err == nil || err.Error() != want {
		t.Errorf("migrate --wait of an aborted job: %v, want %q\n%s", err, want, out)
	}
	a.polls = 0
	out, err = runCLI(ctx, "cluster", "migrate", "--addr", addr, "--slots", "0-99", "--to", "g1", "--wait", "--json")
	var j jobStatus
	if err == nil || err.Error() != want || json.Unmarshal([]byte(out), &j) != nil || j.Phase != "aborted" ||
		j.Reason != "group g1 had no leader for 30s" {
		t.Errorf("migrate --wait --json of an aborted job: %v\n%s", err, out)
	}
}

// TestWaitJobOutput checks the progress output: one line per lineEvery
// when not on a terminal, one line redrawn with \r on a terminal.
func TestWaitJobOutput(t *testing.T) {
	ctx := context.Background()
	a := &fakeAdmin{states: jobStates(server.JobStatus{Phase: "done", Keys: 2000, Bytes: 5000000, ETA: -1})}
	addr := startFakeAdmin(t, a)
	lines := []string{
		"job j1 copying: 0 keys, 0.0 MB, 0 keys/s, 0.0 MB/s, ETA ?",
		"job j1 copying: 1000 keys, 2.5 MB, 2000 keys/s, 5.0 MB/s, ETA 2s",
		"job j1 fenced: 2000 keys, 5.0 MB, 0 keys/s, 0.0 MB/s, ETA 0s",
	}
	done := "Job j1 done: slots 0-99 moved from group g0 to group g1 (2000 keys, 5.0 MB in 4.2s).\n"
	var b bytes.Buffer
	o := adminOpts{addr: addr, timeout: time.Second, out: &b}
	if err := waitJob(ctx, o, "j1", waitOpts{poll: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(lines, "\n") + "\n" + done; b.String() != want {
		t.Errorf("not a terminal, a line every poll:\n%q\nwant\n%q", b.String(), want)
	}
	a.polls = 0
	b.Reset()
	if err := waitJob(ctx, o, "j1", waitOpts{poll: time.Millisecond, lineEvery: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if want := lines[0] + "\n" + done; b.String() != want {
		t.Errorf("not a terminal, one line per hour:\n%q\nwant\n%q", b.String(), want)
	}
	a.polls = 0
	b.Reset()
	if err := waitJob(ctx, o, "j1", waitOpts{poll: time.Millisecond, tty: true}); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat(" ", len(lines[1])-len(lines[2]))
	want := "\r" + lines[0] + "\r" + lines[1] + "\r" + lines[2] + pad + "\r" + strings.Repeat(" ", len(lines[2])) + "\r" + done
	if b.String() != want {
		t.Errorf("terminal:\n%q\nwant\n%q", b.String(), want)
	}
	// A job the node does not list ends the wait after 2*timeout.
	b.Reset()
	o.timeout = 10 * time.Millisecond
	err := waitJob(ctx, o, "j9", waitOpts{poll: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "stopped waiting for job j9: "+addr+" lists no job j9") {
		t.Errorf("wait for an unknown job: %v", err)
	}
}

func TestJobsAndCancelCLI(t *testing.T) {
	ctx := context.Background()
	a := &fakeAdmin{}
	addr := startFakeAdmin(t, a)
	out, err := runCLI(ctx, "cluster", "jobs", "--addr", addr)
	if err != nil || out != "No migration jobs.\n" {
		t.Errorf("jobs without jobs: %v %q", err, out)
	}
	states := jobStates(server.JobStatus{Phase: "aborted", Keys: 2000, ETA: -1, Reason: "cancelled by an operator"})
	running := states[1]
	running.Slots = append(running.Slots, topology.SlotRange{Start: 200, End: 200})
	for _, tc := range []struct {
		job  server.JobStatus
		want string
	}{
		{running, "JOB  SLOTS           SOURCE → TARGET  PHASE    KEYS  MB   KEYS/S  MB/S  ETA  REASON\n" +
			"j1   0-99,200 (101)  g0 → g1          copying  1000  2.5  2000    5.0   2s   -\n"},
		{states[3], "JOB  SLOTS       SOURCE → TARGET  PHASE    KEYS  MB   KEYS/S  MB/S  ETA  REASON\n" +
			"j1   0-99 (100)  g0 → g1          aborted  2000  0.0  0       0.0   -    cancelled by an operator\n"},
	} {
		a.states = []server.JobStatus{tc.job}
		out, err := runCLI(ctx, "cluster", "jobs", "--addr", addr)
		if err != nil || out != tc.want {
			t.Errorf("jobs: %v\n%s\nwant\n%s", err, out, tc.want)
		}
	}
	out, err = runCLI(ctx, "cluster", "jobs", "--addr", addr, "--json")
	var jobs []jobStatus
	if err != nil || json.Unmarshal([]byte(out), &jobs) != nil || len(jobs) != 1 || jobs[0].Reason != "cancelled by an operator" ||
		jobs[0].ETAMs != -1 || jobs[0].Ended == nil || !jobs[0].Created.Equal(time.UnixMilli(1700000000000)) {
		t.Errorf("jobs --json: %v\n%s", err, out)
	}

	out, err = runCLI(ctx, "cluster", "cancel", "--addr", addr, "j1")
	if err != nil || out != "Job j1 cancelled: its slots stay with their source group.\n" {
		t.Errorf("cancel: %v %q", err, out)
	}
	out, err = runCLI(ctx, "cluster", "cancel", "--addr", addr, "--json", "j2")
	if err != nil || strings.Join(strings.Fields(out), " ") != `{ "cancelled": true, "id": "j2" }` {
		t.Errorf("cancel --json: %v %q", err, out)
	}
	a.cancelErr = fmt.Errorf("%w: done", server.ErrJobNotActive)
	if _, err := runCLI(ctx, "cluster", "cancel", "--addr", addr, "j1"); err == nil ||
		err.Error() != addr+" refused: job j1 has ended already (done or aborted); only a job still copying can be cancelled" {
		t.Errorf("cancel of an ended job: %v", err)
	}
	a.cancelErr = server.ErrUnknownJob
	if _, err := runCLI(ctx, "cluster", "cancel", "--addr", addr, "j9"); err == nil ||
		err.Error() != addr+" refused: unknown job 'j9'" {
		t.Errorf("cancel of an unknown job: %v", err)
	}
	if fmt.Sprint(a.calls) != "[cancel j1 cancel j2 cancel j1 cancel j9]" {
		t.Errorf("Admin calls %q", a.calls)
	}
	if _, err := runCLI(ctx, "cluster", "cancel", "--addr", addr); err == nil || !strings.Contains(err.Error(), "usage: shoal cluster cancel") {
		t.Errorf("cancel without a job: %v", err)
	}
	// redis-server first: a port picked as closed before it starts could be
	// the one it then takes.
	redis := testutil.StartRedis(t)
	closed := closedAddr(t)
	for _, args := range [][]string{
		{"jobs"}, {"cancel", "j1"}, {"migrate", "--slots", "1", "--to", "g1"}, {"rebalance"}, {"rebalance", "--dry-run"},
	} {
		_, err := runCLI(ctx, append([]string{"cluster", args[0], "--addr", closed}, args[1:]...)...)
		if err == nil || !strings.Contains(err.Error(), "cannot connect to "+closed) {
			t.Errorf("%q on a closed port: %v", args, err)
		}
		_, err = runCLI(ctx, append([]string{"cluster", args[0], "--addr", redis.Addr}, args[1:]...)...)
		if err == nil || !strings.Contains(err.Error(), "does not know the SHOAL migration commands") {
			t.Errorf("%q on redis-server: %v", args, err)
		}
	}
}

func TestParseShoalJobsRESP3(t *testing.T) {
	raw := "*1\r\n%13\r\n$2\r\nid\r\n$2\r\nj1\r\n$5\r\nslots\r\n*2\r\n$4\r\n0-99\r\n$7\r\n200-200\r\n" +
		"$6\r\nsource\r\n$2\r\ng0\r\n$6\r\ntarget\r\n$2\r\ng1\r\n$5\r\nphase\r\n$7\r\ncopying\r\n" +
		"$4\r\nkeys\r\n:5\r\n$5\r\nbytes\r\n:50\r\n$12\r\nkeys-per-sec\r\n,1.5\r\n$13\r\nbytes-per-sec\r\n,inf\r\n" +
		"$6\r\neta-ms\r\n:-1\r\n$10\r\ncreated-ms\r\n:1000\r\n$8\r\nended-ms\r\n:0\r\n$6\r\nreason\r\n$0\r\n\r\n"
	jobs, err := parseShoalJobs(readValue(t, raw))
	if err != nil || len(jobs) != 1 || fmt.Sprint(jobs[0].Slots) != "[0-99 200]" || jobs[0].KeysPerSec != 1.5 ||
		jobs[0].Ended != nil || jobs[0].ETAMs != -1 || jobs[0].Created.UnixMilli() != 1000 {
		t.Errorf("parseShoalJobs: %+v, %v", jobs, err)
	}
	for _, bad := range []string{
		"+OK\r\n",
		strings.Replace(raw, ":5\r\n", "$1\r\n5\r\n", 1),
		strings.Replace(raw, "0-99", "9-0 ", 1),
		strings.Replace(raw, ",1.5", "$3\r\nx.5", 1),
		strings.Replace(raw, "$2\r\nid\r\n$2\r\nj1", "$2\r\nid\r\n$0\r\n", 1),
	} {
		if jobs, err := parseShoalJobs(readValue(t, bad)); err == nil {
			t.Errorf("%q parsed as %+v", bad, jobs)
		}
	}
}
