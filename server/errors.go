package server

// RESP error replies, in one place. Texts match Redis 7 where Redis has the
// same condition. Each is the reply without the leading '-' and trailing CRLF.
const (
	errSyntax           = "ERR syntax error"
	errNotInteger       = "ERR value is not an integer or out of range"
	errNotFloat         = "ERR value is not a valid float"
	errOverflow         = "ERR increment or decrement would overflow"
	errIncrFloatNaN     = "ERR increment would produce NaN or Infinity"
	errNoSuchKey        = "ERR no such key"
	errNoAuth           = "NOAUTH Authentication required."
	errWrongPass        = "WRONGPASS invalid username-password pair or user is disabled."
	errNoPassConfigured = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	errOOM              = "OOM command not allowed when used memory > 'maxmemory'."
	errNoProto          = "NOPROTO unsupported protocol version"
	errStringTooLong    = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	errSelectDB         = "ERR DB index is out of range"
	errInvalidDB        = "ERR invalid DB index"
	errClusterDown      = "CLUSTERDOWN The cluster is down"
	errSlotNotServed    = "CLUSTERDOWN Hash slot not served"
	errCrossSlot        = "CROSSSLOT Keys in request don't hash to the same slot"
	errIndeterminate    = "TIMEOUT the write may or may not have been applied: leadership changed before it committed"
	errShutdown         = "ERR server is shutting down"
	errInvalidCursor    = "ERR invalid cursor"
	errOffsetRange      = "ERR offset is out of range"
)

// errWrongArgs returns Redis's wrong-arity error for a command name (lower case).
func errWrongArgs(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

// errInvalidExpire returns Redis's error for a bad expire time in cmd.
func errInvalidExpire(cmd string) string {
	return "ERR invalid expire time in '" + cmd + "' command"
}
