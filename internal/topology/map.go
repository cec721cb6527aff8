// Package topology is the data model of a cluster's map: nodes, shard
// groups and their members, which group each of the 16384 slots belongs
// to, the slot migration jobs (jobs.go), and the epoch that orders maps. It
// is plain data with no behaviour beyond lookups, validation and its JSON
// form: package placement keeps maps in its meta Raft group and decides how
// they change; the front end (server) and the node read them. A Map is
// immutable once published.
package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"

	"github.com/shoalcache/shoal/internal/slotranges"
	"github.com/shoalcache/shoal/shard"
)

// NumSlots is the number of hash slots (shard.NumSlots).
const NumSlots = shard.NumSlots

// Node is a cluster member as the map records it.
type Node struct {
	// ID is the node id: 40 lower-case hex characters, as Redis Cluster's.
	ID string `json:"id"`
	// RESPAddr is the host:port clients use.
	RESPAddr string `json:"resp"`
	// PlainPort is, for a node whose RESPAddr is its TLS port
	// (tls-cluster), its plain RESP port, given to plain connections
	// (Redis's pport); 0 when it has none.
	PlainPort int `json:"pport,omitempty"`
	// ClusterAddr is the host:port of the node's Raft mux (cluster port).
	ClusterAddr string `json:"cluster"`
	// GossipAddr is the host:port of the node's Serf agent.
	GossipAddr string `json:"gossip"`
	// Draining is set by remove-node: the node gets no new replicas, and
	// the meta leader moves its replicas and leaderships away and then
	// takes it out of the map (placement's balancer).
	Draining bool `json:"draining,omitempty"`
}

// Group is a shard group: a Raft group replicated on Members.
type Group struct {
	// ID names the group ("g0", "g1", ...).
	ID string `json:"id"`
	// Members are the node ids of the group's voters. Members[0] is the
	// preferred leader: leadership is moved back to it when it is healthy.
	Members []string `json:"members"`
	// Formed is set once the group's Raft configuration has held every
	// member (its leader said so by gossip). Before, the preferred leader
	// bootstraps the group when it starts; after, no one ever bootstraps
	// it again (a member restarted without its state rejoins empty), and
	// only then does the group serve clients.
	Formed bool `json:"formed,omitempty"`
}

// Map is the cluster map. A Map is immutable once published: changes make a
// new Map with a larger Epoch.
type Map struct {
	// Epoch grows with every change of the map.
	Epoch uint64 `json:"epoch"`
	// Nodes, sorted by ID.
	Nodes []Node `json:"nodes"`
	// Groups, in creation order.
	Groups []Group `json:"groups"`
	// Slots maps each slot to an index into Groups, or -1 when unassigned.
	Slots [NumSlots]int16 `json:"-"`
	// Jobs are the slot migration jobs: the active ones and the most
	// recent finished ones, in creation order (see jobs.go).
	Jobs []Job `json:"jobs,omitempty"`
	// Removed lists the ids of the nodes taken out of the map, most recent
	// last (at most MaxRemoved): the meta leader does not register them
	// again while their processes still gossip.
	Removed []string `json:"removed,omitempty"`
	// Rebalance is set while an operator's (or --auto-rebalance's) request
	// to balance the cluster is being carried out; the meta leader clears
	// it when the plan is empty.
	Rebalance bool `json:"rebalance,omitempty"`
	// NextGroup is the least number a new group may take ("g" and the
	// number): it only grows, so a deleted group's id is never reused.
	// Groups named above it raise it too (see NewGroupID).
	NextGroup int `json:"next_group,omitempty"`
	// Config holds the cluster-wide settings CONFIG SET recorded, by
	// parameter name (lower case, as CONFIG GET names it) with the value
	// as given: every node applies them to its front end, over its own
	// flags and config file (see server.Server.ApplyClusterConfig). Only
	// the front end knows which parameters are cluster-wide; the map just
	// carries them. Omitted from JSON when empty, so older maps decode.
	Config map[string]string `json:"config,omitempty"`
	// ACL holds the cluster's ACL users (acl.go); nil until the first
	// cluster-wide ACL change. Omitted from JSON when nil, so older maps
	// decode.
	ACL *ACLUsers `json:"acl,omitempty"`
}

