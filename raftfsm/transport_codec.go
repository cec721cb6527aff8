package raftfsm

import (
	"bufio"
	"encoding/binary"
	"io"
	"time"

	"github.com/hashicorp/raft"
)

// Wire format of Shoal's Raft transport (transport.go).
//
// A connection starts, after the Mux header (and the cluster secret's
// handshake), with two bytes from the dialer: transportMagic and
// transportVersion. The acceptor drops a connection that starts otherwise
// (a node running hashicorp's NetworkTransport, or a future version).
// Then both directions carry frames:
//
//	uint32 length (big-endian) of what follows | type byte | body
//
// A request's type is one of the rpc* constants; its response's type is the
// same with respFlag set, and its body starts with the error string of the
// response (empty: none). Bodies are sequences of fields in a fixed order:
// unsigned integers as uvarints, booleans as one byte (0 or 1), byte
// strings as uvarint(len+1) then the bytes (0: nil, so nil and empty stay
// apart), times as varint Unix nanoseconds (0: the zero time). A decoder
// rejects trailing bytes, lengths beyond the frame, and counts that the
// frame's bytes cannot hold, so no length field makes it allocate more than
// the frame it read. InstallSnapshot's frame is followed by the snapshot's
// Size bytes, raw, outside any frame.
const (
	transportMagic   = 0xA7
	transportVersion = 1

	rpcAppendEntries   byte = 1
	rpcRequestVote     byte = 2
	rpcRequestPreVote  byte = 3
	rpcInstallSnapshot byte = 4
	rpcTimeoutNow      byte = 5
	respFlag           byte = 0x80

	// frameHeader is the length prefix and the type byte.
	frameHeader = 5
	// minEntryBytes is the smallest encoding of a log entry (index, term,
	// type, data, extensions, appended-at: one byte each).
	minEntryBytes = 6
)

// appendFrameStart appends a frame header with a zero length for typ and
// returns the offset of the frame; finishFrame fills the length in.
func appendFrameStart(b []byte, typ byte) ([]byte, int) {
	off := len(b)
	return append(b, 0, 0, 0, 0, typ), off
}

// finishFrame writes the length of the frame that starts at off.
func finishFrame(b []byte, off int) {
	binary.BigEndian.PutUint32(b[off:], uint32(len(b)-off-4))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendWireBytes(b, v []byte) []byte {
	if v == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s))+1)
	return append(b, s...)
}

