//go:build race

package rawio

import "syscall"

// Under the race detector the calls go through syscall.Read and
// syscall.Write, which tell the detector that every write happens before
// every later read (package syscall's ioSync). Raw calls would not, and
// goroutines that synchronize only through a socket (a server's goroutine
// and a test's client) would look unordered.

func read(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return n, errnoOf(err)
}

func write(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return max(n, 0), errnoOf(err)
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EIO
}
