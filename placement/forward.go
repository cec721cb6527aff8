package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/raftfsm"
)

// Map updates from any node.
//
// A node that does not lead the meta group forwards a compare-and-set to
// the leader on the cluster port's raftfsm.StreamMetaRPC stream, one call
// per connection (raftfsm.Call / ServeCalls: length-prefixed frames, the
// caller's deadline sent along, frames up to raftfsm.DefaultMaxFrame).
//
//	request:  {"op":"cas","cmd":<the set command as the meta log holds it>}
//	request:  {"op":"epoch"}
//	response: {"status":S,"epoch":E,"leader":ID,"addr":HOST:PORT,"msg":M}
//
// "epoch" asks the leader for its map epoch after a barrier (it answers
// "ok" or "not-leader"): a node whose own replica may lag learns which
// epoch to wait for.
// S is one of the status constants below; E is the leader's map epoch
// after the attempt; leader and addr name the meta leader as the answering
// node knows it (with "not-leader"); msg explains "error" and "bad-map".

// Meta-rpc operations and response statuses.
const (
	rpcOpCAS   = "cas"
	rpcOpEpoch = "epoch"

	// statusOK: the map now is the proposed one (applied by this call, or
	// already current after an earlier attempt).
	statusOK = "ok"
	// statusMismatch: the expected epoch is not the current one; nothing
	// changed.
	statusMismatch = "epoch-mismatch"
	// statusNotLeader: the node does not lead the meta group; nothing was
	// proposed.
	statusNotLeader = "not-leader"
	// statusIndeterminate: proposed, outcome unknown.
	statusIndeterminate = "indeterminate"
	// statusBadMap: the command or its map does not validate.
	statusBadMap = "bad-map"
	// statusError: anything else (no map yet, shutting down, bad request).
	statusError = "error"
)

type rpcRequest struct {
	Op  string          `json:"op"`
	Cmd json.RawMessage `json:"cmd"`
}

type rpcResponse struct {
	Status string `json:"status"`
	Epoch  uint64 `json:"epoch,omitempty"`
	Leader string `json:"leader,omitempty"`
	Addr   string `json:"addr,omitempty"`
	Msg    string `json:"msg,omitempty"`
}

// handleMetaRPC answers one meta-rpc request. It runs on a ServeCalls
// goroutine, concurrently with UpdateMap calls and other requests: the
// meta group's compare-and-set orders them.
func (s *Service) handleMetaRPC(ctx context.Context, b []byte) []byte {
	resp := s.answerRPC(ctx, b)
	if resp.Status == statusNotLeader {
		resp.Leader, resp.Addr = s.MetaLeader()
	}
	if m := s.Map(); m != nil {
		resp.Epoch = m.Epoch
	}
	out, err := json.Marshal(resp)
	if err != nil {
		out = []byte(`{"status":"error","msg":"encode response"}`)
	}
	return out
}

func (s *Service) answerRPC(ctx context.Context, b []byte) rpcResponse {
	var req rpcRequest
	err := json.Unmarshal(b, &req)
	if err == nil && req.Op == rpcOpEpoch {
		if _, err := s.leaderMap(ctx); err != nil {
			if errors.Is(err, ErrNotMetaLeader) {
				return rpcResponse{Status: statusNotLeader}
			}
			return rpcResponse{Status: statusError, Msg: err.Error()}
		}
		return rpcResponse{Status: statusOK}
	}
	if err != nil || req.Op != rpcOpCAS {
		return rpcResponse{Status: statusError, Msg: fmt.Sprintf("bad request (op %q, %v)", req.Op, err)}
	}
	var cmd metaCommand
	// Map.UnmarshalJSON validates the map.
	if err := json.Unmarshal(req.Cmd, &cmd); err != nil || cmd.Op != opSet || cmd.Map == nil {
		return rpcResponse{Status: statusBadMap, Msg: fmt.Sprintf("bad set command (op %q, %v)", cmd.Op, err)}
	}
	err = s.casOnLeader(ctx, cmd)
	switch {
	case err == nil:
		// Debug: the node that asked logs "map updated" (docs/logging.md).
		s.log.Debug("map updated for another node", "epoch", cmd.Map.Epoch)
		return rpcResponse{Status: statusOK}
	case errors.Is(err, ErrNotMetaLeader):
		return rpcResponse{Status: statusNotLeader}
	case errors.Is(err, ErrEpochMismatch):
		return rpcResponse{Status: statusMismatch}
	case errors.Is(err, ErrIndeterminate):
		return rpcResponse{Status: statusIndeterminate, Msg: err.Error()}
	case errors.Is(err, ErrBadMap), errors.Is(err, ErrBadCommand):
		return rpcResponse{Status: statusBadMap, Msg: err.Error()}
	}
	return rpcResponse{Status: statusError, Msg: err.Error()}
}

