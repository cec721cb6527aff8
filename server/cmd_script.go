package server

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/script"
	"github.com/shoalcache/shoal/shard"
)

// Scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (design in
// docs/scripting.md). A write script is proposed as one log entry of its
// group (raftfsm.Group.ProposeScript) and runs inside every replica's FSM;
// a read-only one (the _RO commands, a no-writes shebang) runs here on the
// leader under the store's read lock, after the confirmation a read gets.

// scriptGroup is what a group offers scripts (raftfsm.Group implements it;
// test fakes need not: scripts then answer ErrScriptsUnsupported).
type scriptGroup interface {
	StartScript(db int, flags raftfsm.ScriptFlag, budget int64, body []byte, keys, args [][]byte) *raftfsm.ScriptFuture
	ProposeScriptLoad(ctx context.Context, body []byte) ([]byte, error)
	ProposeScriptFlush(ctx context.Context) ([]byte, error)
	Script(sha string) ([]byte, bool)
}

var _ scriptGroup = (*raftfsm.Group)(nil)

// busyThreshold is busy-reply-threshold (alias lua-time-limit), in
// milliseconds: past it, a running script makes other commands answer
// BUSY. Process-wide, as the script engine is.
var busyThreshold atomic.Int64

// stepBudget is script-step-budget (Shoal's own setting): the steps (loop
// iterations, function calls) after which a write script fails, carried
// in its log entry so that every replica stops it at the same step (0:
// none). Process-wide.
var stepBudget atomic.Int64

func init() {
	busyThreshold.Store(5000)
	stepBudget.Store(100_000_000)
	get := func(*Server) string { return strconv.FormatInt(busyThreshold.Load(), 10) }
	set := func(_ *Server, v string) (func(), string) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, "argument couldn't be parsed into an integer"
		}
		return func() { busyThreshold.Store(n) }, ""
	}
	configParams = append(configParams,
		&configParam{name: "busy-reply-threshold", get: get, set: set},
		&configParam{name: "lua-time-limit", get: get, set: set},
		&configParam{name: "script-step-budget",
			get: func(*Server) string { return strconv.FormatInt(stepBudget.Load(), 10) },
			set: func(_ *Server, v string) (func(), string) {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 {
					return nil, "argument couldn't be parsed into an integer"
				}
				return func() { stepBudget.Store(n) }, ""
			}})

	fl := command.FlagNoScript | command.FlagStale | command.FlagMovableKeys
	acl := []string{"slow", "scripting"}
	command.Register(
		&command.Command{Name: "eval", Arity: -3, Kind: command.KindLocal, Flags: fl, ACL: acl, Run: evalCommand},
		&command.Command{Name: "evalsha", Arity: -3, Kind: command.KindLocal, Flags: fl, ACL: acl, Run: evalCommand},
		&command.Command{Name: "eval_ro", Arity: -3, Kind: command.KindLocal, Flags: fl | command.FlagReadOnly, ACL: acl, Run: evalCommand},
		&command.Command{Name: "evalsha_ro", Arity: -3, Kind: command.KindLocal, Flags: fl | command.FlagReadOnly, ACL: acl, Run: evalCommand},
		&command.Command{Name: "script", Arity: -2, Kind: command.KindLocal, ACL: []string{"slow"}, Subs: []*command.Command{
			{Name: "script|load", Arity: 3, Kind: command.KindLocal, Flags: command.FlagNoScript | command.FlagStale, ACL: acl, Run: scriptLoadCommand},
			{Name: "script|exists", Arity: -3, Kind: command.KindLocal, Flags: command.FlagNoScript | command.FlagStale, ACL: acl, Run: scriptExistsCommand},
			{Name: "script|flush", Arity: -2, Kind: command.KindLocal, Flags: command.FlagNoScript, ACL: acl, Run: scriptFlushCommand},
			{Name: "script|help", Arity: 2, Kind: command.KindLocal, Flags: command.FlagLoading | command.FlagStale, ACL: acl,
				Run: func(x *command.Ctx, _ [][]byte) { x.Help(scriptHelp) }},
			{Name: "script|kill", Arity: 2, Kind: command.KindLocal, Flags: command.FlagNoScript | command.FlagAllowBusy, ACL: acl, Run: scriptKillCommand},
		}},
	)
}

