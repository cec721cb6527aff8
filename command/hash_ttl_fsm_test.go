package command

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// fieldExpireEntry is the Expire entry (raftfsm/codec.go, type 3 version 1)
// the leader's active expiry proposes for hashes with due fields: each key
// with expireAt 0.
func fieldExpireEntry(now int64, keys ...string) []byte {
	b := []byte{3, 1}
	b = binary.AppendUvarint(b, uint64(now))
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, 0)
	}
	return b
}

// dumpHashes renders every hash of st with its fields, values and field
// times, in field order (listpack order is part of the state).
func dumpHashes(st *shard.Store) string {
	st.RLock()
	defer st.RUnlock()
	var lines []string
	for i := 0; i < shard.NumSlots; i++ {
		st.RangeSlot(i, func(k string, e *shard.Entry) bool {
			h, ok := e.Object().(*shard.Hash)
			if !ok {
				return true
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%s listpack=%v ttls=%v:", k, h.Listpack(), h.HasTTLs())
			h.Range(func(f, v []byte) bool {
				fmt.Fprintf(&b, " %s=%s@%d", f, v, h.FieldTTL(f))
				return true
			})
			lines = append(lines, b.String())
			return true
		})
	}
	sortStrings(lines)
	return strings.Join(lines, "\n")
}

// TestFieldExpiryDeterministic applies a random log of hash writes, field
// times (some already due, some due soon) and the leader's field expiry
// entries to an FSM, and the second half of it to another FSM restored
// from the first's snapshot midway: every reply, and the hashes (fields,
// values, times and listpack order), must be the same. The FSM deletes due
// fields at each entry's time, so a replica's own clock never matters.
// Replay with SHOAL_SEED.
func TestFieldExpiryDeterministic(t *testing.T) {
	seed := testutil.Seed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	key := func() string { return "h" + strconv.Itoa(rng.IntN(4)) }
	field := func() string { return "f" + strconv.Itoa(rng.IntN(6)) }
	now := int64(1_000_000)
	var entries [][]byte
	for range 500 {
		now += int64(rng.IntN(30))
		k := key()
		var c []string
		switch r := rng.IntN(100); {
		case r < 30:
			c = []string{"HSET", k, field(), strconv.Itoa(rng.IntN(100)), field(), "v"}
		case r < 55:
			c = []string{"HPEXPIREAT", k, strconv.FormatInt(now+int64(rng.IntN(120))-10, 10), "FIELDS", "2", field(), field()}
		case r < 65:
			c = []string{"HPEXPIRE", k, strconv.Itoa(rng.IntN(100)), []string{"NX", "XX", "GT", "LT"}[rng.IntN(4)], "FIELDS", "1", field()}
		case r < 72:
			c = []string{"HINCRBY", k, field(), "1"}
		case r < 78:
			c = []string{"HPERSIST", k, "FIELDS", "1", field()}
		case r < 82:
			c = []string{"HDEL", k, field()}
		case r < 86:
			c = []string{"HSETNX", k, field(), "nx"}
		default:
			entries = append(entries, fieldExpireEntry(now, k, key()))
			continue
		}
		args := make([][]byte, len(c))
		for i, a := range c {
			args[i] = []byte(a)
		}
		entries = append(entries, raftfsm.EncodeCommands(nil, now, [][][]byte{args}))
	}
	a := raftfsm.NewFSM(shard.New(), Executor(), nil)
	b := raftfsm.NewFSM(shard.New(), Executor(), nil)
	mid := len(entries) / 2
	render := func(v any) string {
		if r, ok := v.(*raftfsm.Result); ok {
			return fmt.Sprintf("%q", r.Replies)
		}
		return fmt.Sprint(v)
	}
	var repA, repB []string
	for i, e := range entries {
		l := &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: e}
		repA = append(repA, render(a.ApplyBatch([]*raft.Log{l})[0]))
		if i < mid {
			continue
		}
		if i == mid {
			restoreFrom(t, b, a)
			continue
		}
		repB = append(repB, render(b.ApplyBatch([]*raft.Log{l})[0]))
	}
	for i := range repB {
		if repA[mid+1+i] != repB[i] {
			t.Fatalf("entry %d: replies differ: %s vs %s", mid+1+i, repA[mid+1+i], repB[i])
		}
	}
	da, db := dumpHashes(a.Store()), dumpHashes(b.Store())
	if da != db {
		t.Fatalf("hashes differ:\n%s\nvs\n%s", da, db)
	}
	if !strings.Contains(strings.Join(repA, ""), `:2\r\n`) || a.Store().Stats().ExpiredFields == 0 {
		t.Fatalf("the log deleted no field by time (HEXPIRE 2: %v, expired fields %d): it tests nothing",
			strings.Contains(strings.Join(repA, ""), `:2\r\n`), a.Store().Stats().ExpiredFields)
	}
	t.Logf("final hashes:\n%s\n(%d fields expired)", da, a.Store().Stats().ExpiredFields)
}
