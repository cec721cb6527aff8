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
// function body of the chunk.
func instrument(stmts []ast.Stmt) []ast.Stmt {
	for _, st := range stmts {
		instrumentStmt(st)
	}
	return stmts
}

func tick(line int) ast.Stmt {
	id := &ast.IdentExpr{Value: tickName}
	id.SetLine(line)
	id.SetLastLine(line)
	call := &ast.FuncCallExpr{Func: id}
	call.SetLine(line)
	call.SetLastLine(line)
	st := &ast.FuncCallStmt{Expr: call}
	st.SetLine(line)
	st.SetLastLine(line)
	return st
}

func withTick(line int, body []ast.Stmt) []ast.Stmt {
	out := make([]ast.Stmt, 0, len(body)+1)
	out = append(out, tick(line))
	return append(out, instrument(body)...)
}

func instrumentStmt(st ast.Stmt) {
	switch s := st.(type) {
	case *ast.AssignStmt:
		instrumentExprs(s.Lhs)
		instrumentExprs(s.Rhs)
	case *ast.LocalAssignStmt:
		instrumentExprs(s.Exprs)
	case *ast.FuncCallStmt:
		instrumentExpr(s.Expr)
	case *ast.DoBlockStmt:
		s.Stmts = instrument(s.Stmts)
	case *ast.WhileStmt:
		instrumentExpr(s.Condition)
		s.Stmts = withTick(s.Line(), s.Stmts)
	case *ast.RepeatStmt:
		instrumentExpr(s.Condition)
		s.Stmts = withTick(s.Line(), s.Stmts)
	case *ast.IfStmt:
		instrumentExpr(s.Condition)
		s.Then = instrument(s.Then)
		s.Else = instrument(s.Else)
	case *ast.NumberForStmt:
		instrumentExpr(s.Init)
		instrumentExpr(s.Limit)
		instrumentExpr(s.Step)
		s.Stmts = withTick(s.Line(), s.Stmts)
	case *ast.GenericForStmt:
		instrumentExprs(s.Exprs)
		s.Stmts = withTick(s.Line(), s.Stmts)
	case *ast.FuncDefStmt:
		instrumentExpr(s.Func)
	case *ast.ReturnStmt:
		instrumentExprs(s.Exprs)
	}
}

func instrumentExprs(es []ast.Expr) {
	for _, e := range es {
		instrumentExpr(e)
	}
}

func instrumentExpr(e ast.Expr) {
	switch x := e.(type) {
	case *ast.FunctionExpr:
		x.Stmts = withTick(x.Line(), x.Stmts)
	case *ast.AttrGetExpr:
		instrumentExpr(x.Object)
		instrumentExpr(x.Key)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			instrumentExpr(f.Key)
			instrumentExpr(f.Value)
		}
	case *ast.FuncCallExpr:
		instrumentExpr(x.Func)
		instrumentExpr(x.Receiver)
		instrumentExprs(x.Args)
	case *ast.LogicalOpExpr:
		instrumentExpr(x.Lhs)
		instrumentExpr(x.Rhs)
	case *ast.RelationalOpExpr:
		instrumentExpr(x.Lhs)
		instrumentExpr(x.Rhs)
	case *ast.StringConcatOpExpr:
		instrumentExpr(x.Lhs)
		instrumentExpr(x.Rhs)
	case *ast.ArithmeticOpExpr:
		instrumentExpr(x.Lhs)
		instrumentExpr(x.Rhs)
	case *ast.UnaryMinusOpExpr:
		instrumentExpr(x.Expr)
	case *ast.UnaryNotOpExpr:
		instrumentExpr(x.Expr)
	case *ast.UnaryLenOpExpr:
		instrumentExpr(x.Expr)
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
