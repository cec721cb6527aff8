package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/internal/topology"
)

// The migration methods of transferTestRouter's Admin: each records its
// call in r.calls and returns r.err (Jobs returns r.jobs).

func (r *transferTestRouter) Migrate(ctx context.Context, slots []topology.SlotRange, target string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		return "", errors.New("no deadline")
	}
	r.calls = append(r.calls, fmt.Sprintf("migrate %v>%s", slots, target))
	if r.err != nil {
		return "", r.err
	}
	return "j7", nil
}

func (r *transferTestRouter) Jobs(ctx context.Context) ([]JobStatus, error) {
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("no deadline")
	}
	r.calls = append(r.calls, "jobs")
	return r.jobs, r.err
}

func (r *transferTestRouter) CancelJob(ctx context.Context, id string) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("no deadline")
	}
	r.calls = append(r.calls, "cancel "+id)
	return r.err
}

func TestShoalMigrate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  error
		want string
		call string // the Admin call expected, "" for none
	}{
		{[]string{"SHOAL", "MIGRATE", "0-100", "g1"}, nil, "$2\r\nj7\r\n", "migrate [{0 100}]>g1"},
		{[]string{"shoal", "migrate", "7", "g1"}, nil, "$2\r\nj7\r\n", "migrate [{7 7}]>g1"},
		{[]string{"SHOAL", "MIGRATE", "16383", "g1"}, nil, "$2\r\nj7\r\n", "migrate [{16383 16383}]>g1"},
		// sorted, touching ranges merged
		{[]string{"SHOAL", "MIGRATE", "20-30,0-9,10-12,5000", "g2"}, nil, "$2\r\nj7\r\n",
			"migrate [{0 12} {20 30} {5000 5000}]>g2"},
		{[]string{"SHOAL", "MIGRATE", "16384", "g1"}, nil, "-ERR Invalid or out of range slot\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "0-16384", "g1"}, nil, "-ERR Invalid or out of range slot\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "-1", "g1"}, nil, "-ERR Invalid or out of range slot\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "1-2-3", "g1"}, nil, "-ERR Invalid or out of range slot\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "a-b", "g1"}, nil, "-ERR Invalid or out of range slot\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "", "g1"}, nil, "-ERR Invalid or out of range slot\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "1,,2", "g1"}, nil, "-ERR Invalid or out of range slot\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", " 1", "g1"}, nil, "-ERR Invalid or out of range slot\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "+1", "g1"}, nil, "-ERR Invalid or out of range slot\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "100-5", "g1"}, nil,
			"-ERR start slot number 100 is greater than end slot number 5\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "0-10,10-20", "g1"}, nil, "-ERR Slot 10 specified multiple times\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "5,5", "g1"}, nil, "-ERR Slot 5 specified multiple times\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "0-1", "g9"}, fmt.Errorf("%w %q", ErrUnknownGroup, "g9"),
			"-ERR unknown group 'g9'\r\n", "migrate [{0 1}]>g9"},
		{[]string{"SHOAL", "MIGRATE", "0-1", "g\r\n9"}, ErrUnknownGroup, "-ERR unknown group 'g  9'\r\n", "migrate [{0 1}]>g\r\n9"},
		{[]string{"SHOAL", "MIGRATE", "0-1", "g1"}, fmt.Errorf("%w: slot 1 is beyond the map", ErrBadSlots),
			"-ERR invalid slot ranges 0-1 (slot 1 is beyond the map)\r\n", "migrate [{0 1}]>g1"},
		{[]string{"SHOAL", "MIGRATE", "0-1", "g1"}, fmt.Errorf("%w: slot 1 is in job j3", ErrSlotsBusy),
			"-ERR slots 0-1 are in an active migration job already (slot 1 is in job j3); see SHOAL JOBS\r\n",
			"migrate [{0 1}]>g1"},
		{[]string{"SHOAL", "MIGRATE", "0-1", "g0"}, ErrAlreadyOwner, "-ERR group g0 already owns slots 0-1\r\n",
			"migrate [{0 1}]>g0"},
		{[]string{"SHOAL", "MIGRATE", "5460-5461", "g2"}, fmt.Errorf("%w: g0 and g1", ErrMixedSources),
			"-ERR slots 5460-5461 belong to more than one group; migrate each group's slots in its own job (g0 and g1)\r\n",
			"migrate [{5460 5461}]>g2"},
		{[]string{"SHOAL", "MIGRATE", "3,9", "g2"}, ErrUnassignedSlots,
			"-ERR slots 3-3,9-9 are not all assigned to a group\r\n", "migrate [{3 3} {9 9}]>g2"},
		{[]string{"SHOAL", "MIGRATE", "3", "g2"}, fmt.Errorf("migrate: %w: 4 of 4", ErrTooManyJobs),
			"-ERR too many active migration jobs (4 of 4); wait for one to end or cancel one (SHOAL JOBS, SHOAL CANCEL)\r\n",
			"migrate [{3 3}]>g2"},
		{[]string{"SHOAL", "MIGRATE", "3", "g2"}, errors.New("group g2 has no leader\r\n"),
			"-ERR migration failed: group g2 has no leader  \r\n", "migrate [{3 3}]>g2"},
		{[]string{"SHOAL", "MIGRATE", "3"}, nil, "-ERR wrong number of arguments for 'shoal|migrate' command\r\n", ""},
		{[]string{"SHOAL", "MIGRATE", "3", "g1", "x"}, nil, "-ERR wrong number of arguments for 'shoal|migrate' command\r\n", ""},
	} {
		r := &transferTestRouter{clusterTestRouter: &clusterTestRouter{topo: testTopology(t)}, err: tc.err}
		x := clusterCtx(t, r, resp.RESP2, 1)
		if got := runLocal(t, x, tc.args...); got != tc.want {
			t.Errorf("%q = %q, want %q", tc.args, got, tc.want)
		}
		var want []string
		if tc.call != "" {
			want = []string{tc.call}
		}
		if fmt.Sprint(r.calls) != fmt.Sprint(want) {
			t.Errorf("%q: calls %q, want %q", tc.args, r.calls, want)
		}
	}
}

