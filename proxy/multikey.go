package proxy

import (
	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// splitter groups the keys of a multi-key command by hash slot, keeping
// the keys' order within each group. Reused across commands.
type splitter struct {
	slots  []int   // slot of each group, in order of first appearance
	groups [][]int // argument index of each key (its first argument), per group
	where  []int   // group of each key, in argument order
}

// split groups args[first:] in steps of step arguments (1 for keys, 2 for
// key-value pairs) by the slot of each step's first argument.
func (s *splitter) split(args [][]byte, first, step int) {
	s.slots = s.slots[:0]
	for i := range s.groups {
		s.groups[i] = s.groups[i][:0]
	}
	s.where = s.where[:0]
	for i := first; i+step <= len(args); i += step {
		slot := slotOf(args[i])
		g := -1
		for k, sl := range s.slots {
			if sl == slot {
				g = k
				break
			}
		}
		if g < 0 {
			g = len(s.slots)
			s.slots = append(s.slots, slot)
			if g == len(s.groups) {
				s.groups = append(s.groups, nil)
			}
		}
		s.groups[g] = append(s.groups[g], i)
		s.where = append(s.where, g)
	}
}

// buildSub encodes the command of group g: name and, for each key of the
// group, step arguments from it.
func (s *splitter) buildSub(b []byte, name string, args [][]byte, g, step int) []byte {
	idx := s.groups[g]
	b = resp.AppendArray(b, 1+len(idx)*step)
	b = resp.AppendBulkString(b, name)
	for _, i := range idx {
		for k := 0; k < step; k++ {
			b = resp.AppendBulk(b, args[i+k])
		}
	}
	return b
}

// multiKey runs MGET, MSET, MSETNX, DEL, UNLINK, EXISTS or TOUCH: forwarded
// as is when every key is in one slot, else (MSETNX excepted: CROSSSLOT)
// split by slot and merged as Redis answers.
func (c *clientConn) multiKey(name string, r *request) {
	args := r.args
	step := 1
	if name == "mset" || name == "msetnx" {
		step = 2
		if len(args)%2 == 0 {
			c.out = resp.AppendError(c.out, errWrongArgs(c.lowerName(args[0])))
			return
		}
	}
	c.split.split(args, 1, step)
	if len(c.split.slots) <= 1 {
		pc := c.newCall()
		pc.slot = -1
		if len(c.split.slots) == 1 {
			pc.slot = c.split.slots[0]
		}
		pc.b = r.raw
		if pc.b == nil {
			pc.enc = encodeArgs(pc.enc[:0], args)
			pc.b = pc.enc
		}
		c.roundTrip([]*pcall{pc})
		c.appendReply(pc.reply)
		return
	}
	if name == "msetnx" {
		c.out = resp.AppendError(c.out, command.ErrCrossSlot)
		return
	}
	pcs := make([]*pcall, len(c.split.slots))
	for g, slot := range c.split.slots {
		pc := c.newCall()
		pc.slot = slot
		pc.enc = c.split.buildSub(pc.enc[:0], name, args, g, step)
		pc.b = pc.enc
		pcs[g] = pc
	}
	c.roundTrip(pcs)
	replies := make([][]byte, len(pcs))
	for g, pc := range pcs {
		replies[g] = pc.reply
	}
	switch name {
	case "mget":
		c.out = mergeMGet(c.out, c.proto, replies, c.split.where)
	case "mset":
		c.out = mergeOK(c.out, c.proto, replies)
	default:
		c.out = mergeSum(c.out, c.proto, replies)
	}
}

// firstError appends the first error reply among replies and reports
// whether there was one.
func firstError(out []byte, proto resp.Proto, replies [][]byte) ([]byte, bool) {
	for _, r := range replies {
		if len(r) == 0 || r[0] == '-' || r[0] == '!' {
			if len(r) == 0 {
				return resp.AppendError(out, errClusterDown), true
			}
			return appendIn(out, proto, r), true
		}
	}
	return out, false
}

// appendIn appends a node's (RESP3) reply in protocol proto.
func appendIn(out []byte, proto resp.Proto, r []byte) []byte {
	if proto == resp.RESP3 || !resp.NeedsDowngrade(r) {
		return append(out, r...)
	}
	o, err := resp.Downgrade(out, r)
	if err != nil {
		return resp.AppendError(out, errNoRESP2)
	}
	return o
}

// mergeOK merges MSET replies: OK unless a group failed.
func mergeOK(out []byte, proto resp.Proto, replies [][]byte) []byte {
	if out, failed := firstError(out, proto, replies); failed {
		return out
	}
	return resp.AppendOK(out)
}

// mergeSum merges integer replies (DEL, UNLINK, EXISTS, TOUCH) by adding
// them.
func mergeSum(out []byte, proto resp.Proto, replies [][]byte) []byte {
	if out, failed := firstError(out, proto, replies); failed {
		return out
	}
	var sum int64
	for _, r := range replies {
		if len(r) < 3 || r[0] != ':' {
			return resp.AppendError(out, errBadNodeReply)
		}
		n, ok := parseInt(r[1 : len(r)-2])
		if !ok {
			return resp.AppendError(out, errBadNodeReply)
		}
		sum += n
	}
	return resp.AppendInt(out, sum)
}

// mergeMGet merges the array replies of MGET's groups into one array in
// the keys' order: where[i] is the group of key i.
func mergeMGet(out []byte, proto resp.Proto, replies [][]byte, where []int) []byte {
	if out, failed := firstError(out, proto, replies); failed {
		return out
	}
	// pos[g]: the next element of group g's reply.
	pos := make([]int, len(replies))
	for g, r := range replies {
		if len(r) == 0 || r[0] != '*' {
			return resp.AppendError(out, errBadNodeReply)
		}
		nl, _ := lineEnd(r, 1)
		pos[g] = nl + 2
	}
	start := len(out)
	out = resp.AppendArray(out, len(where))
	for _, g := range where {
		r := replies[g]
		e, ok, err := replyEnd(r, pos[g])
		if err != nil || !ok {
			return resp.AppendError(out[:start], errBadNodeReply)
		}
		out = appendIn(out, proto, r[pos[g]:e])
		pos[g] = e
	}
	return out
}
