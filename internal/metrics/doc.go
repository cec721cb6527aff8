// Package metrics exports a Shoal node's figures to Prometheus: a registry
// of collectors that read, at scrape time, the counters and statuses the
// node already keeps (the front end's INFO figures, each Raft group's
// status and per-entry counters, the placement map and gossip view), plus
// raft's, serf's and memberlist's own go-metrics through a go-metrics
// Prometheus sink, and the Go runtime and process collectors; and the HTTP
// server that serves it on /metrics.
//
// Nothing here runs on the command path: the collectors only read atomic
// counters and take the same brief locks INFO takes, once per scrape. The
// families are listed in docs/metrics.md.
//
// # Concurrency
//
// The registry calls every collector's Collect from the scraping HTTP
// request's goroutines, possibly concurrently (two scrapes at once); the
// sources a collector reads must be safe for concurrent use, which the
// interfaces below require. internal/node builds the registry and starts
// and stops the HTTP server with the node.
package metrics
