package server

import (
	"bytes"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/shard"
)

// RESP error texts of the connection family.
const (
	errSelectCluster = "ERR SELECT is not allowed in cluster mode"
	errSelectRange   = "ERR value is out of range, value must between -2147483648 and 2147483647"
	errClientName    = "ERR Client names cannot contain spaces, newlines or special characters."
)

func init() {
	conn := []string{"fast", "connection"}
	noAuth := command.FlagNoScript | command.FlagLoading | command.FlagStale | command.FlagFast | command.FlagNoAuth | command.FlagAllowBusy
	command.Register(
		&command.Command{Name: "ping", Arity: -1, Kind: command.KindLocal, Flags: command.FlagFast, ACL: conn, Run: pingCommand},
		&command.Command{Name: "echo", Arity: 2, Kind: command.KindLocal, Flags: command.FlagLoading | command.FlagStale | command.FlagFast,
			ACL: conn, Run: echoCommand},
		&command.Command{Name: "quit", Arity: -1, Kind: command.KindLocal, Flags: noAuth, ACL: conn, Run: quitCommand},
		&command.Command{Name: "hello", Arity: -1, Kind: command.KindLocal, Flags: noAuth, ACL: conn, Run: helloCommand},
		&command.Command{Name: "auth", Arity: -2, Kind: command.KindLocal, Flags: noAuth, ACL: conn, Run: authCommand},
		&command.Command{Name: "select", Arity: 2, Kind: command.KindLocal, Flags: command.FlagLoading | command.FlagStale | command.FlagFast,
			ACL: conn, Run: selectCommand},
		&command.Command{Name: "readonly", Arity: 1, Kind: command.KindLocal, Flags: command.FlagLoading | command.FlagStale | command.FlagFast,
			ACL: conn, Run: readonlyCommand},
		&command.Command{Name: "readwrite", Arity: 1, Kind: command.KindLocal, Flags: command.FlagLoading | command.FlagStale | command.FlagFast,
			ACL: conn, Run: readwriteCommand},
		&command.Command{Name: "reset", Arity: 1, Kind: command.KindLocal, Flags: noAuth, ACL: conn, Run: resetCommand},
		&command.Command{Name: "asking", Arity: 1, Kind: command.KindLocal, Flags: command.FlagFast, ACL: conn, Run: askingCommand},
	)
}

// pingCommand: PING [message].
func pingCommand(x *command.Ctx, args [][]byte) {
	switch len(args) {
	case 1:
		x.Simple("PONG")
	case 2:
		x.Bulk(args[1])
	default:
		x.Err(command.ErrWrongArgs("ping"))
	}
}

// echoCommand: ECHO message.
func echoCommand(x *command.Ctx, args [][]byte) { x.Bulk(args[1]) }

// quitCommand: QUIT. Replies +OK; the connection closes once the reply is
// written.
func quitCommand(x *command.Ctx, args [][]byte) {
	x.OK()
	connOf(x).closing = true
}

// helloCommand: HELLO [protover [AUTH username password] [SETNAME clientname]].
//
// As Redis 7.0, options apply in order while they are parsed: a SETNAME
// before a bad option (or before a failed AUTH) is kept.
func helloCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	ver := int64(c.proto)
	next := 1
	if len(args) >= 2 {
		v, ok := command.ParseInt(args[1])
		if !ok {
			x.Err(command.ErrHelloProto)
			return
		}
		if v < 2 || v > 3 {
			x.Err(command.ErrNoProto)
			return
		}
		ver, next = v, 2
	}
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case command.EqFold(args[j], "auth") && more >= 2:
			if !c.authenticate(args[j+1], args[j+2]) {
				x.Err(command.ErrWrongPass)
				return
			}
			j += 2
		case command.EqFold(args[j], "setname") && more >= 1:
			if !validClientAttr(args[j+1]) {
				x.Err(errClientName)
				return
			}
			c.mu.Lock()
			c.name = string(args[j+1])
			c.mu.Unlock()
			j++
		default:
			x.Err(errHelloOption(args[j]))
			return
		}
	}
	if !c.authed {
		x.Err(command.ErrHelloNoAuth)
		return
	}
	c.mu.Lock()
	c.proto = resp.Proto(ver)
	c.mu.Unlock()
	x.Proto = c.proto
	x.MapHeader(7)
	x.BulkString("server")
	x.BulkString("redis")
	x.BulkString("version")
	x.BulkString(srvOf(x).cfg.Version)
	x.BulkString("proto")
	x.Int(ver)
	x.BulkString("id")
	x.Int(c.id)
	x.BulkString("mode")
	x.BulkString(srvOf(x).serverMode())
	x.BulkString("role")
	x.BulkString("master")
	x.BulkString("modules")
	x.Array(0)
}

