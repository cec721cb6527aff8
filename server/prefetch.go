package server

import "github.com/shoalcache/shoal/shard"

// prefetchRun is how many of a pipeline's commands one prefetch covers.
const prefetchRun = 16

// prefetchReads asks st, whose read lock the connection holds, for the
// memory that lookups of the next commands of the batch will read
// (shard.Store.Prefetch, keys from prefetchWindow), so that their cache
// misses overlap instead of following one another. It runs when a run of
// reads takes the lock and every prefetchRun commands of the run after
// that; a command that is not a read of st costs a few cache lines and
// nothing else.
func (c *client) prefetchReads(st *shard.Store) {
	keys, end := prefetchWindow(c.batch, c.bi, c.pfKeys[:0])
	if db := c.db.Load(); db != 0 {
		st = st.DB(int(db))
	}
	st.Prefetch(keys)
	clear(keys)
	c.pfKeys, c.pfEnd = keys[:0], end
}

// prefetchWindow appends to dst argument 1, the first key of nearly every
// keyed command, of each of the prefetchRun commands of batch from i that
// has one, and returns the index after the last of them.
func prefetchWindow(batch [][][]byte, i int, dst [][]byte) ([][]byte, int) {
	end := min(i+prefetchRun, len(batch))
	for _, args := range batch[i:end] {
		if len(args) > 1 {
			dst = append(dst, args[1])
		}
	}
	return dst, end
}
