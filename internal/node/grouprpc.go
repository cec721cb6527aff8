package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// The group-rpc stream: requests to the leader of a data group, on the
// cluster port's mux (raftfsm.Call / ServeCalls framing: one call per
// connection, length-prefixed, the caller's deadline sent along).
//
//	request:  op (1 byte) | len(group) (1 byte) | group id | payload
//	response: status (1 byte) | body
//
// Ops: rpcIngest (payload: an encoded IngestReset or Ingest entry, which
// the leader proposes with ProposeMigrationEntry; empty body),
// rpcImportStatus and rpcOutStatus (payload: a job id; body: JSON),
// rpcReplicaStatus (answered by any replica, see balancer.go).
// Statuses: rpcOK; rpcNotLeader (body: the leader's node id, or empty);
// rpcStale (a newer source term owns the job); rpcNotImporting (the
// target does not import the job); rpcFailed (body: the error's text).
const streamGroupRPC = "group-rpc"

const (
	rpcIngest byte = 1 + iota
	rpcImportStatus
	rpcOutStatus
	// rpcReplicaStatus: answered by any replica of the group (not only
	// its leader); body: JSON replicaStatusBody (balancer.go).
	rpcReplicaStatus
)

const (
	rpcOK byte = iota
	rpcNotLeader
	rpcStale
	rpcNotImporting
	rpcFailed
)

// serveGroupRPC answers group-rpc calls until the mux closes. It runs on
// its own goroutine; each call on a ServeCalls goroutine.
func (cs *clusterState) serveGroupRPC() {
	l, err := cs.mux.Layer(streamGroupRPC)
	if err != nil {
		cs.n.log.Error("group-rpc stream", "err", err)
		return
	}
	_ = raftfsm.ServeCalls(l, 0, time.Minute, cs.handleGroupRPC)
}

func (cs *clusterState) handleGroupRPC(ctx context.Context, req []byte) []byte {
	if len(req) < 2 || len(req) < 2+int(req[1]) {
		return append([]byte{rpcFailed}, "malformed request"...)
	}
	op, gid, payload := req[0], string(req[2:2+int(req[1])]), req[2+int(req[1]):]
	g := cs.localGroup(gid)
	if op == rpcReplicaStatus {
		if g == nil {
			return []byte{rpcNotImporting}
		}
		return answerReplicaStatus(ctx, g)
	}
	if g == nil || !g.IsLeader() {
		var hint string
		if g != nil {
			hint, _ = g.Leader()
		}
		return append([]byte{rpcNotLeader}, hint...)
	}
	switch op {
	case rpcIngest:
		err := g.ProposeMigrationEntry(ctx, payload)
		switch {
		case err == nil:
			return []byte{rpcOK}
		case errors.Is(err, raftfsm.ErrStaleSource):
			return []byte{rpcStale}
		case errors.Is(err, raftfsm.ErrNotImporting), errors.Is(err, raftfsm.ErrJobEnded):
			return []byte{rpcNotImporting}
		case errors.Is(err, raftfsm.ErrNotLeader):
			return []byte{rpcNotLeader}
		default:
			return append([]byte{rpcFailed}, err.Error()...)
		}
	case rpcImportStatus:
		st, ok := g.Importing(string(payload))
		if !ok {
			return []byte{rpcNotImporting}
		}
		b, _ := json.Marshal(st)
		return append([]byte{rpcOK}, b...)
	case rpcOutStatus:
		st, ok := g.MigrationOut(string(payload))
		if !ok {
			return []byte{rpcNotImporting}
		}
		b, _ := json.Marshal(outStatus{Fenced: st.Fenced, Keys: slotKeys(g, st.Slots)})
		return append([]byte{rpcOK}, b...)
	}
	return append([]byte{rpcFailed}, "unknown op"...)
}

// outStatus is rpcOutStatus's body.
type outStatus struct {
	Fenced bool  `json:"fenced"`
	Keys   int64 `json:"keys"` // keys the source holds in the job's slots
}

// appendRPCHeader appends the group-rpc request header for op on group gid
// to dst; the payload follows it.
func appendRPCHeader(dst []byte, op byte, gid string) []byte {
	dst = append(dst, op, byte(len(gid)))
	return append(dst, gid...)
}

// callGroup calls op on the leader of group gid, following one leader
// hint. The body is returned for rpcOK; other statuses map to errors.
func (cs *clusterState) callGroup(ctx context.Context, gid string, op byte, payload []byte) ([]byte, error) {
	return cs.callGroupRaw(ctx, gid, append(appendRPCHeader(make([]byte, 0, 2+len(gid)+len(payload)), op, gid), payload...))
}

// callGroupRaw is callGroup for a request already framed by
// appendRPCHeader (for group gid).
func (cs *clusterState) callGroupRaw(ctx context.Context, gid string, req []byte) ([]byte, error) {
	leader := cs.groupLeader(gid)
	for hop := 0; hop < 2; hop++ {
		if leader == "" {
			return nil, fmt.Errorf("%w: %s", errRPCNoLeader, gid)
		}
		m := cs.pl.Map()
		n := m.Node(leader)
		if n == nil {
			return nil, fmt.Errorf("%w: %s (leader %s not in the map)", errRPCNoLeader, gid, leader)
		}
		resp, err := cs.mux.Call(ctx, n.ClusterAddr, streamGroupRPC, req, 0)
		if err != nil {
			return nil, err
		}
		if len(resp) == 0 {
			return nil, errors.New("node: empty group-rpc response")
		}
		switch resp[0] {
		case rpcOK:
			return resp[1:], nil
		case rpcNotLeader:
			leader = string(resp[1:])
			continue
		case rpcStale:
			return nil, errRPCStale
		case rpcNotImporting:
			return nil, errRPCNotImporting
		default:
			return nil, fmt.Errorf("node: group %s: %s", gid, resp[1:])
		}
	}
	return nil, fmt.Errorf("%w: %s", errRPCNotLeader, gid)
}

// groupLeader returns the node id that leads group gid as this node knows
// it: from its own replica, else from gossip.
func (cs *clusterState) groupLeader(gid string) string {
	if g := cs.localGroup(gid); g != nil {
		if id, _ := g.Leader(); id != "" {
			return id
		}
	}
	id, _ := cs.pl.LeaderHint(gid)
	return id
}

// localGroup returns this node's replica of group gid from the published
// routing table (nil when it hosts none). Lock-free.
func (cs *clusterState) localGroup(gid string) *raftfsm.Group {
	rt := cs.rt.Load()
	if rt.m == nil {
		return nil
	}
	for gi := range rt.m.Groups {
		if rt.m.Groups[gi].ID == gid {
			return rt.local[gi]
		}
	}
	return nil
}

// slotKeys returns how many keys g's store holds in slots.
func slotKeys(g *raftfsm.Group, slots []shard.SlotRange) int64 {
	st := g.Store()
	st.RLock()
	defer st.RUnlock()
	var n int64
	for _, r := range slots {
		for s := r.Start; s <= r.End; s++ {
			n += int64(st.SlotLen(s))
		}
	}
	return n
}
