package placement

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/shoalcache/shoal/internal/logging"
)

// Serf tags every Shoal node gossips. They are hints for discovery; the
// authority is the meta group.
const (
	tagID      = "id"      // node id (also the serf node name)
	tagRESP    = "resp"    // RESP host:port
	tagCluster = "cluster" // cluster (mux) host:port, the Raft address
	tagPPort   = "pport"   // plain RESP port of a tls-cluster node (absent: none)
	tagEpoch   = "epoch"   // epoch of the map this node holds; 0 = none
	tagLead    = "lead"    // comma-separated data groups this node leads
	tagMeta    = "meta"    // "1" once the node's meta replica has state
)

// maxTagBytes is serf's limit on the encoded tags (memberlist.MetaMaxSize).
const maxTagBytes = memberlist.MetaMaxSize

// MemberStatus is a member's state as gossip sees it.
type MemberStatus int

// Member statuses.
const (
	// StatusAlive: the member answers probes.
	StatusAlive MemberStatus = iota
	// StatusSuspect: the member missed probes and may be failing; it has a
	// short time to refute before it is declared failed.
	StatusSuspect
	// StatusFailed: the member stopped answering without leaving.
	StatusFailed
	// StatusLeft: the member left gracefully (or is leaving).
	StatusLeft
)

// String returns "alive", "suspect", "failed" or "left".
func (s MemberStatus) String() string {
	switch s {
	case StatusAlive:
		return "alive"
	case StatusSuspect:
		return "suspect"
	case StatusFailed:
		return "failed"
	case StatusLeft:
		return "left"
	}
	return "unknown"
}

// Member is a node as serf sees it. Everything but ID and Status comes from
// the member's tags: hints, possibly stale.
type Member struct {
	// ID is the node id.
	ID string
	// RESPAddr is the host:port clients use.
	RESPAddr string
	// PlainPort is the plain RESP port of a node whose RESPAddr is its TLS
	// port (0: none).
	PlainPort int
	// ClusterAddr is the host:port of the node's cluster port (Raft mux).
	ClusterAddr string
	// GossipAddr is the host:port of the node's serf agent.
	GossipAddr string
	// Status is the member's gossip status.
	Status MemberStatus
	// LeadGroups are the data groups the member says it leads.
	LeadGroups []string
	// Epoch is the epoch of the map the member holds (0: none).
	Epoch uint64
	// MetaState reports that the member's meta replica has Raft state
	// (it bootstrapped or was added to the meta group).
	MetaState bool
}

// usable reports whether m carries the tags a cluster member needs.
func (m *Member) usable() bool {
	return validNodeID(m.ID) && m.RESPAddr != "" && m.ClusterAddr != ""
}

// memberFromSerf converts a serf member; ok is false for a member without a
// valid id tag (not a Shoal node). suspect holds the names memberlist
// currently suspects.
func memberFromSerf(sm serf.Member, suspect map[string]bool) (Member, bool) {
	id := sm.Tags[tagID]
	if id != sm.Name || !validNodeID(id) {
		return Member{}, false
	}
	m := Member{
		ID:          id,
		RESPAddr:    sm.Tags[tagRESP],
		ClusterAddr: sm.Tags[tagCluster],
		GossipAddr:  net.JoinHostPort(sm.Addr.String(), strconv.Itoa(int(sm.Port))),
		LeadGroups:  splitLead(sm.Tags[tagLead]),
		MetaState:   sm.Tags[tagMeta] == "1",
	}
	m.Epoch, _ = strconv.ParseUint(sm.Tags[tagEpoch], 10, 64)
	m.PlainPort, _ = strconv.Atoi(sm.Tags[tagPPort])
	switch sm.Status {
	case serf.StatusAlive:
		m.Status = StatusAlive
		if suspect[sm.Name] {
			m.Status = StatusSuspect
		}
	case serf.StatusFailed:
		m.Status = StatusFailed
	default: // leaving, left, none
		m.Status = StatusLeft
	}
	return m, true
}

