package integration

// Checkers of the Jepsen harness: registers are checked for
// linearizability with porcupine, one partition per key; the set and
// counter workloads have the classic Jepsen checks.

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// regInput is a register operation for porcupine.
type regInput struct {
	Key string
	F   string // read, write, swap
	V   string // written value
}

// regOutput is what the operation returned. Values are never empty, so ""
// stands for nil (a missing key) in states and outputs.
type regOutput struct {
	V       string
	Unknown bool // indeterminate
}

func showNil(s string) string {
	if s == "" {
		return "nil"
	}
	return s
}

// registerModel is a single register per partition (key); the initial
// value is nil.
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(regInput).Key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		s, in, out := state.(string), input.(regInput), output.(regOutput)
		switch in.F {
		case "read":
			return out.V == s, s
		case "write":
			return true, in.V
		default: // swap: SET k v XX GET writes only if k exists
			next := s
			if s != "" {
				next = in.V
			}
			return out.Unknown || out.V == s, next
		}
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(regInput), output.(regOutput)
		res := showNil(out.V)
		if out.Unknown {
			res = "?"
		}
		switch in.F {
		case "read":
			return fmt.Sprintf("get(%s) -> %s", in.Key, res)
		case "write":
			if out.Unknown {
				return fmt.Sprintf("set(%s, %s) -> ?", in.Key, in.V)
			}
			return fmt.Sprintf("set(%s, %s)", in.Key, in.V)
		default:
			return fmt.Sprintf("set(%s, %s, XX GET) -> %s", in.Key, in.V, res)
		}
	},
	DescribeState: func(state interface{}) string { return showNil(state.(string)) },
}

// registerOps converts the register history to porcupine operations:
// acknowledged operations as they are, indeterminate writes open-ended,
// failed operations and indeterminate reads dropped.
//
// An indeterminate write or swap whose value no operation ever returned is
// dropped too, when an acknowledged write of the key finished before it was
// invoked (etcd's robustness tests prune the same way). Without it porcupine
// must consider every subset of such writes and gives up on histories with
// many timeouts. Dropping it cannot change the verdict: the key holds a
// value from then on (nothing deletes), so the unseen write only replaces
// one value by another that nobody reads, and an open-ended operation may
// always be placed after everything else.
func registerOps(ops []jOp) (out []porcupine.Operation, pruned int) {
	observed := map[string]bool{}  // key + "=" + value returned by some op
	firstAck := map[string]int64{} // key -> earliest return of an ok write
	for _, op := range ops {
		if op.Workload != "register" || op.Type != "ok" {
			continue
		}
		if (op.F == "read" || op.F == "swap") && !op.OutNil {
			observed[op.Key+"="+op.Out] = true
		}
		if op.F == "write" || (op.F == "swap" && !op.OutNil) {
			if t, ok := firstAck[op.Key]; !ok || op.Return < t {
				firstAck[op.Key] = op.Return
			}
		}
	}
	for _, op := range ops {
		if op.Workload != "register" || op.Type == "fail" || (op.Type == "info" && op.F == "read") {
			continue
		}
		if op.Type == "info" && !observed[op.Key+"="+op.Value] {
			if t, ok := firstAck[op.Key]; ok && t < op.Call {
				pruned++
				continue
			}
		}
		in := regInput{Key: op.Key, F: op.F, V: op.Value}
		res := regOutput{V: op.Out, Unknown: op.Type == "info"}
		if op.OutNil {
			res.V = ""
		}
		out = append(out, porcupine.Operation{ClientId: op.Process, Input: in, Output: res,
			Call: op.Call, Return: op.Return})
	}
	return out, pruned
}

