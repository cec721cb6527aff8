package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/shard"
)

// TestCodecDatabases: commands of databases other than 0 travel in a
// version 2 Commands entry, each with its database; Expire and Evict of
// another database than 0 in their version 2; database 0 keeps version 1.
func TestCodecDatabases(t *testing.T) {
	var d Decoded
	if err := decodeEntry(EncodeCommands(nil, 5, [][][]byte{cmd("SET", "k", "v")}), &d); err != nil || d.version != versionCommands || d.DB(0) != 0 {
		t.Fatalf("version 1: %v, version %d, db %d", err, d.version, d.DB(0))
	}
	cmds := [][][]byte{cmd("SET", "k", "v"), cmd("DEL", "k"), cmd("INCR", "n")}
	data := EncodeCommandsDB(nil, 1234, []int{3, 0, 15}, cmds)
	if data[1] != versionCommandsDB {
		t.Fatalf("EncodeCommandsDB wrote version %d", data[1])
	}
	if err := DecodeCommands(data, &d); err != nil {
		t.Fatal(err)
	}
	if d.Now != 1234 || !equalCmds(d.Cmds, cmds) || d.DB(0) != 3 || d.DB(1) != 0 || d.DB(2) != 15 {
		t.Fatalf("decoded now %d, dbs %v, cmds %q", d.Now, d.DBs, d.Cmds)
	}
	// Decoding a version 1 entry after it forgets the databases.
	if err := DecodeCommands(EncodeCommands(nil, 1, cmds), &d); err != nil || len(d.DBs) != 0 || d.DB(2) != 0 {
		t.Fatalf("version 1 after version 2: %v, dbs %v", err, d.DBs)
	}
	keys := []shard.ExpiredKey{{Key: "a", ExpireAt: 7}}
	for _, tc := range []struct {
		data    []byte
		db      int
		version byte
	}{
		{encodeExpire(nil, 9, 0, keys), 0, versionExpire},
		{encodeExpire(nil, 9, 12, keys), 12, versionExpireDB},
		{encodeEvict(nil, 0, [][]byte{[]byte("a")}), 0, versionEvict},
		{encodeEvict(nil, 15, [][]byte{[]byte("a")}), 15, versionEvictDB},
	} {
		if err := decodeEntry(tc.data, &d); err != nil || d.db != tc.db || d.version != tc.version || len(d.keys) != 1 {
			t.Errorf("entry % x: %v, db %d, version %d", tc.data, err, d.db, d.version)
		}
	}
	for name, bad := range map[string][]byte{
		"commands db 16":        hdr(entryCommands, versionCommandsDB, 1, 1, 16, 1, 1, 'x'),
		"commands db missing":   hdr(entryCommands, versionCommandsDB, 1, 1),
		"expire db 0 in v2":     hdr(entryExpire, versionExpireDB, 1, 0, 1, 1, 'a', 1),
		"expire db 16":          hdr(entryExpire, versionExpireDB, 1, 16, 1, 1, 'a', 1),
		"evict db 0 in v2":      hdr(entryEvict, versionEvictDB, 0, 1, 1, 'a'),
		"evict db huge varint":  hdr(entryEvict, versionEvictDB, 0xff, 0xff, 0xff, 0x7f, 1, 1, 'a'),
		"evict v2 without keys": hdr(entryEvict, versionEvictDB, 3),
	} {
		if err := decodeEntry(bad, &d); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: err = %v, want ErrBadEntry", name, err)
		}
	}
}

// dbLog is a log entry of cmds in the databases dbs.
func dbLog(index uint64, now int64, dbs []int, cmds ...[][]byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: EncodeCommandsDB(nil, now, dbs, cmds)}
}

// dbMap returns storeMap of database db of st.
func dbMap(st *shard.Store, db int) map[string]kv { return storeMap(st.DB(db)) }

