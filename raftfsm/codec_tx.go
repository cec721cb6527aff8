package raftfsm

import (
	"encoding/binary"
)

// Transaction entries (type 11): one MULTI ... EXEC, applied at once.
//
//	11 Transaction, version 1
//	  now     the proposing leader's clock, milliseconds
//	  wcount  number of watched keys (WATCH)
//	  wcount × watch:
//	    db     the key's database (< shard.NumDBs)
//	    since  the log index the leader had applied when WATCH ran
//	    flags  1 byte: 1 = the key was present then, 2 = it was present
//	           but expired (by the leader's clock); other bits must be 0,
//	           and 2 requires 1
//	    len, key
//	  count   number of queued commands (reads, writes, keyless data
//	          commands), in order
//	  count × command: db, argc, argc × (len, bytes), as in Commands
//	          version 2
//
// The FSM applies the whole entry under the store's write lock (see
// txapply.go): nothing of it when a key of a command or a watched key is
// in a slot the group does not own, nothing when a watched key changed
// after its since index; else every command, reads included, with the
// entry's clock. An empty transaction entry, or one with watched keys,
// turns on the FSM's change index, which WATCH needs (the front end
// proposes an empty one first).
//
// Type 12 is reserved (scripts).
const versionTransaction = 1

// Watch flags of a Transaction entry.
const (
	txWatchExisted = 1
	txWatchExpired = 2
)

// Tx is one transaction to propose as a Transaction entry.
type Tx struct {
	// Watches are the keys the connection watched (WATCH), with what the
	// leader saw of each then.
	Watches []TxWatch
	// Cmds are the queued data commands, in order; DBs the database each
	// runs in (nil: all in database 0).
	Cmds [][][]byte
	DBs  []int
}

// TxWatch is one watched key of a transaction.
type TxWatch struct {
	DB  int
	Key []byte
	// Since is the log index the leader had applied (Group.AppliedIndex,
	// read under the store's RLock) when WATCH ran: a change of the key
	// applied after it aborts the transaction.
	Since uint64
	// Existed: the key was in the store then (expired or not); Expired:
	// it was, but already expired by the leader's clock. As Redis 7.0: a
	// key that expires after WATCH aborts the transaction, one that had
	// already expired does not; a flush aborts only if the key existed.
	Existed, Expired bool
}

// db returns the database of command i.
func (t *Tx) db(i int) int {
	if t.DBs == nil {
		return 0
	}
	return t.DBs[i]
}

// EncodeTx appends a Transaction entry holding tx, stamped with now, to
// dst.
func EncodeTx(dst []byte, now int64, tx *Tx) []byte {
	dst = append(dst, byte(entryTransaction), versionTransaction)
	dst = binary.AppendUvarint(dst, uint64(now))
	dst = binary.AppendUvarint(dst, uint64(len(tx.Watches)))
	for _, w := range tx.Watches {
		dst = binary.AppendUvarint(dst, uint64(w.DB))
		dst = binary.AppendUvarint(dst, w.Since)
		var fl byte
		if w.Existed {
			fl |= txWatchExisted
		}
		if w.Expired {
			fl |= txWatchExpired | txWatchExisted
		}
		dst = append(dst, fl)
		dst = appendBytes(dst, w.Key)
	}
	dst = binary.AppendUvarint(dst, uint64(len(tx.Cmds)))
	for i, args := range tx.Cmds {
		dst = appendCommandDB(dst, tx.db(i), args)
	}
	return dst
}

// decodeTx decodes a Transaction entry's payload into d: d.Now, d.watches,
// d.Cmds and d.DBs (one per command).
func (d *Decoded) decodeTx(p []byte) error {
	now, wcount, p, ok := nowAndCount(p)
	if !ok {
		return ErrBadEntry
	}
	d.Now = now
	d.watches = d.watches[:0]
	for i := uint64(0); i < wcount; i++ {
		var w TxWatch
		if w.DB, p, ok = readDB(p); !ok {
			return ErrBadEntry
		}
		if w.Since, p, ok = uvarint(p); !ok || len(p) == 0 {
			return ErrBadEntry
		}
		fl := p[0]
		if fl&^(txWatchExisted|txWatchExpired) != 0 || fl == txWatchExpired {
			return ErrBadEntry
		}
		w.Existed, w.Expired = fl&txWatchExisted != 0, fl&txWatchExpired != 0
		if w.Key, p, ok = field(p[1:]); !ok {
			return ErrBadEntry
		}
		d.watches = append(d.watches, w)
	}
	// The commands are a version 2 Commands payload without its clock.
	count, rest, ok := uvarint(p)
	if !ok || count > uint64(len(rest)) {
		return ErrBadEntry
	}
	return d.decodeTxCommands(count, rest)
}

// decodeTxCommands reads count commands, each with its database, as a
// version 2 Commands entry holds them, into d.Cmds and d.DBs; p must hold
// nothing after them.
func (d *Decoded) decodeTxCommands(count uint64, p []byte) error {
	d.Cmds, d.DBs = d.Cmds[:0], d.DBs[:0]
	d.args, d.starts = d.args[:0], d.starts[:0]
	for c := uint64(0); c < count; c++ {
		db, rest, ok := readDB(p)
		if !ok {
			return ErrBadEntry
		}
		d.DBs = append(d.DBs, db)
		argc, n := binary.Uvarint(rest)
		if n <= 0 || argc == 0 || argc > maxArgs || argc > uint64(len(rest)) {
			return ErrBadEntry
		}
		p = rest[n:]
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
	for i, s := range d.starts {
		end := len(d.args)
		if i+1 < len(d.starts) {
			end = d.starts[i+1]
		}
		d.Cmds = append(d.Cmds, d.args[s:end:end])
	}
	return nil
}
