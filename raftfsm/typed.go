package raftfsm

import (
	"context"
	"fmt"
	"time"

	"github.com/shoalcache/shoal/shard"
)

// Typed proposals: entries other than client commands, proposed by the
// leader's own housekeeping. They are safe for concurrent use. Each makes
// one log entry of its own (not packed with client commands) and waits until
// it is applied, ctx ends or the group shuts down.
//
// Errors: ErrNotLeader (nothing proposed), ErrShutdown, ErrIndeterminate
// (may be applied; wraps ctx.Err() when ctx ended after the entry was handed
// to raft).

// ProposeExpire deletes, on every replica, the keys that are still due to
// expire at their ExpireAt when the entry applies (shard.Store.Expire, with
// the entry stamped with this node's clock). It returns how many were
// deleted. The keys are those of database db.
func (g *Group) ProposeExpire(ctx context.Context, db int, keys []shard.ExpiredKey) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	size := 16
	for _, k := range keys {
		size += len(k.Key) + 20
	}
	data := encodeExpire(make([]byte, 0, size), time.Now().UnixMilli(), db, keys)
	return g.proposeCount(ctx, data)
}

// ProposeEvict deletes keys on every replica, counting them as evicted. It
// returns how many existed. The keys are those of database db.
func (g *Group) ProposeEvict(ctx context.Context, db int, keys [][]byte) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	size := 16
	for _, k := range keys {
		size += len(k) + 10
	}
	return g.proposeCount(ctx, encodeEvict(make([]byte, 0, size), db, keys))
}

func (g *Group) proposeCount(ctx context.Context, data []byte) (int, error) {
	v, err := g.proposeEntry(ctx, data)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int)
	if !ok {
		return 0, fmt.Errorf("raftfsm: unexpected apply result %T", v)
	}
	return n, nil
}

// proposeEntry hands one encoded entry to raft and returns the FSM's result.
// raft keeps data: the caller must not reuse it.
func (g *Group) proposeEntry(ctx context.Context, data []byte) (interface{}, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !g.IsLeader() {
		return nil, ErrNotLeader
	}
	select {
	case <-g.stop:
		return nil, ErrShutdown
	default:
	}
	f := g.raft.Apply(data, enqueueTimeout(ctx))
	if err := g.waitFuture(ctx, f); err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return nil, fmt.Errorf("%w: %w", ErrIndeterminate, err)
		}
		return nil, mapRaftError(err)
	}
	v := f.Response()
	if err, ok := v.(error); ok {
		return nil, mapRaftError(err)
	}
	return v, nil
}