// serverMode is what HELLO and INFO report as the server mode.
func (s *Server) serverMode() string {
	if s.clusterEnabled() {
		return "cluster"
	}
	return "standalone"
}

// errHelloOption formats Redis's HELLO syntax error; the option is printed
// as a C string, up to its first NUL byte.
func errHelloOption(opt []byte) string {
	if i := bytes.IndexByte(opt, 0); i >= 0 {
		opt = opt[:i]
	}
	b := append([]byte("ERR Syntax error in HELLO option '"), opt...)
	return command.Sanitize(append(b, '\''))
}

// authCommand: AUTH [username] password.
func authCommand(x *command.Ctx, args [][]byte) {
	if len(args) > 3 {
		x.Err(command.ErrSyntax)
		return
	}
	user, pass := []byte("default"), args[1]
	if len(args) == 2 {
		if srvOf(x).defaultUser().st.Load().nopass {
			x.Err(command.ErrNoPassConfigured)
			return
		}
	} else {
		user, pass = args[1], args[2]
	}
	if !connOf(x).authenticate(user, pass) {
		x.Err(command.ErrWrongPass)
		return
	}
	x.OK()
}

// authenticate checks user and pass against the ACL users and, when they
// match an enabled user, makes it the connection's user; a failure is
// logged in ACL LOG (reason auth), as Redis's ACLAuthenticateUser.
func (c *client) authenticate(user, pass []byte) bool {
	s := c.srv
	if u := s.aclUserByName(string(user)); u != nil && u.st.Load().checkPass(pass) {
		c.setUser(u)
		return true
	}
	ctx := "toplevel"
	if c.multi != nil {
		ctx = "multi"
	}
	s.aclLogDenial(c, aclDeniedAuth, ctx, "auth", string(user))
	return false
}

// selectCommand: SELECT index. In standalone mode the connection's
// database becomes index, 0 to shard.NumDBs-1, as Redis's default
// "databases 16"; in cluster mode only 0 is accepted, as in Redis Cluster.
// The writes queued before it were proposed already (local commands flush
// them), so every proposal holds the commands of one database.
func selectCommand(x *command.Ctx, args [][]byte) {
	id, ok := command.ParseInt(args[1])
	switch {
	case !ok:
		x.Err(command.ErrNotInteger)
	case id < -1<<31 || id > 1<<31-1:
		x.Err(errSelectRange)
	case id != 0 && srvOf(x).clusterEnabled():
		x.Err(errSelectCluster)
	case id < 0 || id >= shard.NumDBs:
		x.Err(command.ErrSelectDB)
	default:
		connOf(x).db.Store(int32(id))
		x.OK()
	}
}

// DB returns the connection's database (SELECT), for CLIENT LIST and
// CLIENT INFO's db=; safe from any goroutine.
func (c *client) DB() int { return int(c.db.Load()) }

// resetCommand: RESET. As Redis's clearClientConnectionState: database 0,
// RESP2, no name, no READONLY, authenticated only if the default user needs
// no password; replies +RESET.
func resetCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	c.resetTx() // DISCARD and UNWATCH (cmd_multi.go)
	c.db.Store(0)
	c.authed = srvOf(x).defaultAuthenticated()
	c.mu.Lock()
	c.acl.user = srvOf(x).defaultUser()
	c.readonly = false
	c.proto = resp.RESP2
	c.name = ""
	c.mu.Unlock()
	x.Proto = resp.RESP2
	x.Simple("RESET")
}

// readonlyCommand: READONLY. Marks the connection as accepting reads served
// by a replica (cluster mode).
func readonlyCommand(x *command.Ctx, args [][]byte) {
	connOf(x).mu.Lock()
	connOf(x).readonly = true
	connOf(x).mu.Unlock()
	x.OK()
}

// readwriteCommand: READWRITE. Clears READONLY.
func readwriteCommand(x *command.Ctx, args [][]byte) {
	connOf(x).mu.Lock()
	connOf(x).readonly = false
	connOf(x).mu.Unlock()
	x.OK()
}

// askingCommand: ASKING. Accepted for cluster clients; Shoal's slot
// migration does not need the one-shot flag yet.
func askingCommand(x *command.Ctx, args [][]byte) { x.OK() }
