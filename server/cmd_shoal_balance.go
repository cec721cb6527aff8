package server

// SHOAL REBALANCE and REMOVE-NODE: balancing the cluster over its nodes and
// draining a node (Admin.Rebalance, RemoveNode, Balance).

import (
	"context"
	"strings"

	"github.com/shoalcache/shoal/command"
)

// balanceFields is the number of fields of SHOAL REBALANCE STATUS.
const balanceFields = 5

// shoalRebalanceCommand: SHOAL REBALANCE [DRYRUN | STATUS].
//
// Without an argument it computes the plan that balances the cluster,
// records the request in the map (unless the plan is empty: the cluster is
// balanced) and replies the plan, an array of bulk strings, one step each;
// the meta leader carries it out in the background. DRYRUN only replies
// the plan. STATUS replies the rebalancer's state (balanceStatus).
func shoalRebalanceCommand(x *command.Ctx, args [][]byte) {
	if clusterTopology(x) == nil {
		return
	}
	status, dryRun := false, false
	switch {
	case len(args) == 2:
	case len(args) == 3 && strings.EqualFold(string(args[2]), "dryrun"):
		dryRun = true
	case len(args) == 3 && strings.EqualFold(string(args[2]), "status"):
		status = true
	default:
		x.Err(command.ErrSyntax)
		return
	}
	a := shoalAdmin(x)
	if a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if status {
		st, err := a.Balance(ctx)
		if err != nil {
			x.Err(adminErr(x, err, adminReq{op: "rebalance status"}))
			return
		}
		balanceStatus(x, st)
		return
	}
	plan, err := a.Rebalance(ctx, dryRun)
	if err != nil {
		x.Err(adminErr(x, err, adminReq{op: "rebalance"}))
		return
	}
	bulkStrings(x, plan)
}

// balanceStatus replies st as SHOAL REBALANCE STATUS: a map (a flat array
// of field names and values in RESP2) of requested (1 while a rebalance is
// requested and not finished, else 0), draining and removed (arrays of node
// ids), active-jobs (the migration jobs still copying) and plan (the steps
// still to take, an array of strings).
func balanceStatus(x *command.Ctx, st BalanceStatus) {
	x.MapHeader(balanceFields)
	x.BulkString("requested")
	if st.Requested {
		x.Int(1)
	} else {
		x.Int(0)
	}
	x.BulkString("draining")
	bulkStrings(x, st.Draining)
	x.BulkString("removed")
	bulkStrings(x, st.Removed)
	x.BulkString("active-jobs")
	x.Int(int64(st.ActiveJobs))
	x.BulkString("plan")
	bulkStrings(x, st.Plan)
}

// bulkStrings replies ss as an array of bulk strings.
func bulkStrings(x *command.Ctx, ss []string) {
	x.Array(len(ss))
	for _, s := range ss {
		x.BulkString(s)
	}
}

// shoalRemoveNodeCommand: SHOAL REMOVE-NODE node-id. Marks the node
// draining and replies +OK once the mark is in the map (again for a node
// draining already); the meta leader then moves its group replicas and
// leaderships away and takes it out of the map (SHOAL REBALANCE STATUS
// lists it under removed).
func shoalRemoveNodeCommand(x *command.Ctx, args [][]byte) {
	a := shoalAdmin(x)
	if a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := a.RemoveNode(ctx, string(args[2])); err != nil {
		x.Err(adminErr(x, err, adminReq{op: "node removal", node: args[2]}))
		return
	}
	x.OK()
}
