package server

import (
	"strconv"
	"testing"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// benchClient returns a connection of a standalone server over a fakeGroup
// (writes apply at once, without Raft), for benchmarks of the command path.
func benchClient(b *testing.B) *client {
	b.Helper()
	cfg := DefaultConfig()
	cfg.ReadConsistency = ReadLeader
	s, err := New(cfg, SingleRouter{Group: &fakeGroup{st: newFakeGroup(nil).st}})
	if err != nil {
		b.Fatal(err)
	}
	return &client{srv: s, id: 1, proto: resp.RESP2, authed: true, rng: command.NewRand(), acl: aclConn{user: s.defaultUser()}}
}

// benchBatch is n commands name key:i [value].
func benchBatch(n int, name string, value bool) [][][]byte {
	cmds := make([][][]byte, n)
	for i := range cmds {
		args := [][]byte{[]byte(name), []byte("key:" + strconv.Itoa(i))}
		if value {
			args = append(args, []byte("value-of-32-bytes-xxxxxxxxxxxxxx"))
		}
		cmds[i] = args
	}
	return cmds
}

// BenchmarkRunBatch measures the per-command cost of the connection's
// command path (lookup, routing, execution, statistics) for pipelines of
// 16 reads, 16 writes (one proposal to a Raft-less group) and PINGs.
func BenchmarkRunBatch(b *testing.B) {
	for _, bc := range []struct {
		name string
		cmds [][][]byte
	}{
		{"get16", benchBatch(16, "GET", false)},
		{"set16", benchBatch(16, "SET", true)},
		{"ping16", func() [][][]byte {
			cmds := make([][][]byte, 16)
			for i := range cmds {
				cmds[i] = [][]byte{[]byte("PING")}
			}
			return cmds
		}()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := benchClient(b)
			c.runBatch(benchBatch(16, "SET", true))
			b.ReportAllocs()
			for b.Loop() {
				c.runBatch(bc.cmds)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bc.cmds)), "ns/cmd")
		})
	}
}
