package command

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// scriptSink is a raft.SnapshotSink in memory.
type scriptSink struct{ bytes.Buffer }

func (s *scriptSink) ID() string    { return "mem" }
func (s *scriptSink) Cancel() error { return nil }
func (s *scriptSink) Close() error  { return nil }

// dumpStore renders every key, value and expiry of st, sorted by slot then
// insertion (deterministic for equal stores built alike).
func dumpStore(st *shard.Store) string {
	st.RLock()
	defer st.RUnlock()
	var b strings.Builder
	for i := 0; i < shard.NumSlots; i++ {
		var keys []string
		st.RangeSlot(i, func(k string, e *shard.Entry) bool {
			keys = append(keys, fmt.Sprintf("%q=%q@%d", k, e.Value, e.ExpireAt))
			return true
		})
		// Order within a slot is the map's: sort.
		sortStrings(keys)
		for _, k := range keys {
			b.WriteString(k)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// scriptEntries builds a random sequence of script entries: loads, evals
// with random numbers, TIME, expiries, errors, and a flush.
func scriptEntries(rng *rand.Rand, n int) [][]byte {
	bodies := []string{
		"return redis.call('INCR', KEYS[1])",
		"redis.call('SET', KEYS[1], math.random(1000000)) return redis.call('GET', KEYS[1])",
		"local t = redis.call('TIME') redis.call('SET', KEYS[1], t[1] .. '.' .. t[2], 'PX', ARGV[1]) return 1",
		"redis.call('APPEND', KEYS[1], tostring({}) .. ARGV[1]) return redis.call('STRLEN', KEYS[1])",
		"local v = redis.pcall('INCR', KEYS[1]) if type(v) == 'table' then redis.call('SET', KEYS[1], 'was-not-int') end return 1",
		"redis.call('SET', KEYS[1], cjson.encode({a = ARGV[1], n = 1.5})) return redis.call('DEL', 'nonexistent')",
		"error('fails after a write? no: before') ",
		"redis.call('SET', KEYS[1], 'x') error('fails after a write')",
		// KEYS and SCAN iterate Go maps: the FSM sorts their replies.
		"redis.call('SET', KEYS[1], table.concat(redis.call('KEYS', '*'), ',')) return 1",
		"local r = redis.call('SCAN', 0, 'COUNT', 1000) redis.call('SET', KEYS[1], r[1] .. table.concat(r[2], ',')) return 1",
		"return redis.pcall('RANDOMKEY')",
		// Never ends: the entry's step budget stops it at the same step on
		// every replica (its INCRs before that are kept).
		"while true do redis.call('INCR', KEYS[1]) end",
	}
	var out [][]byte
	now := int64(1_700_000_000_000)
	for i := 0; i < n; i++ {
		now += int64(rng.IntN(50))
		body := bodies[rng.IntN(len(bodies))]
		key := fmt.Sprintf("{t}k%d", rng.IntN(8)) // one slot: KEYS's order is the map's
		switch rng.IntN(10) {
		case 0:
			out = append(out, raftfsm.EncodeScriptLoad(nil, []byte(body)))
		case 1:
			if rng.IntN(4) == 0 {
				out = append(out, raftfsm.EncodeScriptFlush(nil))
				continue
			}
			fallthrough
		default:
			out = append(out, raftfsm.EncodeScriptEval(nil, now, 0, 0, 5000, []byte(body),
				[][]byte{[]byte(key)}, [][]byte{[]byte(fmt.Sprint(1 + rng.IntN(100)))}))
		}
	}
	return out
}

// TestScriptEntriesDeterministic applies the same script entries on two
// FSMs; the second is restored mid-way from the first's snapshot (scripts
// restored through Scripts/RestoreScripts). Both must end with identical
// stores, script caches and replies.
func TestScriptEntriesDeterministic(t *testing.T) {
	seed := testutil.Seed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	entries := scriptEntries(rng, 400)
	a := raftfsm.NewFSM(shard.New(), Executor(), nil)
	b := raftfsm.NewFSM(shard.New(), Executor(), nil)
	mid := len(entries) / 2
	var repA, repB []string
	for i, e := range entries {
		l := &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: e}
		repA = append(repA, fmt.Sprintf("%q", a.ApplyBatch([]*raft.Log{l})[0]))
		if i < mid {
			continue
		}
		if i == mid {
			restoreFrom(t, b, a)
			b.RestoreScripts(a.Scripts())
			repB = append(repB, repA[i])
			continue
		}
		repB = append(repB, fmt.Sprintf("%q", b.ApplyBatch([]*raft.Log{l})[0]))
	}
	for i := range repB {
		if repA[mid+i] != repB[i] {
			t.Fatalf("entry %d: replies differ: %s vs %s", mid+i, repA[mid+i], repB[i])
		}
	}
	if da, db := dumpStore(a.Store()), dumpStore(b.Store()); da != db {
		t.Fatalf("stores differ:\n%s\nvs\n%s", da, db)
	}
	if sa, sb := a.Scripts(), b.Scripts(); fmt.Sprint(sa) != fmt.Sprint(sb) {
		t.Fatalf("script caches differ: %q vs %q", sa, sb)
	}
	if dumpStore(a.Store()) == "" {
		t.Fatal("the scripts wrote nothing: the test tests nothing")
	}
}

// restoreFrom restores dst from a snapshot of src, as a replica that
// installs its leader's snapshot.
func restoreFrom(t *testing.T, dst, src *raftfsm.FSM) {
	t.Helper()
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink scriptSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if err := dst.Restore(nopCloser{&sink}); err != nil {
		t.Fatal(err)
	}
}

type nopCloser struct{ *scriptSink }

func (nopCloser) Close() error { return nil }