func TestShoalCancel(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  error
		want string
	}{
		{[]string{"SHOAL", "CANCEL", "j1"}, nil, "+OK\r\n"},
		{[]string{"SHOAL", "CANCEL", "j9"}, fmt.Errorf("%w %q", ErrUnknownJob, "j9"), "-ERR unknown job 'j9'\r\n"},
		{[]string{"SHOAL", "CANCEL", "j\r\n9"}, ErrUnknownJob, "-ERR unknown job 'j  9'\r\n"},
		{[]string{"SHOAL", "CANCEL", "j1"}, fmt.Errorf("%w: done", ErrJobNotActive),
			"-ERR job j1 has ended already (done or aborted); only a job still copying can be cancelled\r\n"},
		{[]string{"SHOAL", "CANCEL", "j1"}, context.DeadlineExceeded, "-ERR cancel failed: context deadline exceeded\r\n"},
	} {
		r := &transferTestRouter{clusterTestRouter: &clusterTestRouter{topo: testTopology(t)}, err: tc.err}
		x := clusterCtx(t, r, resp.RESP2, 1)
		if got := runLocal(t, x, tc.args...); got != tc.want {
			t.Errorf("%q = %q, want %q", tc.args, got, tc.want)
		}
		if want := "[cancel " + tc.args[2] + "]"; fmt.Sprint(r.calls) != want {
			t.Errorf("%q: calls %q, want %q", tc.args, r.calls, want)
		}
	}
	x := clusterCtx(t, &transferTestRouter{clusterTestRouter: &clusterTestRouter{topo: testTopology(t)}}, resp.RESP2, 1)
	runCases(t, x, []lineCase{
		{[]string{"SHOAL", "CANCEL"}, "-ERR wrong number of arguments for 'shoal|cancel' command\r\n"},
		{[]string{"SHOAL", "CANCEL", "a", "b"}, "-ERR wrong number of arguments for 'shoal|cancel' command\r\n"},
	})
}

