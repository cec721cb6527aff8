package command

import "bytes"

// RESP error replies, in one place. Texts match Redis 7 where Redis has the
// same condition. Each is the reply without the leading '-' and trailing CRLF.
const (
	ErrSyntax            = "ERR syntax error"
	ErrNotInteger        = "ERR value is not an integer or out of range"
	ErrNotFloat          = "ERR value is not a valid float"
	ErrOverflow          = "ERR increment or decrement would overflow"
	ErrIncrFloatNaN      = "ERR increment would produce NaN or Infinity"
	ErrNoSuchKey         = "ERR no such key"
	ErrNoAuth            = "NOAUTH Authentication required."
	ErrWrongPass         = "WRONGPASS invalid username-password pair or user is disabled."
	ErrNoPassConfigured  = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	ErrOOM               = "OOM command not allowed when used memory > 'maxmemory'."
	ErrNoProto           = "NOPROTO unsupported protocol version"
	ErrHelloProto        = "ERR Protocol version is not an integer or out of range"
	ErrHelloNoAuth       = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
	ErrClusterDisabled   = "ERR This instance has cluster support disabled"
	ErrStringTooLong     = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	ErrSelectDB          = "ERR DB index is out of range"
	ErrInvalidDB         = "ERR invalid DB index"
	ErrClusterDown       = "CLUSTERDOWN The cluster is down"
	ErrSlotNotServed     = "CLUSTERDOWN Hash slot not served"
	ErrTryAgainOwnership = "TRYAGAIN The slot's owner is changing; try again"
	ErrCrossSlot         = "CROSSSLOT Keys in request don't hash to the same slot"
	ErrIndeterminate     = "TIMEOUT the write may or may not have been applied: leadership changed before it committed"
	ErrShutdown          = "ERR server is shutting down"
	ErrMaxClients        = "ERR max number of clients reached"
	// ErrProtectedMode is Redis 7.0.15's reply to a client refused by
	// protected mode (networking.c, clientAcceptHandler).
	ErrProtectedMode = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside."
	ErrInvalidCursor = "ERR invalid cursor"
	ErrWrongType     = "WRONGTYPE Operation against a key holding the wrong kind of value"
	ErrHashNotInt    = "ERR hash value is not an integer"
	ErrHashNotFloat  = "ERR hash value is not a float"
	ErrNaNOrInf      = "ERR value is NaN or Infinity"
	ErrOutOfRange    = "ERR value is out of range"
	// ErrMustBePositive is getPositiveLongFromObjectOrReply's error.
	ErrMustBePositive = "ERR value is out of range, must be positive"
	// ErrLongRange is getRangeLongFromObjectOrReply's error for -LONG_MAX..LONG_MAX.
	ErrLongRange   = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
	ErrOffsetRange = "ERR offset is out of range"
	// Hash field expiry (Redis 7.4's t_hash.c).
	ErrFieldsMissing    = "ERR Mandatory argument FIELDS is missing or not at the right position"
	ErrNumFieldsSet     = "ERR Parameter `numFields` should be greater than 0"
	ErrNumFieldsGet     = "ERR Number of fields must be a positive integer"
	ErrNumFieldsMatch   = "ERR The `numfields` parameter must match the number of arguments"
	ErrFieldExpireRange = "ERR invalid expire time, must be >= 0"
)

// ErrWrongArgs returns Redis's wrong-arity error for a command name (lower case).
func ErrWrongArgs(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

// ErrInvalidExpire returns Redis's error for a bad expire time in cmd.
func ErrInvalidExpire(cmd string) string {
	return "ERR invalid expire time in '" + cmd + "' command"
}

// UnknownCommand formats Redis's unknown-command error.
func UnknownCommand(args [][]byte) string {
	b := make([]byte, 0, 128)
	b = append(b, "ERR unknown command '"...)
	b = AppendTrunc(b, args[0], 128)
	b = append(b, "', with args beginning with: "...)
	n := 0
	for _, a := range args[1:] {
		if n >= 128 {
			break
		}
		start := len(b)
		b = append(b, '\'')
		b = AppendTrunc(b, a, 128-n)
		b = append(b, "' "...)
		n += len(b) - start
	}
	return Sanitize(b)
}

// UnknownSubcommand formats Redis's unknown-subcommand error.
func UnknownSubcommand(cmd string, sub []byte) string {
	b := make([]byte, 0, 64)
	b = append(b, "ERR unknown subcommand '"...)
	b = AppendTrunc(b, sub, 128)
	b = append(b, "'. Try "...)
	for i := 0; i < len(cmd); i++ {
		ch := cmd[i]
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		b = append(b, ch)
	}
	b = append(b, " HELP."...)
	return Sanitize(b)
}

// AppendTrunc appends at most n bytes of s, stopping at a NUL byte as
// Redis's C formatting does.
func AppendTrunc(b, s []byte, n int) []byte {
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		s = s[:n]
	}
	return append(b, s...)
}

// Sanitize replaces CR and LF, which would break the protocol, with spaces.
func Sanitize(b []byte) string {
	for i, ch := range b {
		if ch == '\r' || ch == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}
