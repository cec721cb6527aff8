package server

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/script"
	"github.com/shoalcache/shoal/shard"
)

// Functions: FCALL, FCALL_RO and FUNCTION (design in docs/scripting.md,
// "Functions"). Each group keeps a replicated library registry
// (raftfsm/function.go): FUNCTION LOAD, DELETE, FLUSH and RESTORE are
// proposed to every group this node leads, as SCRIPT LOAD is; a write
// FCALL is one log entry of the keys' group, run by every replica; a
// read-only one (FCALL_RO, a no-writes function) runs here on the leader
// as a read-only script does.

// functionGroup is what a group offers functions (raftfsm.Group).
type functionGroup interface {
	Functions() *script.Registry
	StartFCall(db int, flags raftfsm.ScriptFlag, budget int64, name []byte, keys, args [][]byte) *raftfsm.ScriptFuture
	ProposeFunctionLoad(ctx context.Context, replace bool, code []byte) ([]byte, error)
	ProposeFunctionDelete(ctx context.Context, name []byte) ([]byte, error)
	ProposeFunctionFlush(ctx context.Context) ([]byte, error)
	ProposeFunctionRestore(ctx context.Context, policy script.RestorePolicy, codes [][]byte) ([]byte, error)
}

var _ functionGroup = (*raftfsm.Group)(nil)

func init() {
	acl := []string{"slow", "scripting"}
	wacl := []string{"write", "slow", "scripting"}
	nos := command.FlagNoScript
	fl := nos | command.FlagStale | command.FlagMovableKeys
	command.Register(
		&command.Command{Name: "fcall", Arity: -3, Kind: command.KindLocal, Flags: fl, ACL: acl, KeysFunc: command.FCallKeys, Run: fcallCommand},
		&command.Command{Name: "fcall_ro", Arity: -3, Kind: command.KindLocal, Flags: fl | command.FlagReadOnly, ACL: acl, KeysFunc: command.FCallKeys, Run: fcallCommand},
		&command.Command{Name: "function", Arity: -2, Kind: command.KindLocal, ACL: []string{"slow"}, Subs: []*command.Command{
			{Name: "function|load", Arity: -3, Kind: command.KindLocal, Flags: nos, ACL: wacl, Run: functionLoadCommand},
			{Name: "function|delete", Arity: 3, Kind: command.KindLocal, Flags: nos, ACL: wacl, Run: functionDeleteCommand},
			{Name: "function|flush", Arity: -2, Kind: command.KindLocal, Flags: nos, ACL: wacl, Run: functionFlushCommand},
			{Name: "function|restore", Arity: -3, Kind: command.KindLocal, Flags: nos, ACL: wacl, Run: functionRestoreCommand},
			{Name: "function|list", Arity: -2, Kind: command.KindLocal, Flags: nos, ACL: acl, Run: functionListCommand},
			{Name: "function|stats", Arity: 2, Kind: command.KindLocal, Flags: nos | command.FlagAllowBusy, ACL: acl, Run: functionStatsCommand},
			{Name: "function|dump", Arity: 2, Kind: command.KindLocal, Flags: nos, ACL: acl, Run: functionDumpCommand},
			{Name: "function|kill", Arity: 2, Kind: command.KindLocal, Flags: nos | command.FlagAllowBusy, ACL: acl, Run: functionKillCommand},
			{Name: "function|help", Arity: 2, Kind: command.KindLocal, Flags: command.FlagLoading | command.FlagStale, ACL: acl,
				Run: func(x *command.Ctx, _ [][]byte) { x.Help(functionHelp) }},
		}},
	)
}

// fcallCommand: FCALL function numkeys [key ...] [arg ...] and FCALL_RO.
func fcallCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	c.out = x.Out
	c.fcall(args)
	x.Out = c.out
}

// ledFunctionGroup returns a group this node leads that runs functions.
func (s *Server) ledFunctionGroup() (Group, functionGroup) {
	for _, g := range s.router.LocalGroups() {
		if fg, ok := g.(functionGroup); ok && g.IsLeader() {
			return g, fg
		}
	}
	return nil, nil
}