// NewGroupID returns the id of the next group created in m: "g" and the
// least number that is at least NextGroup and above every group's.
func (m *Map) NewGroupID() (string, int) {
	n := m.NextGroup
	for _, g := range m.Groups {
		if k, err := strconv.Atoi(strings.TrimPrefix(g.ID, "g")); err == nil && strings.HasPrefix(g.ID, "g") && k >= n {
			n = k + 1
		}
	}
	return "g" + strconv.Itoa(n), n
}

// MaxRemoved bounds Map.Removed.
const MaxRemoved = 64

// Bounds of Map.Config, so that a bad request cannot bloat every map.
const (
	// MaxConfigParams bounds the number of cluster-wide settings.
	MaxConfigParams = 64
	// MaxConfigName and MaxConfigValue bound a setting's name and value,
	// in bytes.
	MaxConfigName  = 128
	MaxConfigValue = 4096
)

// ErrBadMap is returned when a map does not validate.
var ErrBadMap = errors.New("placement: invalid map")

// Node returns the node with id, or nil.
func (m *Map) Node(id string) *Node {
	i := sort.Search(len(m.Nodes), func(i int) bool { return m.Nodes[i].ID >= id })
	if i < len(m.Nodes) && m.Nodes[i].ID == id {
		return &m.Nodes[i]
	}
	return nil
}

// Group returns the group with id, or nil.
func (m *Map) Group(id string) *Group {
	for i := range m.Groups {
		if m.Groups[i].ID == id {
			return &m.Groups[i]
		}
	}
	return nil
}

// SlotGroup returns the group that owns slot, or nil when it is unassigned.
func (m *Map) SlotGroup(slot int) *Group {
	gi := m.Slots[slot]
	if gi < 0 || int(gi) >= len(m.Groups) {
		return nil
	}
	return &m.Groups[gi]
}

// SlotRange is an inclusive range of slots. Its JSON form (in jobs) is
// {"start":S,"end":E}.
type SlotRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// Ranges returns the contiguous slot ranges owned by the group at index gi,
// in slot order.
func (m *Map) Ranges(gi int) []SlotRange {
	var out []SlotRange
	for _, r := range slotranges.Of(m.Slots[:]) {
		if int(r.Value) == gi {
			out = append(out, SlotRange{r.Start, r.End})
		}
	}
	return out
}

// GroupsOf returns the ids of the groups node id is a member of.
func (m *Map) GroupsOf(id string) []string {
	var out []string
	for _, g := range m.Groups {
		for _, mem := range g.Members {
			if mem == id {
				out = append(out, g.ID)
				break
			}
		}
	}
	return out
}

// AssignedSlots returns how many slots have a group.
func (m *Map) AssignedSlots() int {
	n := 0
	for _, g := range m.Slots {
		if g >= 0 {
			n++
		}
	}
	return n
}

// Validate checks the map's invariants: sorted unique nodes, groups with
// known, unique members, slots pointing at existing groups, and jobs as
// validateJobs describes.
func (m *Map) Validate() error {
	for i := range m.Nodes {
		if i > 0 && m.Nodes[i-1].ID >= m.Nodes[i].ID {
			return fmt.Errorf("%w: nodes not sorted or duplicated at %q", ErrBadMap, m.Nodes[i].ID)
		}
	}
	seen := make(map[string]bool)
	for _, g := range m.Groups {
		if g.ID == "" || seen[g.ID] {
			return fmt.Errorf("%w: empty or duplicate group id %q", ErrBadMap, g.ID)
		}
		seen[g.ID] = true
		if len(g.Members) == 0 {
			return fmt.Errorf("%w: group %s has no members", ErrBadMap, g.ID)
		}
		mem := make(map[string]bool)
		for _, id := range g.Members {
			if m.Node(id) == nil || mem[id] {
				return fmt.Errorf("%w: group %s member %q unknown or repeated", ErrBadMap, g.ID, id)
			}
			mem[id] = true
		}
	}
	for _, id := range m.Removed {
		if m.Node(id) != nil {
			return fmt.Errorf("%w: node %s is both in the map and removed", ErrBadMap, id)
		}
	}
	for s, gi := range m.Slots {
		if gi < -1 || int(gi) >= len(m.Groups) {
			return fmt.Errorf("%w: slot %d points at group index %d", ErrBadMap, s, gi)
		}
	}
	if err := m.validateConfig(); err != nil {
		return err
	}
	if err := m.validateACL(); err != nil {
		return err
	}
	return m.validateJobs()
}

