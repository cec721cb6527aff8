package server

// SHOAL MIGRATE, JOBS and CANCEL: slot migration jobs (docs/migration.md),
// and adminErr, the one place that turns an Admin's errors into replies.

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/topology"
)

// adminTimeout bounds how long SHOAL MIGRATE, JOBS, CANCEL, REBALANCE and
// REMOVE-NODE wait for the Admin: a compare-and-set on the map, forwarded
// to the meta leader.
const adminTimeout = 10 * time.Second

// RESP error texts of the migration commands. The slot texts are Redis's
// (getSlotOrReply, CLUSTER ADDSLOTSRANGE).
const (
	errMigrateUnsupported = "ERR slot migration is not supported by this node"
	errBadSlot            = "ERR Invalid or out of range slot"
)

// adminReq is what a SHOAL request named, for its error replies.
type adminReq struct {
	op    string // what failed, for other errors: "leadership transfer", "migration"...
	group []byte // the group argument
	node  []byte // the node argument
	job   []byte // the job argument
	slots string // the slot ranges, "A-B,C-D"
}

// adminErr returns the error reply for err, an error of an Admin method
// serving r: the one place every refusal of the Admin interface gets its
// text. Errors that are none of the sentinels are failures, their text
// shown after r.op.
func adminErr(x *command.Ctx, err error, r adminReq) string {
	group := command.Sanitize(append([]byte(nil), truncNUL(r.group)...))
	switch {
	case errors.Is(err, ErrUnknownGroup):
		return errUnknownGroup(r.group)
	case errors.Is(err, ErrUnknownNode):
		return errUnknownNode(r.node)
	case errors.Is(err, ErrNotGroupVoter):
		return errNotVoter(r.node, group)
	case errors.Is(err, ErrAlreadyLeader):
		return errAlreadyLeads(r.node, group)
	case errors.Is(err, ErrNotGroupLeader):
		return errNotLeaderOf(group, groupLeaderAddr(srvOf(x).router.Topology(), string(r.group)))
	case errors.Is(err, ErrUnknownJob):
		return command.Sanitize(command.AppendTrunc([]byte("ERR unknown job '"), r.job, 128)) + "'"
	case errors.Is(err, ErrJobNotActive):
		return command.Sanitize(command.AppendTrunc([]byte("ERR job "), r.job, 128)) +
			" has ended already (done or aborted); only a job still copying can be cancelled"
	case errors.Is(err, ErrBadSlots):
		return "ERR invalid slot ranges " + r.slots + detail(err, ErrBadSlots)
	case errors.Is(err, ErrUnassignedSlots):
		return "ERR slots " + r.slots + " are not all assigned to a group" + detail(err, ErrUnassignedSlots)
	case errors.Is(err, ErrMixedSources):
		return "ERR slots " + r.slots + " belong to more than one group; migrate each group's slots in its own job" +
			detail(err, ErrMixedSources)
	case errors.Is(err, ErrAlreadyOwner):
		return "ERR group " + group + " already owns slots " + r.slots + detail(err, ErrAlreadyOwner)
	case errors.Is(err, ErrSlotsBusy):
		return "ERR slots " + r.slots + " are in an active migration job already" + detail(err, ErrSlotsBusy) +
			"; see SHOAL JOBS"
	case errors.Is(err, ErrTooManyJobs):
		return "ERR too many active migration jobs" + detail(err, ErrTooManyJobs) +
			"; wait for one to end or cancel one (SHOAL JOBS, SHOAL CANCEL)"
	case errors.Is(err, ErrTooFewNodes):
		why := detailText(err, ErrTooFewNodes)
		if why == "" {
			why = "too few nodes would remain"
		}
		return command.Sanitize(append([]byte("ERR cannot remove node "), truncNUL(r.node)...)) + ": " + why
	}
	return "ERR " + r.op + " failed: " + command.Sanitize([]byte(err.Error()))
}

// detail returns " (text)" for the text an implementation wrapped after
// sentinel in err ("" when none), cut to 200 bytes.
func detail(err, sentinel error) string {
	if s := detailText(err, sentinel); s != "" {
		return " (" + s + ")"
	}
	return ""
}

// detailText returns the text an implementation wrapped after sentinel in
// err, sanitized and cut to 200 bytes; "" when none.
func detailText(err, sentinel error) string {
	s := err.Error()
	i := strings.Index(s, sentinel.Error())
	if i < 0 {
		return ""
	}
	s = strings.TrimLeft(s[i+len(sentinel.Error()):], ": ")
	if s == "" {
		return ""
	}
	return command.Sanitize(command.AppendTrunc(nil, []byte(s), 200))
}

