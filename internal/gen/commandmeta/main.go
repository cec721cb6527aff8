// Command commandmeta generates command/command_meta_gen.go: for every command
// Shoal supports (and each of its subcommands), the RESP3 bytes of Redis's
// COMMAND INFO entry and COMMAND DOCS map, taken from a real redis-server.
// Shoal serves them from COMMAND, COMMAND INFO and COMMAND DOCS so that its
// replies are byte-identical to the Redis version it emulates.
//
// Run it from the command package (see the go:generate line in
// command/cmd_command.go):
//
//	go generate ./command/
//
// or by hand:
//
//	go run ./internal/gen/commandmeta -out command/command_meta_gen.go [-addr 127.0.0.1:6379]
//
// Without -addr it starts a throw-away redis-server (from $PATH, or -redis)
// on a free port and stops it afterwards. Add a command to the names list
// below when Shoal gains one.
//
// Commands newer than that Redis, or changed since (newerNames: Redis
// 7.4's hash field expiry, 7.2's ZRANK/ZREVRANK WITHSCORE) take their
// metadata from a newer redis-server, given with -newer-addr or started
// from -newer-redis: Debian has none, so build one
// from Redis's sources (git checkout 7.4.1 && make) beside the project,
// never inside it. Without either, generation fails rather than drop them.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoalcache/shoal/internal/proc"
	"github.com/shoalcache/shoal/internal/respclient"
)

// names are the top-level commands Shoal supports.
var names = strings.Fields(`get set setnx setex psetex getset getdel getex mget mset
msetnx append strlen getrange substr setrange incr decr incrby decrby incrbyfloat
del unlink exists touch type expire pexpire expireat pexpireat ttl pttl expiretime
pexpiretime persist rename renamenx copy move swapdb keys scan randomkey dbsize flushall flushdb
dump restore
watch unwatch
ping echo quit hello auth select reset client command info config time save bgsave
lastsave readonly readwrite asking cluster slowlog latency monitor shutdown
lcs object memory multi exec discard acl
hset hsetnx hmset hget hmget hgetall hkeys hvals hdel hlen hstrlen hexists hincrby
hincrbyfloat hrandfield hscan
sadd srem spop smove sinterstore sunionstore sdiffstore smembers sismember smismember
scard srandmember sinter sunion sdiff sscan
lpush rpush lpushx rpushx lpop rpop lset linsert lrem ltrim lmove rpoplpush llen lindex
lrange lpos
eval evalsha eval_ro evalsha_ro script
function fcall fcall_ro
zadd zincrby zrem zremrangebyrank zremrangebyscore zremrangebylex zpopmin zpopmax zrangestore
zscore zmscore zcard zcount zlexcount zrange zrevrange zrangebyscore
zrevrangebyscore zrangebylex zrevrangebylex zrandmember zscan
sintercard zintercard zunion zinter zdiff zunionstore zinterstore zdiffstore lmpop zmpop
blpop brpop blmove brpoplpush blmpop bzpopmin bzpopmax bzmpop`)

// newerNames are commands of a newer Redis than names' (see above).
var newerNames = strings.Fields(`hexpire hpexpire hexpireat hpexpireat httl hpttl
hexpiretime hpexpiretime hpersist zrank zrevrank`)

func main() {
	addr := flag.String("addr", "", "address of a running redis-server; empty starts one")
	redisBin := flag.String("redis", "redis-server", "redis-server binary used when -addr is empty")
	out := flag.String("out", "command_meta_gen.go", "output file")
	newerAddr := flag.String("newer-addr", "", "address of a running newer redis-server (7.4) for newerNames")
	newerBin := flag.String("newer-redis", "", "newer redis-server binary (7.4) started for newerNames when -newer-addr is empty")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("commandmeta: ")

	if err := run(*addr, *redisBin, *newerAddr, *newerBin, *out); err != nil {
		log.Fatal(err)
	}
}

