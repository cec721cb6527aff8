package raftfsm

import (
	"encoding/binary"

	"github.com/shoalcache/shoal/shard"
)

// Log entry format.
//
// Every entry starts with a two-byte header, then the payload of its type
// and version. All integers are unsigned varints.
//
//	type     1 byte
//	version  1 byte: the version of this type's payload
//
// Types and their payloads:
//
//	2 Commands, version 1: client write commands
//	  now     the proposing leader's clock, milliseconds since the Unix epoch
//	  count   number of commands
//	  count × command:
//	    argc  number of arguments (>= 1)
//	    argc × (len, bytes)
//
//	2 Commands, version 2: client write commands, some of them in a
//	  database other than 0 (SELECT, standalone mode). Written only when
//	  a command of the entry is, so that version 1 stays the common case.
//	  now, count as in version 1
//	  count × command:
//	    db    the database the command runs in (< shard.NumDBs)
//	    argc, argc × (len, bytes) as in version 1
//
//	3 Expire, version 1: active expiry found these keys expired
//	  now     the proposing leader's clock
//	  count
//	  count × (len, key, expireAt)
//	  Each key is deleted if its expiry is still expireAt and not after now
//	  (shard.Store.Expire). expireAt 0 (no key of the store is volatile
//	  with it) asks instead for the key's hash fields expired at now to be
//	  deleted (shard.Store.ExpireFields: per-field expiry); replicas that
//	  predate it did nothing for such a key, which is what they must do.
//
//	3 Expire, version 2: version 1 with the database (1..shard.NumDBs-1)
//	  after now: for databases other than 0 only (0 is malformed).
//
//	4 Evict, version 1: maxmemory eviction chose these keys
//	  count
//	  count × (len, key)
//
//	4 Evict, version 2: db ‖ version 1's payload, db in 1..shard.NumDBs-1
//	  (0 is malformed).
//
//	Versions 1 of Commands, Expire and Evict act on database 0.
//
//	5 SetOwnership, version 1: the slots the group owns from now on
//	  epoch   the ownership epoch; applied only if above the current one
//	  count   number of ranges (<= 8192)
//	  count × (gap, span): start = previous end + 1 + gap (the previous end
//	          of the first range is -1), end = start + span, end < 16384.
//	          Ranges thus ascend and neither overlap nor touch.
//
//	Slot migration (docs/migration.md; FSM semantics in migrate.go). A
//	name (job, target, source) is (len, bytes) with len <= 1024; ranges are
//	count (1..8192) × (gap, span) as in SetOwnership.
//
//	6 MigrateOut, version 1: the source group starts migrating slots out
//	  job, ranges, target, epoch
//
//	7 Fence, version 1: the source stops taking writes to the job's slots
//	  job
//
//	8 IngestReset, version 1: the target (re)starts importing a job
//	  job, ranges, source, sourceTerm
//
//	9 Ingest, version 1: one chunk of copied keys, in the target
//	  job, sourceTerm, upTo
//	  count
//	  count × key:
//	    flags     1 byte: 1 = deleted, 0 = set; other bits must be 0
//	    len, key
//	    if set: len, value, expireAt (0 = no expiry)
//
//	9 Ingest, version 2: version 1 with collections: flags 2 = set to a
//	  collection, followed by its type (1 byte, shard.Type), then len, the
//	  value encoded by shard.AppendObject, expireAt. Written only for a
//	  chunk that holds a collection, so that strings-only chunks stay
//	  readable by replicas that predate data types.
//
//	10 MigrateEnd, version 1: the job is over, in the source or target
//	  job, outcome (1 byte: 1 done, 0 aborted)
//
//	(Numbers 6-8 were once reserved for other migration entries that were
//	never written to any log.)
//
//	1 (legacy): the commands entry written before entries had a version,
//	  without a version byte: 1 ‖ now ‖ count ‖ commands as in Commands.
//	  Still decoded so that logs written before an upgrade replay; in it,
//	  commands named "\x00expire" (key, expireAt as 8 bytes big endian) and
//	  "\x00evict" (keys) are the old expiry and eviction.
//
// An entry of any other type, or of a known type with another version, is
// unknown (ErrUnknownEntry): it was written by a newer Shoal. An entry that
// does not parse as its type and version says is malformed (ErrBadEntry). A
// replica halts on either (see FSM); it never skips an entry.
//
// Every command of a Commands entry sees the same now. Decoding never
// copies: arguments and keys alias the entry's bytes.
type entryType byte

