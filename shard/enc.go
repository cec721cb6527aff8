package shard

// Enc is a hint, kept with each entry, of how Redis would represent its
// value: OBJECT ENCODING, OBJECT REFCOUNT and MEMORY USAGE (package command)
// derive Redis's answers from the value, this hint and, for EncRaw, the
// value's capacity. Write commands set it inside the FSM, so every replica
// agrees; a snapshot or a slot migration does not carry it (restored values
// are EncDefault, as Redis re-encodes the strings of an RDB file it loads).
type Enc uint8

const (
	// EncDefault: the value went through Redis's tryObjectEncoding (SET and
	// the other commands that store an argument, INCR): an integer, an
	// embedded string up to 44 bytes, or a raw string.
	EncDefault Enc = iota
	// EncString: created by createStringObject (INCRBYFLOAT, COPY of an
	// embedded string): embedded up to 44 bytes, raw above, never an integer.
	EncString
	// EncRaw: a raw string (after APPEND or SETRANGE, a COPY of a raw
	// string); cap(Value) is the sds string's alloc field.
	EncRaw
	// EncIntCopy: an integer that is not one of Redis's shared integers
	// (COPY of an integer).
	EncIntCopy
)

// encShift places the hint in bits 24-27 of Entry.lfu; the type is above
// it (object.go). metaMask covers both: access updates keep them.
const (
	encShift = 24
	encMask  = 0x0f << encShift
	metaMask = 0xff << encShift
)

// Enc returns the entry's encoding hint. Caller holds RLock.
func (e *Entry) Enc() Enc { return Enc(e.lfu.Load() & encMask >> encShift) }

// SetEnc sets the entry's encoding hint, keeping its access counters. e must
// be an entry the caller may modify: just stored by Set or returned by
// Mutable. Caller holds Lock.
func (e *Entry) SetEnc(enc Enc) {
	v := e.lfu.Load()
	e.lfu.Store(v&^encMask | uint32(enc)<<encShift)
}

// copyValue copies a value with the same capacity: for an EncRaw value the
// capacity is Redis's sds alloc, which a copy must keep.
func copyValue(v []byte) []byte {
	c := make([]byte, len(v), cap(v))
	copy(c, v)
	return c
}
