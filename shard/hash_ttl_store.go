package shard

// The store's side of hash field expiry: which keys hold hashes with field
// times (Store.hfe), what the leader's active expiry proposes for them, and
// the apply-side deletion of their expired fields.

// noteFieldTTLs lists key in hfe when e holds a hash with field times. It is
// called wherever an entry is stored or a collection changed; keys that
// stop qualifying stay listed until ExpireFields drops them. Caller holds
// Lock.
func (s *Store) noteFieldTTLs(key string, e *Entry) {
	if e.Type() != TypeHash {
		return
	}
	h := e.Object().(*Hash)
	if h.ttl == nil || h.ttl.times.Len() == 0 {
		return
	}
	if _, ok := s.hfe[key]; ok {
		return
	}
	if s.hfe == nil {
		s.hfe = make(map[string]struct{})
	}
	s.hfe[key] = struct{}{}
}

// FieldTTLKeys returns how many keys the store lists as holding hashes
// with field expiry times (some may be stale). Caller holds RLock.
func (s *Store) FieldTTLKeys() int { return len(s.hfe) }

// CollectExpiredFields appends to dst, checking at most budget listed keys,
// those whose hash may have a field expired at now, and those no longer
// holding a hash with field times (so that ExpireFields drops them from the
// list), each as ExpiredKey{Key, ExpireAt: 0}: what the leader proposes
// (ProposeExpire). It only reads. Caller holds RLock.
func (s *Store) CollectExpiredFields(dst []ExpiredKey, budget int, now int64) []ExpiredKey {
	for k := range s.hfe {
		if budget--; budget < 0 {
			break
		}
		e := s.slots[SlotString(k)].m.getString(k)
		if e == nil || e.Type() != TypeHash {
			dst = append(dst, ExpiredKey{Key: k})
			continue
		}
		if h := e.Object().(*Hash); h.ttl == nil || h.ttl.times.Len() == 0 || h.FieldsDue(now) {
			dst = append(dst, ExpiredKey{Key: k})
		}
	}
	return dst
}

// ExpireFields deletes the fields of key's hash whose time is before now,
// and the key with them when none is left, as Redis's active field expiry
// does; it drops key from the store's list when it no longer holds a hash
// with field times. It returns how many fields it deleted, counted in
// Stats.ExpiredFields. The FSM calls it for the leader's proposals and
// before a write command changes a hash (see command's hashPeekWrite), at
// the entry's time, so every replica deletes the same. Caller holds Lock.
func (s *Store) ExpireFields(key []byte, now int64) int {
	i := Slot(key)
	e := s.slots[i].m.get(key)
	if e == nil || e.Type() != TypeHash {
		delete(s.hfe, string(key))
		return 0
	}
	h := e.Object().(*Hash)
	n := 0
	if h.FieldsDue(now) && !h.refreshMin(now) {
		e = s.EditObject(key)
		before := ObjectSize(e)
		h = e.Object().(*Hash)
		n = h.ExpireFields(now)
		s.root.stats.ExpiredFields += int64(n)
		if s.ObjectDone(key, e, before) {
			delete(s.hfe, string(key))
			return n
		}
	}
	if h.ttl == nil || h.ttl.times.Len() == 0 {
		delete(s.hfe, string(key))
	}
	return n
}
