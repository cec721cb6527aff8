package server

import (
	"bytes"

	"github.com/shoalcache/shoal/command"
)

// RESP error texts of CLIENT TRACKING and CLIENT CACHING (Redis 7.0's).
const (
	errTrackingOneRedirect   = "ERR A client can only redirect to a single other client"
	errTrackingNoRedirect    = "ERR The client ID you want redirect to does not exist"
	errTrackingPrefixBcast   = "ERR PREFIX option requires BCAST mode to be enabled"
	errTrackingSwitchBcast   = "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."
	errTrackingOptBcast      = "ERR OPTIN and OPTOUT are not compatible with BCAST"
	errTrackingOptBoth       = "ERR You can't specify both OPTIN mode and OPTOUT mode"
	errTrackingSwitchOpt     = "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."
	errCachingNotTracking    = "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
	errCachingYesNeedsOptin  = "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
	errCachingNoNeedsOptout  = "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
	errTrackingPrefixOverlap = "Prefixes for a single client must not overlap."
)

// clientTrackingCommand: CLIENT TRACKING <ON | OFF> [REDIRECT client-id]
// [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP],
// with Redis 7.0's checks in its order.
func clientTrackingCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	s := c.srv
	var st trackState
	for j := 3; j < len(args); j++ {
		more := j+1 < len(args)
		a := args[j]
		switch {
		case command.EqFold(a, "redirect") && more:
			j++
			if st.redirect != 0 {
				x.Err(errTrackingOneRedirect)
				return
			}
			id, ok := command.ParseInt(args[j])
			if !ok {
				x.Err(command.ErrNotInteger)
				return
			}
			s.clientsMu.Lock()
			exists := s.clients[id] != nil
			s.clientsMu.Unlock()
			if !exists {
				x.Err(errTrackingNoRedirect)
				return
			}
			st.redirect = id
		case command.EqFold(a, "bcast"):
			st.bcast = true
		case command.EqFold(a, "optin"):
			st.optin = true
		case command.EqFold(a, "optout"):
			st.optout = true
		case command.EqFold(a, "noloop"):
			st.noloop = true
		case command.EqFold(a, "prefix") && more:
			j++
			st.prefixes = append(st.prefixes, bytes.Clone(args[j]))
		default:
			x.Err(command.ErrSyntax)
			return
		}
	}
	switch {
	case command.EqFold(args[2], "on"):
		old := c.trk
		switch {
		case !st.bcast && len(st.prefixes) > 0:
			x.Err(errTrackingPrefixBcast)
			return
		case old != nil && old.bcast != st.bcast:
			x.Err(errTrackingSwitchBcast)
			return
		case st.bcast && (st.optin || st.optout):
			x.Err(errTrackingOptBcast)
			return
		case st.optin && st.optout:
			x.Err(errTrackingOptBoth)
			return
		case old != nil && ((st.optin && old.optout) || (st.optout && old.optin)):
			x.Err(errTrackingSwitchOpt)
			return
		}
		if st.bcast {
			var existing [][]byte
			if old != nil {
				existing = old.prefixes
			}
			if msg := prefixCollision(existing, st.prefixes); msg != nil {
				x.Err(command.Sanitize(msg))
				return
			}
		}
		s.track.enable(c, st)
	case command.EqFold(args[2], "off"):
		s.track.disable(c)
	default:
		x.Err(command.ErrSyntax)
		return
	}
	x.OK()
}

// prefixCollision returns Redis's error for BCAST prefixes that overlap
// one another or one the client has (checkPrefixCollisionsOrReply), or
// nil.
func prefixCollision(existing, added [][]byte) []byte {
	overlap := func(a, b []byte) bool { return bytes.HasPrefix(a, b) || bytes.HasPrefix(b, a) }
	for i, p := range added {
		for _, e := range existing {
			if overlap(p, e) {
				return collisionMsg(p, "an existing prefix", e)
			}
		}
		for j := i + 1; j < len(added); j++ {
			if overlap(p, added[j]) {
				return collisionMsg(p, "another provided prefix", added[j])
			}
		}
	}
	return nil
}

func collisionMsg(p []byte, what string, q []byte) []byte {
	b := append([]byte("ERR Prefix '"), p...)
	b = append(append(append(b, "' overlaps with "...), what...), " '"...)
	b = append(append(b, q...), "'. "...)
	return append(b, errTrackingPrefixOverlap...)
}

// clientCachingCommand: CLIENT CACHING <YES | NO>.
func clientCachingCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	st := c.trk
	if st == nil {
		x.Err(errCachingNotTracking)
		return
	}
	switch {
	case command.EqFold(args[2], "yes"):
		if !st.optin {
			x.Err(errCachingYesNeedsOptin)
			return
		}
	case command.EqFold(args[2], "no"):
		if !st.optout {
			x.Err(errCachingNoNeedsOptout)
			return
		}
	default:
		x.Err(command.ErrSyntax)
		return
	}
	st.caching = true // the connection's own: no lock
	x.OK()
}

// clientGetRedirCommand: CLIENT GETREDIR.
func clientGetRedirCommand(x *command.Ctx, args [][]byte) {
	if st := connOf(x).trk; st != nil {
		x.Int(st.redirect)
		return
	}
	x.Int(-1)
}

// clientTrackingInfoCommand: CLIENT TRACKINGINFO.
func clientTrackingInfoCommand(x *command.Ctx, args [][]byte) {
	t := &connOf(x).srv.track
	t.mu.Lock() // brokenRedir is set by the FSM goroutines
	defer t.mu.Unlock()
	appendTrackingInfo(x, connOf(x).trk)
}
