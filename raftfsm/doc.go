// Package raftfsm runs Shoal's shard groups: each Group is a hashicorp/raft
// group whose replicated state machine (FSM) is the in-memory store of the
// group's slots (package shard), snapshotted in package snapshot's format.
//
// The log holds typed, versioned entries (codec.go): client write commands,
// expiry and eviction deletes, slot ownership changes and the slot migration
// entries. A replica that meets an entry it cannot apply halts instead of
// skipping it (see FSM). The FSM owns a set of slots at an epoch
// (ownership.go) and refuses writes to keys outside it at apply time with a
// NOTOWNER reply. It also holds the replicated half of slot migration
// (migrate.go, docs/migration.md): a source's migrating-out jobs with the
// dirty index of every key changed since a job started and its fence, and a
// target's importing jobs; Group proposes those entries and reads that state
// (migrate_group.go). Group also offers membership changes (members.go) for
// the cluster's controller.
//
// Between raft and its network transport sits the VoteGuard (voteguard.go):
// it keeps a replica restarted without its state out of elections until it
// has caught up, records the acknowledgements the leader's read lease
// rests on (lease.go), and runs fast elections (failover.go): a follower
// whose leader fell silent probes the voters and campaigns at once.
package raftfsm
