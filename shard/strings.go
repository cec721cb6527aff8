package shard

// LookupWrite returns the live entry of key for a write command that also
// reads the value (GETEX, INCR, APPEND...): like GetWrite it deletes the key
// first if it has expired, and like Get it records the access for LRU/LFU,
// as Redis's lookupKeyWrite does. Caller holds Lock.
func (s *Store) LookupWrite(key []byte, now int64, r float64) *Entry {
	e := s.GetWrite(key, now)
	if e != nil {
		e.touch(now, r)
	}
	return e
}
