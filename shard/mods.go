package shard

// Mods returns the number of changes made to the store so far: it grows
// with every key set, modified (Mutable, SetExpire), renamed, deleted or
// flushed. Comparing it before and after a command tells whether the
// command changed anything (the FSM reports only commands that did, for
// client-side caching). It counts the changes of every database of the
// key space. Caller holds Lock or RLock.
func (s *Store) Mods() uint64 { return s.root.mods }