func splitLead(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// tagsSize is an upper bound of serf's encoding of tags (a magic byte and
// a msgpack map of strings).
func tagsSize(tags map[string]string) int {
	n := 1 + 5
	for k, v := range tags {
		n += len(k) + len(v) + 2*5
	}
	return n
}

// buildTags returns the node's tags for the given epoch, meta state and led
// groups; groups that do not fit in serf's 512 bytes are left out and
// truncated reports how many.
func (s *Service) buildTags(epoch uint64, meta bool, lead []string) (tags map[string]string, truncated int) {
	tags = map[string]string{
		tagID:      s.cfg.NodeID,
		tagRESP:    s.cfg.RESPAddr,
		tagCluster: s.cfg.Mux.Addr().String(),
		tagEpoch:   strconv.FormatUint(epoch, 10),
	}
	if meta {
		tags[tagMeta] = "1"
	}
	if s.cfg.PlainPort > 0 {
		tags[tagPPort] = strconv.Itoa(s.cfg.PlainPort)
	}
	room := maxTagBytes - tagsSize(tags) - len(tagLead) - 2*5
	var b strings.Builder
	for i, g := range lead {
		need := len(g)
		if b.Len() > 0 {
			need++
		}
		if b.Len()+need > room {
			truncated = len(lead) - i
			break
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(g)
	}
	if b.Len() > 0 {
		tags[tagLead] = b.String()
	}
	return tags, truncated
}

// newSerfConfig returns the serf configuration for the node.
func (s *Service) newSerfConfig() (*serf.Config, error) {
	c := s.cfg
	ml := memberlist.DefaultLANConfig()
	host, port, err := splitHostPort(c.GossipBind)
	if err != nil {
		return nil, err
	}
	if host == "" {
		host = "0.0.0.0"
	}
	ml.BindAddr, ml.BindPort = host, port
	ml.AdvertisePort = port
	if c.GossipAdvertise != "" {
		ah, ap, err := splitHostPort(c.GossipAdvertise)
		if err != nil {
			return nil, err
		}
		ml.AdvertiseAddr, ml.AdvertisePort = ah, ap
	}
	ml.ProbeInterval = c.ProbeInterval
	ml.ProbeTimeout = c.ProbeTimeout
	ml.SuspicionMult = c.SuspicionMult
	ml.SuspicionMaxTimeoutMult = c.SuspicionMaxTimeoutMult
	ml.GossipInterval = c.GossipInterval
	ml.GossipNodes = c.GossipNodes
	ml.PushPullInterval = c.PushPullInterval
	ml.TCPTimeout = c.TCPTimeout
	ml.IndirectChecks = 1
	ml.RetransmitMult = 3
	ml.GossipToTheDeadTime = 15 * c.ProbeInterval
	// No LZW: memberlist would compress every packet, probes and acks
	// included, with a fresh 64 KiB encoder table each (and a 20 KiB
	// decoder on the receiver): at ProbeInterval 200 ms that is most of an
	// idle node's allocation, for packets of a few hundred bytes on a LAN.
	// Nodes that still compress are understood either way.
	ml.EnableCompression = false
	stdlog := logging.StdLogger(s.baseLog.With("component", "serf"))
	ml.Logger = stdlog

	sc := serf.DefaultConfig()
	sc.NodeName = c.NodeID
	sc.MemberlistConfig = ml
	sc.LogOutput = nil
	sc.Logger = stdlog
	sc.EventCh = s.events
	sc.BroadcastTimeout = c.BroadcastTimeout
	sc.LeavePropagateDelay = c.LeavePropagateDelay
	sc.ReconnectTimeout = c.ReconnectTimeout
	sc.ReconnectInterval = c.ReconnectInterval
	sc.TombstoneTimeout = c.TombstoneTimeout
	sc.Tags, _ = s.buildTags(0, false, nil)
	if ml.Keyring, sc.KeyringFile, err = s.gossipKeyring(); err != nil {
		return nil, err
	}
	return sc, nil
}

func splitHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("bad port in %q", hp)
	}
	return h, port, nil
}

