package proxy

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// scanNodeBits is how many low bits of a proxy SCAN cursor hold the index
// of the node being scanned (in the slot map's leader order); the bits
// above hold that node's own cursor.
const scanNodeBits = 10

// encodeScanCursor combines a node index and the node's cursor.
func encodeScanCursor(node int, nodeCursor uint64) uint64 {
	return nodeCursor<<scanNodeBits | uint64(node)
}

// decodeScanCursor splits a proxy SCAN cursor.
func decodeScanCursor(cur uint64) (node int, nodeCursor uint64) {
	return int(cur & (1<<scanNodeBits - 1)), cur >> scanNodeBits
}

// nextScanCursor is the proxy cursor after node answered nodeNext, with
// nodes leaders in all: the same node while it has more, else the next
// node from its start, else 0 (done).
func nextScanCursor(node, nodes int, nodeNext uint64) uint64 {
	if nodeNext != 0 {
		return encodeScanCursor(node, nodeNext)
	}
	if node+1 < nodes {
		return encodeScanCursor(node+1, 0)
	}
	return 0
}

// onLeaders sends a command to the leaders that pick selects (all when
// pick is nil: index -1), built by build, and retries the whole round with
// a reloaded slot map while any answer is a redirect, a transient error or
// a lost node, within the retry budget. It returns the settled calls.
func (c *clientConn) onLeaders(pick int, build func(pc *pcall)) []*pcall {
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		m := c.p.smap.Load()
		nodes := m.masters
		if pick >= 0 {
			if pick >= len(nodes) {
				return nil
			}
			nodes = nodes[pick : pick+1]
		}
		c.ncalls = 0
		pcs := make([]*pcall, len(nodes))
		c.w.arm()
		for i, n := range nodes {
			pc := c.newCall()
			pc.to = n
			build(pc)
			pcs[i] = pc
			c.dispatch(pc)
		}
		c.w.wait()
		retry := false
		for _, pc := range pcs {
			if pc.err != nil || classify(pc.reply) != replyFinal {
				retry = true
			}
		}
		if !retry {
			return pcs
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(c.p.cfg.RetryBudget)
		}
		if !now.Before(deadline) || c.p.closed.Load() || !c.pause(attempt, deadline) {
			for _, pc := range pcs {
				c.giveUp(pc)
			}
			return pcs
		}
		_ = c.p.refresh(c.p.ctx)
	}
}

// sameCommand is a build function that sends the client's command as is.
func sameCommand(r *request) func(pc *pcall) {
	return func(pc *pcall) {
		pc.b = r.raw
		if pc.b == nil {
			pc.enc = encodeArgs(pc.enc[:0], r.args)
			pc.b = pc.enc
		}
	}
}

func replyList(pcs []*pcall) [][]byte {
	out := make([][]byte, len(pcs))
	for i, pc := range pcs {
		out[i] = pc.reply
	}
	return out
}

// fanOut runs a keyless key-space command over every group leader.
func (c *clientConn) fanOut(name string, r *request) {
	switch name {
	case "scan":
		c.scan(r)
		return
	case "randomkey":
		c.randomKey(r)
		return
	}
	replies := replyList(c.onLeaders(-1, sameCommand(r)))
	switch name {
	case "dbsize":
		c.out = mergeSum(c.out, c.proto, replies)
	case "flushall", "flushdb":
		c.out = mergeOK(c.out, c.proto, replies)
	case "keys":
		c.out = mergeArrays(c.out, c.proto, replies)
	case "info":
		c.out = mergeInfo(c.out, c.proto, replies)
	}
}

// mergeArrays concatenates array replies (KEYS).
func mergeArrays(out []byte, proto resp.Proto, replies [][]byte) []byte {
	if out, failed := firstError(out, proto, replies); failed {
		return out
	}
	total := 0
	bodies := make([][]byte, len(replies))
	for i, r := range replies {
		if len(r) == 0 || (r[0] != '*' && r[0] != '~') {
			return resp.AppendError(out, errBadNodeReply)
		}
		nl, _ := lineEnd(r, 1)
		n, ok := parseLen(r[1:nl])
		if !ok || n < 0 {
			return resp.AppendError(out, errBadNodeReply)
		}
		total += n
		bodies[i] = r[nl+2:]
	}
	out = resp.AppendArray(out, total)
	for _, b := range bodies {
		out = appendIn(out, proto, b)
	}
	return out
}

