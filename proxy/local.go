package proxy

import (
	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/shard"
)

// isSpecial reports whether the proxy answers, splits or fans out the
// command named (in lower case) name rather than forwarding it.
func isSpecial(name []byte) bool {
	switch string(name) {
	case "ping", "echo", "quit", "hello", "auth", "select", "cluster", "readonly", "readwrite",
		"asking", "client",
		"mget", "mset", "msetnx", "del", "unlink", "exists", "touch",
		"dbsize", "keys", "scan", "flushall", "flushdb", "randomkey", "info",
		"multi", "exec", "discard", "watch", "unwatch", "subscribe", "psubscribe", "ssubscribe",
		"unsubscribe", "punsubscribe", "sunsubscribe", "monitor", "sync", "psync", "replconf",
		"shutdown", "wait", "failover", "replicaof", "slaveof", "reset", "migrate", "debug":
		return true
	}
	return false
}

// special runs a command the proxy does not simply forward.
func (c *clientConn) special(r *request) {
	args := r.args
	name := c.lowerName(args[0])
	if !c.authed {
		switch string(name) {
		case "auth", "hello", "quit":
		default:
			c.out = resp.AppendError(c.out, command.ErrNoAuth)
			return
		}
	}
	if !isSpecial(name) {
		c.out = resp.AppendError(c.out, command.ErrCrossSlot) // route found keys of several slots
		return
	}
	if cmd := command.Lookup(args[0]); cmd != nil && !cmd.ArityOK(len(args)) {
		c.out = resp.AppendError(c.out, errWrongArgs(name))
		return
	}
	switch string(name) {
	case "ping":
		switch len(args) {
		case 1:
			c.out = resp.AppendSimple(c.out, "PONG")
		case 2:
			c.out = resp.AppendBulk(c.out, args[1])
		default:
			c.out = resp.AppendError(c.out, errWrongArgs(name))
		}
	case "echo":
		if len(args) != 2 {
			c.out = resp.AppendError(c.out, errWrongArgs(name))
			return
		}
		c.out = resp.AppendBulk(c.out, args[1])
	case "quit":
		c.out = resp.AppendOK(c.out)
		c.closing = true
	case "hello":
		c.hello(args)
	case "auth":
		c.auth(r)
	case "select":
		c.selectDB(args)
	case "cluster", "readonly", "readwrite":
		c.out = resp.AppendError(c.out, command.ErrClusterDisabled)
	case "client":
		c.client(r)
	case "mget", "mset", "msetnx", "del", "unlink", "exists", "touch":
		c.multiKey(string(name), r)
	case "dbsize", "keys", "scan", "flushall", "flushdb", "randomkey", "info":
		c.fanOut(string(name), r)
	default:
		c.out = resp.AppendError(c.out, errUnsupported)
	}
}

// forwardAny sends r to any node and appends the node's reply.
func (c *clientConn) forwardAny(r *request) []byte {
	pc := c.newCall()
	pc.b = r.raw
	if pc.b == nil {
		pc.enc = encodeArgs(pc.enc[:0], r.args)
		pc.b = pc.enc
	}
	c.roundTrip([]*pcall{pc})
	return pc.reply
}

// auth passes AUTH through to a node; the client is authenticated when the
// node accepts the credentials.
func (c *clientConn) auth(r *request) {
	if len(r.args) < 2 {
		c.out = resp.AppendError(c.out, errWrongArgs([]byte("auth")))
		return
	}
	if len(r.args) == 3 && string(r.args[1]) != "default" {
		c.out = resp.AppendError(c.out, errProxyUser)
		return
	}
	rep := c.forwardAny(r)
	if hasPrefix(rep, "+OK") {
		c.authed = true
	}
	c.appendReply(rep)
}

