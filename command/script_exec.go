package command

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/script"
	"github.com/shoalcache/shoal/shard"
)

// Scripts: the glue between the Lua runtime (package script) and the
// command table. One engine per process (Redis keeps one Lua interpreter):
// its Lua states are pooled, its compiled scripts shared by every group's
// FSM and the connections' read-only scripts.
var engine = script.NewEngine()

// ScriptEngine returns the process's script engine.
func ScriptEngine() *script.Engine { return engine }

// ExecScript implements raftfsm.ScriptExecutor: it runs a write script
// inside the FSM (FSM goroutine, store Lock held), every command through the
// table with the entry's clock and the FSM's fixed LFU randomness, each
// command's keys checked by call.Check. Scripts in the FSM are not
// killable (see docs/scripting.md).
func (executor) ExecScript(st *shard.Store, now int64, call *raftfsm.ScriptCall, out []byte) []byte {
	h := fsmHosts.Get().(*fsmHost)
	h.st, h.now, h.call = st, now, call
	done := running.begin(false)
	out = engine.Run(&script.Run{Body: call.Body, SHA: call.SHA, Keys: call.Keys, Args: call.Args, Host: h, Budget: call.Budget, Legacy: call.Legacy}, out)
	done()
	h.st, h.call = nil, nil
	fsmHosts.Put(h)
	return out
}

// CheckScript implements raftfsm.ScriptExecutor.
func (executor) CheckScript(body []byte, sha string) string {
	if _, msg := script.ParseFlags(body); msg != "" {
		return msg
	}
	return engine.Compile(body, sha)
}

// ScriptNonBlocking, set by package server at init, maps a blocking
// command a script calls to what runs instead (Redis 7.0 lets scripts call
// BLMPOP and BZMPOP, which never block there): the arguments of the
// non-blocking form, or the error reply text; ok is false for any other
// command. Any goroutine.
var ScriptNonBlocking func(args [][]byte) (try [][]byte, msg string, ok bool)

// scriptBlocking applies ScriptNonBlocking to a script's call: the
// arguments to run, or the error text.
func scriptBlocking(args [][]byte) ([][]byte, string) {
	if ScriptNonBlocking == nil || len(args[0]) != 6 {
		return args, ""
	}
	if try, msg, ok := ScriptNonBlocking(args); ok {
		return try, msg
	}
	return args, ""
}

var fsmHosts = sync.Pool{New: func() any { return new(fsmHost) }}

// fsmHost runs a write script's commands inside the FSM.
type fsmHost struct {
	st   *shard.Store
	now  int64
	call *raftfsm.ScriptCall
	keys [][]byte
	x    Ctx
}

// Call implements script.Host.
func (h *fsmHost) Call(args [][]byte, out []byte) []byte {
	args, msg := scriptBlocking(args)
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	cmd, msg := scriptCommand(args)
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	if cmd.Name == "select" {
		var st *shard.Store
		if st, out = scriptSelect(h.st, args, h.call.Flags&raftfsm.ScriptCluster != 0, out); st != nil {
			h.st = st
		}
		return out
	}
	if cmd.Kind == KindLocal {
		return localCall(cmd, args, h.now, out)
	}
	if cmd.Kind == KindWrite && h.call.Flags&raftfsm.ScriptNoWrites != 0 {
		return resp.AppendError(out, ErrScriptWriteReadOnly)
	}
	h.keys = cmd.Keys(args, h.keys[:0])
	if msg := h.call.Check(h.keys); msg != "" {
		return resp.AppendError(out, msg)
	}
	order := unorderedReply(cmd.Name)
	if order == orderRandom {
		return resp.AppendError(out, ErrScriptNondeterministic)
	}
	mods := h.st.Mods()
	at := len(out)
	h.x = Ctx{St: h.st, Stores: []*shard.Store{h.st}, Now: h.now, Proto: 3, Out: out, LFURand: 0.5}
	cmd.Run(&h.x, args)
	out = h.x.Out
	h.x = Ctx{}
	if order != orderFixed {
		sortReply(out[at:], order == orderNested)
	}
	if h.call.Changed != nil && h.st.Mods() != mods {
		h.call.Changed(h.keys)
	}
	return out
}