func run(addr, redisBin, newerAddr, newerBin, out string) error {
	if addr == "" {
		a, stop, err := startRedis(redisBin)
		if err != nil {
			return err
		}
		defer stop()
		addr = a
	}
	if newerAddr == "" {
		if newerBin == "" {
			return fmt.Errorf("%d commands (%s ...) need a newer redis-server: -newer-addr or -newer-redis (see the package comment)", len(newerNames), newerNames[0])
		}
		a, stop, err := startRedis(newerBin)
		if err != nil {
			return err
		}
		defer stop()
		newerAddr = a
	}
	src, err := generate(addr, newerAddr)
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}

// meta is what the generated file holds for one command.
type meta struct {
	info      []byte // elements 1-9 of the COMMAND INFO entry (all but subcommands)
	docs      []byte // the COMMAND DOCS map's fields, without "subcommands"
	docFields int    // how many fields docs holds
}

// dialMeta connects to the redis-server at addr in RESP3 and returns the
// client and the server's version.
func dialMeta(addr string) (*client, string, error) {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, "", err
	}
	c := &client{conn: nc, r: bufio.NewReader(nc)}
	if _, err := c.do("HELLO", "3"); err != nil {
		nc.Close()
		return nil, "", err
	}
	ver, err := c.do("INFO", "server")
	if err != nil {
		nc.Close()
		return nil, "", err
	}
	version := "unknown"
	for _, line := range strings.Split(ver.Str, "\r\n") {
		if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
			version = v
		}
	}
	return c, version, nil
}

func generate(addr, newerAddr string) ([]byte, error) {
	c, version, err := dialMeta(addr)
	if err != nil {
		return nil, err
	}
	defer c.conn.Close()
	all := map[string]*meta{}
	if err := collect(c, names, all); err != nil {
		return nil, err
	}
	cn, newerVersion, err := dialMeta(newerAddr)
	if err != nil {
		return nil, err
	}
	defer cn.conn.Close()
	if err := collect(cn, newerNames, all); err != nil {
		return nil, err
	}
	return render(all, version, newerVersion)
}

// collect adds the COMMAND INFO and COMMAND DOCS of each name to all.
func collect(c *client, names []string, all map[string]*meta) error {
	for _, name := range names {
		info, err := c.do("COMMAND", "INFO", name)
		if err != nil {
			return err
		}
		if info.Kind != respclient.KindArray || len(info.Array) != 1 || info.Array[0].Kind != respclient.KindArray {
			return fmt.Errorf("COMMAND INFO %s: unexpected reply %q", name, info.Raw)
		}
		if err := addInfo(all, info.Array[0]); err != nil {
			return fmt.Errorf("COMMAND INFO %s: %w", name, err)
		}
		docs, err := c.do("COMMAND", "DOCS", name)
		if err != nil {
			return err
		}
		if docs.Kind != respclient.KindMap || len(docs.Map) != 1 {
			return fmt.Errorf("COMMAND DOCS %s: unexpected reply %q", name, docs.Raw)
		}
		if err := addDocs(all, docs.Map[0].Key.Str, docs.Map[0].Value); err != nil {
			return fmt.Errorf("COMMAND DOCS %s: %w", name, err)
		}
	}
	return nil
}