// scriptBusy reports whether cmd must be answered BUSY: a script has run
// past busy-reply-threshold and cmd is not one Redis allows meanwhile.
func scriptBusy(cmd *command.Command) bool {
	if cmd.Flags&command.FlagAllowBusy != 0 || cmd.Name == "shutdown" {
		return false
	}
	return command.ScriptBusy(time.Duration(busyThreshold.Load()) * time.Millisecond)
}

// evalCommand: EVAL script numkeys [key ...] [arg ...], EVALSHA sha1 ...,
// EVAL_RO and EVALSHA_RO.
func evalCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	c.out = x.Out
	c.eval(args)
	x.Out = c.out
}

// pipelinesScripts reports whether cmd may be dispatched while write
// scripts of the connection are in flight (EVAL, EVALSHA and FCALL: the write
// scripts of a pipeline are proposed back to back, answered in order by
// flushScripts). Every other reply needs them answered first.
func pipelinesScripts(cmd *command.Command) bool {
	return cmd.Name == "eval" || cmd.Name == "evalsha" || cmd.Name == "fcall" // cmd_function.go
}

// pendingScript is a write script proposed and not yet answered.
type pendingScript struct {
	fut  *raftfsm.ScriptFuture
	slot int
}

// maxPendingScripts bounds a connection's write scripts in flight.
const maxPendingScripts = 64

// flushScripts waits for the connection's write scripts in flight and
// appends their replies in order.
func (c *client) flushScripts() {
	s := c.srv
	var ctx context.Context
	var cancel context.CancelFunc
	for i, p := range c.scripts {
		if ctx == nil {
			ctx, cancel = context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
		}
		r, err := p.fut.Wait(ctx)
		at := len(c.out)
		switch {
		case errors.Is(err, raftfsm.ErrNotLeader):
			c.out = c.notOwnerReply(c.out, p.slot)
		case err != nil:
			c.out = resp.AppendError(c.out, proposeError(err))
		case len(r) > 1 && r[0] == '-' && r[1] == raftfsm.NotOwnerPrefix[0]:
			if sl, ok := raftfsm.ParseNotOwner(r); ok {
				c.out = c.notOwnerReply(c.out, sl)
			} else {
				c.appendScriptReply(r)
			}
		default:
			c.appendScriptReply(r)
		}
		if at < len(c.out) && c.out[at] == '-' {
			s.countError(c.out[at:])
		}
		c.scripts[i] = pendingScript{}
	}
	if cancel != nil {
		cancel()
	}
	c.scripts = c.scripts[:0]
	c.flushEnd = nanotime()
}

// scriptReplyErr appends an error reply after the replies of the write
// scripts in flight.
func (c *client) scriptReplyErr(msg string) {
	if len(c.scripts) > 0 {
		c.flushScripts()
	}
	c.out = resp.AppendError(c.out, msg)
}

