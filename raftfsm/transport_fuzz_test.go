package raftfsm

import (
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// FuzzTransportDecode feeds arbitrary bodies to the transport's decoders:
// they must return an error or a value that encodes back to a body that
// decodes to the same value, and never panic.
func FuzzTransportDecode(f *testing.F) {
	for _, req := range append(sampleRequests(), &raft.InstallSnapshotRequest{RPCHeader: testHeader, Size: 9}) {
		b, _ := appendRequest(nil, req)
		f.Add(b[4:])
		f.Add(appendResponse(nil, b[4], sampleResponse(req), "err")[4:])
	}
	f.Add([]byte{rpcAppendEntries, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) == 0 {
			return
		}
		typ, body := frame[0], frame[1:]
		if typ&respFlag == 0 {
			req, err := decodeRequest(typ, body)
			if err != nil {
				return
			}
			again, ok := appendRequest(nil, req)
			if !ok {
				t.Fatalf("decoded %T cannot be encoded", req)
			}
			req2, err := decodeRequest(again[4], again[5:])
			if err != nil || !reflect.DeepEqual(req, req2) {
				t.Fatalf("re-encoded %T decodes to %#v, %v", req, req2, err)
			}
			return
		}
		for _, resp := range []any{&raft.AppendEntriesResponse{}, &raft.RequestVoteResponse{}, &raft.RequestPreVoteResponse{},
			&raft.InstallSnapshotResponse{}, &raft.TimeoutNowResponse{}} {
			_, _ = decodeResponse(typ&^respFlag, body, resp)
		}
	})
}
