package script

import (
	"fmt"
	"maps"
	"reflect"
	"strconv"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// Sparse integer keys.
//
// gopher-lua keeps every integer key from 1 to lua.MaxArrayIndex - 1 (2^26
// - 1) in a table's array part, and setting one past the array's end
// fills every slot below it with nil (yuin/gopher-lua#117, #251): `local t
// = {} t[2^25] = 1` allocates about 3 GB and takes seconds, where C Lua
// (Redis's) puts the key in the hash part for a few bytes. A write script
// runs on every replica, and again whenever one replays its log, so one
// such line could exhaust the memory of a whole group, restarts included.
//
// So a run may leave at most holeBudget empty slots in all: every set
// that can leave some is counted, deterministically (by the array's length
// before the set), and the set that would pass the budget raises
// HoleBudgetExceeded instead. The sets counted are:
//   - assignments to an indexed target whose key is not a constant string
//     or a small constant integer: the compiler's rewrite (guardAssign)
//     evaluates the targets and values into hidden locals, checks the
//     targets with holeName's function, then assigns;
//   - keyed fields of table constructors ({[k] = v}), whose key (or, for
//     a local, value) goes through a hidden function (the table being
//     built is out of reach, so it counts k - 1 minus the constructor's
//     positional fields, which may count more than the set leaves);
//   - rawset and table.insert with a position.
//
// cmsgpack.unpack has a budget of its own (cmsgpack.go). Go code of this
// package that builds tables from replies builds dense arrays.
//
// Lowering lua.MaxArrayIndex instead would break the length operator,
// ipairs and unpack, which read the array part only.

// holeBudget is how many empty array slots a run may leave in all (16 B
// each: 64 MiB). It is part of what a write script's log entry means:
// replicas must agree on it, so changing it is a change of the log's
// semantics.
const holeBudget = 1 << 22

// freeKey is the largest constant integer key an assignment may use
// without a check: gopher-lua allocates an array of 32 slots at a table's
// first integer key anyway.
const freeKey = 32

// The hidden globals the rewrite calls and the names of the locals it
// declares; no Lua identifier can name them.
const (
	holeName    = "\x00hole"
	ctorKeyName = "\x00ckey"
	ctorValName = "\x00cval"
	holeLocal   = "\x00t"
)

// HoleBudgetExceeded starts the error of a run that would leave more
// empty table slots than holeBudget.
const HoleBudgetExceeded = "ERR Script exceeded the budget of empty table slots"

// arrayField is the index of LTable's unexported array field, whose length
// is the array part's; read by reflection (Len and MaxN count up to the
// last non-nil value, not the slots). TestArrayLen pins it.
var arrayField = func() int {
	f, ok := reflect.TypeOf(lua.LTable{}).FieldByName("array")
	if !ok || f.Type.Kind() != reflect.Slice {
		panic("script: gopher-lua's LTable has no array slice")
	}
	return f.Index[0]
}()

// arrayLen is the length of t's array part.
func arrayLen(t *lua.LTable) int {
	return reflect.ValueOf(t).Elem().Field(arrayField).Len()
}

// arrayKey returns k as an index of the array part, or 0 when gopher-lua
// would keep k in the hash part (utils.go's isArrayKey).
func arrayKey(k lua.LValue) int {
	n, ok := k.(lua.LNumber)
	if !ok || n < 1 || n >= lua.LNumber(lua.MaxArrayIndex) || n != lua.LNumber(int64(n)) {
		return 0
	}
	return int(n)
}

// startRun resets the counts of a run starting: its steps against budget
// (budget.go) and its empty slots; legacy is Run.Legacy.
func (s *state) startRun(budget int64, legacy bool) {
	s.steps, s.budget, s.holes, s.legacy = 0, budget, 0, legacy
}

// chargeHoles counts the empty slots a raw set of index i (arrayKey's) in
// an array part of alen slots leaves, and raises past the budget.
func (s *state) chargeHoles(L *lua.LState, i, alen int) {
	holes := int64(i - 1 - alen)
	if holes <= 0 || s.legacy {
		return
	}
	s.holes += holes
	if s.holes > holeBudget {
		raise(L, fmt.Sprintf("%s (%d): index %d of a table whose array part has %d slots would leave %d empty; "+
			"gopher-lua keeps integer keys below 2^26 in the array part, so use string keys for sparse ones",
			HoleBudgetExceeded, holeBudget, i, alen, holes))
	}
}

// holeCheck is holeName's function: the check before an assignment
// t[k] = v. The set lands where Lua's settable puts it: in t when t has
// the key or no __newindex; else in the __newindex table (followed as
// gopher-lua's setField does); a __newindex function leaves no slots (its
// own sets are checked). A non-table t fails in the assignment.
func (s *state) holeCheck(L *lua.LState) int {
	t, ok := L.Get(1).(*lua.LTable)
	if !ok {
		return 0
	}
	i := arrayKey(L.Get(2))
	if i == 0 {
		return 0
	}
	for n := 0; n < lua.MaxTableGetLoop; n++ {
		mt, ok := t.Metatable.(*lua.LTable)
		if !ok || t.RawGetInt(i) != lua.LNil {
			break
		}
		next, ok := mt.RawGetString("__newindex").(*lua.LTable)
		if !ok {
			if mt.RawGetString("__newindex") != lua.LNil {
				return 0 // a function
			}
			break
		}
		t = next
	}
	s.chargeHoles(L, i, arrayLen(t))
	return 0
}

// ctorKey is ctorKeyName's function: it returns the key of a constructor's
// keyed field as is, after counting the slots below it but the
// constructor's positional fields (its second argument).
func (s *state) ctorKey(L *lua.LState) int {
	k := L.Get(1)
	if i := arrayKey(k); i > 0 {
		s.chargeHoles(L, i, int(L.ToInt(2)))
	}
	L.SetTop(1)
	return 1
}

// ctorVal is ctorValName's function: it returns the value of a
// constructor's keyed field (its first argument) as is, after counting the
// slots below its key (the second) but the constructor's positional
// fields (the third).
func (s *state) ctorVal(L *lua.LState) int {
	if i := arrayKey(L.Get(2)); i > 0 {
		s.chargeHoles(L, i, int(L.ToInt(3)))
	}
	L.SetTop(1)
	return 1
}

// tableInsert wraps table.insert: with a position past the array part,
// gopher-lua sets it as t[pos] = v.
func (s *state) tableInsert(insert *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		if L.GetTop() == 3 {
			if t, ok := L.Get(1).(*lua.LTable); ok {
				if n, ok := L.Get(2).(lua.LNumber); ok {
					s.chargeHoles(L, arrayKey(lua.LNumber(int64(n))), arrayLen(t))
				}
			}
		}
		return insert.GFunction(L) // same frame: errors name the function as Lua does
	}
}