func (c *client) fcall(args [][]byte) {
	s := c.srv
	ro := c.cur.Name == "fcall_ro"
	name := args[1]
	n, ok := command.ParseInt(args[2]) // Redis's string2ll: no "01", "+1", "-0"
	nkeys := -1
	msg := ""
	switch {
	case !ok:
		msg = command.ErrFunctionNumKeys
	case n < 0:
		msg = command.ErrNumKeysNegative
	case n > int64(len(args)-3):
		msg = command.ErrNumKeysTooMany
	default:
		nkeys = int(n)
	}
	if msg != "" {
		// Redis looks the function up first: "Function not found" wins.
		if _, fg := s.ledFunctionGroup(); fg != nil {
			if _, _, ok := fg.Functions().Function(string(name)); !ok {
				msg = command.ErrFunctionNotFound
			}
		}
		c.scriptReplyErr(msg)
		return
	}
	keys, argv := args[3:3+nkeys], args[3+nkeys:]
	var g Group
	leader := true
	if nkeys > 0 {
		kind := command.KindWrite
		if ro {
			kind = command.KindRead
		}
		rc := command.Command{Name: c.cur.Name, Kind: kind, FirstKey: 3, LastKey: 2 + nkeys, Step: 1}
		if g, leader = c.route(&rc, args); g == nil {
			return
		}
	} else if g, _ = s.ledFunctionGroup(); g == nil {
		c.scriptReplyErr(command.ErrClusterDown)
		return
	}
	fg, ok := g.(functionGroup)
	if !ok {
		c.scriptReplyErr(raftfsm.ErrScriptsUnsupported)
		return
	}
	lib, fn, ok := fg.Functions().Function(string(name))
	if !ok && leader && !g.Ready() {
		// A new leader that has not applied its predecessors' entries may
		// lack a library they loaded: CLUSTERDOWN (clients retry).
		c.scriptReplyErr(command.ErrClusterDown)
		return
	}
	if !ok {
		c.scriptReplyErr(command.ErrFunctionNotFound)
		return
	}
	if ro && fn.Flags&script.FlagNoWrites == 0 {
		c.scriptReplyErr(command.ErrFunctionWriteRO)
		return
	}
	ro = ro || fn.Flags&script.FlagNoWrites != 0
	cluster := s.router.ClusterEnabled()
	if cluster && fn.Flags&script.FlagNoCluster != 0 {
		c.scriptReplyErr(command.ErrScriptNoCluster)
		return
	}
	if ro {
		c.flushWrites() // reads see the connection's own writes
		c.fcallReadOnly(g, leader, lib, args, keys, argv, cluster, fn.Flags)
		return
	}
	if u := c.acl.user; u != nil && !u.st.Load().unrestricted {
		c.scriptReplyErr(command.ErrScriptACLWrite)
		return
	}
	if fn.Flags&script.FlagAllowOOM == 0 && !s.makeRoom(g) {
		c.scriptReplyErr(command.ErrOOM)
		return
	}
	var ff raftfsm.ScriptFlag
	if cluster {
		ff |= raftfsm.ScriptCluster
	}
	if fn.Flags&script.FlagAllowCrossSlot != 0 {
		ff |= raftfsm.ScriptCrossSlot
	}
	if c.probe(g, keys, argv, cluster, fn.Flags, true, func(rs *command.ReadScript) []byte {
		return runFunction(rs, lib, string(name), args)
	}) {
		return
	}
	slot := 0
	if nkeys > 0 {
		slot = shard.Slot(keys[0])
	}
	// Proposed now, answered in order with the connection's pipelined
	// write scripts (flushScripts, cmd_script.go).
	fut := fg.StartFCall(int(c.db.Load()), ff, stepBudget.Load(), name, keys, argv)
	c.scripts = append(c.scripts, pendingScript{fut: fut, slot: slot})
	if len(c.scripts) >= maxPendingScripts {
		c.flushScripts()
	}
}

// runningFunction is the read-only function running on this node, for
// FUNCTION STATS (the last one started when several run).
var runningFunction struct {
	mu    sync.Mutex
	name  string
	args  [][]byte
	begun time.Time
}

// fcallReadOnly runs a read-only function on this replica, as
// evalReadOnly runs a read-only script (runReadOnly), recording it for
// FUNCTION STATS while it runs.
func (c *client) fcallReadOnly(g Group, leader bool, lib *script.Library, cmdArgs, keys, argv [][]byte, cluster bool, flags script.Flags) {
	name := string(cmdArgs[1])
	c.runReadOnly(g, leader, keys, argv, cluster, flags, command.KillableFunctionContext, func(rs *command.ReadScript) []byte {
		return runFunction(rs, lib, name, cmdArgs)
	})
}

