package server

import (
	"strings"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/shard"
)

// kind says where a command runs.
type kind uint8

const (
	// kindWrite commands are proposed to the key's Raft group and run inside
	// its FSM, deterministically (Ctx.c is nil there).
	kindWrite kind = iota
	// kindRead commands read the store on the connection goroutine under the
	// store's RLock.
	kindRead
	// kindLocal commands act on the connection or the server; they take any
	// lock they need themselves.
	kindLocal
)

// flag holds command properties, as in Redis's command flags.
type flag uint32

const (
	flagWrite flag = 1 << iota
	flagReadOnly
	flagDenyOOM
	flagAdmin
	flagNoScript
	flagLoading
	flagStale
	flagFast
	flagNoAuth
	flagAllowBusy
	flagSkipSlowlog
	flagNoMulti
	flagMovableKeys
)

var flagNames = []struct {
	f    flag
	name string
}{
	{flagWrite, "write"}, {flagReadOnly, "readonly"}, {flagDenyOOM, "denyoom"},
	{flagAdmin, "admin"}, {flagNoScript, "noscript"}, {flagLoading, "loading"},
	{flagStale, "stale"}, {flagSkipSlowlog, "skip_slowlog"}, {flagFast, "fast"},
	{flagNoAuth, "no_auth"}, {flagAllowBusy, "allow_busy"}, {flagNoMulti, "no_multi"},
	{flagMovableKeys, "movablekeys"},
}

// command is one entry of the command table.
type command struct {
	name  string // lower case
	arity int    // as in Redis: >0 exact count, <0 at least -arity
	kind  kind
	flags flag
	// Key positions as in COMMAND INFO: first and last key argument (last
	// may be negative, counting from the end) and the step between keys.
	firstKey, lastKey, step int
	// acl lists the ACL categories, without '@'.
	acl []string
	// run executes the command, appending its reply to x.Out.
	run func(x *Ctx, args [][]byte)
	// subcommands, for container commands (CLIENT, CONFIG, COMMAND).
	subs []*command
}

// keys returns the key arguments of args according to the key positions.
func (c *command) keys(args [][]byte, dst [][]byte) [][]byte {
	if c.firstKey <= 0 {
		return dst
	}
	last := c.lastKey
	if last < 0 {
		last = len(args) + last
	}
	for i := c.firstKey; i <= last && i < len(args); i += c.step {
		dst = append(dst, args[i])
	}
	return dst
}

// arityOK reports whether n arguments (the name included) fit the arity.
func (c *command) arityOK(n int) bool {
	if c.arity > 0 {
		return n == c.arity
	}
	return n >= -c.arity
}

// Ctx is what a command handler works with.
type Ctx struct {
	// St is the store of the group that owns the command's keys. For
	// keyless key-space commands it is set only when Stores has one store.
	St *shard.Store
	// Stores are the stores of the groups this node leads, for keyless
	// key-space reads (DBSIZE, KEYS, SCAN, RANDOMKEY); their RLocks are not
	// held: the handler takes each in turn.
	Stores []*shard.Store
	// Now is the time in milliseconds: the leader's clock stamped on the log
	// entry inside the FSM, the local clock for reads.
	Now int64
	// Proto is the reply protocol: always RESP3 inside the FSM (the front end
	// downgrades for RESP2 connections).
	Proto resp.Proto
	// Out is the reply buffer; handlers append exactly one reply.
	Out []byte
	// r drives the LFU counter increments: random on reads, fixed in the FSM.
	r float64

	// c and srv are set for commands run on a connection (kindRead,
	// kindLocal); nil inside the FSM.
	c   *client
	srv *Server
}

// Reply helpers, so handlers read as the Redis source does.

func (x *Ctx) ok()                 { x.Out = resp.AppendOK(x.Out) }
func (x *Ctx) err(msg string)      { x.Out = resp.AppendError(x.Out, msg) }
func (x *Ctx) int(n int64)         { x.Out = resp.AppendInt(x.Out, n) }
func (x *Ctx) bulk(b []byte)       { x.Out = resp.AppendBulk(x.Out, b) }
func (x *Ctx) bulkString(s string) { x.Out = resp.AppendBulkString(x.Out, s) }
func (x *Ctx) null()               { x.Out = resp.AppendNull(x.Out, x.Proto) }
func (x *Ctx) nullArray()          { x.Out = resp.AppendNullArray(x.Out, x.Proto) }
func (x *Ctx) array(n int)         { x.Out = resp.AppendArray(x.Out, n) }
func (x *Ctx) simple(s string)     { x.Out = resp.AppendSimple(x.Out, s) }
func (x *Ctx) mapHeader(n int)     { x.Out = resp.AppendMap(x.Out, x.Proto, n) }
func (x *Ctx) setHeader(n int)     { x.Out = resp.AppendSet(x.Out, x.Proto, n) }
func (x *Ctx) verbatim(b []byte)   { x.Out = resp.AppendVerbatim(x.Out, x.Proto, b) }
func (x *Ctx) double(f float64)    { x.Out = resp.AppendDouble(x.Out, x.Proto, f) }
func (x *Ctx) inFSM() bool         { return x.c == nil }
func (x *Ctx) bulkOrNull(e *shard.Entry) {
	if e == nil {
		x.null()
		return
	}
	x.bulk(e.Value)
}

// table is the command table, keyed by lower-case name.
type table struct {
	m map[string]*command
}

var commands = &table{m: make(map[string]*command)}

// register adds commands to the table; called from init functions of the
// command family files.
func register(cmds ...*command) {
	for _, c := range cmds {
		if c.step == 0 && c.firstKey > 0 {
			c.step = 1
		}
		commands.m[c.name] = c
	}
}

// lookup finds a command by name, case-insensitively, without allocating for
// names of up to 32 bytes.
func (t *table) lookup(name []byte) *command {
	if len(name) > 32 {
		return t.m[strings.ToLower(string(name))]
	}
	var buf [32]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return t.m[string(buf[:len(name)])]
}

// sub finds a subcommand of c, case-insensitively.
func (c *command) sub(name []byte) *command {
	for _, s := range c.subs {
		if len(s.name) == len(c.name)+1+len(name) && strings.EqualFold(s.name[len(c.name)+1:], string(name)) {
			return s
		}
	}
	return nil
}
