package snapshot

import (
	"encoding/binary"
	"fmt"
)

// ExtraScripts is the tag of the Scripts section of Meta.Extra: the
// group's replicated Lua script cache (raftfsm/script.go), so that a
// replica restored from a snapshot still answers EVALSHA for scripts loaded
// before it.
const ExtraScripts = 2

// maxScripts bounds a Scripts section's count.
const maxScripts = 1 << 20

// AppendScripts appends the script bodies as a Scripts section to extra
// (which must be empty or already hold sections); nothing for none.
func AppendScripts(extra []byte, bodies [][]byte) []byte {
	if len(bodies) == 0 {
		return extra
	}
	n := 0
	for _, b := range bodies {
		n += len(b) + binary.MaxVarintLen64
	}
	body := binary.AppendUvarint(make([]byte, 0, n+binary.MaxVarintLen64), uint64(len(bodies)))
	for _, b := range bodies {
		body = binary.AppendUvarint(body, uint64(len(b)))
		body = append(body, b...)
	}
	return appendSection(extra, ExtraScripts, body)
}

// ReadScripts returns the script bodies of extra's Scripts section (nil
// when it has none); they do not alias extra. A malformed one is
// ErrCorrupt.
func ReadScripts(extra []byte) ([][]byte, error) {
	p, err := extraSection(extra, ExtraScripts)
	if err != nil || p == nil {
		return nil, err
	}
	n, p, err := uvarint(p)
	if err != nil {
		return nil, err
	}
	if n > maxScripts || n > uint64(len(p)) {
		return nil, fmt.Errorf("%w: %d scripts", ErrCorrupt, n)
	}
	out := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		var b []byte
		if b, p, err = bytesField(p); err != nil {
			return nil, err
		}
		out = append(out, append([]byte(nil), b...))
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes after the scripts", ErrCorrupt)
	}
	return out, nil
}