// casOnLeader applies cmd (a set) through the meta group on this node. It
// fails with ErrNotMetaLeader when this node does not lead (nothing
// proposed). A mismatch whose current map is exactly cmd's (an earlier
// attempt of the same change was applied) counts as success.
func (s *Service) casOnLeader(ctx context.Context, cmd metaCommand) error {
	if s.raft.State() != raft.Leader {
		return ErrNotMetaLeader
	}
	err := s.apply(ctx, cmd)
	if errors.Is(err, ErrEpochMismatch) && sameMap(s.Map(), cmd.Map) {
		return nil
	}
	return err
}

// sameMap reports whether a and b encode alike.
func sameMap(a, b *Map) bool {
	if a == nil || b == nil {
		return a == b
	}
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

// forwardCAS sends cmd to the node at addr, which should lead the meta
// group, and maps its answer to this package's errors: nil, ErrNotMetaLeader
// (with the answering node's leader hint), ErrEpochMismatch (with the
// leader's epoch), ErrIndeterminate (also for a transport failure after the
// request was sent), ErrBadMap, or another error.
func (s *Service) forwardCAS(ctx context.Context, addr string, cmd metaCommand) (res rpcResponse, err error) {
	raw, err := encodeCommand(cmd)
	if err != nil {
		return res, err
	}
	req, err := json.Marshal(rpcRequest{Op: rpcOpCAS, Cmd: raw})
	if err != nil {
		return res, err
	}
	b, err := s.cfg.Mux.Call(ctx, addr, raftfsm.StreamMetaRPC, req, 0)
	if err != nil {
		if errors.Is(err, raftfsm.ErrUnreachable) {
			return res, fmt.Errorf("%w: %w", ErrNotMetaLeader, err)
		}
		return res, fmt.Errorf("%w: forward to %s: %w", ErrIndeterminate, addr, err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("%w: bad answer from %s: %v", ErrIndeterminate, addr, err)
	}
	switch res.Status {
	case statusOK:
		return res, nil
	case statusNotLeader:
		return res, fmt.Errorf("%w: %s does not lead (leader %q)", ErrNotMetaLeader, addr, res.Leader)
	case statusMismatch:
		return res, fmt.Errorf("%w: expected %d, leader at %d", ErrEpochMismatch, cmd.Expect, res.Epoch)
	case statusIndeterminate:
		return res, fmt.Errorf("%w: at %s: %s", ErrIndeterminate, addr, res.Msg)
	case statusBadMap:
		return res, fmt.Errorf("%w: %s", ErrBadMap, res.Msg)
	}
	return res, fmt.Errorf("placement: meta leader %s: %s: %s", addr, res.Status, res.Msg)
}

// UpdateMap changes the map by compare-and-set through the meta group, from
// any node. fn receives a private copy of the latest map this node holds
// (on the meta leader, after a barrier: the latest committed map) and may
// modify and return it; the new map gets Epoch = old epoch + 1 and must
// validate (else ErrBadMap). fn may return (nil, nil) for no change; its
// error is returned as is.
//
// The meta leader applies the change itself; any other node forwards it to
// the leader over the cluster port (see the meta-rpc protocol above). The
// entry applies only if the map's epoch is still old's. UpdateMap retries
// until ctx ends: on another leader when the one it asked does not lead or
// cannot be reached, and with fn called again on a newer map when the
// epoch moved (it first waits, with Wait, for this node to hold the
// leader's epoch). fn may therefore run several times and must have no
// side effects; each run sees a newer map than the last.
//
// When ctx ends first, the error wraps ctx's error and the last attempt's
// outcome: ErrNotMetaLeader (no leader answered), ErrEpochMismatch (lost
// every race), or ErrIndeterminate: a proposal was made and its outcome is
// unknown (re-read the map). An attempt with an unknown outcome is retried
// unchanged until it is known; if the map moved past it meanwhile,
// UpdateMap returns ErrIndeterminate at once. After Shutdown it returns
// ErrShutdown.
//
// Concurrency: safe for concurrent use. Calls on one node are serialised;
// calls on different nodes race through the compare-and-set, so each change
// applies to the map its fn saw, exactly once or not at all.
func (s *Service) UpdateMap(ctx context.Context, fn func(old *Map) (*Map, error)) error {
	if !s.started.Load() {
		return ErrNotStarted
	}
	select {
	case <-s.stop:
		return ErrShutdown
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWatch := context.AfterFunc(s.stopCtx, cancel)
	defer stopWatch()
	s.updateMu.Lock()
	defer s.updateMu.Unlock()

	var (
		last    error        // the last attempt's outcome
		pending *metaCommand // proposed with an unknown outcome: retried as is
		hint    string       // cluster address to try next, from a not-leader answer
		backoff = newBackoff()
	)
	for {
		if ctx.Err() != nil {
			return s.giveUp(ctx, last, pending)
		}
		cmd := pending
		if cmd == nil {
			old, err := s.latestMap(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return s.giveUp(ctx, last, pending)
				}
				return err
			}
			next, err := fn(old.Clone())
			if err != nil || next == nil {
				return err
			}
			next.Epoch = old.Epoch + 1
			if err := next.Validate(); err != nil {
				return err
			}
			cmd = &metaCommand{Op: opSet, Expect: old.Epoch, Map: next}
		}
		leaderEpoch, newHint, err := s.tryCAS(ctx, *cmd, hint)
		hint = newHint
		last = err
		switch {
		case err == nil:
			s.log.Info("map updated", "epoch", cmd.Map.Epoch)
			return nil
		case errors.Is(err, ErrNotMetaLeader):
			// Nothing was proposed: retry on the leader once one is known.
			if !backoff.wait(ctx) {
				return s.giveUp(ctx, last, pending)
			}
		case errors.Is(err, ErrIndeterminate):
			pending = cmd
			if !backoff.wait(ctx) {
				return s.giveUp(ctx, last, pending)
			}
		case errors.Is(err, ErrEpochMismatch):
			if pending != nil {
				// The leader compared: its map is not ours. If it is at
				// the epoch ours would have taken, ours lost; beyond it,
				// ours may be applied and overwritten.
				if leaderEpoch != pending.Expect+1 {
					return fmt.Errorf("%w: the map moved on to epoch %d after a proposal for epoch %d", ErrIndeterminate, leaderEpoch, pending.Expect+1)
				}
				pending = nil
			}
			if err := s.waitEpoch(ctx, leaderEpoch); err != nil {
				return s.giveUp(ctx, last, pending)
			}
			backoff.reset()
		default:
			if pending != nil {
				// An earlier attempt of this change may have applied: a
				// refusal of the retry says nothing about it.
				return fmt.Errorf("%w: %w", ErrIndeterminate, err)
			}
			return err
		}
	}
}

// tryCAS makes one attempt of cmd: on this node when it leads the meta
// group, else forwarded to hint or to the leader this node knows. It
// returns the leader's epoch after a mismatch, and the next address to try
// after a not-leader answer.
func (s *Service) tryCAS(ctx context.Context, cmd metaCommand, hint string) (epoch uint64, next string, err error) {
	if s.raft.State() == raft.Leader {
		err = s.casOnLeader(ctx, cmd)
		if m := s.Map(); m != nil {
			epoch = m.Epoch
		}
		return epoch, "", err
	}
	id, addr := s.MetaLeader()
	if hint != "" {
		addr = hint
	} else if addr == "" || id == s.cfg.NodeID {
		return 0, "", fmt.Errorf("%w: no meta leader known", ErrNotMetaLeader)
	}
	res, err := s.forwardCAS(ctx, addr, cmd)
	if errors.Is(err, ErrNotMetaLeader) && res.Addr != addr && res.Leader != s.cfg.NodeID {
		next = res.Addr
	}
	if err != nil {
		s.log.Debug("forwarded map update", "cluster-addr", addr, "expect", cmd.Expect, "err", err)
	}
	return res.Epoch, next, err
}

// latestMap returns the map fn should see: on the meta leader the latest
// committed one (after a barrier), elsewhere this node's latest.
func (s *Service) latestMap(ctx context.Context) (*Map, error) {
	if s.raft.State() == raft.Leader {
		// The barrier makes the FSM hold every entry of earlier terms.
		// Failing, it leaves this node's map, which the leader checks.
		err := s.waitFuture(ctx, s.raft.Barrier(s.timeout(ctx)))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil && !errors.Is(err, ErrNotMetaLeader) && !errors.Is(err, ErrIndeterminate) {
			return nil, err
		}
	}
	m := s.Map()
	if m == nil {
		return nil, ErrNoMap
	}
	return m, nil
}

// leaderMap returns the latest committed map when this node leads the
// meta group (after a barrier), else ErrNotMetaLeader.
func (s *Service) leaderMap(ctx context.Context) (*Map, error) {
	if s.raft.State() != raft.Leader {
		return nil, ErrNotMetaLeader
	}
	if err := s.waitFuture(ctx, s.raft.Barrier(s.timeout(ctx))); err != nil {
		return nil, err
	}
	if s.raft.State() != raft.Leader {
		return nil, ErrNotMetaLeader
	}
	m := s.Map()
	if m == nil {
		return nil, ErrNoMap
	}
	return m, nil
}

// leaderEpoch returns the meta leader's map epoch: this node's after a
// barrier when it leads, else asked of the leader over meta-rpc (following
// not-leader hints, retried until ctx ends).
func (s *Service) leaderEpoch(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.stopCtx, cancel)()
	req, _ := json.Marshal(rpcRequest{Op: rpcOpEpoch})
	backoff := newBackoff()
	hint := ""
	for {
		if m, err := s.leaderMap(ctx); err == nil {
			return m.Epoch, nil
		}
		addr := hint
		if addr == "" {
			var id string
			id, addr = s.MetaLeader()
			if id == s.cfg.NodeID {
				addr = ""
			}
		}
		hint = ""
		if addr != "" {
			b, err := s.cfg.Mux.Call(ctx, addr, raftfsm.StreamMetaRPC, req, 0)
			var res rpcResponse
			if err == nil && json.Unmarshal(b, &res) == nil {
				switch {
				case res.Status == statusOK:
					return res.Epoch, nil
				case res.Status == statusError:
					// E.g. a leader that predates the "epoch" op.
					return 0, fmt.Errorf("placement: meta leader %s: %s", addr, res.Msg)
				case res.Status == statusNotLeader && res.Addr != addr && res.Leader != s.cfg.NodeID:
					hint = res.Addr
				}
			}
		}
		if !backoff.wait(ctx) {
			return 0, fmt.Errorf("%w: %w", ErrNotMetaLeader, ctx.Err())
		}
	}
}

// waitEpoch waits until this node holds a map of at least epoch.
func (s *Service) waitEpoch(ctx context.Context, epoch uint64) error {
	if epoch == 0 {
		return nil
	}
	_, err := s.Wait(ctx, epoch-1)
	return err
}

// giveUp is UpdateMap's result once ctx ended (or the service shut down).
func (s *Service) giveUp(ctx context.Context, last error, pending *metaCommand) error {
	cause := ctx.Err()
	select {
	case <-s.stop:
		cause = ErrShutdown
	default:
	}
	switch {
	case pending != nil:
		return fmt.Errorf("%w: %w", ErrIndeterminate, cause)
	case last != nil:
		return fmt.Errorf("%w (last attempt: %w)", cause, last)
	}
	return cause
}

// backoff paces UpdateMap's retries: 10 ms doubling up to 250 ms.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 10 * time.Millisecond} }

func (b *backoff) reset() { b.d = 10 * time.Millisecond }

// wait pauses for the current delay and doubles it; false when ctx ended.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(2*b.d, 250*time.Millisecond)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