const (
	entryLegacyCommands entryType = 1
	entryCommands       entryType = 2
	entryExpire         entryType = 3
	entryEvict          entryType = 4
	entrySetOwnership   entryType = 5
	entryMigrateOut     entryType = 6
	entryFence          entryType = 7
	entryIngestReset    entryType = 8
	entryIngest         entryType = 9
	entryMigrateEnd     entryType = 10
	entryTransaction    entryType = 11 // codec_tx.go
	entryScript         entryType = 12 // codec_script.go
)

// The payload version of each type this Shoal writes and reads. Commands,
// Expire and Evict have a second version, with databases, written only for
// databases other than 0.
const (
	versionCommands     = 1
	versionExpire       = 1
	versionEvict        = 1
	versionCommandsDB   = 2
	versionExpireDB     = 2
	versionEvictDB      = 2
	versionSetOwnership = 1
	versionMigrateOut   = 1
	versionFence        = 1
	versionIngestReset  = 1
	versionIngest       = 1
	versionIngestTyped  = 2
	versionMigrateEnd   = 1
)

// Limits that decoding enforces, so that a corrupt entry cannot make the FSM
// allocate without bound.
const (
	maxArgs   = 1 << 24
	maxRanges = shard.NumSlots / 2
	maxNow    = 1 << 62
	maxName   = 1024
)

// Internal commands of legacy entries (type 1).
var (
	opExpire = []byte("\x00expire") // key, expireAt (8 bytes big endian)
	opEvict  = []byte("\x00evict")  // key...
)

// beginCommands appends the header of a Commands entry of count commands
// stamped with now; the caller then appends exactly count commands with
// appendCommand.
func beginCommands(dst []byte, now int64, count int) []byte {
	dst = append(dst, byte(entryCommands), versionCommands)
	dst = binary.AppendUvarint(dst, uint64(now))
	return binary.AppendUvarint(dst, uint64(count))
}

// EncodeCommands appends a Commands entry holding cmds, stamped with now, to
// dst.
func EncodeCommands(dst []byte, now int64, cmds [][][]byte) []byte {
	dst = beginCommands(dst, now, len(cmds))
	for _, args := range cmds {
		dst = appendCommand(dst, args)
	}
	return dst
}

// beginCommandsDB is beginCommands for an entry of version 2, whose
// commands are appended with appendCommandDB.
func beginCommandsDB(dst []byte, now int64, count int) []byte {
	dst = append(dst, byte(entryCommands), versionCommandsDB)
	dst = binary.AppendUvarint(dst, uint64(now))
	return binary.AppendUvarint(dst, uint64(count))
}

// EncodeCommandsDB appends a Commands entry (version 2) holding cmds, each
// in the database of the same index in dbs, stamped with now, to dst.
func EncodeCommandsDB(dst []byte, now int64, dbs []int, cmds [][][]byte) []byte {
	dst = beginCommandsDB(dst, now, len(cmds))
	for i, args := range cmds {
		dst = appendCommandDB(dst, dbs[i], args)
	}
	return dst
}

// appendCommandDB appends one command of a version 2 Commands entry.
func appendCommandDB(dst []byte, db int, args [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(db))
	return appendCommand(dst, args)
}

func appendCommand(dst []byte, args [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(args)))
	for _, a := range args {
		dst = appendBytes(dst, a)
	}
	return dst
}

func appendBytes[T string | []byte](dst []byte, b T) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// EncodedSize returns the number of bytes appendCommand adds for args, as an
// upper bound used to cap batch sizes.
func EncodedSize(args [][]byte) int {
	n := binary.MaxVarintLen64
	for _, a := range args {
		n += binary.MaxVarintLen64 + len(a)
	}
	return n
}

