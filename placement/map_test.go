package placement

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// testNodes returns n nodes with ids that sort in index order.
func testNodes(n int) []Node {
	out := make([]Node, n)
	for i := range out {
		out[i] = Node{
			ID:          fmt.Sprintf("%040x", i+1),
			RESPAddr:    fmt.Sprintf("127.0.0.1:%d", 7000+i),
			ClusterAddr: fmt.Sprintf("127.0.0.1:%d", 17000+i),
			GossipAddr:  fmt.Sprintf("127.0.0.1:%d", 27000+i),
		}
	}
	return out
}

func TestInitialMapInvariants(t *testing.T) {
	for n := 1; n <= 7; n++ {
		for groups := 1; groups <= 16; groups++ {
			for replicas := 1; replicas <= min(3, n); replicas++ {
				name := fmt.Sprintf("n%d-g%d-r%d", n, groups, replicas)
				nodes := testNodes(n)
				// Hand InitialMap the nodes in reverse order: it must sort them.
				rev := make([]Node, n)
				for i := range nodes {
					rev[n-1-i] = nodes[i]
				}
				m, err := InitialMap(rev, groups, replicas)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				checkInitialMap(t, name, m, nodes, groups, replicas)
			}
		}
	}
}

func checkInitialMap(t *testing.T, name string, m *Map, nodes []Node, groups, replicas int) {
	t.Helper()
	if m.Epoch != 1 {
		t.Errorf("%s: epoch %d, want 1", name, m.Epoch)
	}
	if !reflect.DeepEqual(m.Nodes, nodes) {
		t.Errorf("%s: nodes not sorted by id: %v", name, m.Nodes)
	}
	if len(m.Groups) != groups {
		t.Fatalf("%s: %d groups, want %d", name, len(m.Groups), groups)
	}
	if got := m.AssignedSlots(); got != NumSlots {
		t.Errorf("%s: %d slots assigned", name, got)
	}
	// One pass: each group's slots form one run, and runs come in group
	// order.
	sizes := make([]int, groups)
	runs := make([]int, groups)
	for s := 0; s < NumSlots; s++ {
		gi := int(m.Slots[s])
		if gi < 0 || gi >= groups {
			t.Fatalf("%s: slot %d -> group %d", name, s, gi)
		}
		sizes[gi]++
		if s == 0 || int(m.Slots[s-1]) != gi {
			runs[gi]++
		}
	}
	lo, hi := NumSlots, 0
	for gi := range sizes {
		if runs[gi] != 1 {
			t.Errorf("%s: group %d has %d ranges, want 1", name, gi, runs[gi])
		}
		if r := m.Ranges(gi); len(r) != 1 || r[0].End-r[0].Start+1 != sizes[gi] {
			t.Errorf("%s: group %d ranges %v, size %d", name, gi, r, sizes[gi])
		}
		lo, hi = min(lo, sizes[gi]), max(hi, sizes[gi])
	}
	if hi-lo > 1 {
		t.Errorf("%s: range sizes from %d to %d", name, lo, hi)
	}
	first := make(map[string]int)
	for gi, g := range m.Groups {
		if g.ID != fmt.Sprintf("g%d", gi) {
			t.Errorf("%s: group %d id %q", name, gi, g.ID)
		}
		if len(g.Members) != replicas {
			t.Errorf("%s: group %s has %d members, want %d", name, g.ID, len(g.Members), replicas)
		}
		seen := make(map[string]bool)
		for _, id := range g.Members {
			if seen[id] || m.Node(id) == nil {
				t.Errorf("%s: group %s member %s repeated or unknown", name, g.ID, id)
			}
			seen[id] = true
		}
		first[g.Members[0]]++
	}
	// Preferred leaders are spread: counts differ by at most one, and with
	// as many groups as nodes each node is first member of exactly one.
	lo, hi = groups, 0
	for _, nd := range nodes {
		lo, hi = min(lo, first[nd.ID]), max(hi, first[nd.ID])
	}
	if hi-lo > 1 {
		t.Errorf("%s: preferred-leader counts from %d to %d: %v", name, lo, hi, first)
	}
	if groups == len(nodes) && (lo != 1 || hi != 1) {
		t.Errorf("%s: with groups == nodes each node must prefer-lead one group: %v", name, first)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func TestInitialMapErrors(t *testing.T) {
	for _, c := range []struct {
		nodes, groups, replicas int
	}{
		{0, 1, 1}, {3, 0, 3}, {3, 3, 0}, {3, 3, 4}, {1, NumSlots + 1, 1},
	} {
		if _, err := InitialMap(testNodes(c.nodes), c.groups, c.replicas); !errors.Is(err, ErrBadMap) {
			t.Errorf("InitialMap(%d nodes, %d groups, %d replicas) = %v, want ErrBadMap", c.nodes, c.groups, c.replicas, err)
		}
	}
}

func TestMapJSONRoundTrip(t *testing.T) {
	m, err := InitialMap(testNodes(5), 7, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Unassigned slots and a non-contiguous group survive too.
	m.Groups[3].Formed = true
	m = m.Clone()
	if !m.Groups[3].Formed || m.Groups[2].Formed {
		t.Fatalf("Clone lost Formed")
	}
	m.Epoch = 42
	for s := 100; s < 200; s++ {
		m.Slots[s] = -1
	}
	m.Slots[NumSlots-1] = 0
	m.Slots[5000] = 2
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var got Map
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, m) {
		t.Fatalf("round trip changed the map:\n%s", b)
	}
	if got.AssignedSlots() != NumSlots-100 {
		t.Fatalf("assigned %d", got.AssignedSlots())
	}
	if !strings.Contains(string(b), `"slots":[[0,`) {
		t.Fatalf("slots not in range form: %s", b)
	}
}

func TestMapJSONRejectsBadSlots(t *testing.T) {
	base := `{"epoch":1,"nodes":[{"id":"a","resp":"","cluster":"","gossip":""}],"groups":[{"id":"g0","members":["a"]}],"slots":%s}`
	for _, slots := range []string{`[[0,16384,0]]`, `[[-1,5,0]]`, `[[5,4,0]]`, `[[0,5,1]]`, `[[0,5,-1]]`} {
		var m Map
		if err := json.Unmarshal([]byte(fmt.Sprintf(base, slots)), &m); !errors.Is(err, ErrBadMap) {
			t.Errorf("slots %s: err %v, want ErrBadMap", slots, err)
		}
	}
}

func TestMapValidateFailures(t *testing.T) {
	good := func() *Map {
		m, err := InitialMap(testNodes(3), 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cases := map[string]func(m *Map){
		"unsorted nodes":     func(m *Map) { m.Nodes[0], m.Nodes[1] = m.Nodes[1], m.Nodes[0] },
		"duplicate node":     func(m *Map) { m.Nodes[1] = m.Nodes[0] },
		"empty group id":     func(m *Map) { m.Groups[1].ID = "" },
		"duplicate group id": func(m *Map) { m.Groups[1].ID = m.Groups[0].ID },
		"group without members": func(m *Map) {
			m.Groups[2].Members = nil
		},
		"unknown member":  func(m *Map) { m.Groups[0].Members[1] = strings.Repeat("f", 40) },
		"repeated member": func(m *Map) { m.Groups[0].Members[1] = m.Groups[0].Members[0] },
		"slot past groups": func(m *Map) {
			m.Slots[77] = int16(len(m.Groups))
		},
		"slot below -1": func(m *Map) { m.Slots[0] = -2 },
	}
	for name, breakIt := range cases {
		m := good().Clone()
		breakIt(m)
		if err := m.Validate(); !errors.Is(err, ErrBadMap) {
			t.Errorf("%s: Validate = %v, want ErrBadMap", name, err)
		}
	}
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestMapLookups(t *testing.T) {
	m, err := InitialMap(testNodes(3), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	n := testNodes(3)
	if got := m.Node(n[1].ID); got == nil || *got != n[1] {
		t.Errorf("Node = %v", got)
	}
	if m.Node("nope") != nil || m.Group("g9") != nil {
		t.Error("lookup of unknown id found something")
	}
	if g := m.SlotGroup(NumSlots - 1); g == nil || g.ID != "g2" {
		t.Errorf("SlotGroup(last) = %v", g)
	}
	if got := m.GroupsOf(n[0].ID); !reflect.DeepEqual(got, []string{"g0", "g2"}) {
		t.Errorf("GroupsOf = %v", got)
	}
	c := m.Clone()
	c.Groups[0].Members[0] = "x"
	c.Nodes[0].RESPAddr = "x"
	if m.Groups[0].Members[0] == "x" || m.Nodes[0].RESPAddr == "x" {
		t.Error("Clone shares memory with the original")
	}
}
