package main

import (
	"github.com/shoalcache/shoal/shard"
	"github.com/tidwall/evio"
)

// evioConn is a connection's state, touched only by its loop: the input
// left over from earlier Data events (a request split across reads).
type evioConn struct {
	buf  []byte
	out  []byte // evio copies the returned replies: reused
	args [][]byte
}

// evioEvents returns the evio handlers serving st on loops event loops
// (0 = one per core). evio hands Data the bytes of one read; the engine
// keeps the incomplete tail itself. Its returned out is written by evio
// (it copies them and writes them when the socket reports writable: one write per batch, one more poll round). evio does not set TCP_NODELAY.
func evioEvents(st *shard.Store, loops int, serving func(evio.Server)) evio.Events {
	var ev evio.Events
	if loops <= 0 {
		loops = -1
	}
	ev.NumLoops = loops
	ev.LoadBalance = evio.LeastConnections
	ev.Serving = func(s evio.Server) evio.Action {
		if serving != nil {
			serving(s)
		}
		return evio.None
	}
	ev.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		c.SetContext(&evioConn{})
		return nil, evio.Options{}, evio.None
	}
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		s := c.Context().(*evioConn)
		data := in
		if len(s.buf) > 0 {
			s.buf = append(s.buf, in...)
			data = s.buf
		}
		consumed, out, args, closeAfter := process(st, data, s.out[:0], s.args)
		s.out, s.args = out, args
		rest := data[consumed:]
		if len(rest) == 0 {
			s.buf = s.buf[:0]
		} else {
			s.buf = append(s.buf[:0:0], rest...)
		}
		if closeAfter {
			return out, evio.Close
		}
		return out, evio.None
	}
	return ev
}
