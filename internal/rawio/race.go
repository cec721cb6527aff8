//go:build race

package rawio

import (
	"syscall"
	"unsafe"
)

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

// recvmsg is recvmsg(2), then a read(2) of no bytes through package
// syscall for the detector's ordering, which syscall.Recvmsg does not
// record. A socket answers a read of no bytes with 0 at once, without
// looking at its queue or its pending error (sock_read_iter).
func recvmsg(fd uintptr, msg *syscall.Msghdr) (int, syscall.Errno) {
	r, _, e := syscall.Syscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(msg)), 0)
	if e == 0 {
		_, _ = syscall.Read(int(fd), nil)
	}
	return int(r), e
}
