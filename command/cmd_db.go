package command

import "github.com/shoalcache/shoal/shard"

// The databases family: MOVE and SWAPDB (SELECT is the front end's, as it
// changes the connection). Both are standalone mode's: the front end
// refuses them in cluster mode (FlagOtherDB, CrossDBRefusal).

// RESP error texts of the databases family.
const (
	errMoveCluster  = "ERR MOVE is not allowed in cluster mode"
	errCopyCluster  = "ERR Copying to another database is not allowed in cluster mode"
	errSwapCluster  = "ERR SWAPDB is not allowed in cluster mode"
	errSwapFirstDB  = "ERR invalid first DB index"
	errSwapSecondDB = "ERR invalid second DB index"
)

func init() {
	Register(
		&Command{Name: "move", Arity: 3, Kind: KindWrite, Flags: FlagWrite | FlagFast | FlagOtherDB,
			FirstKey: 1, LastKey: 1, ACL: []string{"keyspace", "write", "fast"}, Run: moveCommand},
		&Command{Name: "swapdb", Arity: 3, Kind: KindWrite, Flags: FlagWrite | FlagFast | FlagOtherDB,
			ACL: []string{"keyspace", "write", "fast", "dangerous"}, Run: swapdbCommand},
	)
}

// moveCommand: MOVE key db. Moves the key, with its expiry, from the
// connection's database to db, unless db already has it: 1 if moved, else 0.
func moveCommand(x *Ctx, args [][]byte) {
	db, msg := parseDB(args[2])
	if msg != "" {
		x.Err(msg)
		return
	}
	dst := x.St.DB(db)
	if dst == x.St {
		x.Err(errSameObject)
		return
	}
	key := args[1]
	if x.St.GetWrite(key, x.Now) == nil || dst.GetWrite(key, x.Now) != nil {
		x.Int(0)
		return
	}
	x.St.MoveTo(dst, key)
	x.Int(1)
}

// swapdbCommand: SWAPDB index1 index2. Exchanges two databases at once:
// connections that selected one see the other's keys from then on.
func swapdbCommand(x *Ctx, args [][]byte) {
	a, ok := swapIndex(args[1])
	if !ok {
		x.Err(errSwapFirstDB)
		return
	}
	b, ok := swapIndex(args[2])
	if !ok {
		x.Err(errSwapSecondDB)
		return
	}
	if a < 0 || a >= shard.NumDBs || b < 0 || b >= shard.NumDBs {
		x.Err(ErrSelectDB)
		return
	}
	x.St.SwapDB(int(a), int(b))
	x.OK()
}

// swapIndex parses an index of SWAPDB: an integer in C int's range
// (getIntFromObjectOrReply with SWAPDB's own message).
func swapIndex(b []byte) (int64, bool) {
	n, ok := ParseInt(b)
	return n, ok && n >= -1<<31 && n <= 1<<31-1
}

// CrossDBRefusal returns the reply with which the front end refuses cmd in
// cluster mode, where only database 0 exists (Redis Cluster's replies), or
// "" when cmd (a FlagOtherDB command) stays in database 0 and may run.
func CrossDBRefusal(cmd *Command, args [][]byte) string {
	switch cmd.Name {
	case "move":
		return errMoveCluster
	case "swapdb":
		return errSwapCluster
	case "copy":
		// As Redis: the options are checked first (a bad one gets its
		// own error, from the FSM, which then changes nothing).
		if db, _, msg := copyOptions(args); msg == "" && db > 0 {
			return errCopyCluster
		}
	}
	return ""
}