// encodeExpire appends an Expire entry for keys of database db, stamped with
// now, to dst: version 1 for database 0, else version 2.
func encodeExpire(dst []byte, now int64, db int, keys []shard.ExpiredKey) []byte {
	if db == 0 {
		dst = append(dst, byte(entryExpire), versionExpire)
		dst = binary.AppendUvarint(dst, uint64(now))
	} else {
		dst = append(dst, byte(entryExpire), versionExpireDB)
		dst = binary.AppendUvarint(dst, uint64(now))
		dst = binary.AppendUvarint(dst, uint64(db))
	}
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = appendBytes(dst, k.Key)
		dst = binary.AppendUvarint(dst, uint64(k.ExpireAt))
	}
	return dst
}

// encodeEvict appends an Evict entry for keys of database db to dst:
// version 1 for database 0, else version 2.
func encodeEvict(dst []byte, db int, keys [][]byte) []byte {
	if db == 0 {
		dst = append(dst, byte(entryEvict), versionEvict)
	} else {
		dst = append(dst, byte(entryEvict), versionEvictDB)
		dst = binary.AppendUvarint(dst, uint64(db))
	}
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = appendBytes(dst, k)
	}
	return dst
}

// encodeOwnership appends a SetOwnership entry to dst. ranges must ascend
// without overlapping or touching, within [0, NumSlots), as
// shard.SlotSet.Ranges returns them.
func encodeOwnership(dst []byte, epoch uint64, ranges []shard.SlotRange) []byte {
	dst = append(dst, byte(entrySetOwnership), versionSetOwnership)
	dst = binary.AppendUvarint(dst, epoch)
	return appendRanges(dst, ranges)
}

// appendRanges appends a range list: canonical ranges (ascending, neither
// overlapping nor touching) as count × (gap, span).
func appendRanges(dst []byte, ranges []shard.SlotRange) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ranges)))
	prev := -1
	for _, r := range ranges {
		dst = binary.AppendUvarint(dst, uint64(r.Start-prev-1))
		dst = binary.AppendUvarint(dst, uint64(r.End-r.Start))
		prev = r.End
	}
	return dst
}

// Decoded is a decoded log entry. Its argument and key slices alias the
// entry's bytes; a Decoded may be reused across calls to decodeEntry (and
// DecodeCommands), which then allocate only to grow its buffers.
type Decoded struct {
	// Now is the proposing leader's clock (Commands and Expire entries).
	Now int64
	// Cmds are the commands of a Commands entry.
	Cmds [][][]byte
	// DBs are the databases of Cmds, for a version 2 Commands entry; empty
	// for version 1 (every command in database 0). See DB.
	DBs []int
	// db is the database of an Expire or Evict entry.
	db int

	typ     entryType
	version byte
	// legacy is set for a type 1 entry, whose commands may be internal ops.
	legacy bool
	// keys of an Expire or Evict entry; expireAt is parallel to keys.
	keys     [][]byte
	expireAt []int64
	// epoch and ranges of a SetOwnership entry, and of migration entries.
	epoch  uint64
	ranges []shard.SlotRange
	// Migration entries (migrate_codec.go): job, the peer group (target of
	// MigrateOut, source of IngestReset), sourceTerm and upTo, the chunk of
	// an Ingest entry, the outcome of a MigrateEnd.
	job        []byte
	peer       []byte
	sourceTerm uint64
	upTo       uint64
	ingest     []IngestKey
	done       bool
	// watches of a Transaction entry (codec_tx.go).
	watches []TxWatch

	args   [][]byte
	starts []int
}

// DB returns the database of command i of a Commands entry.
func (d *Decoded) DB(i int) int {
	if len(d.DBs) == 0 {
		return 0
	}
	return d.DBs[i]
}

// DecodeCommands decodes a Commands entry (or a legacy commands entry) into
// d, reusing its buffers. An entry of another type is ErrBadEntry.
func DecodeCommands(data []byte, d *Decoded) error {
	if err := decodeEntry(data, d); err != nil {
		return err
	}
	if d.typ != entryCommands && d.typ != entryLegacyCommands {
		return ErrBadEntry
	}
	return nil
}