// scriptCommand finds the command a script calls, or Redis's refusal.
// Front-end commands (KindLocal) cannot run in a script, TIME and PING
// aside, which the hosts answer themselves (localCall).
func scriptCommand(args [][]byte) (*Command, string) {
	cmd := Lookup(args[0])
	if cmd == nil {
		return nil, ErrScriptUnknownCmd
	}
	if len(cmd.Subs) > 0 && len(args) >= 2 {
		if sub := cmd.Sub(args[1]); sub != nil {
			cmd = sub
		}
	}
	if !cmd.ArityOK(len(args)) {
		return nil, ErrScriptWrongArgs
	}
	if cmd.Flags&FlagNoScript != 0 || (cmd.Kind == KindLocal && !scriptLocalOK(cmd.Name)) || cmd.Run == nil {
		return nil, ErrScriptNotAllowed
	}
	return cmd, ""
}

// scriptLocalOK lists the front-end commands scripts may call, which the
// hosts answer without a connection (localCall, SELECT).
func scriptLocalOK(name string) bool {
	switch name {
	case "time", "ping", "select", "command":
		return true
	}
	return strings.HasPrefix(name, "command|")
}

// scriptSelect is SELECT inside a script: the script's database (not the
// caller's), from st's databases. cluster: database 0 only.
func scriptSelect(st *shard.Store, args [][]byte, cluster bool, out []byte) (*shard.Store, []byte) {
	n, err := strconv.Atoi(string(args[1]))
	switch {
	case err != nil:
		return nil, resp.AppendError(out, ErrNotInteger)
	case cluster && n != 0:
		return nil, resp.AppendError(out, ErrScriptSelectCluster)
	case n < 0 || n >= shard.NumDBs:
		return nil, resp.AppendError(out, ErrSelectDB)
	}
	return st.DB(n), resp.AppendOK(out)
}

// localCall answers the front-end commands scripts may call: TIME (the
// script's clock: the entry's in the FSM), PING and COMMAND (the table).
func localCall(cmd *Command, args [][]byte, now int64, out []byte) []byte {
	if cmd.Name == "command" || strings.HasPrefix(cmd.Name, "command|") {
		x := Ctx{Proto: 3, Out: out}
		cmd.Run(&x, args)
		return x.Out
	}
	if cmd.Name == "ping" {
		if len(args) > 1 {
			return resp.AppendBulk(out, args[1])
		}
		return append(out, "+PONG\r\n"...)
	}
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, strconv.FormatInt(now/1000, 10))
	return resp.AppendBulkString(out, strconv.FormatInt(now%1000*1000, 10))
}

// ReadScript is a read-only script run on a leader (EVAL_RO, EVALSHA_RO, a
// no-writes script) under its store's read lock, with the connection's
// clock and randomness.
type ReadScript struct {
	St   *shard.Store
	Now  int64
	Rng  func() float64
	Body []byte
	SHA  string
	Keys [][]byte
	Args [][]byte
	// Check refuses a key the script touches (another group's slot,
	// another slot than the script's in cluster mode): the error text, or "".
	Check func(key []byte) string
	// Ctx stops the script when cancelled (SCRIPT KILL).
	Ctx context.Context
	// Cluster: the front end runs in cluster mode (SELECT 0 only).
	Cluster bool
	// Log receives redis.log lines (nil: dropped).
	Log *slog.Logger
	// Allow, when set, checks each command the script calls against the
	// user's ACL rules: the NOPERM reply text, or "".
	Allow func(cmd *Command, args [][]byte) string

	// Probe, when set, makes the run the probe of a write script on the
	// leader before it is proposed (see Probe); Ctx is then unused.
	Probe *Probe
	// Budget, when > 0, stops the run after that many steps (its reply is
	// then script.BudgetExceeded's error).
	Budget int64
}

// Run runs the script and appends its RESP3 reply to out. The caller holds
// r.St's RLock.
func (r *ReadScript) Run(out []byte) []byte {
	h := &readHost{r: r}
	done := running.begin(true)
	out = engine.Run(&script.Run{Body: r.Body, SHA: r.SHA, Keys: r.Keys, Args: r.Args, Host: h, Ctx: r.Ctx, Budget: r.Budget}, out)
	done()
	return out
}

// Probe is the state of a write script's probe: the leader runs the script
// before proposing it, up to its first write only. The script's commands
// are refused, checked and answered as the FSM's run would (probeCall);
// the run halts (script.Halter) at the first write command that passed
// them (Reached). Until then the script has written nothing and SCRIPT
// KILL (FUNCTION KILL for a function) stops it as Redis does (Killed);
// from then on it is no longer killable. A probe that reaches a write,
// ends or fails leaves the script to its log entry, and its reply is
// dropped (docs/scripting.md, "Busy scripts and SCRIPT KILL").
//
// A probe costs little when the script writes at once: it takes the
// store's read lock at its first read only (Lock; the caller releases it
// when Locked), and joins the kill and BUSY registries only once it has
// taken a few hundred steps (a run shorter than that is over before a
// kill could matter). One goroutine, the connection's; End when done.
type Probe struct {
	// Function selects FUNCTION KILL's registry instead of SCRIPT KILL's.
	Function bool
	// Lock takes the store's read lock; called at the probe's first read.
	Lock func()
	// Locked: Lock was called. Reached: the probe reached a write.
	// Killed: SCRIPT KILL (FUNCTION KILL) stopped it first.
	Locked, Reached, Killed bool

	killed atomic.Bool
	reg    *killRegistry
	id     int64  // in reg; 0 until registered
	busy   func() // ends the run's entry in the BUSY registry
}