// needsHoleCheck reports whether an index expression's key may be an
// integer far past an array's end: anything but a constant string, nil,
// boolean, or a constant number that is not an integer from freeKey + 1
// to below MaxArrayIndex. (Not even a concatenation is sure to be a
// string: a __concat metamethod may return a number.)
func needsHoleCheck(key ast.Expr) bool {
	switch k := key.(type) {
	case *ast.StringExpr, *ast.NilExpr, *ast.TrueExpr, *ast.FalseExpr:
		return false
	case *ast.NumberExpr:
		v, err := strconv.ParseFloat(k.Value, 64)
		if err != nil {
			if u, uerr := strconv.ParseUint(k.Value, 0, 64); uerr == nil { // hex
				v = float64(u)
			} else {
				return true
			}
		}
		return arrayKey(lua.LNumber(v)) > freeKey
	}
	return true
}

// guardAssign rewrites an assignment with a checked target, and every
// assignment to several targets, into
//
//	do
//	  local o1, k1, ... = obj1, key1, ...  -- the targets' parts, in order
//	  local v1, ..., vn = rhs...           -- as many as there are targets
//	  hole(o1, k1) ...                     -- each checked target
//	  o1[k1], ... = v1, ..., vn
//	end
//
// which evaluates what Lua evaluates, when Lua does: a target's table and
// key before the right-hand side, except a local of the function being
// rewritten (or a constant), which Lua reads when it sets, after the
// right-hand side (`t[n] = f()` where f changes n sets the new n), and
// which the rewrite reads there too, unless the statement also assigns
// that local in a later target (`t[n], n = ...` uses the old n). The
// check sees what the set uses.
// Other statements are returned as they are.
//
// For several targets the values' locals also repair gopher-lua's
// multiple assignment, which reads a local of the right-hand side when it
// sets, after other values and sets may have changed it: `t.x, n = n, n +
// 1` and `t.x, u.y = n, f()` (f changing n) stored the new n in t.x, where
// Lua and Redis store the old one.
func (w *rewriter) guardAssign(s *ast.AssignStmt) ast.Stmt {
	checked := false
	for _, lhs := range s.Lhs {
		if a, ok := lhs.(*ast.AttrGetExpr); ok && needsHoleCheck(a.Key) {
			checked = true
		}
	}
	if !checked && len(s.Lhs) < 2 {
		return s
	}
	line := s.Line()
	var names []string
	var exprs []ast.Expr
	// assignedAfter[i]: the locals the statement assigns right of target
	// i. Lua copies a part of target i that names one of them before the
	// right-hand side (lparser.c's check_conflict), so the rewrite does.
	assignedAfter := make([]map[string]bool, len(s.Lhs))
	seen := map[string]bool{}
	for i := len(s.Lhs) - 1; i >= 0; i-- {
		assignedAfter[i] = maps.Clone(seen)
		if id, ok := s.Lhs[i].(*ast.IdentExpr); ok && w.isLocal(id.Value) {
			seen[id.Value] = true
		}
	}
	var checks []ast.Stmt
	for i, lhs := range s.Lhs {
		a, ok := lhs.(*ast.AttrGetExpr)
		if !ok {
			continue
		}
		// part returns what the set reads for e: e itself when Lua reads
		// it at the set, else a hidden local holding it, evaluated first.
		part := func(e ast.Expr) ast.Expr {
			if id, ok := e.(*ast.IdentExpr); w.readAtSet(e) && !(ok && assignedAfter[i][id.Value]) {
				return e
			}
			n := holeLocal + strconv.Itoa(len(names))
			names = append(names, n)
			exprs = append(exprs, e)
			return ident(line, n)
		}
		target := &ast.AttrGetExpr{Object: part(a.Object), Key: part(a.Key)}
		at(target, line)
		s.Lhs[i] = target
		if needsHoleCheck(a.Key) {
			checks = append(checks, callStmt(line, holeName, copyExpr(target.Object), copyExpr(target.Key)))
			w.hole = true
		}
	}
	var stmts []ast.Stmt
	if len(names) > 0 {
		parts := &ast.LocalAssignStmt{Names: names, Exprs: exprs}
		at(parts, line)
		stmts = append(stmts, parts)
	}
	values := &ast.LocalAssignStmt{Exprs: s.Rhs}
	at(values, line)
	s.Rhs = nil
	for i := range s.Lhs {
		n := holeLocal + strconv.Itoa(len(names)+i)
		values.Names = append(values.Names, n)
		s.Rhs = append(s.Rhs, ident(line, n))
	}
	stmts = append(append(append(stmts, values), checks...), s)
	block := &ast.DoBlockStmt{Stmts: stmts}
	at(block, line)
	return block
}

