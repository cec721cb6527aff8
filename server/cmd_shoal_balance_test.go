package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// The rebalancing methods of transferTestRouter's Admin: each records its
// call in r.calls and returns r.err with r.plan or r.balance.

func (r *transferTestRouter) Rebalance(ctx context.Context, dryRun bool) ([]string, error) {
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("no deadline")
	}
	r.calls = append(r.calls, fmt.Sprintf("rebalance dry-run=%v", dryRun))
	if r.err != nil {
		return nil, r.err
	}
	return r.plan, nil
}

func (r *transferTestRouter) RemoveNode(ctx context.Context, id string) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("no deadline")
	}
	r.calls = append(r.calls, "remove "+id)
	return r.err
}

func (r *transferTestRouter) Balance(ctx context.Context) (BalanceStatus, error) {
	if _, ok := ctx.Deadline(); !ok {
		return BalanceStatus{}, errors.New("no deadline")
	}
	r.calls = append(r.calls, "balance")
	return r.balance, r.err
}

// adminCase is one request to a transferTestRouter: its Admin returns err
// (and plan from Rebalance); want is the reply, call the Admin call
// expected ("" for none).
type adminCase struct {
	args []string
	err  error
	plan []string
	want string
	call string
}

// runAdminCases runs each case in both protocol versions on a fresh
// transferTestRouter and checks the reply and the Admin calls.
func runAdminCases(t *testing.T, cases []adminCase) {
	t.Helper()
	for _, p := range []resp.Proto{resp.RESP2, resp.RESP3} {
		for _, tc := range cases {
			r := &transferTestRouter{clusterTestRouter: &clusterTestRouter{topo: testTopology(t)}, err: tc.err, plan: tc.plan}
			x := clusterCtx(t, r, p, 1)
			if got := runLocal(t, x, tc.args...); got != tc.want {
				t.Errorf("RESP%d %q = %q, want %q", p, tc.args, got, tc.want)
			}
			var want []string
			if tc.call != "" {
				want = []string{tc.call}
			}
			if fmt.Sprint(r.calls) != fmt.Sprint(want) {
				t.Errorf("RESP%d %q: calls %q, want %q", p, tc.args, r.calls, want)
			}
		}
	}
}

func TestShoalRebalance(t *testing.T) {
	plan := []string{"add node " + idC + " to group g1", "move slots 0-99 from g0 to g1"}
	wantPlan := rArr(2) + rBulk(plan[0]) + rBulk(plan[1])
	runAdminCases(t, []adminCase{
		{[]string{"SHOAL", "REBALANCE"}, nil, plan, wantPlan, "rebalance dry-run=false"},
		{[]string{"shoal", "rebalance"}, nil, nil, "*0\r\n", "rebalance dry-run=false"},
		{[]string{"SHOAL", "REBALANCE", "DRYRUN"}, nil, plan, wantPlan, "rebalance dry-run=true"},
		{[]string{"shoal", "rebalance", "dryRun"}, nil, []string{}, "*0\r\n", "rebalance dry-run=true"},
		{[]string{"SHOAL", "REBALANCE", "NOW"}, nil, plan, "-ERR syntax error\r\n", ""},
		{[]string{"SHOAL", "REBALANCE", "DRY-RUN"}, nil, plan, "-ERR syntax error\r\n", ""},
		{[]string{"SHOAL", "REBALANCE", "DRYRUN", "x"}, nil, plan, "-ERR syntax error\r\n", ""},
		{[]string{"SHOAL", "REBALANCE", "STATUS", "x"}, nil, plan, "-ERR syntax error\r\n", ""},
		{[]string{"SHOAL", "REBALANCE"}, errors.New("no meta\r\nleader"), nil,
			"-ERR rebalance failed: no meta  leader\r\n", "rebalance dry-run=false"},
		{[]string{"SHOAL", "REBALANCE", "DRYRUN"}, context.DeadlineExceeded, nil,
			"-ERR rebalance failed: context deadline exceeded\r\n", "rebalance dry-run=true"},
		{[]string{"SHOAL", "REBALANCE", "STATUS"}, errors.New("no meta leader"), nil,
			"-ERR rebalance status failed: no meta leader\r\n", "balance"},
	})
}

func TestShoalRebalanceStatus(t *testing.T) {
	for _, p := range []resp.Proto{resp.RESP2, resp.RESP3} {
		r := &transferTestRouter{clusterTestRouter: &clusterTestRouter{topo: testTopology(t)}}
		x := clusterCtx(t, r, p, 1)
		want := rMap(p, 5) + rBulk("requested") + rInt(0) + rBulk("draining") + rArr(0) + rBulk("removed") + rArr(0) +
			rBulk("active-jobs") + rInt(0) + rBulk("plan") + rArr(0)
		if got := runLocal(t, x, "SHOAL", "REBALANCE", "STATUS"); got != want {
			t.Errorf("RESP%d idle SHOAL REBALANCE STATUS =\n%q\nwant\n%q", p, got, want)
		}
		r.balance = BalanceStatus{Requested: true, Draining: []string{idC}, Removed: []string{"d1", "d2"}, ActiveJobs: 3,
			Plan: []string{"move slots 0-99 from g0 to g1"}}
		want = rMap(p, 5) + rBulk("requested") + rInt(1) + rBulk("draining") + rArr(1) + rBulk(idC) +
			rBulk("removed") + rArr(2) + rBulk("d1") + rBulk("d2") + rBulk("active-jobs") + rInt(3) +
			rBulk("plan") + rArr(1) + rBulk("move slots 0-99 from g0 to g1")
		if got := runLocal(t, x, "shoal", "rebalance", "status"); got != want {
			t.Errorf("RESP%d busy SHOAL REBALANCE STATUS =\n%q\nwant\n%q", p, got, want)
		}
		if fmt.Sprint(r.calls) != "[balance balance]" {
			t.Errorf("RESP%d calls %q", p, r.calls)
		}
	}
}