// checkRegister runs porcupine; on a violation it writes the HTML
// visualisation into dir. It returns the verdict and details.
func checkRegister(ops []jOp, events []jEvent, dir string, timeout time.Duration) (string, string) {
	h, pruned := registerOps(ops)
	if len(h) == 0 {
		return "invalid", "no register operations"
	}
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(registerModel, h, timeout)
	took := time.Since(start).Round(time.Millisecond)
	switch res {
	case porcupine.Ok:
		return "ok", fmt.Sprintf("linearizable (porcupine %v; %d unseen indeterminate writes pruned)", took, pruned)
	case porcupine.Unknown:
		return "unknown", fmt.Sprintf("porcupine gave up after %v (%d unseen indeterminate writes pruned)", took, pruned)
	}
	var ann []porcupine.Annotation
	for _, ev := range events {
		ann = append(ann, porcupine.Annotation{Tag: "nemesis", Start: ev.Start, End: ev.End,
			Description: ev.What, Details: ev.What + "; then " + ev.Heal})
	}
	info.AddAnnotations(ann)
	path := filepath.Join(dir, "register-porcupine.html")
	detail := fmt.Sprintf("NOT linearizable (porcupine %v); visualisation: %s", took, path)
	if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
		detail += fmt.Sprintf(" (writing it failed: %v)", err)
	}
	// Name the keys whose partitions fail, for the report.
	var bad []string
	for _, part := range registerModel.Partition(h) {
		if porcupine.CheckOperationsTimeout(registerModel, part, timeout) == porcupine.Illegal {
			bad = append(bad, part[0].Input.(regInput).Key)
		}
	}
	if len(bad) > 0 {
		detail += "; keys: " + strings.Join(bad, " ")
	}
	return "VIOLATION", detail
}