// readAtSet reports whether Lua reads e, a part of an assignment target,
// only when it sets: a constant, or a local of the function being
// rewritten (a register the set names).
func (w *rewriter) readAtSet(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.StringExpr, *ast.NumberExpr, *ast.NilExpr, *ast.TrueExpr, *ast.FalseExpr:
		return true
	case *ast.IdentExpr:
		return w.isLocal(x.Value)
	}
	return false
}

// copyExpr copies a part readAtSet or guardAssign returns (a constant or
// an identifier), so that no node appears twice in the tree.
func copyExpr(e ast.Expr) ast.Expr {
	var c ast.Expr
	switch x := e.(type) {
	case *ast.IdentExpr:
		c = &ast.IdentExpr{Value: x.Value}
	case *ast.StringExpr:
		c = &ast.StringExpr{Value: x.Value}
	case *ast.NumberExpr:
		c = &ast.NumberExpr{Value: x.Value}
	case *ast.NilExpr:
		c = &ast.NilExpr{}
	case *ast.TrueExpr:
		c = &ast.TrueExpr{}
	case *ast.FalseExpr:
		c = &ast.FalseExpr{}
	default:
		panic("script: copyExpr of a compound expression")
	}
	at(c.(interface {
		SetLine(int)
		SetLastLine(int)
	}), e.Line())
	return c
}

