package snapshot

import (
	"encoding/binary"
	"fmt"
)

// ExtraFunctions is the tag of the Functions section of Meta.Extra: the
// group's replicated function libraries (raftfsm/function.go), each
// library's code, so that a replica restored from a snapshot has the
// libraries loaded before it and FCALL works after a failover. Same layout
// as the Scripts section: count, then count × (len, code).
const ExtraFunctions = 3

// AppendFunctions appends the libraries' codes as a Functions section to
// extra; nothing for none.
func AppendFunctions(extra []byte, codes [][]byte) []byte {
	if len(codes) == 0 {
		return extra
	}
	return appendSection(extra, ExtraFunctions, appendCodes(codes))
}

// ReadFunctions returns the library codes of extra's Functions section
// (nil when it has none); they do not alias extra. A malformed one is
// ErrCorrupt.
func ReadFunctions(extra []byte) ([][]byte, error) {
	return readCodes(extra, ExtraFunctions, "libraries")
}

// appendCodes is a section body of byte strings: count, count × (len,
// bytes).
func appendCodes(codes [][]byte) []byte {
	n := binary.MaxVarintLen64
	for _, b := range codes {
		n += len(b) + binary.MaxVarintLen64
	}
	body := binary.AppendUvarint(make([]byte, 0, n), uint64(len(codes)))
	for _, b := range codes {
		body = binary.AppendUvarint(body, uint64(len(b)))
		body = append(body, b...)
	}
	return body
}

// readCodes reads the byte strings of extra's section tag (what names
// them, for errors).
func readCodes(extra []byte, tag byte, what string) ([][]byte, error) {
	p, err := extraSection(extra, tag)
	if err != nil || p == nil {
		return nil, err
	}
	n, p, err := uvarint(p)
	if err != nil {
		return nil, err
	}
	if n > maxScripts || n > uint64(len(p)) {
		return nil, fmt.Errorf("%w: %d %s", ErrCorrupt, n, what)
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
		return nil, fmt.Errorf("%w: trailing bytes after the %s", ErrCorrupt, what)
	}
	return out, nil
}
