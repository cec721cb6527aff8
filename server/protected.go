package server

import (
	"net"
	"time"

	"github.com/shoalcache/shoal/command"
)

// authConfigured reports whether clients must authenticate: the default
// ACL user needs a password (requirepass, ACL SETUSER default >...) or is
// off. Protected mode applies only while it is false.
func (s *Server) authConfigured() bool { return s.HasAuth() }

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
	_, _ = nc.Write([]byte("-" + command.ErrProtectedMode + "\r\n"))
	return true
}
