package server

import (
	"strconv"

	"github.com/shoalcache/shoal/shard"
)

// The encoding thresholds of the data types, as CONFIG GET reports them
// (with Redis 7.0's old ziplist names too). They are Redis 7.0's defaults
// and fixed: every replica must convert a collection at the same size, so
// they could only change through the log; CONFIG SET refuses them.
func init() {
	fixed := func(name string, v int) *configParam {
		s := strconv.Itoa(v)
		return &configParam{name: name, get: func(*Server) string { return s }}
	}
	configParams = append(configParams,
		fixed("hash-max-listpack-entries", shard.HashMaxListpackEntries),
		fixed("hash-max-ziplist-entries", shard.HashMaxListpackEntries),
		fixed("hash-max-listpack-value", shard.HashMaxListpackValue),
		fixed("hash-max-ziplist-value", shard.HashMaxListpackValue),
		fixed("set-max-intset-entries", shard.SetMaxIntsetEntries),
		fixed("zset-max-listpack-entries", shard.ZSetMaxListpackEntries),
		fixed("zset-max-ziplist-entries", shard.ZSetMaxListpackEntries),
		fixed("zset-max-listpack-value", shard.ZSetMaxListpackValue),
		fixed("zset-max-ziplist-value", shard.ZSetMaxListpackValue),
		fixed("list-max-listpack-size", -2),
		fixed("list-max-ziplist-size", -2),
		fixed("list-compress-depth", 0),
	)
}