// splitTokens parses an APPENDed set value ("t1,t7,").
func splitTokens(v string) []string {
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

// checkSet checks the set workload: every acknowledged add is in the final
// read; nothing appears that was not attempted; nothing appears twice; and
// every successful read already holds every add acknowledged before it
// began.
func checkSet(ops []jOp) (string, string) {
	type addInfo struct {
		typ           string
		call, return_ int64
	}
	adds := map[string]map[string]addInfo{} // key -> token -> add
	var reads, finals []jOp
	for _, op := range ops {
		if op.Workload != "set" {
			continue
		}
		switch op.F {
		case "add":
			if adds[op.Key] == nil {
				adds[op.Key] = map[string]addInfo{}
			}
			adds[op.Key][op.Value] = addInfo{op.Type, op.Call, op.Return}
		case "read":
			if op.Type == "ok" {
				reads = append(reads, op)
			}
		case "final-read":
			finals = append(finals, op)
		}
	}
	var problems []string
	lostTotal, ackedTotal, recovered := 0, 0, 0
	for _, f := range finals {
		if f.Type != "ok" {
			problems = append(problems, fmt.Sprintf("%s: no final read: %s", f.Key, f.Err))
			continue
		}
		seen := map[string]int{}
		for _, tok := range splitTokens(f.Out) {
			seen[tok]++
		}
		var lost, unexpected, dup []string
		for tok, a := range adds[f.Key] {
			if a.typ == "ok" {
				ackedTotal++
				if seen[tok] == 0 {
					lost = append(lost, tok)
				}
			} else if a.typ == "info" && seen[tok] > 0 {
				recovered++
			}
		}
		for tok, n := range seen {
			a, ok := adds[f.Key][tok]
			if !ok || a.typ == "fail" {
				unexpected = append(unexpected, tok)
			}
			if n > 1 {
				dup = append(dup, tok)
			}
		}
		lostTotal += len(lost)
		for _, l := range []struct {
			what string
			toks []string
		}{{"lost acknowledged adds", lost}, {"never-attempted or failed adds present", unexpected}, {"duplicated adds", dup}} {
			if len(l.toks) > 0 {
				sort.Strings(l.toks)
				problems = append(problems, fmt.Sprintf("%s: %d %s: %s", f.Key, len(l.toks), l.what, firstN(l.toks, 10)))
			}
		}
	}
	// Reads: no acknowledged add may be missing from a later read.
	staleReads := 0
	var staleEx string
	for _, r := range reads {
		seen := map[string]bool{}
		for _, tok := range splitTokens(r.Out) {
			seen[tok] = true
		}
		for tok, a := range adds[r.Key] {
			if a.typ == "ok" && a.return_ < r.Call && !seen[tok] {
				staleReads++
				if staleEx == "" {
					staleEx = fmt.Sprintf("read of %s at %d misses %s acknowledged at %d", r.Key, r.Call, tok, a.return_)
				}
				break
			}
		}
	}
	if staleReads > 0 {
		problems = append(problems, fmt.Sprintf("%d stale reads, e.g. %s", staleReads, staleEx))
	}
	if len(finals) == 0 {
		problems = append(problems, "no final reads")
	}
	if len(problems) > 0 {
		return "VIOLATION", strings.Join(problems, "; ")
	}
	return "ok", fmt.Sprintf("%d acknowledged adds all present, %d indeterminate adds present, %d reads checked",
		ackedTotal, recovered, len(reads))
}

func firstN(s []string, n int) string {
	if len(s) > n {
		return strings.Join(s[:n], " ") + " ..."
	}
	return strings.Join(s, " ")
}

// checkCounter checks the counter workload per key: each value read (GET,
// an INCR's reply, and the final read) is at least the number of INCRs
// acknowledged before the read began and at most the number attempted (not
// definitely failed) before it ended; acknowledged INCRs return distinct
// values.
func checkCounter(ops []jOp) (string, string) {
	type keyOps struct {
		okReturns, attemptCalls []int64
		reads                   []jOp
		incrVals                map[int64]int
	}
	byKey := map[string]*keyOps{}
	get := func(k string) *keyOps {
		if byKey[k] == nil {
			byKey[k] = &keyOps{incrVals: map[int64]int{}}
		}
		return byKey[k]
	}
	var problems []string
	finals := 0
	for _, op := range ops {
		if op.Workload != "counter" {
			continue
		}
		ko := get(op.Key)
		switch {
		case op.F == "incr":
			if op.Type != "fail" {
				ko.attemptCalls = append(ko.attemptCalls, op.Call)
			}
			if op.Type == "ok" {
				ko.okReturns = append(ko.okReturns, op.Return)
				n, _ := strconv.ParseInt(op.Out, 10, 64)
				ko.incrVals[n]++
				ko.reads = append(ko.reads, op)
			}
		case op.Type == "ok":
			if op.F == "final-read" {
				finals++
			}
			ko.reads = append(ko.reads, op)
		case op.F == "final-read":
			problems = append(problems, fmt.Sprintf("%s: no final read: %s", op.Key, op.Err))
		}
	}
	checked := 0
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ko := byKey[k]
		sort.Slice(ko.okReturns, func(i, j int) bool { return ko.okReturns[i] < ko.okReturns[j] })
		sort.Slice(ko.attemptCalls, func(i, j int) bool { return ko.attemptCalls[i] < ko.attemptCalls[j] })
		bad := 0
		var ex string
		for _, r := range ko.reads {
			var v int64
			if !r.OutNil {
				var err error
				if v, err = strconv.ParseInt(r.Out, 10, 64); err != nil {
					problems = append(problems, fmt.Sprintf("%s: unparsable value %q", k, r.Out))
					continue
				}
			}
			// Acknowledged before the read began (an INCR's own ack is
			// after its call, so it is not counted for itself).
			lo := int64(sort.Search(len(ko.okReturns), func(i int) bool { return ko.okReturns[i] >= r.Call }))
			// Attempted before the read ended (including itself).
			end := r.Return
			if end == math.MaxInt64 {
				continue
			}
			hi := int64(sort.Search(len(ko.attemptCalls), func(i int) bool { return ko.attemptCalls[i] > end }))
			if r.F == "incr" {
				lo++ // it includes its own increment
			}
			checked++
			if v < lo || v > hi {
				bad++
				if ex == "" {
					ex = fmt.Sprintf("%s %s=%d at [%d,%d] outside [%d,%d]", r.F, k, v, r.Call, r.Return, lo, hi)
				}
			}
		}
		if bad > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d reads out of bounds, e.g. %s", k, bad, ex))
		}
		for v, n := range ko.incrVals {
			if n > 1 {
				problems = append(problems, fmt.Sprintf("%s: %d acknowledged INCRs returned %d", k, n, v))
			}
		}
	}
	if finals == 0 {
		problems = append(problems, "no final reads")
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return "VIOLATION", strings.Join(problems, "; ")
	}
	return "ok", fmt.Sprintf("%d reads within bounds on %d keys", checked, len(keys))
}