func TestShoalRemoveNode(t *testing.T) {
	runAdminCases(t, []adminCase{
		{[]string{"SHOAL", "REMOVE-NODE", idC}, nil, nil, "+OK\r\n", "remove " + idC},
		{[]string{"shoal", "remove-node", idC}, nil, nil, "+OK\r\n", "remove " + idC},
		{[]string{"SHOAL", "REMOVE-NODE", "nosuch"}, fmt.Errorf("%w %q", ErrUnknownNode, "nosuch"), nil,
			"-ERR Unknown node nosuch\r\n", "remove nosuch"},
		{[]string{"SHOAL", "REMOVE-NODE", "n\r\n1"}, ErrUnknownNode, nil, "-ERR Unknown node n  1\r\n", "remove n\r\n1"},
		{[]string{"SHOAL", "REMOVE-NODE", idC}, fmt.Errorf("%w: 2 nodes would remain, fewer than --replicas 3", ErrTooFewNodes),
			nil, "-ERR cannot remove node " + idC + ": 2 nodes would remain, fewer than --replicas 3\r\n", "remove " + idC},
		{[]string{"SHOAL", "REMOVE-NODE", idC}, fmt.Errorf("node: %w", ErrTooFewNodes), nil,
			"-ERR cannot remove node " + idC + ": too few nodes would remain\r\n", "remove " + idC},
		{[]string{"SHOAL", "REMOVE-NODE", "n\r\n1"}, fmt.Errorf("%w: 1\r\nleft", ErrTooFewNodes), nil,
			"-ERR cannot remove node n  1: 1  left\r\n", "remove n\r\n1"},
		{[]string{"SHOAL", "REMOVE-NODE", idC}, errors.New("no meta leader"), nil,
			"-ERR node removal failed: no meta leader\r\n", "remove " + idC},
		{[]string{"SHOAL", "REMOVE-NODE"}, nil, nil, "-ERR wrong number of arguments for 'shoal|remove-node' command\r\n", ""},
		{[]string{"SHOAL", "REMOVE-NODE", idC, "x"}, nil, nil,
			"-ERR wrong number of arguments for 'shoal|remove-node' command\r\n", ""},
	})
}

// TestShoalBalanceWithoutAdmin checks standalone nodes and cluster Routers
// without an Admin, and SHOAL HELP.
func TestShoalBalanceWithoutAdmin(t *testing.T) {
	for _, r := range []Router{nil, SingleRouter{}} {
		x := clusterCtx(t, r, resp.RESP2, 1)
		runCases(t, x, []lineCase{
			{[]string{"SHOAL", "REBALANCE"}, "-" + command.ErrClusterDisabled + "\r\n"},
			{[]string{"SHOAL", "REBALANCE", "DRYRUN"}, "-" + command.ErrClusterDisabled + "\r\n"},
			{[]string{"SHOAL", "REBALANCE", "STATUS"}, "-" + command.ErrClusterDisabled + "\r\n"},
			{[]string{"SHOAL", "REBALANCE", "x"}, "-" + command.ErrClusterDisabled + "\r\n"},
			{[]string{"SHOAL", "REMOVE-NODE", idA}, "-" + command.ErrClusterDisabled + "\r\n"},
		})
	}
	x := clusterCtx(t, &clusterTestRouter{topo: testTopology(t)}, resp.RESP2, 1)
	runCases(t, x, []lineCase{
		{[]string{"SHOAL", "REBALANCE"}, "-" + errMigrateUnsupported + "\r\n"},
		{[]string{"SHOAL", "REBALANCE", "DRYRUN"}, "-" + errMigrateUnsupported + "\r\n"},
		{[]string{"SHOAL", "REBALANCE", "STATUS"}, "-" + errMigrateUnsupported + "\r\n"},
		{[]string{"SHOAL", "REBALANCE", "x"}, "-ERR syntax error\r\n"},
		{[]string{"SHOAL", "REMOVE-NODE", idA}, "-" + errMigrateUnsupported + "\r\n"},
	})
	help := runLocal(t, x, "SHOAL", "HELP")
	for _, s := range []string{"REBALANCE [DRYRUN]", "REBALANCE STATUS", "REMOVE-NODE <node-id>"} {
		if !strings.Contains(help, s) {
			t.Errorf("SHOAL HELP has no %q:\n%s", s, help)
		}
	}
}
