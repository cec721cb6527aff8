package raftfsm

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkGroupReplicate is the replicated write path without the client
// side: a 3-voter group over Shoal's transport on loopback Muxes, in one
// process, with the default timeouts, and 16 proposers each sending one
// SET at a time (as redis-benchmark -P 1 clients do) to keys from a space
// of 100k. B/op and allocs/op count every replica's allocations per SET:
// the leader's batcher, raft and waiter, both followers' transport, raft
// and FSM.
func BenchmarkGroupReplicate(b *testing.B) {
	gs := startTransportGroups(b, setExec{}, nil, false)
	leader := readyLeader(b, gs)
	benchSets(b, leader, func(cmd [][][]byte) error {
		_, err := leader.Propose(context.Background(), cmd)
		return err
	})
}

// benchSets has 16 proposers each send one SET at a time through propose
// (as redis-benchmark -P 1 clients do), to keys from a space of 100k: a
// warm-up of 20000 (connections, pipelines, the keys), then b.N. Besides
// allocations it reports cpu-ns/op, the whole process's CPU per SET (every
// replica's, and the proposers'): the machine may have more cores than the
// write path keeps busy, so ns/op alone does not say what a SET costs.
func benchSets(b *testing.B, g *Group, propose func(cmd [][][]byte) error) {
	const proposers = 16
	value := make([]byte, 64)
	var next atomic.Int64
	run := func(n int64) {
		next.Store(0)
		var wg sync.WaitGroup
		for range proposers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := make([]byte, 0, 16)
				cmd := [][][]byte{{[]byte("SET"), nil, value}}
				for i := next.Add(1); i <= n; i = next.Add(1) {
					key = strconv.AppendInt(append(key[:0], "key:"...), (i*7919)%100000, 10)
					cmd[0][1] = key
					if err := propose(cmd); err != nil {
						b.Errorf("Propose: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	run(20000)
	b.ReportAllocs()
	cpu0, idx0 := cpuTime(b), g.raft.LastIndex()
	b.ResetTimer()
	run(int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/float64(g.raft.LastIndex()-idx0), "cmds/entry")
}

// cpuTime returns the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGroupPropose is a standalone node's write path without the
// client side: a single-voter group in memory, and 16 proposers each sending
// one SET at a time through TryPropose, as the server's connections do.
// Run it with -cpu 1 for the servers' GOMAXPROCS 1. cpu-ns/op is the whole
// process's CPU per SET: the proposers, the batcher, raft, the FSM and the
// waiter.
func BenchmarkGroupPropose(b *testing.B) {
	g := startGroupExec(b, testConfig(""), setExec{})
	benchSets(b, g, func(cmd [][][]byte) error {
		_, queued, err := g.TryPropose(cmd)
		if err == nil && !queued {
			_, err = g.Propose(context.Background(), cmd)
		}
		return err
	})
}
