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

// transferTestRouter is a cluster-mode Router whose Admin records each
// call and returns err (its migration methods are in
// cmd_shoal_jobs_test.go, its rebalancing ones in
// cmd_shoal_balance_test.go, SetClusterConfig in
// cmd_config_cluster_test.go).
type transferTestRouter struct {
	*clusterTestRouter
	calls   []string
	err     error
	jobs    []JobStatus   // what Jobs returns
	plan    []string      // what Rebalance returns
	balance BalanceStatus // what Balance returns
	srv     *Server       // SetClusterConfig applies its settings here when err is nil
}

func (r *transferTestRouter) Admin() Admin { return r }

func (r *transferTestRouter) TransferLeadership(ctx context.Context, group, to string) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("no deadline")
	}
	r.calls = append(r.calls, group+">"+to)
	return r.err
}

func TestShoalGroups(t *testing.T) {
	for _, p := range []resp.Proto{resp.RESP2, resp.RESP3} {
		topo := testTopology(t)
		topo.Leaders[1] = "" // g1's leader is not known
		x := clusterCtx(t, &clusterTestRouter{topo: topo}, p, 1)
		null := "$-1\r\n"
		if p == resp.RESP3 {
			null = "_\r\n"
		}
		group := func(id, leader string, start, end int, members ...string) string {
			s := rMap(p, 4) + rBulk("id") + rBulk(id) + rBulk("leader")
			if leader == "" {
				s += null
			} else {
				s += rBulk(leader)
			}
			s += rBulk("members") + rArr(len(members))
			for _, m := range members {
				s += rBulk(m)
			}
			return s + rBulk("slots") + rArr(2) + rInt(start) + rInt(end)
		}
		want := rArr(3) + group("g0", idA, 0, 5460, idA, idB) + group("g1", "", 5461, 10921, idB, idC) +
			group("g2", idC, 10922, 16383, idC, idA)
		if got := runLocal(t, x, "SHOAL", "GROUPS"); got != want {
			t.Errorf("RESP%d SHOAL GROUPS =\n%q\nwant\n%q", p, got, want)
		}
	}
}

func TestShoalLeaderTransfer(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  error
		want string
		call string // the TransferLeadership call expected, "" for none
	}{
		{[]string{"SHOAL", "LEADER-TRANSFER", "g0", idB}, nil, "+OK\r\n", "g0>" + idB},
		{[]string{"shoal", "leader-transfer", "g0"}, nil, "+OK\r\n", "g0>"},
		{[]string{"SHOAL", "LEADER-TRANSFER", "g9"}, fmt.Errorf("%w \"g9\"", ErrUnknownGroup),
			"-ERR unknown group 'g9'\r\n", "g9>"},
		{[]string{"SHOAL", "LEADER-TRANSFER", "g\r\n9"}, ErrUnknownGroup, "-ERR unknown group 'g  9'\r\n", "g\r\n9>"},
		{[]string{"SHOAL", "LEADER-TRANSFER", "g0", "nosuch"}, ErrUnknownNode, "-ERR Unknown node nosuch\r\n", "g0>nosuch"},
		{[]string{"SHOAL", "LEADER-TRANSFER", "g0", idC}, ErrNotGroupVoter,
			"-ERR node " + idC + " is not a voter of group g0\r\n", "g0>" + idC},
		{[]string{"SHOAL", "LEADER-TRANSFER", "g0", idA}, ErrAlreadyLeader,
			"-ERR node " + idA + " already leads group g0\r\n", "g0>" + idA},
		// B leads g1 (its address is in the reply); A is the leader the
		// topology names for g0, which the transferer just denied.
		{[]string{"SHOAL", "LEADER-TRANSFER", "g1", idC}, ErrNotGroupLeader,
			"-ERR this node does not lead group g1 (leader: 127.0.0.1:7001)\r\n", "g1>" + idC},
		{[]string{"SHOAL", "LEADER-TRANSFER", "g0"}, fmt.Errorf("%w g0", ErrNotGroupLeader),
			"-ERR this node does not lead group g0 (leader: unknown)\r\n", "g0>"},
		{[]string{"SHOAL", "LEADER-TRANSFER", "g0", idB}, errors.New("leadership transfer timeout"),
			"-ERR leadership transfer failed: leadership transfer timeout\r\n", "g0>" + idB},
		{[]string{"SHOAL", "LEADER-TRANSFER", "g0", idB}, errors.New("two\r\nlines"),
			"-ERR leadership transfer failed: two  lines\r\n", "g0>" + idB},
		{[]string{"SHOAL", "LEADER-TRANSFER"}, nil, "-ERR wrong number of arguments for 'shoal|leader-transfer' command\r\n", ""},
		{[]string{"SHOAL", "LEADER-TRANSFER", "g0", idB, "x"}, nil,
			"-ERR wrong number of arguments for 'shoal|leader-transfer' command\r\n", ""},
		{[]string{"SHOAL"}, nil, "-ERR wrong number of arguments for 'shoal' command\r\n", ""},
		{[]string{"SHOAL", "GROUPS", "x"}, nil, "-ERR wrong number of arguments for 'shoal|groups' command\r\n", ""},
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
	if c := command.Lookup([]byte("shoal")); c.Sub([]byte("foo")) != nil || c.Run != nil ||
		command.UnknownSubcommand(c.Name, []byte("FOO")) != "ERR unknown subcommand 'FOO'. Try SHOAL HELP." {
		t.Error("SHOAL FOO is not an unknown subcommand")
	}
}

