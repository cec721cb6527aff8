package server

import "github.com/shoalcache/shoal/command"

// RESP error texts of CLIENT UNBLOCK (Redis 7.0's).
const (
	errUnblockReason = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
)

// clientUnblockCommand: CLIENT UNBLOCK client-id [TIMEOUT | ERROR]. It
// replies 1 when the connection was blocked in a blocking command
// (cmd_blocking.go), which then replies as on its timeout (TIMEOUT, the
// default) or with the UNBLOCKED error, 0 otherwise. The reason is checked
// before the id, as Redis does.
func clientUnblockCommand(x *command.Ctx, args [][]byte) {
	if len(args) > 4 {
		x.Err(command.Sanitize(append(append([]byte("ERR unknown subcommand or wrong number of arguments for '"),
			truncNUL(args[1])...), "'. Try CLIENT HELP."...)))
		return
	}
	asError := false
	if len(args) == 4 {
		switch {
		case command.EqFold(args[3], "timeout"):
		case command.EqFold(args[3], "error"):
			asError = true
		default:
			x.Err(errUnblockReason)
			return
		}
	}
	id, ok := command.ParseInt(args[2])
	if !ok {
		x.Err(command.ErrNotInteger)
		return
	}
	if connOf(x).srv.track.unblockConn(id, asError) {
		x.Int(1)
		return
	}
	x.Int(0)
}
