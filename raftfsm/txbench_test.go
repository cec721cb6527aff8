package raftfsm

import (
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/shard"
)

// setExec is an Executor whose every command is SET args[1] args[2]: the
// write path's own cost, without a command table.
type setExec struct{}

func (setExec) Exec(st *shard.Store, now int64, args [][]byte, out []byte) []byte {
	st.Set([]byte(string(args[1])), args[2], 0, now)
	return resp.AppendOK(out)
}

func (setExec) Keys(args [][]byte, dst [][]byte) [][]byte { return append(dst, args[1]) }

// benchApplySet applies one-command SET entries to f.
func benchApplySet(b *testing.B, f *FSM, first uint64) {
	l := cmdLog(first, 1000, cmd("SET", "key:000012345", "v"))
	logs := []*raft.Log{l}
	b.ReportAllocs()
	for i := first; b.Loop(); i++ {
		l.Index = i
		f.ApplyBatch(logs)
	}
}

// BenchmarkApplySet is the write path without transactions (the change
// index off): the cost WATCH's support may add to every command.
func BenchmarkApplySet(b *testing.B) {
	benchApplySet(b, NewFSM(shard.New(), setExec{}, nil), 1)
}
