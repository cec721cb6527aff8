package proxy

import (
	"strings"
	"testing"
)

// The proxy's node connections are the default user's: AUTH and HELLO
// AUTH as another ACL user are refused (they would run that user's
// commands with the default user's rights), the default user works.
func TestProxyRefusesOtherACLUsers(t *testing.T) {
	f := startFake(t)
	f.setHook(func(args [][]byte) []byte {
		if isCmd(args, "auth") {
			return []byte("+OK\r\n") // a node would accept app's password
		}
		return nil
	})
	_, addr := startTestProxy(t, func(c *Config) { c.Password = "pw" }, f.addr)
	c := dialRaw(t, addr)
	for _, step := range []struct{ args, want string }{
		{"AUTH app secret", "-" + errProxyUser + "\r\n"},
		{"HELLO 3 AUTH app secret", "-" + errProxyUser + "\r\n"},
		{"GET k", "-NOAUTH Authentication required.\r\n"},
		{"AUTH default pw", "+OK\r\n"},
		{"GET k", "$1\r\nk\r\n"},
	} {
		if got := c.do(t, strings.Fields(step.args)...); got != step.want {
			t.Fatalf("%s: %q, want %q", step.args, got, step.want)
		}
	}
}