// jRow is one line of the summary table.
type jRow struct {
	Nemesis, Workload          string
	Ops, OK, Fail, Info, Fault int
	Verdict, Detail            string
}

// summarize counts a workload's operations (final reads excluded).
func summarize(nemesis, workload string, ops []jOp, faults int) jRow {
	r := jRow{Nemesis: nemesis, Workload: workload, Fault: faults}
	for _, op := range ops {
		if op.Workload != workload || op.F == "final-read" {
			continue
		}
		r.Ops++
		switch op.Type {
		case "ok":
			r.OK++
		case "fail":
			r.Fail++
		default:
			r.Info++
		}
	}
	return r
}

// summaryTable renders rows as a Markdown table.
func summaryTable(rows []jRow) string {
	var b strings.Builder
	b.WriteString("| nemesis | workload | faults | operations | acknowledged | failed | indeterminate | verdict |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %s |\n",
			r.Nemesis, r.Workload, r.Fault, r.Ops, r.OK, r.Fail, r.Info, r.Verdict)
	}
	return b.String()
}

// TestJepsenCheckers feeds the checkers small hand-made histories, so that
// a checker that accepts everything cannot pass unnoticed.
func TestJepsenCheckers(t *testing.T) {
	const inf = math.MaxInt64
	reg := func(p int, f, k, v, out string, typ string, call, ret int64) jOp {
		return jOp{Workload: "register", Process: p, F: f, Key: k, Value: v, Out: out, OutNil: out == "",
			Type: typ, Call: call, Return: ret}
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		ops  []jOp
		want string
	}{
		{"write then read", []jOp{reg(0, "write", "a", "v1", "", "ok", 0, 10), reg(1, "read", "a", "", "v1", "ok", 20, 30)}, "ok"},
		{"stale read", []jOp{reg(0, "write", "a", "v1", "", "ok", 0, 10), reg(1, "read", "a", "", "", "ok", 20, 30)}, "VIOLATION"},
		{"indeterminate write seen", []jOp{reg(0, "write", "a", "v1", "", "info", 0, inf), reg(1, "read", "a", "", "v1", "ok", 20, 30)}, "ok"},
		{"indeterminate write unseen", []jOp{reg(0, "write", "a", "v1", "", "info", 0, inf), reg(1, "read", "a", "", "", "ok", 20, 30)}, "ok"},
		{"failed write seen", []jOp{reg(0, "write", "a", "v1", "", "fail", 0, 10), reg(1, "read", "a", "", "v1", "ok", 20, 30)}, "VIOLATION"},
		{"swap on nil does not write", []jOp{reg(0, "swap", "a", "v1", "", "ok", 0, 10), reg(1, "read", "a", "", "v1", "ok", 20, 30)}, "VIOLATION"},
		{"swap returns old", []jOp{reg(0, "write", "a", "v1", "", "ok", 0, 10), reg(0, "swap", "a", "v2", "v1", "ok", 20, 30),
			reg(1, "read", "a", "", "v2", "ok", 40, 50)}, "ok"},
		{"unseen indeterminate write pruned", []jOp{reg(0, "write", "a", "v1", "", "ok", 0, 10), reg(0, "write", "a", "v2", "", "info", 20, inf),
			reg(1, "read", "a", "", "v1", "ok", 30, 40)}, "ok"},
		{"seen indeterminate write kept", []jOp{reg(0, "write", "a", "v1", "", "ok", 0, 10), reg(0, "write", "a", "v2", "", "info", 20, inf),
			reg(1, "read", "a", "", "v2", "ok", 30, 40), reg(1, "read", "a", "", "v1", "ok", 50, 60)}, "VIOLATION"},
		{"keys are separate", []jOp{reg(0, "write", "a", "v1", "", "ok", 0, 10), reg(1, "read", "b", "", "v1", "ok", 20, 30)}, "VIOLATION"},
	} {
		if got, detail := checkRegister(tc.ops, nil, dir, 10*time.Second); got != tc.want {
			t.Errorf("register %s: %s (%s), want %s", tc.name, got, detail, tc.want)
		}
	}
	set := func(f, k, v, out, typ string, call, ret int64) jOp {
		return jOp{Workload: "set", F: f, Key: k, Value: v, Out: out, Type: typ, Call: call, Return: ret}
	}
	for _, tc := range []struct {
		name string
		ops  []jOp
		want string
	}{
		{"all present", []jOp{set("add", "s", "t1", "", "ok", 0, 10), set("add", "s", "t2", "", "info", 0, inf),
			set("final-read", "s", "", "t1,", "ok", 100, 110)}, "ok"},
		{"lost add", []jOp{set("add", "s", "t1", "", "ok", 0, 10), set("final-read", "s", "", "", "ok", 100, 110)}, "VIOLATION"},
		{"duplicate", []jOp{set("add", "s", "t1", "", "ok", 0, 10), set("final-read", "s", "", "t1,t1,", "ok", 100, 110)}, "VIOLATION"},
		{"failed add present", []jOp{set("add", "s", "t1", "", "fail", 0, 10), set("final-read", "s", "", "t1,", "ok", 100, 110)}, "VIOLATION"},
		{"stale read", []jOp{set("add", "s", "t1", "", "ok", 0, 10), set("read", "s", "", "", "ok", 20, 30),
			set("final-read", "s", "", "t1,", "ok", 100, 110)}, "VIOLATION"},
	} {
		if got, detail := checkSet(tc.ops); got != tc.want {
			t.Errorf("set %s: %s (%s), want %s", tc.name, got, detail, tc.want)
		}
	}
	ctr := func(f, out, typ string, call, ret int64) jOp {
		return jOp{Workload: "counter", F: f, Key: "c", Out: out, OutNil: out == "" && f != "incr", Type: typ, Call: call, Return: ret}
	}
	for _, tc := range []struct {
		name string
		ops  []jOp
		want string
	}{
		{"bounded", []jOp{ctr("incr", "1", "ok", 0, 10), ctr("incr", "", "info", 20, inf), ctr("read", "2", "ok", 30, 40),
			ctr("final-read", "2", "ok", 100, 110)}, "ok"},
		{"lost increment", []jOp{ctr("incr", "1", "ok", 0, 10), ctr("incr", "2", "ok", 20, 30), ctr("final-read", "1", "ok", 100, 110)}, "VIOLATION"},
		{"too many", []jOp{ctr("incr", "1", "ok", 0, 10), ctr("incr", "", "fail", 20, 30), ctr("final-read", "2", "ok", 100, 110)}, "VIOLATION"},
		{"same reply twice", []jOp{ctr("incr", "1", "ok", 0, 10), ctr("incr", "1", "ok", 5, 15), ctr("final-read", "2", "ok", 100, 110)}, "VIOLATION"},
	} {
		if got, detail := checkCounter(tc.ops); got != tc.want {
			t.Errorf("counter %s: %s (%s), want %s", tc.name, got, detail, tc.want)
		}
	}
	bank := func(f, out, typ string) jOp { return jOp{Workload: "bank", F: f, Key: bankKey, Out: out, Type: typ} }
	for _, tc := range []struct {
		name string
		ops  []jOp
		want string
	}{
		{"conserved", []jOp{bank("transfer", "", "ok"), bank("read", "a0=-3,a1=3", "ok"), bank("final-read", "a0=-3,a1=1,a2=2", "ok")}, "ok"},
		{"failed read ignored", []jOp{bank("checked-transfer", "", "ok"), bank("read", "a0=5", "fail"), bank("final-read", "", "ok")}, "ok"},
		{"lost update", []jOp{bank("checked-transfer", "", "ok"), bank("read", "a0=-3,a1=2", "ok"), bank("final-read", "a0=-3,a1=3", "ok")}, "VIOLATION"},
		{"final drift", []jOp{bank("transfer", "", "ok"), bank("final-read", "a0=1", "ok")}, "VIOLATION"},
		{"no final read", []jOp{bank("transfer", "", "ok")}, "unknown"},
	} {
		if got, detail := checkBank(tc.ops); got != tc.want {
			t.Errorf("bank %s: %s (%s), want %s", tc.name, got, detail, tc.want)
		}
	}
}
