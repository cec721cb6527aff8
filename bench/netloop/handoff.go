package main

import (
	"time"

	"github.com/shoalcache/shoal/shard"
)

// job is a batch of complete requests handed to the committer because it
// contains a write: the committer runs it after a simulated commit and calls
// done with the replies, on the committer goroutine.
type job struct {
	in   []byte // owned by the job (a copy of the connection's input)
	done func(out []byte)
}

// committer stands in for a Raft group's propose/commit/apply path: one
// goroutine takes batches from a channel, waits delay once per group of
// batches it drained (a group commit; 0 = no wait, only the hand-off), then
// runs each under the store's locks (process) and calls its done. Engines
// call submit from their connection goroutine or event loop; submit never
// blocks unless 4096 batches are queued.
type committer struct {
	st    *shard.Store
	delay time.Duration // simulated commit time per group of batches
	ch    chan job
}

func newCommitter(st *shard.Store, delay time.Duration) *committer {
	c := &committer{st: st, delay: delay, ch: make(chan job, 4096)}
	go c.run()
	return c
}

// submit copies in and queues it; done is called on the committer
// goroutine with the replies (which done then owns).
func (c *committer) submit(in []byte, done func(out []byte)) {
	c.ch <- job{in: append([]byte(nil), in...), done: done}
}

func (c *committer) run() {
	var group []job
	var args [][]byte
	for j := range c.ch {
		group = append(group[:0], j)
	drain:
		for len(group) < 1024 {
			select {
			case j := <-c.ch:
				group = append(group, j)
			default:
				break drain
			}
		}
		if c.delay > 0 {
			time.Sleep(c.delay)
		}
		for _, j := range group {
			var out []byte
			_, out, args, _ = process(c.st, j.in, nil, args)
			j.done(out)
		}
	}
}

// hasWrite reports whether the complete requests in in contain a write of
// the command table (in holds complete requests only).
func hasWrite(in []byte, args [][]byte) bool {
	for len(in) > 0 {
		var n int
		args, n, _ = parseCommand(in, args)
		if n == 0 {
			return false
		}
		if len(args) > 0 && requestKind(args) == kindWrite {
			return true
		}
		in = in[n:]
	}
	return false
}

// completeLen returns the length of the complete requests at the start of
// in (a protocol error stops the scan: process reports it).
func completeLen(in []byte, args [][]byte) int {
	total := 0
	for total < len(in) {
		var n int
		args, n, _ = parseCommand(in[total:], args)
		if n == 0 {
			break
		}
		total += n
	}
	return total
}