// guardConstructor checks the keyed fields of t whose key needs it. A key
// that is a local of the function is read by Lua when it sets the field,
// after the value: its value goes through ctorValName's function, which
// checks the key then. Any other key is evaluated before the value, and
// goes through ctorKeyName's function.
func (w *rewriter) guardConstructor(t *ast.TableExpr) {
	positional := 0
	for _, f := range t.Fields {
		if f.Key == nil {
			positional++
		}
	}
	for _, f := range t.Fields {
		if f.Key == nil || !needsHoleCheck(f.Key) {
			continue
		}
		line := f.Key.Line()
		n := &ast.NumberExpr{Value: strconv.Itoa(positional)}
		at(n, line)
		if id, ok := f.Key.(*ast.IdentExpr); ok && w.isLocal(id.Value) {
			f.Value = callExpr(line, ctorValName, f.Value, copyExpr(id), n)
			w.cval = true
			continue
		}
		f.Key = callExpr(line, ctorKeyName, f.Key, n)
		w.ctorKey = true
	}
}

// bind starts the chunk with `local hole, ckey, cval = hole, ckey, cval`
// for the hidden functions its guards call: a global lookup is two table
// lookups (the sandbox's proxy, then the globals), a local or upvalue a
// register read. The function libraries' top level
// binds them while loading, to the same state's functions, which is what
// their calls use later.
func (w *rewriter) bind(chunk []ast.Stmt) []ast.Stmt {
	var names []string
	var exprs []ast.Expr
	for _, h := range []struct {
		used bool
		name string
	}{{w.hole, holeName}, {w.ctorKey, ctorKeyName}, {w.cval, ctorValName}} {
		if h.used {
			names = append(names, h.name)
			exprs = append(exprs, ident(0, h.name))
		}
	}
	if len(names) == 0 {
		return chunk
	}
	st := &ast.LocalAssignStmt{Names: names, Exprs: exprs}
	at(st, 0)
	return append([]ast.Stmt{st}, chunk...)
}

func ident(line int, name string) *ast.IdentExpr {
	id := &ast.IdentExpr{Value: name}
	at(id, line)
	return id
}

func callExpr(line int, fn string, args ...ast.Expr) *ast.FuncCallExpr {
	call := &ast.FuncCallExpr{Func: ident(line, fn), Args: args}
	at(call, line)
	return call
}

func callStmt(line int, fn string, args ...ast.Expr) ast.Stmt {
	st := &ast.FuncCallStmt{Expr: callExpr(line, fn, args...)}
	at(st, line)
	return st
}

// at sets a node's source lines, which error messages report.
func at(n interface {
	SetLine(int)
	SetLastLine(int)
}, line int) {
	n.SetLine(line)
	n.SetLastLine(line)
}
