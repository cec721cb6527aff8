package snapshot

import (
	"encoding/binary"
	"fmt"
)

// The FSM's change index for WATCH (raftfsm/txapply.go) travels in
// Meta.Extra, which the format keeps opaque, so it needs no format version
// of its own. Such an Extra starts with the 4 bytes extraMagic, then a
// sequence of sections:
//
//	tag (1 byte) ‖ uvarint(len) ‖ payload
//
// Readers skip sections of tags they do not know, and an Extra without the
// magic (written by tests, or before sections existed) has no section.
// Tags:
//
//	2 Scripts: uvarint(n) ‖ n × (uvarint(len) ‖ script body), the
//	  group's script cache (extra_scripts.go)
//	1 TxWatch: uvarint(from) ‖ uvarint(global) ‖ uvarint(buckets) ‖
//	  uvarint(n) ‖ n × (uvarint(gap) ‖ uvarint(max - index))
//
// where max is the largest bucket index; the n buckets with a non-zero
// index are listed in ascending order, bucket = previous bucket + 1 + gap
// (the previous bucket of the first is -1). Indexes are stored as their
// distance below max, which keeps them to a few bytes each.

// ExtraTxWatch is the tag of the TxWatch section of Meta.Extra.
const ExtraTxWatch = 1

// extraMagic starts an Extra made of sections.
const extraMagic = "\x00SX1"

// maxTxBuckets bounds a TxWatch section's bucket count.
const maxTxBuckets = 1 << 20

// TxWatch is a group's change index for WATCH: the log index of the last
// change of any key hashing to each bucket, the index of the last change
// of unknown keys (Global), and the index from which it has been kept
// (From).
type TxWatch struct {
	From, Global uint64
	Buckets      []uint64
}

// AppendTxWatch appends t as a TxWatch section to extra, which must be
// empty or already hold sections.
func AppendTxWatch(extra []byte, t *TxWatch) []byte {
	var mx uint64
	n := 0
	for _, v := range t.Buckets {
		if v != 0 {
			n++
			mx = max(mx, v)
		}
	}
	body := make([]byte, 0, 32+n*4)
	body = binary.AppendUvarint(body, t.From)
	body = binary.AppendUvarint(body, t.Global)
	body = binary.AppendUvarint(body, uint64(len(t.Buckets)))
	body = binary.AppendUvarint(body, uint64(n))
	body = binary.AppendUvarint(body, mx)
	prev := -1
	for i, v := range t.Buckets {
		if v == 0 {
			continue
		}
		body = binary.AppendUvarint(body, uint64(i-prev-1))
		body = binary.AppendUvarint(body, mx-v)
		prev = i
	}
	return appendSection(extra, ExtraTxWatch, body)
}

// ReadTxWatch returns the TxWatch section of extra, or nil when it has
// none. A malformed Extra is ErrCorrupt.
func ReadTxWatch(extra []byte) (*TxWatch, error) {
	body, err := extraSection(extra, ExtraTxWatch)
	if err != nil || body == nil {
		return nil, err
	}
	return readTxWatch(body)
}

// extraSection returns the payload of extra's section tag, nil when it has
// none.
func extraSection(extra []byte, tag byte) ([]byte, error) {
	if len(extra) < len(extraMagic) || string(extra[:len(extraMagic)]) != extraMagic {
		return nil, nil
	}
	p := extra[len(extraMagic):]
	for len(p) > 0 {
		t := p[0]
		body, rest, err := bytesField(p[1:])
		if err != nil {
			return nil, err
		}
		p = rest
		if t == tag {
			return body, nil
		}
	}
	return nil, nil
}

// appendSection appends a section to extra, which must be empty or
// already hold sections.
func appendSection(extra []byte, tag byte, body []byte) []byte {
	if len(extra) == 0 {
		extra = append(extra, extraMagic...)
	}
	extra = append(extra, tag)
	extra = binary.AppendUvarint(extra, uint64(len(body)))
	return append(extra, body...)
}

func readTxWatch(p []byte) (*TxWatch, error) {
	t := &TxWatch{}
	var nb, n, mx uint64
	var err error
	for _, v := range []*uint64{&t.From, &t.Global, &nb, &n, &mx} {
		if *v, p, err = uvarint(p); err != nil {
			return nil, err
		}
	}
	if nb > maxTxBuckets || n > nb {
		return nil, fmt.Errorf("%w: TxWatch of %d buckets", ErrCorrupt, nb)
	}
	t.Buckets = make([]uint64, nb)
	prev := -1
	for i := uint64(0); i < n; i++ {
		var gap, d uint64
		if gap, p, err = uvarint(p); err != nil {
			return nil, err
		}
		if d, p, err = uvarint(p); err != nil {
			return nil, err
		}
		b := uint64(prev+1) + gap
		if gap >= nb || b >= nb || d >= mx {
			return nil, fmt.Errorf("%w: TxWatch bucket", ErrCorrupt)
		}
		t.Buckets[b] = mx - d
		prev = int(b)
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: TxWatch trailing bytes", ErrCorrupt)
	}
	return t, nil
}
