// Package placement keeps the cluster's map: which nodes exist, which shard
// groups there are and which nodes are their Raft members, and which group
// owns each of the 16384 hash slots. The map is versioned by an epoch that
// grows with every change, and it lives in a small Raft-replicated meta
// group: that is the authority. hashicorp/serf gossips membership, failure
// detection and the current epoch; gossip only carries hints.
package placement
