// Package rawio reads and writes TCP connections with raw system calls:
// the same non-blocking read(2) and write(2) that package net makes, with
// the same wait in Go's netpoller when the socket is not ready, but
// without telling the runtime that the thread is in a system call.
//
// Why: a goroutine in a system call (syscall.Syscall) leaves its P in the
// _Psyscall state, and the runtime's monitor thread (sysmon) takes the P
// back from any system call that spans one of its ticks (20 µs when it is
// busy) and hands it to another thread. On a loopback socket a write
// delivers the bytes to the reader and wakes it, and on a shared, busy
// machine the kernel often deschedules the writer inside it: the P is
// handed off, another thread wakes to run the scheduler, and the writer,
// back from the kernel, has to get a P again. With one P per process
// (--gomaxprocs 1) that is a thread wake-up and a sleep per hand-off, and
// sysmon, which keeps finding Ps to take, keeps polling every 20 µs. A
// non-blocking read or write never waits in the kernel for the peer, so
// there is nothing for another thread to do meanwhile that it could not do
// after: raw calls keep the P, and sysmon backs off to its idle period.
//
// On Linux a Read whose previous read left the socket empty also waits in
// the netpoller before its read(2), not after one that finds nothing
// (waitfirst.go): one system call per request instead of two.
//
// Concurrency: as a net.Conn, safe for concurrent use; Reads are
// serialized by one lock and Writes by another (uncontended, as with one
// reader and one writer per connection, each costs an atomic operation).
package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Conn is a *net.TCPConn whose Read and Write make raw system calls.
// Deadlines, Close and the rest are the TCPConn's, and so are the bulk
// paths it promotes: ReadFrom and WriteTo (io.Copy: sendfile, splice)
// and writev for net.Buffers make ordinary calls, which is right for
// transfers long enough that a hand-off costs little beside them.
type Conn struct {
	*net.TCPConn
	rc syscall.RawConn

	// The state of the Read and of the Write in progress (rmu and wmu
	// held), and the functions that RawConn calls, bound once: closures
	// made per call would escape to the heap, an allocation per read and
	// per write.
	rmu     sync.Mutex
	wmu     sync.Mutex
	rbuf    []byte
	rn      int
	rerrno  syscall.Errno
	wbuf    []byte
	wn      int
	werrno  syscall.Errno
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool

	// Reads that wait first (waitfirst.go): pd is the socket's runtime
	// netpoller descriptor, 0 when they are off; drained says the last
	// read left the socket empty (rmu held for it and for msg, iov and
	// cmsg, the recvmsg(2) arguments).
	pd      uintptr
	drained bool
	waitFn  func(fd uintptr)
	msg     syscall.Msghdr
	iov     syscall.Iovec
	cmsg    [cmsgInqLen]byte
	reads   int // read(2) and recvmsg(2) calls made (rmu held; for tests)
}

// Wrap returns nc as a Conn when it is a *net.TCPConn, and nc otherwise.
func Wrap(nc net.Conn) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	c := &Conn{TCPConn: tc, rc: rc}
	c.readFn, c.writeFn, c.waitFn = c.readRaw, c.writeRaw, c.waitReadable
	c.enableWaitFirst(tc)
	return c
}

// Read implements net.Conn: one read(2) of what the socket holds, after
// waiting in the netpoller until it holds something.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	if c.drained {
		c.drained = false
		_ = c.rc.Control(c.waitFn)
	}
	c.rbuf, c.rn, c.rerrno = p, 0, 0
	err := c.rc.Read(c.readFn)
	n, errno := c.rn, c.rerrno
	c.rbuf = nil
	c.rmu.Unlock()
	if err := c.result("read", err, errno); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// readRaw is Read's RawConn function: false asks RawConn to wait until
// the socket is readable and call it again.
func (c *Conn) readRaw(fd uintptr) bool {
	for {
		var n int
		var e syscall.Errno
		c.reads++
		if c.pd != 0 {
			var inq int
			n, inq, e = c.recvInq(fd, c.rbuf)
			c.drained = e == 0 && n > 0 && inq == 0
		} else {
			n, e = read(fd, c.rbuf)
		}
		switch e {
		case 0:
			c.rn = n
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.rerrno = e
			return true
		}
	}
}

// WriteTo implements io.WriterTo with the TCPConn's (splice(2) where it
// can), serialized with Read: the wait of a Read that waits first must not
// meet another reader's in the netpoller.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.drained = false
	return c.TCPConn.WriteTo(w)
}

// Write implements net.Conn: write(2) until p is written, waiting in the
// netpoller while the socket's buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	c.wbuf, c.wn, c.werrno = p, 0, 0
	err := c.rc.Write(c.writeFn)
	n, errno := c.wn, c.werrno
	c.wbuf = nil
	c.wmu.Unlock()
	return n, c.result("write", err, errno)
}

// writeRaw is Write's RawConn function.
func (c *Conn) writeRaw(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		n, e := write(fd, c.wbuf[c.wn:])
		switch e {
		case 0:
			c.wn += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werrno = e
			return true
		}
	}
	return true
}

// result is the error of a Read or Write whose RawConn call returned err
// (a deadline, a closed connection) and whose system call failed with
// errno.
func (c *Conn) result(op string, err error, errno syscall.Errno) error {
	switch {
	case err != nil:
		return opError(op, c.TCPConn, err)
	case errno != 0:
		return opError(op, c.TCPConn, os.NewSyscallError(op, errno))
	}
	return nil
}

// opError wraps err as package net does, so that callers' checks (a
// timeout, a closed connection) hold as they do for a *net.TCPConn.
func opError(op string, tc *net.TCPConn, err error) error {
	if _, ok := err.(*net.OpError); ok {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: tc.LocalAddr(), Addr: tc.RemoteAddr(), Err: err}
}