func (c *client) eval(args [][]byte) {
	s := c.srv
	name := c.cur.Name
	byHash := name == "evalsha" || name == "evalsha_ro"
	ro := name == "eval_ro" || name == "evalsha_ro"
	n, err := strconv.ParseInt(string(args[2]), 10, 64)
	switch {
	case err != nil:
		c.scriptReplyErr(command.ErrNotInteger)
		return
	case n < 0:
		c.scriptReplyErr(command.ErrNumKeysNegative)
		return
	case n > int64(len(args)-3):
		c.scriptReplyErr(command.ErrNumKeysTooMany)
		return
	}
	nkeys := int(n)
	keys, argv := args[3:3+nkeys], args[3+nkeys:]
	var body []byte
	var flags script.Flags
	if !byHash {
		body = args[1]
		var msg string
		if flags, msg = script.ParseFlags(body); msg != "" {
			c.scriptReplyErr(msg)
			return
		}
		ro = ro || flags&script.FlagNoWrites != 0
	}
	// Route as a command on the declared keys would be: CROSSSLOT, MOVED,
	// TRYAGAIN; a keyless script runs on a group this node leads.
	var g Group
	leader := true
	if nkeys > 0 {
		kind := command.KindWrite
		if ro {
			kind = command.KindRead
		}
		rc := command.Command{Name: name, Kind: kind, FirstKey: 3, LastKey: 2 + nkeys, Step: 1}
		if g, leader = c.route(&rc, args); g == nil {
			return
		}
	} else {
		for _, lg := range s.router.LocalGroups() {
			if lg.IsLeader() {
				g = lg
				break
			}
		}
		if g == nil {
			c.scriptReplyErr(command.ErrClusterDown)
			return
		}
	}
	sg, ok := g.(scriptGroup)
	if !ok {
		c.scriptReplyErr(raftfsm.ErrScriptsUnsupported)
		return
	}
	sha := ""
	if byHash {
		sha = string(bytes.ToLower(args[1]))
		if body, ok = sg.Script(sha); !ok && len(c.scripts) > 0 {
			// An EVAL earlier in the pipeline may be caching it.
			c.flushScripts()
			body, ok = sg.Script(sha)
		}
		if !ok && leader && !g.Ready() {
			// A new leader that has not applied its predecessors' entries
			// yet may lack a script they loaded: as a read would, answer
			// CLUSTERDOWN (clients retry) rather than a false NOSCRIPT.
			c.scriptReplyErr(command.ErrClusterDown)
			return
		}
		if !ok {
			c.scriptReplyErr(command.ErrNoScript)
			return
		}
		flags, _ = script.ParseFlags(body) // cached scripts parsed when loaded
		ro = ro || flags&script.FlagNoWrites != 0
	}
	cluster := s.router.ClusterEnabled()
	if cluster && flags&script.FlagNoCluster != 0 {
		c.scriptReplyErr(command.ErrScriptNoCluster)
		return
	}
	if ro {
		c.flushWrites() // reads see the connection's own scripts' writes
		c.evalReadOnly(g, leader, body, sha, keys, argv, cluster, flags)
		return
	}
	if u := c.acl.user; u != nil && !u.st.Load().unrestricted {
		c.scriptReplyErr(command.ErrScriptACLWrite)
		return
	}
	if flags&script.FlagAllowOOM == 0 && !s.makeRoom(g) {
		// Over maxmemory and eviction cannot make room: refused before it
		// runs (Redis refuses a compatibility-mode script at its first
		// write; Shoal cannot stop a script midway on every replica).
		c.scriptReplyErr(command.ErrOOM)
		return
	}
	var ff raftfsm.ScriptFlag
	if cluster {
		ff |= raftfsm.ScriptCluster
	}
	if flags&script.FlagAllowCrossSlot != 0 {
		ff |= raftfsm.ScriptCrossSlot
	}
	// A script without loops or functions of its own is not probed: its
	// Lua code is bounded by its length, so it cannot run away before its
	// first write (docs/scripting.md).
	if command.ScriptEngine().MayLoop(body, sha) && c.probe(g, keys, argv, cluster, flags, false, func(rs *command.ReadScript) []byte {
		rs.Body, rs.SHA = body, sha
		return rs.Run(make([]byte, 0, 64))
	}) {
		return
	}
	slot := 0
	if nkeys > 0 {
		slot = shard.Slot(keys[0])
	}
	// Proposed now, answered in order once the pipeline needs the reply
	// (flushScripts): a pipeline of scripts shares the commit waits.
	fut := sg.StartScript(int(c.db.Load()), ff, stepBudget.Load(), body, keys, argv)
	c.scripts = append(c.scripts, pendingScript{fut: fut, slot: slot})
	if len(c.scripts) >= maxPendingScripts {
		c.flushScripts()
	}
}

// appendScriptReply appends a script's RESP3 reply, downgraded for RESP2.
func (c *client) appendScriptReply(r []byte) {
	if c.proto == resp.RESP2 && resp.NeedsDowngrade(r) {
		c.out, _ = resp.Downgrade(c.out, r)
		return
	}
	c.out = append(c.out, r...)
}

// evalReadOnly runs a read-only script on this replica (see runReadOnly).
func (c *client) evalReadOnly(g Group, leader bool, body []byte, sha string, keys, argv [][]byte, cluster bool, flags script.Flags) {
	c.runReadOnly(g, leader, keys, argv, cluster, flags, command.KillableContext, func(rs *command.ReadScript) []byte {
		rs.Body, rs.SHA = body, sha
		return rs.Run(make([]byte, 0, 64))
	})
}

