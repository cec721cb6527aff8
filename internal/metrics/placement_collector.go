package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalcache/shoal/placement"
)

// PlacementSource is the placement service as the placement collector
// reads it; *placement.Service implements it. Its methods are called from
// scrape goroutines and must be safe for concurrent use.
type PlacementSource interface {
	// Map returns the current map (nil before the cluster forms).
	Map() *placement.Map
	// IsMetaLeader reports whether this node leads the meta group.
	IsMetaLeader() bool
	// Members returns the gossip view of the cluster's nodes.
	Members() []placement.Member
}

var _ PlacementSource = (*placement.Service)(nil)

// memberStates are the values of the state label, as
// placement.MemberStatus.String.
var memberStates = []placement.MemberStatus{placement.StatusAlive, placement.StatusSuspect, placement.StatusFailed, placement.StatusLeft}

// jobPhases are the values of the phase label.
var jobPhases = []placement.JobPhase{placement.JobCopying, placement.JobDone, placement.JobAborted}

var (
	descMapEpoch    = newDesc("placement_map_epoch", "Epoch of the placement map this node holds.")
	descMapNodes    = newDesc("placement_map_nodes", "Nodes in the placement map.")
	descMapGroups   = newDesc("placement_map_groups", "Shard groups in the placement map.")
	descMetaLeader  = newDesc("placement_meta_leader", "1 when this node leads the meta Raft group, else 0.")
	descMembers     = newDesc("cluster_members", "Cluster nodes as this node's gossip (Serf) sees them, by state.", "state")
	descJobs        = newDesc("migration_jobs", "Slot migration jobs in the map, by phase (the map keeps the active jobs and the most recent finished ones).", "phase")
	descActiveSlots = newDesc("migration_active_slots", "Slots that active migration jobs are moving.")
	descMovedKeys   = newDesc("migration_moved_keys_total", "Keys shipped by the migration jobs that finished (phase done) while this node watched the map.")
	descMovedBytes  = newDesc("migration_moved_bytes_total", "Bytes shipped by the migration jobs that finished (phase done) while this node watched the map.")
	placementDescs  = []*prometheus.Desc{descMapEpoch, descMapNodes, descMapGroups, descMetaLeader, descMembers, descJobs, descActiveSlots, descMovedKeys, descMovedBytes}
)

// placementCollector exports the map, the meta leadership, the gossip view
// and the migration jobs. The map keeps only the most recent finished
// jobs, so the moved keys and bytes are summed here: every done job is
// added once, the first time a scrape sees it (a job that left the map is
// forgotten: it never comes back).
type placementCollector struct {
	src PlacementSource

	mu         sync.Mutex // guards the fields below: scrapes may run concurrently
	counted    map[string]bool
	movedKeys  int64
	movedBytes int64
}

// NewPlacementCollector returns a collector over src.
func NewPlacementCollector(src PlacementSource) prometheus.Collector {
	return &placementCollector{src: src, counted: make(map[string]bool)}
}

// Describe implements prometheus.Collector.
func (c *placementCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range placementDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *placementCollector) Collect(ch chan<- prometheus.Metric) {
	leader := 0.0
	if c.src.IsMetaLeader() {
		leader = 1
	}
	ch <- gauge(descMetaLeader, leader)
	byState := make(map[placement.MemberStatus]int)
	for _, m := range c.src.Members() {
		byState[m.Status]++
	}
	for _, s := range memberStates {
		ch <- gauge(descMembers, float64(byState[s]), s.String())
	}

	m := c.src.Map()
	byPhase := make(map[placement.JobPhase]int)
	active := 0
	c.mu.Lock()
	if m != nil {
		seen := make(map[string]bool, len(m.Jobs))
		for i := range m.Jobs {
			j := &m.Jobs[i]
			byPhase[j.Phase]++
			if j.Active() {
				active += j.NumSlots()
			}
			if j.Phase != placement.JobDone {
				continue
			}
			seen[j.ID] = true
			if !c.counted[j.ID] {
				c.movedKeys += j.Keys
				c.movedBytes += j.Bytes
			}
		}
		c.counted = seen
	}
	keys, bytes := c.movedKeys, c.movedBytes
	c.mu.Unlock()
	for _, p := range jobPhases {
		ch <- gauge(descJobs, float64(byPhase[p]), string(p))
	}
	ch <- gauge(descActiveSlots, float64(active))
	ch <- counter(descMovedKeys, float64(keys))
	ch <- counter(descMovedBytes, float64(bytes))
	if m == nil {
		ch <- gauge(descMapEpoch, 0)
		ch <- gauge(descMapNodes, 0)
		ch <- gauge(descMapGroups, 0)
		return
	}
	ch <- gauge(descMapEpoch, float64(m.Epoch))
	ch <- gauge(descMapNodes, float64(len(m.Nodes)))
	ch <- gauge(descMapGroups, float64(len(m.Groups)))
}
