package placement

import (
	"fmt"
	"sort"

	"github.com/shoalcache/shoal/internal/topology"
)

// The map's data types live in internal/topology, so that the front end can
// read maps without depending on this package; placement decides how maps
// change.
type (
	// Map is the cluster map (topology.Map).
	Map = topology.Map
	// Node is a cluster member as the map records it (topology.Node).
	Node = topology.Node
	// Group is a shard group (topology.Group).
	Group = topology.Group
	// SlotRange is an inclusive range of slots (topology.SlotRange).
	SlotRange = topology.SlotRange
	// Job is a slot migration job (topology.Job).
	Job = topology.Job
	// JobPhase is a job's phase (topology.JobPhase).
	JobPhase = topology.JobPhase
)

// Job phases (topology's).
const (
	JobCopying = topology.JobCopying
	JobDone    = topology.JobDone
	JobAborted = topology.JobAborted
)

// NumSlots is the number of hash slots.
const NumSlots = topology.NumSlots

// MaxRemoved bounds Map.Removed.
const MaxRemoved = topology.MaxRemoved

// InitialMap lays out a new cluster: groups groups of replicas members each,
// the slots spread evenly in contiguous ranges, and preferred leaders spread
// over the nodes (group i prefers node i mod len(nodes), so with as many
// groups as nodes each node leads one). Members of group i are nodes i, i+1,
// ..., i+replicas-1 (mod len(nodes)), by node id order.
func InitialMap(nodes []Node, groups, replicas int) (*Map, error) {
	if len(nodes) == 0 || groups < 1 || groups > NumSlots || replicas < 1 || replicas > len(nodes) {
		return nil, fmt.Errorf("%w: %d nodes, %d groups, %d replicas", ErrBadMap, len(nodes), groups, replicas)
	}
	m := &Map{Epoch: 1, Nodes: append([]Node(nil), nodes...)}
	sort.Slice(m.Nodes, func(i, j int) bool { return m.Nodes[i].ID < m.Nodes[j].ID })
	for i := 0; i < groups; i++ {
		g := Group{ID: fmt.Sprintf("g%d", i)}
		for r := 0; r < replicas; r++ {
			g.Members = append(g.Members, m.Nodes[(i+r)%len(m.Nodes)].ID)
		}
		m.Groups = append(m.Groups, g)
	}
	for gi := 0; gi < groups; gi++ {
		start, end := gi*NumSlots/groups, (gi+1)*NumSlots/groups
		for s := start; s < end; s++ {
			m.Slots[s] = int16(gi)
		}
	}
	return m, m.Validate()
}