func appendHeader(b []byte, h *raft.RPCHeader) []byte {
	b = binary.AppendUvarint(b, uint64(h.ProtocolVersion))
	b = appendWireBytes(b, h.ID)
	return appendWireBytes(b, h.Addr)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// appendRequest appends the frame of the request cmd (one of raft's
// request types) and reports whether cmd was of a known type.
func appendRequest(b []byte, cmd any) ([]byte, bool) {
	var off int
	switch r := cmd.(type) {
	case *raft.AppendEntriesRequest:
		b, off = appendFrameStart(b, rpcAppendEntries)
		b = appendHeader(b, &r.RPCHeader)
		b = binary.AppendUvarint(b, r.Term)
		b = appendWireBytes(b, r.Leader)
		b = binary.AppendUvarint(b, r.PrevLogEntry)
		b = binary.AppendUvarint(b, r.PrevLogTerm)
		b = binary.AppendUvarint(b, r.LeaderCommitIndex)
		b = binary.AppendUvarint(b, uint64(len(r.Entries)))
		for _, e := range r.Entries {
			if e == nil {
				e = &raft.Log{}
			}
			b = binary.AppendUvarint(b, e.Index)
			b = binary.AppendUvarint(b, e.Term)
			b = append(b, byte(e.Type))
			b = appendWireBytes(b, e.Data)
			b = appendWireBytes(b, e.Extensions)
			b = appendTime(b, e.AppendedAt)
		}
	case *raft.RequestVoteRequest:
		b, off = appendFrameStart(b, rpcRequestVote)
		b = appendHeader(b, &r.RPCHeader)
		b = binary.AppendUvarint(b, r.Term)
		b = appendWireBytes(b, r.Candidate)
		b = binary.AppendUvarint(b, r.LastLogIndex)
		b = binary.AppendUvarint(b, r.LastLogTerm)
		b = appendBool(b, r.LeadershipTransfer)
	case *raft.RequestPreVoteRequest:
		b, off = appendFrameStart(b, rpcRequestPreVote)
		b = appendHeader(b, &r.RPCHeader)
		b = binary.AppendUvarint(b, r.Term)
		b = binary.AppendUvarint(b, r.LastLogIndex)
		b = binary.AppendUvarint(b, r.LastLogTerm)
	case *raft.InstallSnapshotRequest:
		b, off = appendFrameStart(b, rpcInstallSnapshot)
		b = appendHeader(b, &r.RPCHeader)
		b = binary.AppendUvarint(b, uint64(r.SnapshotVersion))
		b = binary.AppendUvarint(b, r.Term)
		b = appendWireBytes(b, r.Leader)
		b = binary.AppendUvarint(b, r.LastLogIndex)
		b = binary.AppendUvarint(b, r.LastLogTerm)
		b = appendWireBytes(b, r.Peers)
		b = appendWireBytes(b, r.Configuration)
		b = binary.AppendUvarint(b, r.ConfigurationIndex)
		b = binary.AppendVarint(b, r.Size)
	case *raft.TimeoutNowRequest:
		b, off = appendFrameStart(b, rpcTimeoutNow)
		b = appendHeader(b, &r.RPCHeader)
	default:
		return b, false
	}
	finishFrame(b, off)
	return b, true
}

// appendResponse appends the frame answering a request of type typ with
// resp and errText. A resp of another type than typ's (or nil, as raft
// sends with an error) is encoded as typ's zero response.
func appendResponse(b []byte, typ byte, resp any, errText string) []byte {
	b, off := appendFrameStart(b, typ|respFlag)
	b = appendString(b, errText)
	switch typ {
	case rpcAppendEntries:
		r, _ := resp.(*raft.AppendEntriesResponse)
		if r == nil {
			r = &raft.AppendEntriesResponse{}
		}
		b = appendHeader(b, &r.RPCHeader)
		b = binary.AppendUvarint(b, r.Term)
		b = binary.AppendUvarint(b, r.LastLog)
		b = appendBool(b, r.Success)
		b = appendBool(b, r.NoRetryBackoff)
	case rpcRequestVote:
		r, _ := resp.(*raft.RequestVoteResponse)
		if r == nil {
			r = &raft.RequestVoteResponse{}
		}
		b = appendHeader(b, &r.RPCHeader)
		b = binary.AppendUvarint(b, r.Term)
		b = appendWireBytes(b, r.Peers)
		b = appendBool(b, r.Granted)
	case rpcRequestPreVote:
		r, _ := resp.(*raft.RequestPreVoteResponse)
		if r == nil {
			r = &raft.RequestPreVoteResponse{}
		}
		b = appendHeader(b, &r.RPCHeader)
		b = binary.AppendUvarint(b, r.Term)
		b = appendBool(b, r.Granted)
	case rpcInstallSnapshot:
		r, _ := resp.(*raft.InstallSnapshotResponse)
		if r == nil {
			r = &raft.InstallSnapshotResponse{}
		}
		b = appendHeader(b, &r.RPCHeader)
		b = binary.AppendUvarint(b, r.Term)
		b = appendBool(b, r.Success)
	case rpcTimeoutNow:
		r, _ := resp.(*raft.TimeoutNowResponse)
		if r == nil {
			r = &raft.TimeoutNowResponse{}
		}
		b = appendHeader(b, &r.RPCHeader)
	}
	finishFrame(b, off)
	return b
}

// decoder reads fields from a frame's body. The first error sticks: later
// reads return zero values, and err reports it.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrTransportFrame
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail()
	return false
}

// bytes returns a byte string; it aliases the frame, which the caller must
// not reuse.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	n--
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n == 0 || n-1 > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	v := string(d.b[:n-1])
	d.b = d.b[n-1:]
	return v
}

func (d *decoder) time() time.Time {
	ns := d.varint()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (d *decoder) header(h *raft.RPCHeader) {
	h.ProtocolVersion = raft.ProtocolVersion(d.uvarint())
	h.ID = d.bytes()
	h.Addr = d.bytes()
}

// end reports the decoder's error, or ErrTransportFrame if bytes are left.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = ErrTransportFrame
	}
	return d.err
}

