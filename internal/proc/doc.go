// Package proc starts and controls server processes (redis-server, shoal)
// for the test toolkit (internal/testutil), the failover benchmark and the
// command-metadata generator. It does not depend on package testing; tests
// use internal/testutil, which wraps it with t.Cleanup and t.Fatal.
//
//	port, _ := proc.FreePort()
//	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port))
//	p, err := proc.Start(cmd, proc.LocalAddr(port), 10*time.Second)
//	...
//	p.Kill()
package proc
