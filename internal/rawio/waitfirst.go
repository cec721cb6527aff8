package rawio

import (
	"net"
	"reflect"
	"syscall"
	"unsafe"
)

// Reads that wait first.
//
// A connection's goroutine that has answered a request reads again, and at
// -P 1 the socket is empty then: package net (and RawConn.Read) make a
// read(2) that fails with EAGAIN before they park the goroutine in the
// netpoller, because RawConn.Read first resets the descriptor's readiness
// and only a read can tell whether bytes came before that reset. That is
// one system call per request that moves no byte.
//
// When the last read left the socket empty, and nothing has reset the
// readiness since, that read is not needed: bytes, a FIN or an error
// arriving after it raise an edge that the netpoller records, so waiting
// first and reading after loses nothing. Two things are needed for that:
//   - knowing the read left the socket empty, FIN included: a short read
//     does not say so, since a read returns the bytes before a FIN and
//     leaves the end of file for the next one, which no edge announces.
//     Linux's TCP_INQ (4.18) makes recvmsg(2) return what is left, and a
//     received FIN counts as something left;
//   - a wait that does not reset the readiness: the runtime's
//     poll_runtime_pollWait, which package internal/poll links to as
//     runtime_pollWait, and which the runtime keeps for the packages that
//     link to it too (go.dev/issue/67401), on the connection's runtime
//     descriptor, read once from package net's fields by reflection.
//
// Where either is missing (another kernel, another layout of package net's
// fields), a Conn reads as before. waitFirst reports which.

//go:linkname runtime_pollWait internal/poll.runtime_pollWait
func runtime_pollWait(ctx uintptr, mode int) int

// tcpInq is TCP_INQ and its control message's type (TCP_CM_INQ), from
// linux/tcp.h; syscall does not define it.
const tcpInq = 36

// cmsgInqLen is the size of a TCP_CM_INQ control message: a cmsghdr (16
// bytes on 64-bit Linux) and an int32, padded.
const cmsgInqLen = 24

// pollCtx returns tc's runtime netpoller descriptor
// (tc.conn.fd.pfd.pd.runtimeCtx), or 0 when package net's fields are not
// laid out as this expects.
func pollCtx(tc *net.TCPConn) uintptr {
	v := reflect.ValueOf(tc).Elem()
	for _, name := range []string{"conn", "fd"} {
		if v = v.FieldByName(name); !v.IsValid() {
			return 0
		}
	}
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return 0
	}
	v = v.Elem()
	for _, name := range []string{"pfd", "pd", "runtimeCtx"} {
		if v = v.FieldByName(name); !v.IsValid() {
			return 0
		}
	}
	if v.Kind() != reflect.Uintptr {
		return 0
	}
	return uintptr(v.Uint())
}

// enableWaitFirst turns TCP_INQ on for c's socket and records its netpoller
// descriptor; it leaves c reading as before when either fails.
func (c *Conn) enableWaitFirst(tc *net.TCPConn) {
	pd := pollCtx(tc)
	if pd == 0 {
		return
	}
	var serr error
	if err := c.rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpInq, 1)
	}); err != nil || serr != nil {
		return
	}
	c.pd = pd
	c.msg.Iov = &c.iov
	c.msg.Iovlen = 1
}

// waitReadable parks the goroutine until the socket is readable, a read
// deadline passes or the connection closes, without resetting the
// readiness first. Called under Control, whose reference on the descriptor
// keeps it from being closed, freed and reused by another connection
// meanwhile (Close evicts the waiter first). What it returns does not
// matter: the RawConn.Read that follows sees the deadline or the close.
func (c *Conn) waitReadable(uintptr) {
	runtime_pollWait(c.pd, 'r')
}

// recvInq is read(2) as recvmsg(2), which also returns, with TCP_INQ, how
// many bytes the socket holds after it (a received FIN counts as one);
// inq is -1 when the kernel said nothing. rmu held.
func (c *Conn) recvInq(fd uintptr, p []byte) (n, inq int, errno syscall.Errno) {
	c.iov.Base = &p[0]
	c.iov.SetLen(len(p))
	c.msg.Control = &c.cmsg[0]
	c.msg.SetControllen(cmsgInqLen)
	n, errno = recvmsg(fd, &c.msg)
	c.iov.Base = nil
	inq = -1
	if errno == 0 && c.msg.Controllen >= syscall.SizeofCmsghdr+4 {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&c.cmsg[0]))
		if h.Level == syscall.IPPROTO_TCP && h.Type == tcpInq {
			inq = int(*(*int32)(unsafe.Pointer(&c.cmsg[syscall.SizeofCmsghdr])))
		}
	}
	return n, inq, errno
}

// waitFirst reports whether c waits before it reads when its last read
// left the socket empty (for tests).
func (c *Conn) waitFirst() bool { return c.pd != 0 }