// runFunction runs the function name of lib for rs (a read-only run or a
// probe), recording it for FUNCTION STATS while it runs.
func runFunction(rs *command.ReadScript, lib *script.Library, name string, cmdArgs [][]byte) []byte {
	runningFunction.mu.Lock()
	runningFunction.name, runningFunction.args, runningFunction.begun = name, cloneArgs(cmdArgs), time.Now()
	runningFunction.mu.Unlock()
	rf := command.ReadFunction{ReadScript: *rs, Lib: lib, Name: name}
	r := rf.Run(make([]byte, 0, 64))
	runningFunction.mu.Lock()
	if runningFunction.name == name {
		runningFunction.name, runningFunction.args = "", nil
	}
	runningFunction.mu.Unlock()
	return r
}

// cloneArgs returns a copy of a command's arguments (FUNCTION STATS shows
// them).
func cloneArgs(args [][]byte) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = bytes.Clone(a)
	}
	return out
}

// proposeFunctions proposes one function entry (made by propose) to every
// group this node leads and appends the first group's reply (an error
// reply of any group wins). CLUSTERDOWN when this node leads none.
func (c *client) proposeFunctions(x *command.Ctx, propose func(ctx context.Context, fg functionGroup) ([]byte, error)) {
	var first []byte
	n := 0
	for _, g := range c.srv.router.LocalGroups() {
		fg, ok := g.(functionGroup)
		if !ok || !g.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
		r, err := propose(ctx, fg)
		cancel()
		if err != nil {
			x.Out = resp.AppendError(x.Out, proposeError(err))
			return
		}
		if len(r) > 0 && r[0] == '-' {
			x.Out = append(x.Out, r...)
			return
		}
		if n == 0 {
			first = r
		}
		n++
	}
	if n == 0 {
		x.Out = resp.AppendError(x.Out, command.ErrClusterDown)
		return
	}
	x.Out = append(x.Out, first...)
}

// functionLoadCommand: FUNCTION LOAD [REPLACE] code. Checked here against
// a led group's registry (the errors without a log entry), then proposed
// to every group this node leads.
func functionLoadCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	replace := false
	code := args[2]
	if len(args) > 3 {
		if len(args) > 4 || !bytes.EqualFold(args[2], []byte("replace")) {
			x.Out = resp.AppendError(x.Out, command.ErrFunctionLoadOption+string(args[2]))
			return
		}
		replace, code = true, args[3]
	}
	if _, fg := c.srv.ledFunctionGroup(); fg != nil {
		if _, _, msg := fg.Functions().Load(command.ScriptEngine(), code, replace); msg != "" {
			x.Out = resp.AppendError(x.Out, msg)
			return
		}
	}
	c.proposeFunctions(x, func(ctx context.Context, fg functionGroup) ([]byte, error) {
		return fg.ProposeFunctionLoad(ctx, replace, code)
	})
}

// functionDeleteCommand: FUNCTION DELETE library.
func functionDeleteCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	if _, fg := c.srv.ledFunctionGroup(); fg != nil {
		if _, ok := fg.Functions().Library(string(args[2])); !ok {
			x.Out = resp.AppendError(x.Out, "ERR Library not found")
			return
		}
	}
	c.proposeFunctions(x, func(ctx context.Context, fg functionGroup) ([]byte, error) {
		return fg.ProposeFunctionDelete(ctx, args[2])
	})
}

// functionFlushCommand: FUNCTION FLUSH [ASYNC|SYNC].
func functionFlushCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	switch {
	case len(args) > 3:
		x.Out = resp.AppendError(x.Out, strings.Replace(command.ErrFunctionFlushSyntax, "'flush'", "'"+string(args[1])+"'", 1))
		return
	case len(args) == 3 && !bytes.EqualFold(args[2], []byte("sync")) && !bytes.EqualFold(args[2], []byte("async")):
		x.Out = resp.AppendError(x.Out, command.ErrFunctionFlushArg)
		return
	}
	c.proposeFunctions(x, func(ctx context.Context, fg functionGroup) ([]byte, error) {
		return fg.ProposeFunctionFlush(ctx)
	})
}

// functionRestoreCommand: FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
func functionRestoreCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	policy := script.RestoreAppend
	switch {
	case len(args) > 4:
		x.Out = resp.AppendError(x.Out, strings.Replace(command.ErrFunctionFlushSyntax, "'flush'", "'"+string(args[1])+"'", 1))
		return
	case len(args) == 4:
		switch strings.ToLower(string(args[3])) {
		case "append":
		case "replace":
			policy = script.RestoreReplace
		case "flush":
			policy = script.RestoreFlush
		default:
			x.Out = resp.AppendError(x.Out, command.ErrFunctionPolicy)
			return
		}
	}
	codes, msg := script.ParseDump(args[2])
	if msg != "" {
		x.Out = resp.AppendError(x.Out, msg)
		return
	}
	if _, fg := c.srv.ledFunctionGroup(); fg != nil {
		if _, msg := fg.Functions().Restore(command.ScriptEngine(), codes, policy); msg != "" {
			x.Out = resp.AppendError(x.Out, msg)
			return
		}
	}
	c.proposeFunctions(x, func(ctx context.Context, fg functionGroup) ([]byte, error) {
		return fg.ProposeFunctionRestore(ctx, policy, codes)
	})
}

