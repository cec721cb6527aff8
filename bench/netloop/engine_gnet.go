package main

import (
	"context"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"github.com/shoalcache/shoal/shard"
)

// gnetEngine serves on gnet event loops: each loop owns its connections and
// runs their requests inline (process), writing the replies with one
// Conn.Write per batch. With -handoff, a batch that holds a write goes to
// the committer and the loop moves on; the replies come back through
// Conn.AsyncWrite, whose callback (on the loop) resumes the connection's
// input, so that replies stay in order.
type gnetEngine struct {
	gnet.BuiltinEventEngine
	st    *shard.Store
	cm    *committer // nil unless -handoff
	loops int        // event loops; 0 = one per core (Multicore)
	eng   gnet.Engine
	ready chan struct{}
}

// gnetConn is a connection's state, touched only by its event loop.
type gnetConn struct {
	out  []byte
	args [][]byte
	busy bool // a batch is with the committer: leave the input buffered
}

func (e *gnetEngine) run(addr string) error {
	opts := []gnet.Option{
		gnet.WithReusePort(false),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogLevel(logging.ErrorLevel),
	}
	if e.loops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(e.loops))
	} else {
		opts = append(opts, gnet.WithMulticore(true))
	}
	return gnet.Run(e, "tcp://"+addr, opts...)
}

func (e *gnetEngine) OnBoot(eng gnet.Engine) gnet.Action {
	e.eng = eng
	if e.ready != nil {
		close(e.ready)
	}
	return gnet.None
}

func (e *gnetEngine) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&gnetConn{})
	return nil, gnet.None
}

func (e *gnetEngine) OnTraffic(c gnet.Conn) gnet.Action {
	return e.handle(c)
}

// handle runs the complete requests buffered on c, on c's event loop.
func (e *gnetEngine) handle(c gnet.Conn) gnet.Action {
	s := c.Context().(*gnetConn)
	if s.busy {
		return gnet.None
	}
	in, err := c.Peek(-1)
	if err != nil || len(in) == 0 {
		return gnet.None
	}
	if e.cm != nil {
		if n := completeLen(in, s.args); n > 0 && hasWrite(in[:n], s.args) {
			s.busy = true
			e.cm.submit(in[:n], func(out []byte) {
				_ = c.AsyncWrite(out, func(c gnet.Conn, err error) error {
					if err != nil {
						return nil
					}
					s.busy = false
					if e.handle(c) == gnet.Close {
						return c.Close()
					}
					return nil
				})
			})
			_, _ = c.Discard(n)
			return gnet.None
		}
	}
	consumed, out, args, closeAfter := process(e.st, in, s.out[:0], s.args)
	s.out, s.args = out, args
	if consumed > 0 {
		// Discard(0) would discard everything buffered (n <= 0 means all).
		_, _ = c.Discard(consumed)
	}
	if len(out) > 0 {
		if _, err := c.Write(out); err != nil {
			return gnet.Close
		}
	}
	if closeAfter {
		return gnet.Close
	}
	return gnet.None
}

func (e *gnetEngine) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.eng.Stop(ctx)
}
