//go:build !race

package rawio

import (
	"syscall"
	"unsafe"
)

// read is read(2) without entering the runtime's system call state.
func read(fd uintptr, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

// write is write(2) without entering the runtime's system call state.
func write(fd uintptr, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

// recvmsg is recvmsg(2) without entering the runtime's system call state.
func recvmsg(fd uintptr, msg *syscall.Msghdr) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(msg)), 0)
	return int(r), e
}
