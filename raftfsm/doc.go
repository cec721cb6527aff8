// Package raftfsm runs Shoal's shard groups: each Group is a hashicorp/raft
// group whose replicated state machine (FSM) is the in-memory store of the
// group's slots (package shard), snapshotted in package snapshot's format.
//
// The log holds typed, versioned entries (codec.go): client write commands,
// expiry and eviction deletes, and slot ownership changes. A replica that
// meets an entry it cannot apply halts instead of skipping it (see FSM). The
// FSM owns a set of slots at an epoch (ownership.go) and refuses writes to
// keys outside it at apply time with a NOTOWNER reply. Group also offers
// membership changes (members.go) for the cluster's controller.
package raftfsm