// TestShoalWithoutTransfer checks standalone nodes and cluster Routers that
// cannot transfer leadership.
func TestShoalWithoutTransfer(t *testing.T) {
	for _, r := range []Router{nil, SingleRouter{}} {
		x := clusterCtx(t, r, resp.RESP2, 1)
		runCases(t, x, []lineCase{
			{[]string{"SHOAL", "GROUPS"}, "-" + command.ErrClusterDisabled + "\r\n"},
			{[]string{"SHOAL", "LEADER-TRANSFER", "g0"}, "-" + command.ErrClusterDisabled + "\r\n"},
		})
		if got := runLocal(t, x, "SHOAL", "HELP"); len(got) < 100 || got[:4] != "*34\r" {
			t.Errorf("SHOAL HELP = %q", got)
		}
	}
	x := clusterCtx(t, &clusterTestRouter{topo: testTopology(t)}, resp.RESP2, 1)
	runCases(t, x, []lineCase{
		{[]string{"SHOAL", "LEADER-TRANSFER", "g0", idB}, "-ERR leadership transfer is not supported by this node\r\n"},
	})
}

// TestShoalCommandInfo checks the synthesized COMMAND INFO entry of a SHOAL
// subcommand (Redis has no metadata for it).
func TestShoalCommandInfo(t *testing.T) {
	x := connTestCtx(t, "", resp.RESP2)
	runCases(t, x, []lineCase{
		{[]string{"COMMAND", "INFO", "shoal|leader-transfer"}, "*1\r\n*10\r\n$21\r\nshoal|leader-transfer\r\n:-3\r\n" +
			"*2\r\n+admin\r\n+noscript\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n"},
		{[]string{"COMMAND", "LIST", "FILTERBY", "pattern", "shoal*"},
			"*10\r\n$5\r\nshoal\r\n$12\r\nshoal|cancel\r\n$12\r\nshoal|groups\r\n$10\r\nshoal|help\r\n" +
				"$10\r\nshoal|jobs\r\n$10\r\nshoal|keys\r\n$21\r\nshoal|leader-transfer\r\n$13\r\nshoal|migrate\r\n" +
				"$15\r\nshoal|rebalance\r\n$17\r\nshoal|remove-node\r\n"},
		{[]string{"COMMAND", "INFO", "shoal|rebalance", "shoal|remove-node"}, "*2\r\n" +
			"*10\r\n$15\r\nshoal|rebalance\r\n:-2\r\n*2\r\n+admin\r\n+noscript\r\n:0\r\n:0\r\n:0\r\n" +
			"*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n" +
			"*10\r\n$17\r\nshoal|remove-node\r\n:3\r\n*2\r\n+admin\r\n+noscript\r\n:0\r\n:0\r\n:0\r\n" +
			"*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n"},
		{[]string{"COMMAND", "INFO", "shoal|jobs"}, "*1\r\n*10\r\n$10\r\nshoal|jobs\r\n:2\r\n" +
			"*1\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*0\r\n"},
	})
	docs := runLocal(t, x, "COMMAND", "DOCS", "shoal")
	for _, sub := range []string{"shoal|migrate", "shoal|rebalance", "shoal|remove-node"} {
		if want := rBulk(sub) + "*2\r\n" + rBulk("group") + rBulk("server"); !strings.Contains(docs, want) {
			t.Errorf("COMMAND DOCS shoal has no %q:\n%q", want, docs)
		}
	}
}
