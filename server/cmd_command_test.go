package server

import (
	"strconv"
	"testing"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// Replies of redis-server 7.0.15, byte for byte.
const (
	redisCommandInfoGet2 = "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n" +
		"+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n" +
		"$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n" +
		"$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n" +
		"$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n"
	redisCommandInfoGet3 = "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n" +
		"+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n" +
		"$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n" +
		"$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n" +
		"$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n"
	redisCommandDocsGet2 = "*2\r\n$3\r\nget\r\n*10\r\n$7\r\nsummary\r\n$22\r\nGet the value of a key\r\n$5\r\nsince\r\n" +
		"$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$9\r\narguments\r\n*1\r\n" +
		"*6\r\n$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n$14\r\nkey_spec_index\r\n:0\r\n"
)

func TestCommandInfoMatchesRedis(t *testing.T) {
	x := connTestCtx(t, "", resp.RESP2)
	runCases(t, x, []lineCase{
		{[]string{"COMMAND", "INFO", "get"}, redisCommandInfoGet2},
		{[]string{"COMMAND", "INFO", "GET"}, redisCommandInfoGet2},
		{[]string{"COMMAND", "INFO", "nosuch"}, "*1\r\n$-1\r\n"},
		{[]string{"COMMAND", "INFO", "config|nosuch", "get|x", "a|b|c"}, "*3\r\n$-1\r\n$-1\r\n$-1\r\n"},
		{[]string{"COMMAND", "DOCS", "get"}, redisCommandDocsGet2},
		{[]string{"COMMAND", "DOCS", "nosuch"}, "*0\r\n"},
		{[]string{"COMMAND", "FOO"}, "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n"},
		{[]string{"COMMAND", "LIST", "x"}, "-ERR syntax error\r\n"},
		{[]string{"COMMAND", "LIST", "FILTERBY", "module", "x"}, "*0\r\n"},
		{[]string{"COMMAND", "LIST", "FILTERBY", "pattern", "config|g*"}, "*1\r\n$10\r\nconfig|get\r\n"},
		{[]string{"COMMAND", "COUNT"}, ":" + strconv.Itoa(len(command.All())) + "\r\n"},
	})
	connOf(x).proto = resp.RESP3
	runCases(t, x, []lineCase{
		{[]string{"COMMAND", "INFO", "get"}, redisCommandInfoGet3},
		{[]string{"COMMAND", "INFO", "nosuch"}, "*1\r\n_\r\n"},
		{[]string{"COMMAND", "DOCS", "nosuch"}, "%0\r\n"},
	})
}

func TestCommandGetKeys(t *testing.T) {
	x := connTestCtx(t, "", resp.RESP2)
	runCases(t, x, []lineCase{
		{[]string{"COMMAND", "GETKEYS", "get", "a"}, "*1\r\n$1\r\na\r\n"},
		{[]string{"COMMAND", "GETKEYS", "SET", "a", "b"}, "*1\r\n$1\r\na\r\n"},
		{[]string{"COMMAND", "GETKEYS", "ping", "x"}, "-ERR The command has no key arguments\r\n"},
		{[]string{"COMMAND", "GETKEYS", "nosuch", "x"}, "-ERR Invalid command specified\r\n"},
		{[]string{"COMMAND", "GETKEYS", "get", "a", "b"}, "-ERR Invalid number of arguments specified for command\r\n"},
		{[]string{"COMMAND", "GETKEYS", "client", "id"}, "-ERR The command has no key arguments\r\n"},
		{[]string{"COMMAND", "GETKEYS", "client", "nosuch"}, "-ERR Invalid command specified\r\n"},
	})
}
