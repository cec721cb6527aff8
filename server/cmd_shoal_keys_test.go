package server

import (
	"context"
	"errors"
	"testing"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// keysTestRouter's Admin also offers GossipKeyAdmin: it records each call
// and returns st and err.
type keysTestRouter struct {
	*transferTestRouter
	st  GossipKeyring
	err error
}

func (r *keysTestRouter) Admin() Admin { return r }

func (r *keysTestRouter) GossipKeys(ctx context.Context, op, key string) (GossipKeyring, error) {
	if _, ok := ctx.Deadline(); !ok {
		return GossipKeyring{}, errors.New("no deadline")
	}
	r.calls = append(r.calls, op+":"+key)
	return r.st, r.err
}

func TestShoalKeys(t *testing.T) {
	for _, p := range []resp.Proto{resp.RESP2, resp.RESP3} {
		r := &keysTestRouter{transferTestRouter: &transferTestRouter{clusterTestRouter: &clusterTestRouter{topo: testTopology(t)}},
			st: GossipKeyring{Nodes: 3, Responses: 3, Keys: map[string]int{"b": 3, "a": 2}, PrimaryKeys: map[string]int{"a": 3}}}
		x := clusterCtx(t, r, p, 1)
		reply := rMap(p, 6) + rBulk("nodes") + rInt(3) + rBulk("responses") + rInt(3) + rBulk("errors") + rInt(0) +
			rBulk("keys") + rMap(p, 2) + rBulk("a") + rInt(2) + rBulk("b") + rInt(3) +
			rBulk("primary-keys") + rMap(p, 1) + rBulk("a") + rInt(3) + rBulk("messages") + rArr(0)
		runCases(t, x, []lineCase{
			{[]string{"SHOAL", "KEYS", "LIST"}, reply},
			{[]string{"SHOAL", "KEYS", "install", "k1"}, reply},
			{[]string{"SHOAL", "KEYS", "USE", "k1"}, reply},
			{[]string{"SHOAL", "KEYS", "REMOVE", "k0"}, reply},
			{[]string{"SHOAL", "KEYS", "INSTALL"}, "-" + command.ErrSyntax + "\r\n"},
			{[]string{"SHOAL", "KEYS", "LIST", "x"}, "-" + command.ErrSyntax + "\r\n"},
			{[]string{"SHOAL", "KEYS", "ROTATE", "x"}, "-" + command.ErrSyntax + "\r\n"},
			{[]string{"SHOAL", "KEYS"}, "-ERR wrong number of arguments for 'shoal|keys' command\r\n"},
		})
		if want := "list:,install:k1,use:k1,remove:k0"; joinCalls(r.calls) != want {
			t.Fatalf("calls %q, want %s", r.calls, want)
		}
		r.err, r.st.Messages = errors.New("1/3 nodes reported failure"), []string{"n3: bad\r\nkey"}
		runCases(t, x, []lineCase{
			{[]string{"SHOAL", "KEYS", "REMOVE", "k1"}, "-ERR keys remove failed: 1/3 nodes reported failure (n3: bad  key)\r\n"},
		})
	}
	// An Admin without keyring administration, and a standalone node.
	x := clusterCtx(t, &transferTestRouter{clusterTestRouter: &clusterTestRouter{topo: testTopology(t)}}, resp.RESP2, 1)
	runCases(t, x, []lineCase{{[]string{"SHOAL", "KEYS", "LIST"}, "-" + errKeysUnsupported + "\r\n"}})
	x = clusterCtx(t, SingleRouter{}, resp.RESP2, 1)
	runCases(t, x, []lineCase{{[]string{"SHOAL", "KEYS", "LIST"}, "-" + command.ErrClusterDisabled + "\r\n"}})
}

func joinCalls(c []string) string {
	out := ""
	for i, s := range c {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}