// hello answers HELLO [protover [AUTH user pass] [SETNAME name]] as a
// standalone server; AUTH is passed through to a node.
func (c *clientConn) hello(args [][]byte) {
	ver := int64(c.proto)
	next := 1
	if len(args) >= 2 {
		v, ok := parseInt(args[1])
		if !ok {
			c.out = resp.AppendError(c.out, command.ErrHelloProto)
			return
		}
		if v < 2 || v > 3 {
			c.out = resp.AppendError(c.out, command.ErrNoProto)
			return
		}
		ver, next = v, 2
	}
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case command.EqFold(args[j], "auth") && more >= 2:
			if string(args[j+1]) != "default" {
				c.out = resp.AppendError(c.out, errProxyUser)
				return
			}
			req := request{args: [][]byte{[]byte("AUTH"), args[j+1], args[j+2]}}
			rep := c.forwardAny(&req)
			if !hasPrefix(rep, "+OK") {
				c.appendReply(rep)
				return
			}
			c.authed = true
			j += 2
		case command.EqFold(args[j], "setname") && more >= 1:
			c.name = string(args[j+1])
			j++
		default:
			c.out = resp.AppendError(c.out, "ERR Syntax error in HELLO option '"+string(args[j])+"'")
			return
		}
	}
	if !c.authed {
		c.out = resp.AppendError(c.out, command.ErrHelloNoAuth)
		return
	}
	c.proto = resp.Proto(ver)
	version := "7.0.0"
	if v := c.p.version.Load(); v != nil {
		version = *v
	}
	c.out = resp.AppendMap(c.out, c.proto, 7)
	c.out = resp.AppendBulkString(c.out, "server")
	c.out = resp.AppendBulkString(c.out, "redis")
	c.out = resp.AppendBulkString(c.out, "version")
	c.out = resp.AppendBulkString(c.out, version)
	c.out = resp.AppendBulkString(c.out, "proto")
	c.out = resp.AppendInt(c.out, ver)
	c.out = resp.AppendBulkString(c.out, "id")
	c.out = resp.AppendInt(c.out, c.id)
	c.out = resp.AppendBulkString(c.out, "mode")
	c.out = resp.AppendBulkString(c.out, "standalone")
	c.out = resp.AppendBulkString(c.out, "role")
	c.out = resp.AppendBulkString(c.out, "master")
	c.out = resp.AppendBulkString(c.out, "modules")
	c.out = resp.AppendArray(c.out, 0)
}

// selectDB: SELECT 0 is the only database.
func (c *clientConn) selectDB(args [][]byte) {
	if len(args) != 2 {
		c.out = resp.AppendError(c.out, errWrongArgs([]byte("select")))
		return
	}
	n, ok := parseInt(args[1])
	switch {
	case !ok || n < -1<<31 || n > 1<<31-1:
		c.out = resp.AppendError(c.out, command.ErrNotInteger)
	case n == 0:
		c.out = resp.AppendOK(c.out)
	default:
		c.out = resp.AppendError(c.out, command.ErrSelectDB)
	}
}

// client answers the CLIENT subcommands that describe the connection;
// the others would act on a node's shared connection and are refused.
func (c *clientConn) client(r *request) {
	args := r.args
	if len(args) < 2 {
		c.out = resp.AppendError(c.out, errWrongArgs([]byte("client")))
		return
	}
	switch {
	case command.EqFold(args[1], "setname") && len(args) == 3:
		c.name = string(args[2])
		c.out = resp.AppendOK(c.out)
	case command.EqFold(args[1], "getname") && len(args) == 2:
		if c.name == "" {
			c.out = resp.AppendNull(c.out, c.proto)
		} else {
			c.out = resp.AppendBulkString(c.out, c.name)
		}
	case command.EqFold(args[1], "id") && len(args) == 2:
		c.out = resp.AppendInt(c.out, c.id)
	case command.EqFold(args[1], "setinfo") && len(args) == 4:
		c.out = resp.AppendOK(c.out)
	default:
		c.out = resp.AppendError(c.out, errUnsupported)
	}
}

// slotOf is the hash slot of key.
func slotOf(key []byte) int { return shard.Slot(key) }

// parseReply parses one reply (fan-out merges).
func parseReply(b []byte) (respclient.Value, error) { return respclient.Parse(b) }