// validateConfig checks Config's bounds: non-empty lower-case names
// without spaces, values of bounded length (an empty value is valid).
func (m *Map) validateConfig() error {
	if len(m.Config) > MaxConfigParams {
		return fmt.Errorf("%w: %d cluster-wide settings, at most %d", ErrBadMap, len(m.Config), MaxConfigParams)
	}
	for k, v := range m.Config {
		if k == "" || len(k) > MaxConfigName || strings.ToLower(k) != k || strings.ContainsAny(k, " \t\r\n") {
			return fmt.Errorf("%w: bad setting name %q", ErrBadMap, k)
		}
		if len(v) > MaxConfigValue {
			return fmt.Errorf("%w: setting %s: value longer than %d bytes", ErrBadMap, k, MaxConfigValue)
		}
	}
	return nil
}

// Clone returns a deep copy of m, for building the next map.
func (m *Map) Clone() *Map {
	c := *m
	c.Nodes = append([]Node(nil), m.Nodes...)
	c.Groups = make([]Group, len(m.Groups))
	for i, g := range m.Groups {
		c.Groups[i] = Group{ID: g.ID, Members: append([]string(nil), g.Members...), Formed: g.Formed}
	}
	c.Removed = append([]string(nil), m.Removed...)
	c.Config = maps.Clone(m.Config)
	c.Jobs = nil
	if len(m.Jobs) > 0 {
		c.Jobs = make([]Job, len(m.Jobs))
		for i := range m.Jobs {
			c.Jobs[i] = m.Jobs[i].clone()
		}
	}
	return &c
}

// jsonMap is Map's wire form: slots as [start, end, groupIndex] ranges.
// Jobs is omitted when empty, so a map without jobs encodes exactly as
// before jobs existed, and older meta logs and snapshots decode.
type jsonMap struct {
	Epoch     uint64   `json:"epoch"`
	Nodes     []Node   `json:"nodes"`
	Groups    []Group  `json:"groups"`
	Slots     [][3]int `json:"slots"`
	Jobs      []Job    `json:"jobs,omitempty"`
	Removed   []string `json:"removed,omitempty"`
	Rebalance bool     `json:"rebalance,omitempty"`
	NextGroup int      `json:"next_group,omitempty"`
	// Config is omitted when empty: maps written before it existed
	// decode with none, and maps without settings encode as before.
	Config map[string]string `json:"config,omitempty"`
	ACL    *ACLUsers         `json:"acl,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (m *Map) MarshalJSON() ([]byte, error) {
	j := jsonMap{Epoch: m.Epoch, Nodes: m.Nodes, Groups: m.Groups, Jobs: m.Jobs, Removed: m.Removed, Rebalance: m.Rebalance, NextGroup: m.NextGroup,
		Config: m.Config, ACL: m.ACL}
	for _, r := range slotranges.Of(m.Slots[:]) {
		if r.Value >= 0 {
			j.Slots = append(j.Slots, [3]int{r.Start, r.End, int(r.Value)})
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler.
func (m *Map) UnmarshalJSON(b []byte) error {
	var j jsonMap
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	m.Epoch, m.Nodes, m.Groups, m.Jobs = j.Epoch, j.Nodes, j.Groups, j.Jobs
	m.Removed, m.Rebalance, m.NextGroup, m.Config = j.Removed, j.Rebalance, j.NextGroup, j.Config
	m.ACL = j.ACL
	for s := range m.Slots {
		m.Slots[s] = -1
	}
	for _, r := range j.Slots {
		if r[0] < 0 || r[1] >= NumSlots || r[0] > r[1] || r[2] < 0 || r[2] >= len(m.Groups) {
			return fmt.Errorf("%w: slot range %v", ErrBadMap, r)
		}
		for s := r[0]; s <= r[1]; s++ {
			m.Slots[s] = int16(r[2])
		}
	}
	return m.Validate()
}
