// Package command is Shoal's command table and the handlers of its data
// commands: each command's name, arity, flags, key positions and ACL
// categories (COMMAND reports them as Redis 7 does), the Ctx a handler works
// with, and the Executor through which a group's FSM applies write commands.
//
// Write commands (KindWrite) run inside a Raft group's FSM, on its apply
// goroutine with the store's Lock held: they must be deterministic (clock
// from Ctx.Now, no random source, Ctx.Conn nil). Read commands (KindRead) run
// on a connection goroutine under the store's RLock. Front-end commands
// (KindLocal: CLIENT, CONFIG, INFO, CLUSTER, HELLO...) are registered by
// package server into the same table; they reach the connection through
// Ctx.Conn. One file per command family.
package command

import (
	"math/rand/v2"
	"strings"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/shard"
)

// Kind says where a command runs.
type Kind uint8

const (
	// KindWrite commands are proposed to the key's Raft group and run inside
	// its FSM, deterministically (Ctx.c is nil there).
	KindWrite Kind = iota
	// KindRead commands read the store on the connection goroutine under the
	// store's RLock.
	KindRead
	// KindLocal commands act on the connection or the server; they take any
	// lock they need themselves.
	KindLocal
)

// Flag holds command properties, as in Redis's command flags.
type Flag uint32

const (
	FlagWrite Flag = 1 << iota
	FlagReadOnly
	FlagDenyOOM
	FlagAdmin
	FlagNoScript
	FlagLoading
	FlagStale
	FlagFast
	FlagNoAuth
	FlagAllowBusy
	FlagSkipSlowlog
	FlagNoMulti
	FlagMovableKeys
	// FlagOtherDB marks a command that can act on a database other than
	// the connection's (MOVE, SWAPDB, COPY ... DB): the front end refuses
	// it in cluster mode, which has database 0 only (CrossDBRefusal). Not
	// a Redis flag: COMMAND does not report it.
	FlagOtherDB
)

var flagNames = []struct {
	f    Flag
	Name string
}{
	{FlagWrite, "write"}, {FlagReadOnly, "readonly"}, {FlagDenyOOM, "denyoom"},
	{FlagAdmin, "admin"}, {FlagNoScript, "noscript"}, {FlagLoading, "loading"},
	{FlagStale, "stale"}, {FlagSkipSlowlog, "skip_slowlog"}, {FlagFast, "fast"},
	{FlagNoAuth, "no_auth"}, {FlagAllowBusy, "allow_busy"}, {FlagNoMulti, "no_multi"},
	{FlagMovableKeys, "movablekeys"},
}

// Command is one entry of the command table.
type Command struct {
	Name  string // lower case
	Arity int    // as in Redis: >0 exact count, <0 at least -arity
	Kind  Kind
	Flags Flag
	// Key positions as in COMMAND INFO: first and last key argument (last
	// may be negative, counting from the end) and the Step between keys.
	FirstKey, LastKey, Step int
	// KeysFunc, when set, returns the key arguments of a command whose
	// keys are not all at fixed positions (the numkeys commands: ZUNION,
	// SINTERCARD, LMPOP...); Keys calls it. It returns none for a bad
	// numkeys, which the command's handler then refuses.
	KeysFunc func(args [][]byte, dst [][]byte) [][]byte
	// ACL lists the ACL categories, without '@'.
	ACL []string
	// Run executes the command, appending its reply to x.Out.
	Run func(x *Ctx, args [][]byte)
	// subcommands, for container commands (CLIENT, CONFIG, COMMAND).
	Subs []*Command
	// ID is the command's slot in per-command tables (the front end's
	// statistics), from 1 to NumIDs(), assigned by Register to the command
	// and each of its subcommands; 0 for a command never registered.
	ID int
}

// Keyed reports whether args (a call of c) name keys: always for a command
// with fixed key positions, for a numkeys command when its numkeys is
// valid. buf is scratch space.
func (c *Command) Keyed(args [][]byte, buf [][]byte) bool {
	if c.FirstKey > 0 {
		return true
	}
	return c.KeysFunc != nil && len(c.KeysFunc(args, buf[:0])) > 0
}

// Keys returns the key arguments of args according to the key positions
// (or KeysFunc).
func (c *Command) Keys(args [][]byte, dst [][]byte) [][]byte {
	if c.KeysFunc != nil {
		return c.KeysFunc(args, dst)
	}
	if c.FirstKey <= 0 {
		return dst
	}
	last := c.LastKey
	if last < 0 {
		last = len(args) + last
	}
	for i := c.FirstKey; i <= last && i < len(args); i += c.Step {
		dst = append(dst, args[i])
	}
	return dst
}

// ArityOK reports whether n arguments (the name included) fit the arity.
func (c *Command) ArityOK(n int) bool {
	if c.Arity > 0 {
		return n == c.Arity
	}
	return n >= -c.Arity
}