// runReadOnly runs a read-only script or function on this replica: on the
// leader after the linearizable-read confirmation, on a follower for a
// READONLY connection (stale, as its reads are). run executes it under the
// store's RLock with the ReadScript filled but for what names the code;
// killable gives the context SCRIPT KILL or FUNCTION KILL cancels.
func (c *client) runReadOnly(g Group, leader bool, keys, argv [][]byte, cluster bool, flags script.Flags,
	killable func() (context.Context, func()), run func(rs *command.ReadScript) []byte) {
	s := c.srv
	lease := false
	if leader && s.cfg.ReadConsistency == ReadLinearizable {
		lease = g.LeaseHolds()
	}
	if leader && s.cfg.ReadConsistency == ReadLinearizable && !lease {
		if err := c.verify(g); err != nil {
			slot := 0
			if len(keys) > 0 {
				slot = shard.Slot(keys[0])
			}
			c.out = c.notOwnerReply(c.out, slot)
			return
		}
	}
	slot := -1
	if len(keys) > 0 {
		slot = shard.Slot(keys[0])
	}
	check := scriptKeyCheck(g, keys, cluster, flags)
	ctx, done := killable()
	st := g.Store()
	if db := c.db.Load(); db != 0 {
		st = st.DB(int(db))
	}
	rs := command.ReadScript{St: st, Now: time.Now().UnixMilli(), Rng: c.rng.Float64,
		Keys: keys, Args: argv, Check: check, Ctx: ctx, Allow: c.aclDenied, Log: s.log, Cluster: cluster}
	g.Store().RLock()
	r := run(&rs)
	g.Store().RUnlock()
	done()
	if lease && !g.LeaseHolds() {
		// The lease may have ended while the script read (a pause): as
		// for reads, a round must succeed before the reply goes out.
		if err := c.verify(g); err != nil {
			c.out = c.notOwnerReply(c.out, max(slot, 0))
			return
		}
	}
	c.appendScriptReply(r)
}

// scriptKeyCheck returns the check of the keys a script run on g touches,
// as the FSM's (raftfsm's ScriptCall.Check): a key of a slot g does not
// own or has fenced is not local; in cluster mode, without
// allow-cross-slot-keys, every key must be in the slot of the first
// declared key (or of the first key touched).
func scriptKeyCheck(g Group, keys [][]byte, cluster bool, flags script.Flags) func(k []byte) string {
	slot := -1
	if len(keys) > 0 {
		slot = shard.Slot(keys[0])
	}
	crossOK := !cluster || flags&script.FlagAllowCrossSlot != 0
	return func(k []byte) string {
		sl := shard.Slot(k)
		if !g.Owns(sl) || g.Fenced(sl) {
			return raftfsm.ErrScriptNonLocalKey
		}
		if !crossOK {
			if slot == -1 {
				slot = sl
			} else if sl != slot {
				return raftfsm.ErrScriptCrossSlot
			}
		}
		return ""
	}
}

// probeCap bounds, in steps, the probe of a write script that arrives
// while the connection's earlier write scripts are in flight: it runs
// against a store without their writes, so a longer one runs again once
// they are answered (flushScripts), where it sees them.
const probeCap = 10_000

// probe runs a write script or function on this leader before it is
// proposed, up to its first write (command.Probe), under the store's read
// lock from its first read on, killable by SCRIPT KILL (FUNCTION KILL when
// function): Redis kills a script that has not written yet, and a write
// script's log entry, run by every replica, cannot be stopped on one. It
// reports whether the script was killed; its reply is then appended, after
// the replies of the connection's scripts in flight. Otherwise the script
// is proposed as usual, whatever the probe saw (a write reached, an end,
// an error), and the FSM runs it from its start. run executes the probe
// with the ReadScript filled but for what names the code.
func (c *client) probe(g Group, keys, argv [][]byte, cluster bool, flags script.Flags, function bool,
	run func(rs *command.ReadScript) []byte) bool {
	budget := int64(0)
	if len(c.scripts) > 0 {
		budget = probeCap
	}
	st := g.Store()
	if db := c.db.Load(); db != 0 {
		st = st.DB(int(db))
	}
	lock := func() { g.Store().RLock() }
	for {
		p := &command.Probe{Function: function, Lock: lock}
		rs := command.ReadScript{St: st, Now: time.Now().UnixMilli(), Rng: c.rng.Float64,
			Keys: keys, Args: argv, Check: scriptKeyCheck(g, keys, cluster, flags), Cluster: cluster,
			Probe: p, Budget: budget}
		r := run(&rs)
		if p.Locked {
			g.Store().RUnlock()
		}
		p.End()
		switch {
		case p.Killed:
			if len(c.scripts) > 0 {
				c.flushScripts() // their replies come first
			}
			c.appendScriptReply(r)
			c.srv.countError(r)
			return true
		case budget > 0 && !p.Reached && bytes.Contains(r, budgetText):
			c.flushScripts()
			budget = 0
			continue
		}
		return false
	}
}