// GossipAddr returns the host:port this node's serf agent advertises (the
// address to give other nodes' Join), or "" before Start.
func (s *Service) GossipAddr() string {
	sf := s.serfAgent()
	if sf == nil {
		return ""
	}
	lm := sf.LocalMember()
	return net.JoinHostPort(lm.Addr.String(), strconv.Itoa(int(lm.Port)))
}

// Members returns the serf view of the cluster's Shoal nodes (this one
// included), sorted by ID; nil before Start. Safe for concurrent use.
func (s *Service) Members() []Member {
	sf := s.serfAgent()
	if sf == nil {
		return nil
	}
	return membersOf(sf)
}

func membersOf(sf *serf.Serf) []Member {
	suspect := make(map[string]bool)
	for _, n := range sf.Memberlist().Members() {
		if n.State == memberlist.StateSuspect {
			suspect[n.Name] = true
		}
	}
	var out []Member
	for _, sm := range sf.Members() {
		if m, ok := memberFromSerf(sm, suspect); ok {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SetLeading publishes which data groups this node currently leads, in its
// "lead" tag (groups beyond serf's tag budget are left out, with a
// warning). The tag is sent by a background goroutine, so SetLeading does
// not block; the last call wins. Safe for concurrent use.
func (s *Service) SetLeading(groups []string) {
	g := append([]string(nil), groups...)
	sort.Strings(g)
	s.lead.Store(&g)
	poke(s.tagsPoke)
}

// LeaderHint returns the node that, by gossip, leads the data group
// groupID: an alive member whose "lead" tag names it. When several claim
// it (a stale tag during a leadership change) the most recent claim wins.
// A hint may be wrong; Raft is the authority. Lock-free; safe for
// concurrent use.
func (s *Service) LeaderHint(groupID string) (nodeID string, ok bool) {
	h := s.hints.Load()
	if h == nil {
		return "", false
	}
	nodeID, ok = (*h)[groupID]
	return nodeID, ok
}

// hintState is the event goroutine's record of each member's "lead" tag
// and when (in event order) it last changed.
type hintState struct {
	lead string
	seq  uint64
}

// eventLoop consumes serf events on its own goroutine until serf shuts
// down: it keeps the leader-hint index current and wakes the reconcile loop
// on membership changes.
func (s *Service) eventLoop() {
	defer s.wg.Done()
	seen := make(map[string]hintState)
	var seq uint64
	sf := s.serfAgent()
	rebuild := func() {
		idx := make(map[string]string)
		best := make(map[string]uint64)
		for _, sm := range sf.Members() {
			if sm.Status != serf.StatusAlive || sm.Tags[tagID] != sm.Name {
				continue
			}
			lead := sm.Tags[tagLead]
			st, ok := seen[sm.Name]
			if !ok || st.lead != lead {
				seq++
				st = hintState{lead: lead, seq: seq}
				seen[sm.Name] = st
			}
			for _, g := range splitLead(lead) {
				if cur, ok := best[g]; !ok || st.seq > cur {
					idx[g], best[g] = sm.Name, st.seq
				}
			}
		}
		s.hints.Store(&idx)
	}
	rebuild()
	for {
		select {
		case e := <-s.events:
			me, ok := e.(serf.MemberEvent)
			if !ok {
				continue
			}
			for _, m := range me.Members {
				s.logMemberEvent(me.Type, m)
				if me.Type == serf.EventMemberReap {
					delete(seen, m.Name)
				}
			}
			rebuild()
			poke(s.reconcilePoke)
		case <-s.hintsPoke:
			rebuild()
		case <-sf.ShutdownCh():
			return
		}
	}
}

// logMemberEvent logs one serf member event: a membership change (join,
// leave, failure, reap) as one "membership changed" line at info, a tag
// update at debug. Serf's own "serf: EventMemberJoin: ..." lines come
// through logging.StdLogger as they are. Called by the event loop only.
func (s *Service) logMemberEvent(typ serf.EventType, m serf.Member) {
	gossip := net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
	if typ == serf.EventMemberUpdate {
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("member updated", "event", typ.String(), "member-id", m.Name, "gossip-addr", gossip,
				"epoch", m.Tags[tagEpoch], "lead", m.Tags[tagLead], "meta", m.Tags[tagMeta] == "1")
		}
		return
	}
	s.log.Info("membership changed", "event", typ.String(), "member-id", m.Name, "status", m.Status.String(),
		"gossip-addr", gossip, "cluster-addr", m.Tags[tagCluster])
}

// tagRetryInterval is how long the tag loop waits before it sends tags
// again after serf.SetTags failed.
const tagRetryInterval = 500 * time.Millisecond

// tagLoop sends the node's tags on its own goroutine whenever the map
// epoch, the meta state or the led groups change, so that callers never
// block on a gossip broadcast. It is the only caller of serf.SetTags.
//
// A failed SetTags is sent again every tagRetryInterval until one
// succeeds. The failure is a timeout waiting for the broadcast, and it is
// not always harmless: memberlist's UpdateNode takes an incarnation number
// before it takes its lock, so a refutation of a suspicion that lands in
// between takes a higher one with the old meta, the update is dropped
// without a broadcast, and the others would keep the old tags until the
// next change (push-pull only copies the old meta). Sending again takes a
// new, higher incarnation.
func (s *Service) tagLoop() {
	defer s.loopsWG.Done()
	sf := s.serfAgent()
	setTags := s.cfg.setTags
	if setTags == nil {
		setTags = (*serf.Serf).SetTags
	}
	var last map[string]string
	var retry <-chan time.Time
	warned := false
	for {
		select {
		case <-s.tagsPoke:
		case <-retry:
		case <-s.stop:
			return
		}
		retry = nil
		var epoch uint64
		if m := s.Map(); m != nil {
			epoch = m.Epoch
		}
		var lead []string
		if p := s.lead.Load(); p != nil {
			lead = *p
		}
		tags, truncated := s.buildTags(epoch, s.metaState.Load(), lead)
		if truncated > 0 && !warned {
			s.log.Warn("lead tag truncated to fit serf's tag limit", "groups", len(lead), "left-out", truncated)
		}
		warned = truncated > 0
		if equalTags(last, tags) {
			continue
		}
		if err := setTags(sf, tags); err != nil {
			s.log.Warn("update serf tags; sending them again", "err", err, "retry-in", tagRetryInterval.String())
			retry = time.After(tagRetryInterval)
			last = nil
		} else {
			last = tags
		}
		poke(s.hintsPoke)
	}
}

func equalTags(a, b map[string]string) bool {
	if len(a) != len(b) || a == nil {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// joinLoop joins the Join addresses on its own goroutine, retrying every
// JoinRetryInterval until serf sees another alive member, and then keeps
// the node in the gossip cluster: whenever serf sees no other alive member
// while the map (which the meta group replicates to this node over Raft,
// gossip or not) lists other nodes, it joins their gossip addresses. That
// is how a restarted node whose Join names only itself (the seed every
// other node joined through) gets back without waiting for the others'
// serf to try a reconnect (Config.ReconnectInterval). A node
// the map no longer lists (removed) does not rejoin.
//
// Seeing one other member is not always seeing them all: a restarted node
// that another member's probe reached first learns of that member only,
// and of the rest at the next push-pull sync (PushPullInterval), showing
// them failed until then. So while serf does not know a node the map
// lists, the loop joins that node's gossip address too, at most every
// 4 JoinRetryIntervals (a node that is down costs one failed dial each
// time, bounded by TCPTimeout).
func (s *Service) joinLoop() {
	defer s.loopsWG.Done()
	sf := s.serfAgent()
	joined := false
	var lastFill time.Time
	for attempt := 1; ; attempt++ {
		if aliveOthers(sf) > 0 {
			if !joined {
				s.log.Info("joined gossip cluster", "members", sf.NumNodes())
				joined = true
			}
			if time.Since(lastFill) >= 4*s.cfg.JoinRetryInterval {
				if addrs := s.unknownMapAddrs(sf); len(addrs) > 0 {
					lastFill = time.Now()
					if n, err := sf.Join(addrs, true); err == nil && n > 0 {
						s.log.Info("joined members the map lists that gossip did not know", "contacted", n, "members", sf.NumNodes())
					}
				}
			}
		} else if addrs := s.rejoinAddrs(sf, joined); len(addrs) > 0 {
			n, err := sf.Join(addrs, true)
			switch {
			case err == nil && n > 0 && aliveOthers(sf) > 0:
				s.log.Info("joined gossip cluster", "contacted", n, "members", sf.NumNodes(), "again", joined)
				joined = true
			case attempt%10 == 1:
				s.log.Info("join attempt failed; retrying", "join", strings.Join(addrs, ","), "attempt", attempt, "err", err)
			}
		}
		select {
		case <-s.stop:
			return
		case <-time.After(s.cfg.JoinRetryInterval):
		}
	}
}

// rejoinAddrs returns the gossip addresses to join while serf sees no
// other alive member: the Join addresses that are not this node's own
// (until it first joined), and those of the other nodes of the map when
// the map lists this node.
func (s *Service) rejoinAddrs(sf *serf.Serf, joined bool) []string {
	var addrs []string
	if !joined {
		addrs = s.otherJoinAddrs(sf)
	}
	if m := s.Map(); m != nil && m.Node(s.cfg.NodeID) != nil {
		for _, n := range m.Nodes {
			if n.ID != s.cfg.NodeID && n.GossipAddr != "" && !slices.Contains(addrs, n.GossipAddr) {
				addrs = append(addrs, n.GossipAddr)
			}
		}
	}
	return addrs
}

// unknownMapAddrs returns the gossip addresses of the nodes the map lists,
// other than this one, that serf has no member for in any state; none
// unless the map lists this node.
func (s *Service) unknownMapAddrs(sf *serf.Serf) []string {
	return unknownGossipAddrs(s.Map(), s.cfg.NodeID, sf.Members())
}

// unknownGossipAddrs is unknownMapAddrs for map m, node self and serf's
// members.
func unknownGossipAddrs(m *Map, self string, members []serf.Member) []string {
	if m == nil || m.Node(self) == nil {
		return nil
	}
	var addrs []string
	for _, n := range m.Nodes {
		if n.ID == self || n.GossipAddr == "" {
			continue
		}
		if !slices.ContainsFunc(members, func(mb serf.Member) bool { return mb.Name == n.ID }) {
			addrs = append(addrs, n.GossipAddr)
		}
	}
	return addrs
}

// aliveOthers counts alive members other than the local node.
func aliveOthers(sf *serf.Serf) int {
	self := sf.LocalMember().Name
	n := 0
	for _, m := range sf.Members() {
		if m.Name != self && m.Status == serf.StatusAlive {
			n++
		}
	}
	return n
}

// otherJoinAddrs returns the Join addresses that are not this node's own
// gossip address.
func (s *Service) otherJoinAddrs(sf *serf.Serf) []string {
	local := sf.LocalMember()
	bindHost, _, _ := splitHostPort(s.cfg.GossipBind)
	bindIP := net.ParseIP(bindHost)
	var out []string
	for _, a := range s.cfg.Join {
		if ta, err := net.ResolveTCPAddr("tcp", a); err == nil && ta.Port == int(local.Port) {
			if ta.IP.Equal(local.Addr) || (bindIP != nil && ta.IP.Equal(bindIP)) ||
				((bindIP == nil || bindIP.IsUnspecified()) && ta.IP.IsLoopback()) {
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// poke does a non-blocking send on a wake-up channel of capacity 1.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