// decodeRequest decodes the body of a request frame of type typ into a new
// raft request. The request aliases body.
func decodeRequest(typ byte, body []byte) (any, error) {
	d := decoder{b: body}
	switch typ {
	case rpcAppendEntries:
		r := &raft.AppendEntriesRequest{}
		d.header(&r.RPCHeader)
		r.Term = d.uvarint()
		r.Leader = d.bytes()
		r.PrevLogEntry = d.uvarint()
		r.PrevLogTerm = d.uvarint()
		r.LeaderCommitIndex = d.uvarint()
		n := d.uvarint()
		if n > uint64(len(d.b)/minEntryBytes) {
			d.fail()
			n = 0
		}
		if n > 0 {
			logs := make([]raft.Log, n)
			r.Entries = make([]*raft.Log, n)
			for i := range logs {
				e := &logs[i]
				e.Index = d.uvarint()
				e.Term = d.uvarint()
				e.Type = raft.LogType(d.byte())
				e.Data = d.bytes()
				e.Extensions = d.bytes()
				e.AppendedAt = d.time()
				r.Entries[i] = e
			}
		}
		return r, d.end()
	case rpcRequestVote:
		r := &raft.RequestVoteRequest{}
		d.header(&r.RPCHeader)
		r.Term = d.uvarint()
		r.Candidate = d.bytes()
		r.LastLogIndex = d.uvarint()
		r.LastLogTerm = d.uvarint()
		r.LeadershipTransfer = d.bool()
		return r, d.end()
	case rpcRequestPreVote:
		r := &raft.RequestPreVoteRequest{}
		d.header(&r.RPCHeader)
		r.Term = d.uvarint()
		r.LastLogIndex = d.uvarint()
		r.LastLogTerm = d.uvarint()
		return r, d.end()
	case rpcInstallSnapshot:
		r := &raft.InstallSnapshotRequest{}
		d.header(&r.RPCHeader)
		r.SnapshotVersion = raft.SnapshotVersion(d.uvarint())
		r.Term = d.uvarint()
		r.Leader = d.bytes()
		r.LastLogIndex = d.uvarint()
		r.LastLogTerm = d.uvarint()
		r.Peers = d.bytes()
		r.Configuration = d.bytes()
		r.ConfigurationIndex = d.uvarint()
		r.Size = d.varint()
		if r.Size < 0 {
			d.fail()
		}
		return r, d.end()
	case rpcTimeoutNow:
		r := &raft.TimeoutNowRequest{}
		d.header(&r.RPCHeader)
		return r, d.end()
	}
	return nil, ErrTransportFrame
}

// decodeResponse decodes the body of a response frame to a request of type
// typ into resp, which must be typ's response type, and returns the error
// text the peer sent. resp aliases body.
func decodeResponse(typ byte, body []byte, resp any) (string, error) {
	d := decoder{b: body}
	errText := d.string()
	switch r := resp.(type) {
	case *raft.AppendEntriesResponse:
		if typ != rpcAppendEntries {
			return "", ErrTransportFrame
		}
		d.header(&r.RPCHeader)
		r.Term = d.uvarint()
		r.LastLog = d.uvarint()
		r.Success = d.bool()
		r.NoRetryBackoff = d.bool()
	case *raft.RequestVoteResponse:
		if typ != rpcRequestVote {
			return "", ErrTransportFrame
		}
		d.header(&r.RPCHeader)
		r.Term = d.uvarint()
		r.Peers = d.bytes()
		r.Granted = d.bool()
	case *raft.RequestPreVoteResponse:
		if typ != rpcRequestPreVote {
			return "", ErrTransportFrame
		}
		d.header(&r.RPCHeader)
		r.Term = d.uvarint()
		r.Granted = d.bool()
	case *raft.InstallSnapshotResponse:
		if typ != rpcInstallSnapshot {
			return "", ErrTransportFrame
		}
		d.header(&r.RPCHeader)
		r.Term = d.uvarint()
		r.Success = d.bool()
	case *raft.TimeoutNowResponse:
		if typ != rpcTimeoutNow {
			return "", ErrTransportFrame
		}
		d.header(&r.RPCHeader)
	default:
		return "", ErrTransportFrame
	}
	return errText, d.end()
}

// readFrame reads one frame of at most limit bytes (type and body) from r
// and returns its type and a new body. The body buffer grows with the bytes
// that actually arrive, so a bogus length costs no more memory than what
// the peer sent.
func readFrame(r *bufio.Reader, limit int) (byte, []byte, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 1 || uint64(n) > uint64(limit) {
		return 0, nil, ErrTransportFrame
	}
	size := int(n) - 1
	const step = 64 << 10
	if size <= step {
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			return 0, nil, unexpectedEOF(err)
		}
		return hdr[4], body, nil
	}
	body := make([]byte, 0, step)
	for len(body) < size {
		next := min(size, max(2*len(body), step))
		if cap(body) < next {
			nb := make([]byte, len(body), next)
			copy(nb, body)
			body = nb
		}
		got := len(body)
		body = body[:next]
		if _, err := io.ReadFull(r, body[got:]); err != nil {
			return 0, nil, unexpectedEOF(err)
		}
	}
	return hdr[4], body, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