// decodeEntry decodes any entry into d, reusing its buffers. d.typ and
// d.version are set whenever the header could be read, also on error.
func decodeEntry(data []byte, d *Decoded) error {
	d.typ, d.version, d.legacy = 0, 0, false
	if len(data) == 0 {
		return ErrBadEntry
	}
	d.typ = entryType(data[0])
	if d.typ == entryLegacyCommands {
		d.legacy = true
		return d.decodeCommands(data[1:], false)
	}
	if len(data) >= 2 {
		d.version = data[1]
	}
	switch d.typ {
	case entryCommands, entryExpire, entryEvict, entrySetOwnership,
		entryMigrateOut, entryFence, entryIngestReset, entryIngest, entryMigrateEnd,
		entryTransaction:
	default:
		return ErrUnknownEntry
	}
	if len(data) < 2 {
		return ErrBadEntry
	}
	p := data[2:]
	switch {
	case d.typ == entryCommands && (d.version == versionCommands || d.version == versionCommandsDB):
		return d.decodeCommands(p, d.version == versionCommandsDB)
	case d.typ == entryExpire && (d.version == versionExpire || d.version == versionExpireDB):
		return d.decodeExpire(p, d.version == versionExpireDB)
	case d.typ == entryEvict && (d.version == versionEvict || d.version == versionEvictDB):
		return d.decodeEvict(p, d.version == versionEvictDB)
	case d.typ == entrySetOwnership && d.version == versionSetOwnership:
		return d.decodeOwnership(p)
	case d.typ == entryMigrateOut && d.version == versionMigrateOut,
		d.typ == entryFence && d.version == versionFence,
		d.typ == entryIngestReset && d.version == versionIngestReset,
		d.typ == entryIngest && (d.version == versionIngest || d.version == versionIngestTyped),
		d.typ == entryMigrateEnd && d.version == versionMigrateEnd:
		return d.decodeMigration(p)
	case d.typ == entryTransaction && d.version == versionTransaction:
		return d.decodeTx(p)
	}
	return ErrUnknownEntry
}

// uvarint reads a varint from p: the value, the rest, and ok.
func uvarint(p []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, nil, false
	}
	return v, p[n:], true
}

// field reads a length-prefixed byte string from p, aliasing it.
func field(p []byte) ([]byte, []byte, bool) {
	l, p, ok := uvarint(p)
	if !ok || l > uint64(len(p)) {
		return nil, nil, false
	}
	return p[:l:l], p[l:], true
}

// nowAndCount reads the clock and a count that can be at most len(rest).
func nowAndCount(p []byte) (now int64, count uint64, rest []byte, ok bool) {
	n, p, ok := uvarint(p)
	if !ok || n > maxNow {
		return 0, 0, nil, false
	}
	count, p, ok = uvarint(p)
	if !ok || count > uint64(len(p)) {
		return 0, 0, nil, false
	}
	return int64(n), count, p, true
}

// readDB reads a database number, which must be below shard.NumDBs.
func readDB(p []byte) (int, []byte, bool) {
	db, p, ok := uvarint(p)
	if !ok || db >= shard.NumDBs {
		return 0, nil, false
	}
	return int(db), p, true
}

// readTypedDB reads the database of a version 2 Expire or Evict entry
// (withDB), 1 to shard.NumDBs-1: version 2 is for databases other than 0.
// Without withDB it is database 0 and reads nothing.
func readTypedDB(p []byte, withDB bool) (int, []byte, bool) {
	if !withDB {
		return 0, p, true
	}
	db, p, ok := readDB(p)
	return db, p, ok && db != 0
}

