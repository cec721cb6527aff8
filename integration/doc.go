// Package integration holds Shoal's end-to-end tests: real bin/shoal
// processes (single nodes and clusters on OS-chosen ports) driven by real
// clients (go-redis, redis-cli, redis-benchmark), byte-for-byte differential
// tests against Debian's redis-server, crash and restart tests, and the
// Jepsen-style suite (kills, pauses, kernel partitions in network
// namespaces, leadership transfers) checked with porcupine. The package has
// no non-test code; `make test` runs the CI profile and `make jepsen` the
// long one.
package integration