// register enters p in the kill and BUSY registries.
func (p *Probe) register() {
	p.reg = &killable
	if p.Function {
		p.reg = &killableFuncs
	}
	p.id = p.reg.add(func() { p.killed.Store(true) })
	p.busy = running.begin(true)
}

// reach takes p out of the kill registry at its first write, unless a kill
// came first, and reports whether it did.
func (p *Probe) reach() bool {
	if p.id == 0 {
		return true // not registered: nobody could kill it
	}
	ok := p.reg.reach(p.id, &p.killed)
	p.id = 0
	return ok
}

// End takes the probe out of the registries.
func (p *Probe) End() {
	if p.id != 0 {
		p.reg.remove(p.id)
		p.id = 0
	}
	if p.busy != nil {
		p.busy()
		p.busy = nil
	}
}

// probeRegisterSteps is how many steps a probe takes before it joins the
// kill and BUSY registries (script.Halter's period: Halt sees it at the
// first step hook or call past it).
const probeRegisterSteps = 256

// Halt implements script.Halter for a probe (plain read-only runs never
// halt).
func (h *readHost) Halt(steps int64) string {
	p := h.r.Probe
	switch {
	case p == nil:
		return ""
	case p.Reached:
		return script.Halted
	case p.Killed:
		return errScriptKilled
	case p.id == 0 && p.busy == nil && steps >= probeRegisterSteps:
		p.register()
	case p.id != 0 && p.killed.Load():
		p.Killed = true
		return errScriptKilled
	}
	return ""
}

// common answers what a read-only run and a probe answer alike: an unknown
// or refused command, SELECT and the front-end commands scripts may call;
// done reports that out holds the reply.
func (h *readHost) common(args [][]byte, out []byte) (*Command, []byte, bool) {
	cmd, msg := scriptCommand(args)
	if msg != "" {
		return nil, resp.AppendError(out, msg), true
	}
	if cmd.Name == "select" {
		var st *shard.Store
		if st, out = scriptSelect(h.r.St, args, h.r.Cluster, out); st != nil {
			h.r.St = st
		}
		return nil, out, true
	}
	if cmd.Kind == KindLocal {
		return nil, localCall(cmd, args, h.r.Now, out), true
	}
	return cmd, out, false
}

// probeCall is Call for a probe: fsmHost.Call's refusals and checks in its
// order, reads run and their replies ordered as the FSM orders them, and a
// halt instead of the first write command that passed them.
func (h *readHost) probeCall(args [][]byte, out []byte) []byte {
	args, msg := scriptBlocking(args)
	if msg != "" {
		return resp.AppendError(out, msg)
	}
	cmd, out, done := h.common(args, out)
	if done {
		return out
	}
	h.keys = cmd.Keys(args, h.keys[:0])
	for _, k := range h.keys {
		if msg := h.r.Check(k); msg != "" {
			return resp.AppendError(out, msg)
		}
	}
	order := unorderedReply(cmd.Name)
	if order == orderRandom {
		return resp.AppendError(out, ErrScriptNondeterministic)
	}
	p := h.r.Probe
	if cmd.Kind != KindRead {
		if p.reach() {
			p.Reached = true
		} else {
			p.Killed = true
		}
		return out // Halt stops the run
	}
	if !p.Locked {
		p.Lock()
		p.Locked = true
	}
	at := len(out)
	h.x = Ctx{St: h.r.St, Stores: []*shard.Store{h.r.St}, Now: h.r.Now, Proto: 3, Out: out, LFURand: h.r.Rng()}
	cmd.Run(&h.x, args)
	out = h.x.Out
	h.x = Ctx{}
	if order != orderFixed {
		sortReply(out[at:], order == orderNested)
	}
	return out
}

type readHost struct {
	r    *ReadScript
	keys [][]byte
	x    Ctx
}