// nodeLibraries returns the libraries of the groups this node leads (the
// first group's library of a name wins; they agree when every load went
// through this node), sorted by name, and the number of functions.
func (s *Server) nodeLibraries() ([]*script.Library, int) {
	seen := map[string]bool{}
	var libs []*script.Library
	nf := 0
	for _, g := range s.router.LocalGroups() {
		fg, ok := g.(functionGroup)
		if !ok || !g.IsLeader() {
			continue
		}
		for _, l := range fg.Functions().Libraries() {
			if !seen[l.Name] {
				seen[l.Name] = true
				libs = append(libs, l)
				nf += len(l.Funcs)
			}
		}
	}
	for i := 1; i < len(libs); i++ {
		for j := i; j > 0 && libs[j].Name < libs[j-1].Name; j-- {
			libs[j], libs[j-1] = libs[j-1], libs[j]
		}
	}
	return libs, nf
}

// functionListCommand: FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
func functionListCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	withCode := false
	var pattern []byte
	for i := 2; i < len(args); i++ {
		a := args[i]
		if !withCode && bytes.EqualFold(a, []byte("withcode")) {
			withCode = true
			continue
		}
		if pattern == nil && bytes.EqualFold(a, []byte("libraryname")) {
			if i >= len(args)-1 {
				x.Out = resp.AppendError(x.Out, command.ErrFunctionListName)
				return
			}
			i++
			pattern = args[i]
			continue
		}
		x.Out = resp.AppendError(x.Out, command.ErrFunctionUnknownArg+string(a))
		return
	}
	libs, _ := c.srv.nodeLibraries()
	if pattern != nil {
		kept := libs[:0]
		for _, l := range libs {
			if command.GlobMatchFold(string(pattern), l.Name) {
				kept = append(kept, l)
			}
		}
		libs = kept
	}
	resp3 := c.proto == resp.RESP3
	x.Out = resp.AppendArray(x.Out, len(libs))
	for _, l := range libs {
		n := 3
		if withCode {
			n = 4
		}
		x.Out = appendMapHeader(x.Out, n, resp3)
		x.Out = resp.AppendBulkString(x.Out, "library_name")
		x.Out = resp.AppendBulkString(x.Out, l.Name)
		x.Out = resp.AppendBulkString(x.Out, "engine")
		x.Out = resp.AppendBulkString(x.Out, "LUA")
		x.Out = resp.AppendBulkString(x.Out, "functions")
		x.Out = resp.AppendArray(x.Out, len(l.Funcs))
		for _, f := range l.Funcs {
			x.Out = appendMapHeader(x.Out, 3, resp3)
			x.Out = resp.AppendBulkString(x.Out, "name")
			x.Out = resp.AppendBulkString(x.Out, f.Name)
			x.Out = resp.AppendBulkString(x.Out, "description")
			if f.HasDesc {
				x.Out = resp.AppendBulkString(x.Out, f.Desc)
			} else if resp3 {
				x.Out = append(x.Out, "_\r\n"...)
			} else {
				x.Out = append(x.Out, "$-1\r\n"...)
			}
			x.Out = resp.AppendBulkString(x.Out, "flags")
			names := script.FlagNames(f.Flags)
			if resp3 {
				x.Out = append(x.Out, '~')
				x.Out = strconv.AppendInt(x.Out, int64(len(names)), 10)
				x.Out = append(x.Out, '\r', '\n')
			} else {
				x.Out = resp.AppendArray(x.Out, len(names))
			}
			for _, fl := range names {
				x.Out = append(x.Out, '+')
				x.Out = append(x.Out, fl...)
				x.Out = append(x.Out, '\r', '\n')
			}
		}
		if withCode {
			x.Out = resp.AppendBulkString(x.Out, "library_code")
			x.Out = resp.AppendBulk(x.Out, l.Code)
		}
	}
}

// appendMapHeader appends a map of n pairs: a RESP3 map, or a flat array
// of 2n for RESP2.
func appendMapHeader(out []byte, n int, resp3 bool) []byte {
	if !resp3 {
		return resp.AppendArray(out, 2*n)
	}
	out = append(out, '%')
	out = strconv.AppendInt(out, int64(n), 10)
	return append(out, '\r', '\n')
}

