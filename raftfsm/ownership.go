package raftfsm

import (
	"context"
	"fmt"
	"strconv"

	"github.com/shoalcache/shoal/shard"
)

// Slot ownership.
//
// Each group's FSM knows which slots the group owns and the epoch that gave
// them. The ownership is part of the replicated state: it changes only by a
// SetOwnership entry (Group.ProposeOwnership) whose epoch is above the
// current one, and it is saved in snapshots. Every keyed write of a Commands
// entry is checked against it when applied: a command with a key in a slot
// the group does not own is not executed, and its reply is
// "-NOTOWNER <slot>\r\n" (the slot of its first such key), which the front
// end turns into a redirect.
//
// Initial ownership, before any SetOwnership entry: every slot if
// Config.OwnAllSlots, else none; epoch 0. A snapshot written before
// ownership existed (snapshot format version 1) restores as every slot at
// epoch 0. The first SetOwnership must thus have an epoch of at least 1.

// NotOwnerPrefix starts the error reply of a write the FSM refused because
// the group does not own a key's slot: "-NOTOWNER <slot>\r\n".
const NotOwnerPrefix = "NOTOWNER"

// ParseNotOwner returns the slot of a NOTOWNER error reply (as the FSM
// writes it, with or without the leading '-' and trailing CRLF), and
// whether reply is one.
func ParseNotOwner(reply []byte) (slot int, ok bool) {
	if len(reply) > 0 && reply[0] == '-' {
		reply = reply[1:]
	}
	if len(reply) >= 2 && reply[len(reply)-2] == '\r' && reply[len(reply)-1] == '\n' {
		reply = reply[:len(reply)-2]
	}
	if len(reply) < len(NotOwnerPrefix)+2 || string(reply[:len(NotOwnerPrefix)+1]) != NotOwnerPrefix+" " {
		return 0, false
	}
	n := 0
	for _, c := range reply[len(NotOwnerPrefix)+1:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n >= shard.NumSlots {
			return 0, false
		}
	}
	return n, true
}

func appendNotOwner(out []byte, slot int) []byte {
	out = append(out, '-')
	out = append(out, NotOwnerPrefix...)
	out = append(out, ' ')
	out = strconv.AppendInt(out, int64(slot), 10)
	return append(out, '\r', '\n')
}

// ownership is one immutable ownership state; the FSM swaps whole values.
type ownership struct {
	epoch uint64
	all   bool // every slot: lets the apply path skip the key check
	slots shard.SlotSet
}

func newOwnership(epoch uint64, slots *shard.SlotSet) *ownership {
	o := &ownership{epoch: epoch}
	if slots == nil {
		o.slots = *shard.AllSlots()
	} else {
		o.slots = *slots
	}
	o.all = o.slots.Count() == shard.NumSlots
	return o
}

// OwnershipResult is the FSM's result for a SetOwnership entry.
type OwnershipResult struct {
	// Applied is false when the entry's epoch was not above the group's:
	// the entry changed nothing.
	Applied bool
	// Epoch is the group's ownership epoch after the entry.
	Epoch uint64
}

// Owns reports whether the group owns slot, as of the last entry applied.
// It is lock-free and safe for concurrent use.
func (f *FSM) Owns(slot int) bool { return f.owner.Load().slots.Has(slot) }

// Ownership returns the ownership epoch and a copy of the owned slots, as of
// the last entry applied. Safe for concurrent use.
func (f *FSM) Ownership() (epoch uint64, slots shard.SlotSet) {
	o := f.owner.Load()
	return o.epoch, o.slots
}

// refusedKeyless is refused's answer for a keyless write while a
// migration job is fenced or importing.
const refusedKeyless = -2

// migrationKeylessReply answers a keyless write (FLUSHALL) while a
// migration job is fenced (it would change the fenced slots after the
// fence, behind the mover's last delta) or importing (it would delete keys
// already copied, below the watermark).
const migrationKeylessReply = "-TRYAGAIN slot migration in progress, try again shortly\r\n"

// refused returns the slot of the first key of the write args whose slot o
// does not hold or a fenced migration job holds, refusedKeyless for a
// keyless write while a job is fenced or importing (see migrate.go), or -1
// when the write may run. mig may be nil (no job: then, when o holds every
// slot, nothing is checked). Called on the FSM goroutine; reuses f.keys.
func (f *FSM) refused(o *ownership, mig *migState, args [][]byte) int {
	var fenced *shard.SlotSet
	keyless := false
	if mig != nil {
		fenced, keyless = mig.fenced, mig.blockKeyless
	}
	if o.all && fenced == nil && !keyless {
		return -1
	}
	f.keys = f.exec.Keys(args, f.keys[:0])
	for _, k := range f.keys {
		if s := shard.Slot(k); !o.slots.Has(s) || (fenced != nil && fenced.Has(s)) {
			return s
		}
	}
	if keyless && len(f.keys) == 0 {
		return refusedKeyless
	}
	return -1
}

// applyOwnership applies a decoded SetOwnership entry.
func (f *FSM) applyOwnership(d *Decoded) OwnershipResult {
	cur := f.owner.Load()
	if d.epoch <= cur.epoch {
		return OwnershipResult{Applied: false, Epoch: cur.epoch}
	}
	var slots shard.SlotSet
	for _, r := range d.ranges {
		slots.AddRange(r)
	}
	f.owner.Store(newOwnership(d.epoch, &slots))
	f.log.Info("slot ownership changed", "epoch", d.epoch, "slots", slots.Count(), "previous-epoch", cur.epoch)
	return OwnershipResult{Applied: true, Epoch: d.epoch}
}

// Owns reports whether the group owns slot on this replica, as of the last
// entry it applied. Lock-free: meant for connection goroutines.
func (g *Group) Owns(slot int) bool { return g.fsm.Owns(slot) }

// Ownership returns the group's ownership epoch and its owned slots as
// ranges, as of the last entry this replica applied.
func (g *Group) Ownership() (epoch uint64, slots []shard.SlotRange) {
	epoch, set := g.fsm.Ownership()
	return epoch, set.Ranges(nil)
}

// ProposeOwnership replaces the group's slot ownership with slots (a slot
// may appear in several ranges; ranges must lie within [0, NumSlots)) at
// epoch, through the log, and waits until it is applied. If the group's
// epoch is already epoch or more, nothing changes and the error is
// ErrStaleEpoch. Other errors as for ProposeExpire.
func (g *Group) ProposeOwnership(ctx context.Context, epoch uint64, slots []shard.SlotRange) error {
	var set shard.SlotSet
	for _, r := range slots {
		if r.Start < 0 || r.End >= shard.NumSlots || r.Start > r.End {
			return fmt.Errorf("raftfsm: invalid slot range %d-%d", r.Start, r.End)
		}
		set.AddRange(r)
	}
	ranges := set.Ranges(nil)
	v, err := g.proposeEntry(ctx, encodeOwnership(make([]byte, 0, 16+6*len(ranges)), epoch, ranges))
	if err != nil {
		return err
	}
	res, ok := v.(OwnershipResult)
	if !ok {
		return fmt.Errorf("raftfsm: unexpected apply result %T", v)
	}
	if !res.Applied {
		return fmt.Errorf("%w: proposed epoch %d, group %s is at epoch %d", ErrStaleEpoch, epoch, g.cfg.GroupID, res.Epoch)
	}
	return nil
}