func (d *Decoded) decodeCommands(p []byte, withDB bool) error {
	now, count, p, ok := nowAndCount(p)
	if !ok {
		return ErrBadEntry
	}
	d.Now = now
	d.Cmds = d.Cmds[:0]
	d.DBs = d.DBs[:0]
	d.args = d.args[:0]
	d.starts = d.starts[:0]
	for c := uint64(0); c < count; c++ {
		if withDB {
			var db int
			if db, p, ok = readDB(p); !ok {
				return ErrBadEntry
			}
			d.DBs = append(d.DBs, db)
		}
		argc, n := binary.Uvarint(p)
		if n <= 0 || argc == 0 || argc > maxArgs || argc > uint64(len(p)) {
			return ErrBadEntry
		}
		p = p[n:]
		d.starts = append(d.starts, len(d.args))
		for a := uint64(0); a < argc; a++ {
			var arg []byte
			if arg, p, ok = field(p); !ok {
				return ErrBadEntry
			}
			d.args = append(d.args, arg)
		}
	}
	if len(p) != 0 {
		return ErrBadEntry
	}
	// Slice the flat argument list into commands only now: d.args may have
	// been reallocated while growing.
	for i, s := range d.starts {
		end := len(d.args)
		if i+1 < len(d.starts) {
			end = d.starts[i+1]
		}
		d.Cmds = append(d.Cmds, d.args[s:end:end])
	}
	return nil
}

func (d *Decoded) decodeExpire(p []byte, withDB bool) error {
	n, p, ok := uvarint(p)
	if !ok || n > maxNow {
		return ErrBadEntry
	}
	if d.db, p, ok = readTypedDB(p, withDB); !ok {
		return ErrBadEntry
	}
	count, p, ok := uvarint(p)
	if !ok || count > uint64(len(p)) {
		return ErrBadEntry
	}
	d.Now = int64(n)
	d.keys, d.expireAt = d.keys[:0], d.expireAt[:0]
	for i := uint64(0); i < count; i++ {
		var key []byte
		var at uint64
		if key, p, ok = field(p); !ok {
			return ErrBadEntry
		}
		if at, p, ok = uvarint(p); !ok || at > maxNow {
			return ErrBadEntry
		}
		d.keys = append(d.keys, key)
		d.expireAt = append(d.expireAt, int64(at))
	}
	if len(p) != 0 {
		return ErrBadEntry
	}
	return nil
}

func (d *Decoded) decodeEvict(p []byte, withDB bool) error {
	var ok bool
	if d.db, p, ok = readTypedDB(p, withDB); !ok {
		return ErrBadEntry
	}
	count, p, ok := uvarint(p)
	if !ok || count > uint64(len(p)) {
		return ErrBadEntry
	}
	d.keys = d.keys[:0]
	for i := uint64(0); i < count; i++ {
		var key []byte
		if key, p, ok = field(p); !ok {
			return ErrBadEntry
		}
		d.keys = append(d.keys, key)
	}
	if len(p) != 0 {
		return ErrBadEntry
	}
	return nil
}

func (d *Decoded) decodeOwnership(p []byte) error {
	epoch, p, ok := uvarint(p)
	if !ok {
		return ErrBadEntry
	}
	d.epoch = epoch
	p, ok = d.decodeRanges(p, false)
	if !ok || len(p) != 0 {
		return ErrBadEntry
	}
	return nil
}

// decodeRanges reads a range list (count, then count × (gap, span)) into
// d.ranges; nonEmpty requires at least one range.
func (d *Decoded) decodeRanges(p []byte, nonEmpty bool) ([]byte, bool) {
	count, p, ok := uvarint(p)
	if !ok || count > maxRanges || count > uint64(len(p)) || (nonEmpty && count == 0) {
		return nil, false
	}
	d.ranges = d.ranges[:0]
	prev := -1
	for i := uint64(0); i < count; i++ {
		var gap, span uint64
		if gap, p, ok = uvarint(p); !ok || gap >= shard.NumSlots {
			return nil, false
		}
		if span, p, ok = uvarint(p); !ok || span >= shard.NumSlots {
			return nil, false
		}
		start := prev + 1 + int(gap)
		end := start + int(span)
		if end >= shard.NumSlots {
			return nil, false
		}
		if i > 0 && gap == 0 {
			return nil, false // touches the previous range: not canonical
		}
		d.ranges = append(d.ranges, shard.SlotRange{Start: start, End: end})
		prev = end
	}
	return p, true
}