// render writes the generated file.
func render(all map[string]*meta, version, newerVersion string) ([]byte, error) {
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by go run ./internal/gen/commandmeta from redis-server %s (and %s for %s); DO NOT EDIT.\n\n",
		version, newerVersion, strings.Join(newerNames, " "))
	b.WriteString("package command\n\n")
	fmt.Fprintf(&b, "// commandMetaVersion is the Redis version the metadata was taken from.\n")
	fmt.Fprintf(&b, "const commandMetaVersion = %q\n\n", version)
	b.WriteString("// commandMeta holds Redis's COMMAND INFO and COMMAND DOCS data (RESP3), by\n")
	b.WriteString("// command name; subcommands are named \"parent|sub\".\n")
	b.WriteString("var commandMeta = map[string]cmdMeta{\n")
	for _, k := range keys {
		m := all[k]
		if m.info == nil {
			return nil, fmt.Errorf("%s: docs without info", k)
		}
		fmt.Fprintf(&b, "\t%q: {\n\t\tinfo: %s,\n\t\tdocs: %s,\n\t\tdocFields: %d,\n\t},\n",
			k, quote(m.info), quote(m.docs), m.docFields)
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

// quote renders raw RESP as a Go string literal, split after each CRLF so
// the generated file stays readable.
func quote(b []byte) string {
	if len(b) == 0 {
		return `""`
	}
	parts := bytes.SplitAfter(b, []byte("\r\n"))
	var out []string
	var cur []byte
	for _, p := range parts {
		if len(p) == 0 {
			continue
		}
		cur = append(cur, p...)
		if len(cur) > 60 {
			out = append(out, strconv.Quote(string(cur)))
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, strconv.Quote(string(cur)))
	}
	return strings.Join(out, " +\n\t\t\t")
}

func entry(all map[string]*meta, name string) *meta {
	m := all[name]
	if m == nil {
		m = &meta{}
		all[name] = m
	}
	return m
}

// addInfo records a COMMAND INFO entry and, recursively, its subcommands.
func addInfo(all map[string]*meta, v respclient.Value) error {
	if len(v.Array) != 10 {
		return fmt.Errorf("entry of %d elements", len(v.Array))
	}
	m := entry(all, v.Array[0].Str)
	for _, e := range v.Array[:9] {
		m.info = append(m.info, e.Raw...)
	}
	for _, sub := range v.Array[9].Array {
		if err := addInfo(all, sub); err != nil {
			return err
		}
	}
	return nil
}

// addDocs records a COMMAND DOCS map and, recursively, its subcommands'.
func addDocs(all map[string]*meta, name string, v respclient.Value) error {
	if v.Kind != respclient.KindMap {
		return fmt.Errorf("docs of %s are not a map", name)
	}
	m := entry(all, name)
	for _, kv := range v.Map {
		k, val := kv.Key, kv.Value
		if k.Str == "subcommands" {
			for _, sub := range val.Map {
				if err := addDocs(all, sub.Key.Str, sub.Value); err != nil {
					return err
				}
			}
			continue
		}
		m.docs = append(m.docs, k.Raw...)
		m.docs = append(m.docs, val.Raw...)
		m.docFields++
	}
	return nil
}

// startRedis starts redis-server (bin, unless it is the default name
// looked up in $PATH) on a free port without persistence.
func startRedis(bin string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "commandmeta")
	if err != nil {
		return "", nil, err
	}
	var p *proc.Process
	if bin == "redis-server" {
		p, err = proc.StartRedis(dir, nil)
	} else {
		p, err = startRedisBin(bin, dir)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return p.Addr, func() { p.Kill(); os.RemoveAll(dir) }, nil
}

// startRedisBin starts the redis-server binary bin with proc.RedisArgs.
func startRedisBin(bin, dir string) (*proc.Process, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, proc.RedisArgs(port, dir)...)
	return proc.Start(cmd, proc.LocalAddr(port), proc.StartTimeout)
}

type client struct {
	conn net.Conn
	r    *bufio.Reader
}

// do sends a command and returns its reply with the raw bytes of every
// value kept; an error reply is returned as an error.
func (c *client) do(args ...any) (respclient.Value, error) {
	cmd, err := respclient.AppendCommand(nil, args...)
	if err != nil {
		return respclient.Value{}, err
	}
	if err := c.conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return respclient.Value{}, err
	}
	if _, err := c.conn.Write(cmd); err != nil {
		return respclient.Value{}, err
	}
	v, err := respclient.ReadRaw(c.r)
	if err != nil {
		return respclient.Value{}, err
	}
	if v.IsError() {
		return respclient.Value{}, fmt.Errorf("%v: %s", args, v.Str)
	}
	return v, nil
}
