package server

import (
	"github.com/shoalcache/shoal/command"
)

// SHUTDOWN: the node hands its leaderships over, drains its clients and
// exits, as on SIGTERM (the process that embeds the server does it on a
// ShutdownRequest).

func init() {
	command.Register(&command.Command{Name: "shutdown", Arity: -1, Kind: command.KindLocal,
		Flags: command.FlagAdmin | command.FlagNoScript | command.FlagLoading | command.FlagStale,
		ACL:   []string{"admin", "slow", "dangerous"}, Run: shutdownCommand})
}

// ShutdownRequest is a SHUTDOWN command a client sent, with its options.
type ShutdownRequest struct {
	// Save: snapshot every group before exiting (SAVE); NoSave: don't
	// (NOSAVE); neither: as configured (with --data-dir the Raft log keeps
	// every write anyway).
	Save, NoSave bool
	// Now skips waiting for the clients to move to the new leaders after
	// the hand-off (Redis's NOW skips waiting for lagging replicas).
	Now bool
	// Force: exit even if the snapshot fails.
	Force bool
}

// ShutdownRequests returns the channel on which accepted SHUTDOWN commands
// arrive (at most one is buffered; later ones while it is pending are
// dropped: the server is stopping anyway). The process embedding the
// server receives from it and shuts down; nobody receiving means SHUTDOWN
// only closes the requesting connection.
func (s *Server) ShutdownRequests() <-chan ShutdownRequest { return s.shutdownReq }

const errNoShutdown = "ERR No shutdown in progress."

// shutdownCommand: SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. On success
// there is no reply: the connection closes, and the node stops.
func shutdownCommand(x *command.Ctx, args [][]byte) {
	var req ShutdownRequest
	abort := false
	for _, a := range args[1:] {
		switch {
		case command.EqFold(a, "nosave"):
			req.NoSave = true
		case command.EqFold(a, "save"):
			req.Save = true
		case command.EqFold(a, "now"):
			req.Now = true
		case command.EqFold(a, "force"):
			req.Force = true
		case command.EqFold(a, "abort"):
			abort = true
		default:
			x.Err(command.ErrSyntax)
			return
		}
	}
	if (abort && (req.Save || req.NoSave || req.Now || req.Force)) || (req.Save && req.NoSave) {
		x.Err(command.ErrSyntax)
		return
	}
	if abort {
		// A shutdown that began cannot be called off: the leaderships are
		// handed over first thing.
		x.Err(errNoShutdown)
		return
	}
	s := srvOf(x)
	if req.Save {
		if err := s.snapshot(s.extra()); err != nil && !req.Force {
			s.log.Warn("SHUTDOWN SAVE failed", "err", err)
			x.Err("ERR Errors trying to SHUTDOWN. Check logs.")
			return
		}
	}
	s.log.Info("shutdown requested by a client", "addr", connOf(x).addr, "now", req.Now, "save", req.Save)
	select {
	case s.shutdownReq <- req:
	default:
	}
	connOf(x).closing = true
}