func (h *readHost) Call(args [][]byte, out []byte) []byte {
	if h.r.Probe != nil {
		return h.probeCall(args, out)
	}
	if try, msg := scriptBlocking(args); msg != "" || len(try) != len(args) {
		return resp.AppendError(out, ErrScriptWriteReadOnly) // BLMPOP, BZMPOP
	}
	cmd, out, done := h.common(args, out)
	if done {
		return out
	}
	if cmd.Kind != KindRead {
		return resp.AppendError(out, ErrScriptWriteReadOnly)
	}
	if h.r.Allow != nil {
		if msg := h.r.Allow(cmd, args); msg != "" {
			return resp.AppendError(out, ErrScriptACLDenied)
		}
	}
	h.keys = cmd.Keys(args, h.keys[:0])
	for _, k := range h.keys {
		if msg := h.r.Check(k); msg != "" {
			return resp.AppendError(out, msg)
		}
	}
	h.x = Ctx{St: h.r.St, Stores: []*shard.Store{h.r.St}, Now: h.r.Now, Proto: 3, Out: out, LFURand: h.r.Rng()}
	cmd.Run(&h.x, args)
	out = h.x.Out
	h.x = Ctx{}
	return out
}

// running tracks the scripts running in this process, for BUSY replies
// and SCRIPT KILL: how many and since when each runs (killable holds the
// cancel functions of the read-only ones). Any goroutine; n is read
// lock-free on every command (ScriptBusy).
var running scriptRegistry

type scriptRegistry struct {
	n     atomic.Int64
	mu    sync.Mutex
	start map[*scriptRun]struct{}
}

type scriptRun struct{ begun time.Time }

// begin records a script that starts (a read-only one, or a write script
// in an FSM); the returned function ends it.
func (g *scriptRegistry) begin(readOnly bool) func() {
	r := &scriptRun{begun: time.Now()}
	g.mu.Lock()
	if g.start == nil {
		g.start = make(map[*scriptRun]struct{})
	}
	g.start[r] = struct{}{}
	g.mu.Unlock()
	g.n.Add(1)
	return func() {
		g.n.Add(-1)
		g.mu.Lock()
		delete(g.start, r)
		g.mu.Unlock()
	}
}

// ScriptBusy reports whether a script has been running for at least
// threshold: the front end then answers BUSY to commands that do not
// allow it. One atomic load when no script runs.
func ScriptBusy(threshold time.Duration) bool {
	if running.n.Load() == 0 || threshold <= 0 {
		return false
	}
	running.mu.Lock()
	defer running.mu.Unlock()
	for r := range running.start {
		if time.Since(r.begun) >= threshold {
			return true
		}
	}
	return false
}

// killRegistry tracks the cancel functions of running read-only scripts
// or functions, for SCRIPT KILL and FUNCTION KILL (one registry each, as
// Redis kills each kind with its own command). Any goroutine, under mu.
type killRegistry struct {
	mu sync.Mutex
	m  map[int64]context.CancelFunc
	id int64
}

// context returns a context that kill cancels, and the function to call
// when the run ends.
func (k *killRegistry) context() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	id := k.add(cancel)
	return ctx, func() {
		k.remove(id)
		cancel()
	}
}

// kill cancels every registered run and returns how many there were.
func (k *killRegistry) kill() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, cancel := range k.m {
		cancel()
	}
	return len(k.m)
}

// running returns how many runs are registered.
func (k *killRegistry) running() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}

// add registers the cancel function of a run and returns its id.
func (k *killRegistry) add(cancel func()) int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.id++
	if k.m == nil {
		k.m = make(map[int64]context.CancelFunc)
	}
	k.m[k.id] = cancel
	return k.id
}

// remove takes the run id out of the registry.
func (k *killRegistry) remove(id int64) {
	k.mu.Lock()
	delete(k.m, id)
	k.mu.Unlock()
}

// reach takes the run id out of the registry unless it was killed already
// (killed, set by its cancel function under mu), and reports whether it
// did.
func (k *killRegistry) reach(id int64, killed *atomic.Bool) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, id)
	return !killed.Load()
}

// killable holds the read-only scripts (SCRIPT KILL).
var killable killRegistry

// errScriptKilled is the error a probe stopped by SCRIPT KILL (FUNCTION
// KILL) raises: Redis's text, to which the run adds its script and line.
const errScriptKilled = "ERR Script killed by user with SCRIPT KILL..."

// KillableContext returns a context for a read-only script that SCRIPT KILL
// cancels, and the function to call when the script ends.
func KillableContext() (context.Context, func()) { return killable.context() }