// Ctx is what a command handler works with.
type Ctx struct {
	// St is the store of the group that owns the command's keys, in the
	// connection's database (shard.Store.DB; database 0 in cluster mode).
	// For keyless key-space commands it is set only when Stores has one
	// store.
	St *shard.Store
	// Stores are the stores of the groups this node leads, in the
	// connection's database, for keyless key-space reads (DBSIZE, KEYS,
	// SCAN, RANDOMKEY); their RLocks are not held: the handler takes each
	// in turn.
	Stores []*shard.Store
	// Now is the time in milliseconds: the leader's clock stamped on the log
	// entry inside the FSM, the local clock for reads.
	Now int64
	// Proto is the reply protocol: always RESP3 inside the FSM (the front end
	// downgrades for RESP2 connections).
	Proto resp.Proto
	// Out is the reply buffer; handlers append exactly one reply.
	Out []byte
	// LFURand drives the LFU counter increments: random on reads, fixed in
	// the FSM.
	LFURand float64
	// Rng is the connection's random source (nil inside the FSM).
	Rng *rand.Rand
	// Hits and Misses count keyspace lookups of reads; the front end adds
	// them to INFO's counters after the command.
	Hits, Misses int64
	// Conn is the front end's state of the connection the command runs on;
	// nil inside the FSM. Only the front end's own commands look into it.
	Conn any
}

// Reply helpers, so handlers read as the Redis source does.

func (x *Ctx) OK()                 { x.Out = resp.AppendOK(x.Out) }
func (x *Ctx) Err(msg string)      { x.Out = resp.AppendError(x.Out, msg) }
func (x *Ctx) Int(n int64)         { x.Out = resp.AppendInt(x.Out, n) }
func (x *Ctx) Bulk(b []byte)       { x.Out = resp.AppendBulk(x.Out, b) }
func (x *Ctx) BulkString(s string) { x.Out = resp.AppendBulkString(x.Out, s) }
func (x *Ctx) Null()               { x.Out = resp.AppendNull(x.Out, x.Proto) }
func (x *Ctx) NullArray()          { x.Out = resp.AppendNullArray(x.Out, x.Proto) }
func (x *Ctx) Array(n int)         { x.Out = resp.AppendArray(x.Out, n) }
func (x *Ctx) Simple(s string)     { x.Out = resp.AppendSimple(x.Out, s) }
func (x *Ctx) MapHeader(n int)     { x.Out = resp.AppendMap(x.Out, x.Proto, n) }
func (x *Ctx) SetHeader(n int)     { x.Out = resp.AppendSet(x.Out, x.Proto, n) }
func (x *Ctx) Verbatim(b []byte)   { x.Out = resp.AppendVerbatim(x.Out, x.Proto, b) }
func (x *Ctx) Double(f float64)    { x.Out = resp.AppendDouble(x.Out, x.Proto, f) }

// keySpace returns the stores a keyless key-space read covers: Stores on a
// connection, or St alone (inside the FSM and in tests).
func (x *Ctx) keySpace() []*shard.Store {
	if x.Stores != nil || x.St == nil {
		return x.Stores
	}
	return []*shard.Store{x.St}
}

func (x *Ctx) InFSM() bool { return x.Conn == nil }
func (x *Ctx) BulkOrNull(e *shard.Entry) {
	if e == nil || e.Type() != shard.TypeString {
		x.Null()
		return
	}
	x.Bulk(e.Value)
}

// table is the command table, keyed by lower-case name.
type table struct {
	m map[string]*Command
}

var commands = &table{m: make(map[string]*Command)}

// nextID is the last ID Register assigned; Register runs in init functions
// only, before any reader of NumIDs.
var nextID int

// NumIDs returns the largest Command.ID assigned so far: per-command tables
// sized NumIDs()+1 hold every registered command and subcommand. Call it
// after package initialisation (command families register in init).
func NumIDs() int { return nextID }

// Register adds commands to the table; called from init functions of the
// command family files.
func Register(cmds ...*Command) {
	for _, c := range cmds {
		if c.Step == 0 && c.FirstKey > 0 {
			c.Step = 1
		}
		commands.m[c.Name] = c
		for _, cc := range append([]*Command{c}, c.Subs...) {
			if cc.ID == 0 {
				nextID++
				cc.ID = nextID
			}
		}
	}
}

// lookup finds a command by name, case-insensitively, without allocating for
// names of up to 32 bytes.
func (t *table) lookup(name []byte) *Command {
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

// LookupCache is Lookup with a memory of the last command it found: a run
// of the same command (a pipeline of SETs, an entry's commands in the FSM)
// then costs a comparison of the name instead of a lookup in the table's
// map. The zero value is ready. Not safe for concurrent use: one per
// connection, one per FSM.
type LookupCache struct {
	last *Command
}

// Lookup is Lookup, through the cache.
func (lc *LookupCache) Lookup(name []byte) *Command {
	if c := lc.last; c != nil && equalLower(name, c.Name) {
		return c
	}
	c := commands.lookup(name)
	if c != nil {
		lc.last = c
	}
	return c
}

// equalLower reports whether name equals lower, an ASCII lower-case command
// name (as the table's keys are), ignoring the case of ASCII letters.
func equalLower(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// Sub finds a subcommand of c, case-insensitively.
func (c *Command) Sub(name []byte) *Command {
	for _, s := range c.Subs {
		if len(s.Name) == len(c.Name)+1+len(name) && strings.EqualFold(s.Name[len(c.Name)+1:], string(name)) {
			return s
		}
	}
	return nil
}

// Lookup finds a command by name, case-insensitively, without allocating
// for names of up to 32 bytes. It returns nil for an unknown name.
func Lookup(name []byte) *Command { return commands.lookup(name) }

// LookupFullName finds a command or subcommand by its full name ("get",
// "config|get"), case-insensitively, as Redis's lookupCommandBySds; nil
// when there is none.
func LookupFullName(name []byte) *Command { return lookupFullName(name) }

// NewRand returns a random source for one goroutine (a connection's, or
// the leader's eviction sampling). Never used inside the FSM.
func NewRand() *rand.Rand {
	return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
}