// scan runs SCAN on one leader at a time; the cursor names the leader.
func (c *clientConn) scan(r *request) {
	cur, ok := parseUint(r.args[1])
	if !ok {
		c.out = resp.AppendError(c.out, command.ErrInvalidCursor)
		return
	}
	idx, nodeCur := decodeScanCursor(cur)
	var curBuf [20]byte
	pcs := c.onLeaders(idx, func(pc *pcall) {
		a := append([][]byte{r.args[0], strconv.AppendUint(curBuf[:0], nodeCur, 10)}, r.args[2:]...)
		pc.enc = encodeArgs(pc.enc[:0], a)
		pc.b = pc.enc
	})
	if len(pcs) == 0 { // a cursor past the last leader: the scan is over
		c.out = resp.AppendArray(c.out, 2)
		c.out = resp.AppendBulkString(c.out, "0")
		c.out = resp.AppendArray(c.out, 0)
		return
	}
	rep := pcs[0].reply
	if len(rep) == 0 || rep[0] != '*' {
		c.appendReply(rep)
		return
	}
	v, err := parseReply(rep)
	if err != nil || len(v.Array) != 2 {
		c.out = resp.AppendError(c.out, errBadNodeReply)
		return
	}
	next, ok := parseUint([]byte(v.Array[0].Str))
	if !ok {
		c.out = resp.AppendError(c.out, errBadNodeReply)
		return
	}
	nodes := len(c.p.smap.Load().masters)
	c.out = resp.AppendArray(c.out, 2)
	c.out = resp.AppendBulk(c.out, strconv.AppendUint(curBuf[:0], nextScanCursor(idx, nodes, next), 10))
	c.out = resp.AppendArray(c.out, len(v.Array[1].Array))
	for _, k := range v.Array[1].Array {
		c.out = resp.AppendBulkString(c.out, k.Str)
	}
}

// randomKey asks the leaders, from a random one on, until one has a key.
func (c *clientConn) randomKey(r *request) {
	pcs := c.onLeaders(-1, sameCommand(r))
	if len(pcs) == 0 {
		c.out = resp.AppendNull(c.out, c.proto)
		return
	}
	start := rand.IntN(len(pcs))
	for i := range pcs {
		rep := pcs[(start+i)%len(pcs)].reply
		if len(rep) > 0 && rep[0] != '_' && !hasPrefix(rep, "$-1") {
			c.appendReply(rep)
			return
		}
	}
	c.out = resp.AppendNull(c.out, c.proto)
}

// mergeInfo merges INFO replies: the first leader's text, with
// cluster_enabled:0 and the keyspace line summed over all leaders.
func mergeInfo(out []byte, proto resp.Proto, replies [][]byte) []byte {
	if out, failed := firstError(out, proto, replies); failed {
		return out
	}
	var texts []string
	for _, r := range replies {
		v, err := parseReply(r)
		if err != nil {
			return resp.AppendError(out, errBadNodeReply)
		}
		texts = append(texts, v.Str)
	}
	if len(texts) == 0 {
		return resp.AppendVerbatim(out, proto, nil)
	}
	return resp.AppendVerbatim(out, proto, []byte(rewriteInfo(texts)))
}

// rewriteInfo returns texts[0] as a standalone server's (cluster_enabled:0,
// redis_mode:standalone) with db0's keys and expires summed over every
// text (avg_ttl: the largest).
func rewriteInfo(texts []string) string {
	var keys, expires, ttl int64
	found := false
	for _, t := range texts {
		for _, line := range strings.Split(t, "\r\n") {
			if rest, ok := strings.CutPrefix(line, "db0:"); ok {
				found = true
				for _, f := range strings.Split(rest, ",") {
					k, v, _ := strings.Cut(f, "=")
					n, _ := strconv.ParseInt(v, 10, 64)
					switch k {
					case "keys":
						keys += n
					case "expires":
						expires += n
					case "avg_ttl":
						ttl = max(ttl, n)
					}
				}
			}
		}
	}
	db0 := "db0:keys=" + strconv.FormatInt(keys, 10) + ",expires=" + strconv.FormatInt(expires, 10) +
		",avg_ttl=" + strconv.FormatInt(ttl, 10)
	lines := strings.Split(texts[0], "\r\n")
	add := found && !hasDB0(lines)
	out := make([]string, 0, len(lines)+1)
	for _, line := range lines {
		switch {
		case line == "cluster_enabled:1":
			line = "cluster_enabled:0"
		case line == "redis_mode:cluster":
			line = "redis_mode:standalone"
		case strings.HasPrefix(line, "db0:"):
			line = db0
		}
		out = append(out, line)
		if line == "# Keyspace" && add {
			out = append(out, db0)
		}
	}
	return strings.Join(out, "\r\n")
}

func hasDB0(lines []string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, "db0:") {
			return true
		}
	}
	return false
}