// TestFSMAppliesPerDatabase: each command of an entry runs in its own
// database; expiry and eviction entries act on theirs; slot ownership is
// checked whatever the database.
func TestFSMAppliesPerDatabase(t *testing.T) {
	f, _ := newTestFSM()
	st := f.Store()
	got := replies(t, f.Apply(dbLog(1, 1000, []int{0, 3, 3, 15},
		cmd("SET", "k", "zero"), cmd("SET", "k", "three"), cmd("SETAT", "t", "v", "1500"), cmd("INCR", "n"))))
	if len(got) != 4 || got[3] != ":1\r\n" {
		t.Fatalf("replies %q", got)
	}
	sameMap(t, "database 0", dbMap(st, 0), map[string]kv{"k": {"zero", 0}})
	sameMap(t, "database 3", dbMap(st, 3), map[string]kv{"k": {"three", 0}, "t": {"v", 1500}})
	sameMap(t, "database 15", dbMap(st, 15), map[string]kv{"n": {"1", 0}})

	// Expire in database 0 does not touch database 3's t; in 3 it does.
	if n := f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: encodeExpire(nil, 2000, 0, []shard.ExpiredKey{{Key: "t", ExpireAt: 1500}})}); n != 0 {
		t.Errorf("expire in database 0 deleted %v", n)
	}
	if n := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: encodeExpire(nil, 2000, 3, []shard.ExpiredKey{{Key: "t", ExpireAt: 1500}})}); n != 1 {
		t.Errorf("expire in database 3 deleted %v, want 1", n)
	}
	if n := f.Apply(&raft.Log{Index: 4, Type: raft.LogCommand, Data: encodeEvict(nil, 15, [][]byte{[]byte("n"), []byte("k")})}); n != 1 {
		t.Errorf("evict in database 15 deleted %v, want 1", n)
	}
	sameMap(t, "database 0 after", dbMap(st, 0), map[string]kv{"k": {"zero", 0}})
	sameMap(t, "database 3 after", dbMap(st, 3), map[string]kv{"k": {"three", 0}})
	sameMap(t, "database 15 after", dbMap(st, 15), map[string]kv{})

	// The group stops owning k's slot: the write is refused in database 5
	// as in database 0.
	slot := shard.Slot("k")
	var slots shard.SlotSet
	slots.AddRange(shard.SlotRange{Start: (slot + 1) % shard.NumSlots, End: (slot + 1) % shard.NumSlots})
	f.Apply(&raft.Log{Index: 5, Type: raft.LogCommand, Data: encodeOwnership(nil, 1, slots.Ranges(nil))})
	got = replies(t, f.Apply(dbLog(6, 3000, []int{5}, cmd("SET", "k", "five"))))
	if slotOf, ok := ParseNotOwner([]byte(got[0])); !ok || slotOf != slot {
		t.Errorf("write to an unowned slot in database 5 = %q, want NOTOWNER %d", got[0], slot)
	}
	if st.DB(5).Len() != 0 {
		t.Error("the refused write was applied")
	}
}

// TestFSMSnapshotRestoreDatabases: a snapshot carries every database, and
// Restore brings them all back in the store readers hold, emptying the
// databases the snapshot lacks.
func TestFSMSnapshotRestoreDatabases(t *testing.T) {
	src, _ := newTestFSM()
	src.Apply(dbLog(1, 7000, []int{0, 2, 9, 9, 15},
		cmd("SET", "a", "0"), cmd("SET", "a", "2"), cmd("SET", "b", "9"), cmd("SETAT", "c", "9", "99999"), cmd("SET", "z", "15")))
	sink := persisted(t, src)

	dst, _ := newTestFSM()
	dst.Apply(dbLog(1, 100, []int{4, 2}, cmd("SET", "stale", "x"), cmd("SET", "a", "stale")))
	store := dst.Store()
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	for db := 0; db < shard.NumDBs; db++ {
		sameMap(t, "restored database", dbMap(store, db), dbMap(src.Store(), db))
	}
	if store.DB(4).Len() != 0 || store.DB(9).VolatileLen() != 1 || store.TotalLen() != 5 {
		t.Errorf("database 4 has %d keys, 9 %d volatile, %d in all", store.DB(4).Len(), store.DB(9).VolatileLen(), store.TotalLen())
	}
}

// TestGroupDatabasesSurviveRestart: proposals in several databases, packed
// into one entry with database 0's, apply in their databases; a group
// restarted from its data directory has them all, from a snapshot and from
// the log after it.
func TestGroupDatabasesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	g, _ := startGroup(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type p struct {
		db   int
		k, v string
	}
	first := []p{{0, "k", "zero"}, {3, "k", "three"}, {15, "k", "fifteen"}, {3, "x", "3x"}}
	errs := make(chan error, len(first))
	for _, w := range first { // concurrently: the batcher may pack them into one entry
		go func(w p) {
			_, err := g.ProposeDB(ctx, w.db, [][][]byte{cmd("SET", w.k, w.v)})
			errs <- err
		}(w)
	}
	for range first {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if r, queued, err := g.TryProposeDB(7, [][][]byte{cmd("SET", "after", "snap")}); !queued || err != nil || string(r.Get(0)) != "+OK\r\n" {
		t.Fatalf("TryProposeDB: %v %v", queued, err)
	}
	if _, err := g.ProposeExpire(ctx, 3, []shard.ExpiredKey{{Key: "x", ExpireAt: 0}}); err != nil {
		t.Fatal(err) // a no-op (x has no expiry), through the log after the snapshot
	}
	shutdown(t, g)

	cfg2 := testConfig(dir)
	cfg2.Bootstrap = nil
	g2, _ := startGroup(t, cfg2)
	want := map[int]map[string]string{0: {"k": "zero"}, 3: {"k": "three", "x": "3x"}, 7: {"after": "snap"}, 15: {"k": "fifteen"}}
	for db := 0; db < shard.NumDBs; db++ {
		w := want[db]
		if w == nil {
			w = map[string]string{}
		}
		storeHas(t, g2.Store().DB(db), w)
	}
}