// KillScripts is SCRIPT KILL: it stops every running script that has not
// written (a read-only one, or the leader's probe of a write script before
// its first write) and returns the reply text ("" for +OK): BUSY (use
// FUNCTION KILL) when only functions that may be killed run, UNKILLABLE
// when only scripts that wrote run (in the FSM, on every replica; see
// docs/scripting.md), NOTBUSY when nothing runs.
func KillScripts() string {
	if killable.kill() > 0 {
		return ""
	}
	switch {
	case killableFuncs.running() > 0:
		return ErrFunctionBusy
	case running.n.Load() > 0:
		return ErrScriptUnkillable
	}
	return ErrScriptNotBusy
}

// MovableKeys returns the keys of a command whose keys are not at fixed
// positions (COMMAND GETKEYS): EVAL, EVALSHA, EVAL_RO and EVALSHA_RO,
// "name script numkeys key... arg...". Nil for others, or a bad numkeys.
func MovableKeys(args [][]byte, dst [][]byte) [][]byte {
	if len(args) < 3 {
		return dst
	}
	switch strings.ToLower(string(args[0])) {
	case "eval", "evalsha", "eval_ro", "evalsha_ro":
		n, err := strconv.Atoi(string(args[2]))
		if err != nil || n < 0 || n > len(args)-3 {
			return dst
		}
		return append(dst, args[3:3+n]...)
	}
	return dst
}

// Replies whose content or order Go's map iteration decides (Redis's
// nondeterministic_output and nondeterministic_output_order flags): inside
// the FSM every replica must compute the same, so KEYS's keys and SCAN's
// page are sorted, and RANDOMKEY is refused in write scripts.
const (
	orderFixed  = iota
	orderFlat   // an array of bulks: sorted
	orderNested // [cursor, array of bulks]: the inner array sorted
	orderRandom // refused
)

func unorderedReply(name string) int {
	switch name {
	case "keys":
		return orderFlat
	case "scan":
		return orderNested
	case "randomkey":
		return orderRandom
	}
	return orderFixed
}

// sortReply sorts, in place, the bulk strings of the array r (or of the
// second element of r, nested). Anything else is left alone.
func sortReply(r []byte, nested bool) {
	if nested {
		// Skip "*2\r\n" and the cursor bulk.
		if len(r) < 4 || r[0] != '*' {
			return
		}
		p := bytes.Index(r, []byte("\r\n"))
		if p < 0 {
			return
		}
		rest := r[p+2:]
		_, n, ok := nextBulk(rest)
		if !ok {
			return
		}
		r = rest[n:]
	}
	if len(r) < 4 || r[0] != '*' {
		return
	}
	p := bytes.Index(r, []byte("\r\n"))
	if p < 0 {
		return
	}
	body := r[p+2:]
	var items [][]byte
	for rest := body; len(rest) > 0; {
		_, n, ok := nextBulk(rest)
		if !ok {
			return
		}
		items = append(items, bytes.Clone(rest[:n]))
		rest = rest[n:]
	}
	slices.SortFunc(items, func(a, b []byte) int {
		ba, _, _ := nextBulk(a)
		bb, _, _ := nextBulk(b)
		return bytes.Compare(ba, bb)
	})
	w := body[:0]
	for _, it := range items {
		w = append(w, it...)
	}
}

// nextBulk parses the bulk string at the start of r: its body and its
// whole length.
func nextBulk(r []byte) ([]byte, int, bool) {
	if len(r) < 4 || r[0] != '$' {
		return nil, 0, false
	}
	p := bytes.Index(r, []byte("\r\n"))
	if p < 0 {
		return nil, 0, false
	}
	l, err := strconv.Atoi(string(r[1:p]))
	if err != nil || l < 0 || p+2+l+2 > len(r) {
		return nil, 0, false
	}
	return r[p+2 : p+2+l], p + 2 + l + 2, true
}

// ScriptLog implements script.Logger for both hosts: redis.log lines go to
// the process's log (on every replica for a write script, as each runs it).
func (h *fsmHost) ScriptLog(level int, msg string) { scriptLog(h.call.Log, level, msg) }

// ScriptLog implements script.Logger.
func (h *readHost) ScriptLog(level int, msg string) { scriptLog(h.r.Log, level, msg) }

func scriptLog(log *slog.Logger, level int, msg string) {
	if log == nil {
		return
	}
	l := slog.LevelInfo
	switch level {
	case script.LogDebug, script.LogVerbose:
		l = slog.LevelDebug
	case script.LogWarning:
		l = slog.LevelWarn
	}
	log.Log(context.Background(), l, "script log", "msg", msg)
}
