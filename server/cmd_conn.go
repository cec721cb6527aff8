package server

import (
	"bytes"
	"crypto/subtle"

	"github.com/shoalcache/shoal/internal/resp"
)

// RESP error texts of the connection family.
const (
	errHelloProto    = "ERR Protocol version is not an integer or out of range"
	errHelloNoAuth   = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
	errSelectCluster = "ERR SELECT is not allowed in cluster mode"
	errSelectRange   = "ERR value is out of range, value must between -2147483648 and 2147483647"
	errClientName    = "ERR Client names cannot contain spaces, newlines or special characters."
)

// defaultUser is the only ACL user Shoal has.
const defaultUser = "default"

func init() {
	conn := []string{"fast", "connection"}
	noAuth := flagNoScript | flagLoading | flagStale | flagFast | flagNoAuth | flagAllowBusy
	register(
		&command{name: "ping", arity: -1, kind: kindLocal, flags: flagFast, acl: conn, run: pingCommand},
		&command{name: "echo", arity: 2, kind: kindLocal, flags: flagLoading | flagStale | flagFast,
			acl: conn, run: echoCommand},
		&command{name: "quit", arity: -1, kind: kindLocal, flags: noAuth, acl: conn, run: quitCommand},
		&command{name: "hello", arity: -1, kind: kindLocal, flags: noAuth, acl: conn, run: helloCommand},
		&command{name: "auth", arity: -2, kind: kindLocal, flags: noAuth, acl: conn, run: authCommand},
		&command{name: "select", arity: 2, kind: kindLocal, flags: flagLoading | flagStale | flagFast,
			acl: conn, run: selectCommand},
		&command{name: "readonly", arity: 1, kind: kindLocal, flags: flagLoading | flagStale | flagFast,
			acl: conn, run: readonlyCommand},
		&command{name: "readwrite", arity: 1, kind: kindLocal, flags: flagLoading | flagStale | flagFast,
			acl: conn, run: readwriteCommand},
		&command{name: "asking", arity: 1, kind: kindLocal, flags: flagFast, acl: conn, run: askingCommand},
	)
}

// pingCommand: PING [message].
func pingCommand(x *Ctx, args [][]byte) {
	switch len(args) {
	case 1:
		x.simple("PONG")
	case 2:
		x.bulk(args[1])
	default:
		x.err(errWrongArgs("ping"))
	}
}

// echoCommand: ECHO message.
func echoCommand(x *Ctx, args [][]byte) { x.bulk(args[1]) }

// quitCommand: QUIT. Replies +OK; the connection closes once the reply is
// written.
func quitCommand(x *Ctx, args [][]byte) {
	x.ok()
	x.c.closing = true
}

// helloCommand: HELLO [protover [AUTH username password] [SETNAME clientname]].
//
// As Redis 7.0, options apply in order while they are parsed: a SETNAME
// before a bad option (or before a failed AUTH) is kept.
func helloCommand(x *Ctx, args [][]byte) {
	c := x.c
	ver := int64(c.proto)
	next := 1
	if len(args) >= 2 {
		v, ok := parseInt(args[1])
		if !ok {
			x.err(errHelloProto)
			return
		}
		if v < 2 || v > 3 {
			x.err(errNoProto)
			return
		}
		ver, next = v, 2
	}
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case eqFold(args[j], "auth") && more >= 2:
			if !x.srv.checkPassword(args[j+1], args[j+2]) {
				x.err(errWrongPass)
				return
			}
			c.authed = true
			j += 2
		case eqFold(args[j], "setname") && more >= 1:
			if !validClientAttr(args[j+1]) {
				x.err(errClientName)
				return
			}
			c.mu.Lock()
			c.name = string(args[j+1])
			c.mu.Unlock()
			j++
		default:
			x.err(errHelloOption(args[j]))
			return
		}
	}
	if !c.authed {
		x.err(errHelloNoAuth)
		return
	}
	c.mu.Lock()
	c.proto = resp.Proto(ver)
	c.mu.Unlock()
	x.Proto = c.proto
	x.mapHeader(7)
	x.bulkString("server")
	x.bulkString("redis")
	x.bulkString("version")
	x.bulkString(x.srv.cfg.Version)
	x.bulkString("proto")
	x.int(ver)
	x.bulkString("id")
	x.int(c.id)
	x.bulkString("mode")
	x.bulkString(x.srv.serverMode())
	x.bulkString("role")
	x.bulkString("master")
	x.bulkString("modules")
	x.array(0)
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
	return sanitize(append(b, '\''))
}

// authCommand: AUTH [username] password.
func authCommand(x *Ctx, args [][]byte) {
	if len(args) > 3 {
		x.err(errSyntax)
		return
	}
	user, pass := []byte(defaultUser), args[1]
	if len(args) == 2 {
		if x.srv.currentPassword() == "" {
			x.err(errNoPassConfigured)
			return
		}
	} else {
		user, pass = args[1], args[2]
	}
	if !x.srv.checkPassword(user, pass) {
		x.err(errWrongPass)
		return
	}
	x.c.authed = true
	x.ok()
}

// checkPassword reports whether user and pass authenticate: the user must
// be "default" and, when a password is set, pass must match it (with no
// password the default user accepts any).
func (s *Server) checkPassword(user, pass []byte) bool {
	if string(user) != defaultUser {
		return false
	}
	pw := s.currentPassword()
	if pw == "" {
		return true
	}
	return subtle.ConstantTimeCompare(pass, []byte(pw)) == 1
}

// selectCommand: SELECT index. Shoal has only database 0; in cluster mode
// every other index, and in standalone mode the ones Redis would accept,
// get Redis Cluster's reply.
func selectCommand(x *Ctx, args [][]byte) {
	id, ok := parseInt(args[1])
	switch {
	case !ok:
		x.err(errNotInteger)
	case id < -1<<31 || id > 1<<31-1:
		x.err(errSelectRange)
	case id == 0:
		x.ok()
	case x.srv.clusterEnabled() || (id > 0 && id < 16):
		x.err(errSelectCluster)
	default:
		x.err(errSelectDB)
	}
}

// readonlyCommand: READONLY. Marks the connection as accepting reads served
// by a replica (cluster mode).
func readonlyCommand(x *Ctx, args [][]byte) {
	x.c.mu.Lock()
	x.c.readonly = true
	x.c.mu.Unlock()
	x.ok()
}

// readwriteCommand: READWRITE. Clears READONLY.
func readwriteCommand(x *Ctx, args [][]byte) {
	x.c.mu.Lock()
	x.c.readonly = false
	x.c.mu.Unlock()
	x.ok()
}

// askingCommand: ASKING. Accepted for cluster clients; Shoal's slot
// migration does not need the one-shot flag yet.
func askingCommand(x *Ctx, args [][]byte) { x.ok() }