// budgetText is in the reply of a probe stopped by its budget.
var budgetText = []byte(script.BudgetExceeded[4:])

// scriptLoadCommand: SCRIPT LOAD script. The script is checked here, then
// replicated into the cache of every group this node leads.
func scriptLoadCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	body := args[2]
	if _, msg := script.ParseFlags(body); msg != "" {
		x.Out = resp.AppendError(x.Out, msg)
		return
	}
	sha := script.SHA1(body)
	if msg := command.ScriptEngine().Compile(body, sha); msg != "" {
		x.Out = resp.AppendError(x.Out, msg)
		return
	}
	for _, g := range c.srv.router.LocalGroups() {
		sg, ok := g.(scriptGroup)
		if !ok || !g.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
		r, err := sg.ProposeScriptLoad(ctx, body)
		cancel()
		if err != nil {
			x.Out = resp.AppendError(x.Out, proposeError(err))
			return
		}
		if len(r) > 0 && r[0] == '-' {
			x.Out = append(x.Out, r...)
			return
		}
	}
	x.Out = resp.AppendBulkString(x.Out, sha)
}

// scriptExistsCommand: SCRIPT EXISTS sha1 [sha1 ...]: 1 for a script the
// cache of a group this node hosts holds.
func scriptExistsCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	groups := c.srv.router.LocalGroups()
	x.Out = resp.AppendArray(x.Out, len(args)-2)
	for _, a := range args[2:] {
		sha := string(bytes.ToLower(a))
		n := int64(0)
		for _, g := range groups {
			if sg, ok := g.(scriptGroup); ok {
				if _, ok := sg.Script(sha); ok {
					n = 1
					break
				}
			}
		}
		x.Out = resp.AppendInt(x.Out, n)
	}
}

// scriptFlushCommand: SCRIPT FLUSH [ASYNC|SYNC], replicated to every group
// this node leads.
func scriptFlushCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	if len(args) > 3 || (len(args) == 3 && !bytes.EqualFold(args[2], []byte("sync")) && !bytes.EqualFold(args[2], []byte("async"))) {
		x.Out = resp.AppendError(x.Out, command.ErrScriptFlushArg)
		return
	}
	for _, g := range c.srv.router.LocalGroups() {
		sg, ok := g.(scriptGroup)
		if !ok || !g.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
		_, err := sg.ProposeScriptFlush(ctx)
		cancel()
		if err != nil {
			x.Out = resp.AppendError(x.Out, proposeError(err))
			return
		}
	}
	command.ScriptEngine().Flush()
	x.Out = resp.AppendOK(x.Out)
}

// scriptKillCommand: SCRIPT KILL stops the running read-only scripts.
// Write scripts run inside the FSM of every replica and cannot be stopped
// on one alone: UNKILLABLE (docs/scripting.md).
func scriptKillCommand(x *command.Ctx, _ [][]byte) {
	if msg := command.KillScripts(); msg != "" {
		x.Out = resp.AppendError(x.Out, msg)
		return
	}
	x.Out = resp.AppendOK(x.Out)
}

// scriptHelp is SCRIPT HELP's text, Redis 7.0's (DEBUG is listed but not
// supported).
var scriptHelp = []string{
	"SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"DEBUG (YES|SYNC|NO)",
	"    Set the debug mode for subsequent scripts executed.",
	"EXISTS <sha1> [<sha1> ...]",
	"    Return information about the existence of the scripts in the script cache.",
	"FLUSH [ASYNC|SYNC]",
	"    Flush the Lua scripts cache. Very dangerous on replicas.",
	"    When called without the optional mode argument, the behavior is determined by the",
	"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
	"    * ASYNC: Asynchronously flush the scripts cache.",
	"    * SYNC: Synchronously flush the scripts cache.",
	"KILL",
	"    Kill the currently executing Lua script.",
	"LOAD <script>",
	"    Load a script into the scripts cache without executing it.",
	"HELP",
	"    Prints this help.",
}
