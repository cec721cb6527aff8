package main

import (
	"net"

	"github.com/shoalcache/shoal/shard"
)

// goroutineEngine is Shoal's model: Go's netpoller, one goroutine per
// connection that reads into its own buffer (no bufio), runs every complete
// request (process) and writes all replies with one Write per batch.
type goroutineEngine struct {
	st *shard.Store
	cm *committer // nil unless -handoff
}

// serve accepts on ln until it is closed; each connection runs on its own
// goroutine.
func (e *goroutineEngine) serve(ln net.Listener) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go e.conn(nc)
	}
}

func (e *goroutineEngine) conn(nc net.Conn) {
	defer nc.Close()
	buf := make([]byte, 16*1024)
	var out []byte
	var args [][]byte
	var done chan []byte
	if e.cm != nil {
		done = make(chan []byte, 1)
	}
	r := 0 // buf[:r] holds unparsed input
	for {
		if r == len(buf) {
			nb := make([]byte, 2*len(buf))
			copy(nb, buf[:r])
			buf = nb
		}
		n, err := nc.Read(buf[r:])
		if n == 0 && err != nil {
			return
		}
		r += n
		var consumed int
		var closeAfter bool
		if e.cm != nil {
			if c := completeLen(buf[:r], args); c > 0 && hasWrite(buf[:c], args) {
				// Wait for the commit, as a Shoal connection waits on Raft.
				e.cm.submit(buf[:c], func(o []byte) { done <- o })
				out = append(out[:0], <-done...)
				consumed = c
			}
		}
		if consumed == 0 {
			consumed, out, args, closeAfter = process(e.st, buf[:r], out[:0], args)
		}
		if len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
		if closeAfter {
			return
		}
		r = copy(buf, buf[consumed:r])
	}
}
