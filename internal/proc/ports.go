package proc

import (
	"fmt"
	"net"
	"strconv"
)

// LocalAddr returns "127.0.0.1:port".
func LocalAddr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// FreePort asks the OS for a free TCP port on 127.0.0.1. The port is
// released before returning, so callers must tolerate losing a race for it
// (start again on another port).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("probe free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreePorts returns n distinct free ports (see FreePort). They are held
// open together while probing, so the OS hands out n different ones.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("probe free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreePortWithOffsets returns a port the OS reports free on 127.0.0.1 such
// that port+off is free as well for every (positive) off: Redis Cluster
// uses port+10000 for its bus, Shoal port+10000 and port+20000 for its
// cluster and gossip ports.
func FreePortWithOffsets(offs ...int) (int, error) {
	for attempt := 0; attempt < 1000; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("probe free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		ok := true
		for _, off := range offs {
			if port+off > 65535 {
				ok = false
				break
			}
			l2, err := net.Listen("tcp", LocalAddr(port+off))
			if err != nil {
				ok = false
				break
			}
			l2.Close()
		}
		l.Close()
		if ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port p with p+%v free", offs)
}
