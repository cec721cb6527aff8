// Package proxy is Shoal's built-in proxy for clients that are not
// cluster-aware: it listens on one address, speaks RESP2 and RESP3 as a
// standalone Redis server would, and sends each command to the node that
// leads its slot's group.
//
// A client connection's goroutine (conn.go) parses the pipelined commands
// the client sent (request.go) and forwards single-key and keyless commands
// as the client encoded them onto pipelined backend connections (backend.go):
// a small pool per node, shared by every client connection, written in
// batches by one writer goroutine each and answered FIFO by one reader
// goroutine each. A client connection always uses the same backend
// connection of a node, so its commands to that node stay in order.
// Multi-key commands are split by slot and merged as Redis would answer
// them (multikey.go); keyless key-space commands go to every group leader
// (fanout.go); connection commands are answered by the proxy (local.go).
//
// The slot map (slots.go) comes from CLUSTER SLOTS. A MOVED reply updates
// it at once; MOVED, ASK, TRYAGAIN, CLUSTERDOWN, a lost backend connection
// and an indeterminate write (TIMEOUT) are retried inside the proxy, with
// backoff, for up to Config.RetryBudget, so a client sees a short pause
// across a failover rather than an error. A retried write may be applied
// twice when its first attempt's outcome was unknown (a lost connection or
// TIMEOUT), as with a cluster client that retries: harmless for SET, not
// for INCR.
//
// Backend connections speak RESP3; replies to RESP2 clients are downgraded
// (resp.Downgrade) when they hold RESP3-only types.
package proxy