func TestShoalJobs(t *testing.T) {
	created := time.UnixMilli(1700000000123)
	jobs := []JobStatus{
		{ID: "j1", Slots: []topology.SlotRange{{Start: 0, End: 99}, {Start: 200, End: 200}}, Source: "g0", Target: "g1", Phase: "copying",
			Keys: 1200, Bytes: 3 << 20, KeysPerSec: 1500.5, BytesPerSec: 2e6, ETA: 2500 * time.Millisecond, Created: created},
		{ID: "j2", Slots: []topology.SlotRange{{Start: 16383, End: 16383}}, Source: "g2", Target: "g0", Phase: "aborted",
			ETA: -1, Created: created, Ended: created.Add(time.Second), Reason: "cancelled"},
	}
	for _, p := range []resp.Proto{resp.RESP2, resp.RESP3} {
		dbl := func(s string) string {
			if p == resp.RESP3 {
				return "," + s + "\r\n"
			}
			return rBulk(s)
		}
		want := rArr(2) +
			rMap(p, 13) + rBulk("id") + rBulk("j1") + rBulk("slots") + rArr(2) + rBulk("0-99") + rBulk("200-200") +
			rBulk("source") + rBulk("g0") + rBulk("target") + rBulk("g1") + rBulk("phase") + rBulk("copying") +
			rBulk("keys") + rInt(1200) + rBulk("bytes") + rInt(3<<20) +
			rBulk("keys-per-sec") + dbl("1500.5") + rBulk("bytes-per-sec") + dbl("2000000") +
			rBulk("eta-ms") + rInt(2500) + rBulk("created-ms") + rInt(1700000000123) + rBulk("ended-ms") + rInt(0) +
			rBulk("reason") + rBulk("") +
			rMap(p, 13) + rBulk("id") + rBulk("j2") + rBulk("slots") + rArr(1) + rBulk("16383-16383") +
			rBulk("source") + rBulk("g2") + rBulk("target") + rBulk("g0") + rBulk("phase") + rBulk("aborted") +
			rBulk("keys") + rInt(0) + rBulk("bytes") + rInt(0) +
			rBulk("keys-per-sec") + dbl("0") + rBulk("bytes-per-sec") + dbl("0") +
			rBulk("eta-ms") + rInt(-1) + rBulk("created-ms") + rInt(1700000000123) + rBulk("ended-ms") + rInt(1700000001123) +
			rBulk("reason") + rBulk("cancelled")
		r := &transferTestRouter{clusterTestRouter: &clusterTestRouter{topo: testTopology(t)}, jobs: jobs}
		x := clusterCtx(t, r, p, 1)
		if got := runLocal(t, x, "SHOAL", "JOBS"); got != want {
			t.Errorf("RESP%d SHOAL JOBS =\n%q\nwant\n%q", p, got, want)
		}
		r.jobs = nil
		if got := runLocal(t, x, "SHOAL", "JOBS"); got != "*0\r\n" {
			t.Errorf("RESP%d SHOAL JOBS without jobs = %q", p, got)
		}
	}
	r := &transferTestRouter{clusterTestRouter: &clusterTestRouter{topo: testTopology(t)}, err: errors.New("no meta leader")}
	x := clusterCtx(t, r, resp.RESP2, 1)
	runCases(t, x, []lineCase{
		{[]string{"SHOAL", "JOBS"}, "-ERR listing jobs failed: no meta leader\r\n"},
		{[]string{"SHOAL", "JOBS", "x"}, "-ERR wrong number of arguments for 'shoal|jobs' command\r\n"},
	})
}

// TestShoalMigrationWithoutAdmin checks standalone nodes and cluster
// Routers without an Admin.
func TestShoalMigrationWithoutAdmin(t *testing.T) {
	for _, r := range []Router{nil, SingleRouter{}} {
		x := clusterCtx(t, r, resp.RESP2, 1)
		runCases(t, x, []lineCase{
			{[]string{"SHOAL", "MIGRATE", "0-1", "g1"}, "-" + command.ErrClusterDisabled + "\r\n"},
			{[]string{"SHOAL", "MIGRATE", "x", "g1"}, "-" + command.ErrClusterDisabled + "\r\n"},
			{[]string{"SHOAL", "JOBS"}, "-" + command.ErrClusterDisabled + "\r\n"},
			{[]string{"SHOAL", "CANCEL", "j1"}, "-" + command.ErrClusterDisabled + "\r\n"},
		})
	}
	x := clusterCtx(t, &clusterTestRouter{topo: testTopology(t)}, resp.RESP2, 1)
	runCases(t, x, []lineCase{
		{[]string{"SHOAL", "MIGRATE", "0-1", "g1"}, "-ERR slot migration is not supported by this node\r\n"},
		{[]string{"SHOAL", "MIGRATE", "9-1", "g1"}, "-ERR start slot number 9 is greater than end slot number 1\r\n"},
		{[]string{"SHOAL", "JOBS"}, "-ERR slot migration is not supported by this node\r\n"},
		{[]string{"SHOAL", "CANCEL", "j1"}, "-ERR slot migration is not supported by this node\r\n"},
	})
	help := runLocal(t, x, "SHOAL", "HELP")
	for _, s := range []string{"MIGRATE <start>-<end>", "JOBS", "CANCEL <job-id>"} {
		if !strings.Contains(help, s) {
			t.Errorf("SHOAL HELP has no %q:\n%s", s, help)
		}
	}
}