// parseSlotRanges parses "A-B[,C-D...]", where a range may be a single
// slot "A", into ranges sorted by start with touching ones merged. The
// error is a Redis-style reply: a slot that is not an integer in 0-16383,
// a range whose start is after its end, a slot given twice.
func parseSlotRanges(arg []byte) ([]topology.SlotRange, string) {
	var out []topology.SlotRange
	for _, part := range strings.Split(string(arg), ",") {
		a, b, isRange := strings.Cut(part, "-")
		start, ok := slotNum(a)
		end := start
		if ok && isRange {
			end, ok = slotNum(b)
		}
		if !ok {
			return nil, errBadSlot
		}
		if start > end {
			return nil, "ERR start slot number " + strconv.Itoa(start) + " is greater than end slot number " + strconv.Itoa(end)
		}
		out = append(out, topology.SlotRange{Start: start, End: end})
	}
	slices.SortFunc(out, func(a, b topology.SlotRange) int { return a.Start - b.Start })
	merged := out[:1]
	for _, r := range out[1:] {
		last := &merged[len(merged)-1]
		switch {
		case r.Start <= last.End:
			return nil, "ERR Slot " + strconv.Itoa(r.Start) + " specified multiple times"
		case r.Start == last.End+1:
			last.End = r.End
		default:
			merged = append(merged, r)
		}
	}
	return merged, ""
}

// slotNum parses a slot number: decimal digits only, 0-16383.
func slotNum(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = 10*n + int(s[i]-'0')
	}
	return n, n < topology.NumSlots
}

// formatSlotRanges formats ranges as "A-B,C-D" (a single slot as "A-A").
func formatSlotRanges(rs []topology.SlotRange) string {
	b := make([]byte, 0, 12*len(rs))
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSlotRange(b, r)
	}
	return string(b)
}

func appendSlotRange(b []byte, r topology.SlotRange) []byte {
	b = strconv.AppendInt(b, int64(r.Start), 10)
	b = append(b, '-')
	return strconv.AppendInt(b, int64(r.End), 10)
}

// shoalAdmin returns the router's Admin, or appends the cluster-disabled or
// unsupported error and returns nil.
func shoalAdmin(x *command.Ctx) Admin {
	if clusterTopology(x) == nil {
		return nil
	}
	a := srvOf(x).router.Admin()
	if a == nil {
		x.Err(errMigrateUnsupported)
	}
	return a
}

// shoalMigrateCommand: SHOAL MIGRATE ranges group-id. Creates a job moving
// the slots (ranges "A-B[,C-D...]", or one slot) from the group that owns
// them to group-id, and replies its id (a bulk string) once the job is in
// the map; the copy runs in the background (SHOAL JOBS shows it).
func shoalMigrateCommand(x *command.Ctx, args [][]byte) {
	if clusterTopology(x) == nil {
		return
	}
	slots, msg := parseSlotRanges(args[2])
	if msg != "" {
		x.Err(msg)
		return
	}
	a := srvOf(x).router.Admin()
	if a == nil {
		x.Err(errMigrateUnsupported)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	id, err := a.Migrate(ctx, slots, string(args[3]))
	if err != nil {
		x.Err(adminErr(x, err, adminReq{op: "migration", group: args[3], slots: formatSlotRanges(slots)}))
		return
	}
	x.BulkString(id)
}

// shoalCancelCommand: SHOAL CANCEL job-id. Aborts a job that has not
// flipped yet; +OK once the abort is in the map.
func shoalCancelCommand(x *command.Ctx, args [][]byte) {
	a := shoalAdmin(x)
	if a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := a.CancelJob(ctx, string(args[2])); err != nil {
		x.Err(adminErr(x, err, adminReq{op: "cancel", job: args[2]}))
		return
	}
	x.OK()
}

// jobFields is the number of fields of a SHOAL JOBS entry.
const jobFields = 13

// shoalJobsCommand: SHOAL JOBS. One map per job (a flat array of field
// names and values in RESP2), oldest first: id, slots (an array of "A-B"
// strings), source, target, phase, keys, bytes, keys-per-sec and
// bytes-per-sec (doubles; bulk strings in RESP2), eta-ms (-1 when unknown),
// created-ms and ended-ms (unix ms; ended-ms 0 while running), reason (""
// unless aborted).
func shoalJobsCommand(x *command.Ctx, args [][]byte) {
	a := shoalAdmin(x)
	if a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	jobs, err := a.Jobs(ctx)
	if err != nil {
		x.Err(adminErr(x, err, adminReq{op: "listing jobs"}))
		return
	}
	x.Array(len(jobs))
	var b []byte
	for _, j := range jobs {
		x.MapHeader(jobFields)
		x.BulkString("id")
		x.BulkString(j.ID)
		x.BulkString("slots")
		x.Array(len(j.Slots))
		for _, r := range j.Slots {
			b = appendSlotRange(b[:0], r)
			x.Bulk(b)
		}
		x.BulkString("source")
		x.BulkString(j.Source)
		x.BulkString("target")
		x.BulkString(j.Target)
		x.BulkString("phase")
		x.BulkString(j.Phase)
		x.BulkString("keys")
		x.Int(j.Keys)
		x.BulkString("bytes")
		x.Int(j.Bytes)
		x.BulkString("keys-per-sec")
		x.Double(j.KeysPerSec)
		x.BulkString("bytes-per-sec")
		x.Double(j.BytesPerSec)
		x.BulkString("eta-ms")
		if j.ETA < 0 {
			x.Int(-1)
		} else {
			x.Int(j.ETA.Milliseconds())
		}
		x.BulkString("created-ms")
		x.Int(unixMs(j.Created))
		x.BulkString("ended-ms")
		x.Int(unixMs(j.Ended))
		x.BulkString("reason")
		x.BulkString(j.Reason)
	}
}

// unixMs is t in unix milliseconds, 0 for the zero time.
func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
