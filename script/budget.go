package script

import (
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// Step budget: a write script runs inside the FSM of every replica, and
// its entry is applied again whenever a replica replays its log, so a
// script that never ends would stop its group for good, restarts
// included. Compiled scripts count steps: a call to a hidden global at the
// start of every loop iteration and every function body (instrument). A
// run with Run.Budget > 0 fails with ErrBudget once it has taken more
// steps: deterministically, at the same step on every replica. Read-only
// scripts run without a budget (SCRIPT KILL stops them).

// tickName is the hidden global the instrumentation calls; no Lua
// identifier can name it.
const tickName = "\x00step"

// BudgetExceeded is the error a run that exceeds its budget raises.
const BudgetExceeded = "ERR Script exceeded the step budget of write scripts (they run on every replica and cannot be killed)"

// instrument inserts a step call at the start of every loop body and
// function body of the chunk, and guards the sets that could fill a
// table's array part with empty slots (holes.go).
// With legacy (Run.Legacy) it inserts the step calls alone, as before the
// guards.
func instrument(chunk []ast.Stmt, legacy bool) []ast.Stmt {
	w := rewriter{fns: []frame{nil}, legacy: legacy}
	return w.bind(w.block(nil, chunk))
}

// rewriter is one chunk's rewrite. It tracks which names are locals of
// the function being rewritten (the guards must read those where Lua
// does), and notes which hidden functions the guards call.
type rewriter struct {
	fns                 []frame // the enclosing functions, innermost last
	legacy              bool    // step calls only (Run.Legacy)
	hole, ctorKey, cval bool
}

// frame is a function's blocks, innermost last: the locals each declares.
type frame []map[string]bool

// declare makes names locals of the innermost block.
func (w *rewriter) declare(names ...string) {
	f := w.fns[len(w.fns)-1]
	b := f[len(f)-1]
	for _, n := range names {
		b[n] = true
	}
}

// isLocal reports whether name is a local of the function being
// rewritten (not an upvalue or a global).
func (w *rewriter) isLocal(name string) bool {
	f := w.fns[len(w.fns)-1]
	for i := len(f) - 1; i >= 0; i-- {
		if f[i][name] {
			return true
		}
	}
	return false
}

// block rewrites a block's statements in place, in a scope where names
// (parameters, loop variables) are locals; a statement may be replaced.
func (w *rewriter) block(names []string, stmts []ast.Stmt) []ast.Stmt {
	i := len(w.fns) - 1
	w.fns[i] = append(w.fns[i], map[string]bool{})
	w.declare(names...)
	for j, st := range stmts {
		stmts[j] = w.stmt(st)
	}
	w.fns[i] = w.fns[i][:len(w.fns[i])-1]
	return stmts
}

func (w *rewriter) withTick(line int, names []string, body []ast.Stmt) []ast.Stmt {
	out := make([]ast.Stmt, 0, len(body)+1)
	out = append(out, callStmt(line, tickName))
	return append(out, w.block(names, body)...)
}

// function rewrites a function's body in a frame of its own: its
// parameters, self for a method, and arg for a nested vararg function
// (gopher-lua's LUA_COMPAT_VARARG) are its first locals.
func (w *rewriter) function(f *ast.FunctionExpr, method bool) {
	var names []string
	if method {
		names = append(names, "self")
	}
	names = append(names, f.ParList.Names...)
	if f.ParList.HasVargs {
		names = append(names, "arg")
	}
	w.fns = append(w.fns, nil)
	f.Stmts = w.withTick(f.Line(), names, f.Stmts)
	w.fns = w.fns[:len(w.fns)-1]
}

func (w *rewriter) stmt(st ast.Stmt) ast.Stmt {
	switch s := st.(type) {
	case *ast.AssignStmt:
		w.exprs(s.Lhs)
		w.exprs(s.Rhs)
		if w.legacy {
			return s
		}
		return w.guardAssign(s)
	case *ast.LocalAssignStmt:
		w.exprs(s.Exprs)
		w.declare(s.Names...)
	case *ast.FuncCallStmt:
		w.expr(s.Expr)
	case *ast.DoBlockStmt:
		s.Stmts = w.block(nil, s.Stmts)
	case *ast.WhileStmt:
		w.expr(s.Condition)
		s.Stmts = w.withTick(s.Line(), nil, s.Stmts)
	case *ast.RepeatStmt:
		// The condition sees the body's locals, but holds no assignment:
		// only function expressions, which have frames of their own.
		w.expr(s.Condition)
		s.Stmts = w.withTick(s.Line(), nil, s.Stmts)
	case *ast.IfStmt:
		w.expr(s.Condition)
		s.Then = w.block(nil, s.Then)
		s.Else = w.block(nil, s.Else)
	case *ast.NumberForStmt:
		w.expr(s.Init)
		w.expr(s.Limit)
		w.expr(s.Step)
		s.Stmts = w.withTick(s.Line(), []string{s.Name}, s.Stmts)
	case *ast.GenericForStmt:
		w.exprs(s.Exprs)
		s.Stmts = w.withTick(s.Line(), s.Names, s.Stmts)
	case *ast.FuncDefStmt:
		w.function(s.Func, s.Name.Func == nil) // a method (a:b) has self
	case *ast.ReturnStmt:
		w.exprs(s.Exprs)
	}
	return st
}

func (w *rewriter) exprs(es []ast.Expr) {
	for _, e := range es {
		w.expr(e)
	}
}

func (w *rewriter) expr(e ast.Expr) {
	switch x := e.(type) {
	case *ast.FunctionExpr:
		w.function(x, false)
	case *ast.AttrGetExpr:
		w.expr(x.Object)
		w.expr(x.Key)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			w.expr(f.Key)
			w.expr(f.Value)
		}
		if !w.legacy {
			w.guardConstructor(x)
			truncateLastKeyed(x)
		}
	case *ast.FuncCallExpr:
		w.expr(x.Func)
		w.expr(x.Receiver)
		w.exprs(x.Args)
	case *ast.LogicalOpExpr:
		w.expr(x.Lhs)
		w.expr(x.Rhs)
	case *ast.RelationalOpExpr:
		w.expr(x.Lhs)
		w.expr(x.Rhs)
	case *ast.StringConcatOpExpr:
		w.expr(x.Lhs)
		w.expr(x.Rhs)
	case *ast.ArithmeticOpExpr:
		w.expr(x.Lhs)
		w.expr(x.Rhs)
	case *ast.UnaryMinusOpExpr:
		w.expr(x.Expr)
	case *ast.UnaryNotOpExpr:
		w.expr(x.Expr)
	case *ast.UnaryLenOpExpr:
		w.expr(x.Expr)
	}
}