// functionStatsCommand: FUNCTION STATS: the read-only function running on
// this node (write functions run in the FSM of every replica, and are not
// shown), and the libraries and functions of the groups it leads.
func functionStatsCommand(x *command.Ctx, _ [][]byte) {
	c := connOf(x)
	resp3 := c.proto == resp.RESP3
	libs, nf := c.srv.nodeLibraries()
	x.Out = appendMapHeader(x.Out, 2, resp3)
	x.Out = resp.AppendBulkString(x.Out, "running_script")
	runningFunction.mu.Lock()
	name, args, begun := runningFunction.name, runningFunction.args, runningFunction.begun
	runningFunction.mu.Unlock()
	switch {
	case name != "":
		x.Out = appendMapHeader(x.Out, 3, resp3)
		x.Out = resp.AppendBulkString(x.Out, "name")
		x.Out = resp.AppendBulkString(x.Out, name)
		x.Out = resp.AppendBulkString(x.Out, "command")
		x.Out = resp.AppendArray(x.Out, len(args))
		for _, a := range args {
			x.Out = resp.AppendBulk(x.Out, a)
		}
		x.Out = resp.AppendBulkString(x.Out, "duration_ms")
		x.Out = resp.AppendInt(x.Out, time.Since(begun).Milliseconds())
	case resp3:
		x.Out = append(x.Out, "_\r\n"...)
	default:
		x.Out = append(x.Out, "$-1\r\n"...)
	}
	x.Out = resp.AppendBulkString(x.Out, "engines")
	x.Out = appendMapHeader(x.Out, 1, resp3)
	x.Out = resp.AppendBulkString(x.Out, "LUA")
	x.Out = appendMapHeader(x.Out, 2, resp3)
	x.Out = resp.AppendBulkString(x.Out, "libraries_count")
	x.Out = resp.AppendInt(x.Out, int64(len(libs)))
	x.Out = resp.AppendBulkString(x.Out, "functions_count")
	x.Out = resp.AppendInt(x.Out, int64(nf))
}

// functionDumpCommand: FUNCTION DUMP: the libraries of the groups this
// node leads, in Redis's payload format.
func functionDumpCommand(x *command.Ctx, _ [][]byte) {
	c := connOf(x)
	libs, _ := c.srv.nodeLibraries()
	codes := make([][]byte, len(libs))
	for i, l := range libs {
		codes[i] = l.Code
	}
	x.Out = resp.AppendBulk(x.Out, script.DumpPayload(codes))
}

// functionKillCommand: FUNCTION KILL stops the running read-only
// functions; write functions run in the FSM of every replica: UNKILLABLE
// (docs/scripting.md).
func functionKillCommand(x *command.Ctx, _ [][]byte) {
	if msg := command.KillFunctions(); msg != "" {
		x.Out = resp.AppendError(x.Out, msg)
		return
	}
	x.Out = resp.AppendOK(x.Out)
}

// functionHelp is FUNCTION HELP's text, Redis 7.0's.
var functionHelp = []string{
	"FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"LOAD [REPLACE] <FUNCTION CODE>",
	"    Create a new library with the given library name and code.",
	"DELETE <LIBRARY NAME>",
	"    Delete the given library.",
	"LIST [LIBRARYNAME PATTERN] [WITHCODE]",
	"    Return general information on all the libraries:",
	"    * Library name",
	"    * The engine used to run the Library",
	"    * Library description",
	"    * Functions list",
	"    * Library code (if WITHCODE is given)",
	"    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
	"STATS",
	"    Return information about the current function running:",
	"    * Function name",
	"    * Command used to run the function",
	"    * Duration in MS that the function is running",
	"    If no function is running, return nil",
	"    In addition, returns a list of available engines.",
	"KILL",
	"    Kill the current running function.",
	"FLUSH [ASYNC|SYNC]",
	"    Delete all the libraries.",
	"    When called without the optional mode argument, the behavior is determined by the",
	"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
	"    * ASYNC: Asynchronously flush the libraries.",
	"    * SYNC: Synchronously flush the libraries.",
	"DUMP",
	"    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
	"RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
	"    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
	"    control how to handle existing libraries (default APPEND):",
	"    * FLUSH: delete all existing libraries.",
	"    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
	"    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
	"      libraries with the new libraries (notice that even on this option there is a chance of failure",
	"      in case of functions name collision with another library).",
	"HELP",
	"    Prints this help.",
}
