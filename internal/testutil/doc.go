// Package testutil is Shoal's one shared test toolkit, used by every test
// package: polling (Eventually), free ports (FreePort, FreePorts,
// FreePortWithOffsets), throw-away redis-servers (StartRedis,
// StartRedisCluster), Shoal processes and clusters (StartShoal,
// StartShoalCluster, ShoalBinary) and a *slog.Logger that writes to t.Log
// (Logger), throw-away TLS certificate authorities and certificates
// (NewTLSCA, TLSCA.Issue).
//
// Everything here fails the test through t and cleans up with t.Cleanup.
// The process handling that does not need package testing lives in
// internal/proc, which programs (bench/failover, internal/gen) use too.
package testutil