// step is the hidden global's function: it counts a step of the run and
// raises BudgetExceeded past the run's budget (again at every later step,
// so a script cannot catch it and go on looping).
func (s *state) step(L *lua.LState) int {
	s.steps++
	if s.budget > 0 && s.steps > s.budget {
		raise(L, BudgetExceeded)
	}
	if s.halter != nil {
		if s.stop != "" {
			raise(L, s.stop)
		}
		if s.steps&(haltEvery-1) == 0 {
			s.checkHalt(L)
		}
	}
	return 0
}

// A Halter is a Host that can stop a run: Halt is called after every
// Call (on the goroutine running the script) and every haltEvery steps,
// with the run's step count; a non-empty result is an error the run
// raises at once, and again at every later step and call, so that pcall
// cannot swallow it and go on for long. Used by a leader's probe of a
// write script: it halts at the script's first write (Halted) or when
// SCRIPT KILL stops it before.
type Halter interface {
	Host
	Halt(steps int64) string
}

// haltEvery is how many steps pass between two Halt calls (a power of 2).
const haltEvery = 256

// Halted is the error to raise when a Halter halts a run at its first
// write; the error handler does not look up its line.
const Halted = "ERR script halted by its host"

// setHalter records, for a run starting, whether its host can halt it.
func (s *state) setHalter(h Host) {
	s.halter, _ = h.(Halter)
	s.stop = ""
}

// checkHalt asks the halter whether to stop, and raises if so.
func (s *state) checkHalt(L *lua.LState) {
	if s.stop == "" {
		s.stop = s.halter.Halt(s.steps)
	}
	if s.stop != "" {
		raise(L, s.stop)
	}
}

// truncateLastKeyed marks a call or ... that is the value of a
// constructor's last field, when that field is keyed, as giving one value,
// which Lua does for every keyed field. gopher-lua's compiler checks the
// last field's value alone to decide whether the constructor ends with a
// list of values, so {1, [k] = f()} stored the registers past the
// positional fields as well: {f(), #a, [#a + 1] = f()} had an extra
// element where Lua and Redis have two.
func truncateLastKeyed(t *ast.TableExpr) {
	if len(t.Fields) == 0 {
		return
	}
	last := t.Fields[len(t.Fields)-1]
	if last.Key == nil {
		return
	}
	switch v := last.Value.(type) {
	case *ast.FuncCallExpr:
		v.AdjustRet = true
	case *ast.Comma3Expr:
		v.AdjustRet = true
	}
}
