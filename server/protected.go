package server

import (
	"net"
	"time"
)

// errDenied is Redis 7.0.15's reply to a client refused by protected mode
// (networking.c, clientAcceptHandler), sent before the connection closes.
const errDenied = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside."

// authConfigured reports whether clients must authenticate (the default
// user has a password). Protected mode applies only while it is false.
// ACL users extend it: it must say whether the default user has no
// password (Redis's DefaultUser->flags & USER_FLAG_NOPASS).
func (s *Server) authConfigured() bool { return s.currentPassword() != "" }

// isLocalPeer is Redis 7.0's connIsLocal: a unix socket, or a TCP peer
// whose address is exactly 127.0.0.1 or ::1 (not the rest of 127.0.0.0/8).
func isLocalPeer(nc net.Conn) bool {
	switch a := nc.RemoteAddr().(type) {
	case *net.UnixAddr:
		return true
	case *net.TCPAddr:
		return a.IP.Equal(net.IPv4(127, 0, 0, 1)) || a.IP.Equal(net.IPv6loopback)
	}
	return false
}

// protectedDenies reports whether protected mode refuses nc; it then
// writes Redis's DENIED error and counts a rejected connection (the caller
// closes it).
func (s *Server) protectedDenies(nc net.Conn) bool {
	if !s.lim.protected.Load() || s.authConfigured() || isLocalPeer(nc) {
		return false
	}
	s.lim.rejected.Add(1)
	s.log.Debug("client refused by protected mode", "client-addr", nc.RemoteAddr().String())
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = nc.Write([]byte("-" + errDenied + "\r\n"))
	return true
}
