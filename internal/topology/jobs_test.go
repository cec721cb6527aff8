package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// testMap returns a valid map of three nodes and three groups (g0, g1, g2)
// of one member each, the slots split in three ranges.
func testMap() *Map {
	m := &Map{Epoch: 7}
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("%040x", i+1)
		m.Nodes = append(m.Nodes, Node{ID: id, RESPAddr: fmt.Sprintf("127.0.0.1:%d", 7000+i)})
		m.Groups = append(m.Groups, Group{ID: fmt.Sprintf("g%d", i), Members: []string{id}})
	}
	for s := range m.Slots {
		m.Slots[s] = int16(s * 3 / NumSlots)
	}
	return m
}

// withJobs returns testMap with an active job moving g0's slots 10-19 and
// 30 to g1, and a finished job.
func withJobs() *Map {
	m := testMap()
	m.Jobs = []Job{
		{ID: "j3", Slots: []SlotRange{{0, 5}}, Source: "g0", Target: "g2", Phase: JobDone, Created: 1, Ended: 2},
		{ID: "j5", Slots: []SlotRange{{10, 19}, {30, 30}}, Source: "g0", Target: "g1", Phase: JobCopying, Created: 3},
		{ID: "j6", Slots: []SlotRange{{40, 40}}, Source: "g0", Target: "g1", Phase: JobAborted, Created: 4, Ended: 5, Reason: "cancelled"},
	}
	return m
}

func TestJobsValidate(t *testing.T) {
	if err := withJobs().Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(m *Map)
		valid bool
	}{
		{"empty id", func(m *Map) { m.Jobs[1].ID = "" }, false},
		{"duplicate id", func(m *Map) { m.Jobs[2].ID = "j5" }, false},
		{"unknown phase", func(m *Map) { m.Jobs[1].Phase = "fenced" }, false},
		{"no slots", func(m *Map) { m.Jobs[1].Slots = nil }, false},
		{"slot below 0", func(m *Map) { m.Jobs[1].Slots[0].Start = -1 }, false},
		{"slot past the last", func(m *Map) { m.Jobs[0].Slots[0].End = NumSlots }, false},
		{"start after end", func(m *Map) { m.Jobs[1].Slots[0] = SlotRange{19, 10} }, false},
		{"unknown source", func(m *Map) { m.Jobs[1].Source = "g9" }, false},
		// A group deleted after its job ended leaves the record valid.
		{"finished job's group deleted", func(m *Map) { m.Jobs[0].Source = "g9" }, true},
		{"no source", func(m *Map) { m.Jobs[0].Source = "" }, false},
		{"unknown target", func(m *Map) { m.Jobs[1].Target = "g9" }, false},
		{"source is target", func(m *Map) { m.Jobs[1].Target = "g0" }, false},
		{"active slot not owned by source", func(m *Map) { m.Slots[30] = 1 }, false},
		{"active ranges overlap in one job", func(m *Map) { m.Jobs[1].Slots[1] = SlotRange{15, 15} }, false},
		{"two active jobs share a slot", func(m *Map) {
			m.Jobs[2].Phase, m.Jobs[2].Slots = JobCopying, []SlotRange{{19, 20}}
		}, false},
		{"disjoint active jobs", func(m *Map) { m.Jobs[2].Phase = JobCopying }, true},
		// A finished job's slots may have moved on since.
		{"done job's slots owned elsewhere", func(m *Map) { m.Slots[0] = 2 }, true},
		{"done job overlapping an active one", func(m *Map) { m.Jobs[0].Slots[0] = SlotRange{0, 12} }, true},
	}
	for _, tc := range cases {
		m := withJobs().Clone()
		tc.edit(m)
		err := m.Validate()
		if tc.valid && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.valid && !errors.Is(err, ErrBadMap) {
			t.Errorf("%s: Validate = %v, want ErrBadMap", tc.name, err)
		}
	}
}

func TestJobsJSON(t *testing.T) {
	// A map without jobs encodes as before jobs existed.
	b, err := json.Marshal(testMap())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "jobs") {
		t.Fatalf("jobless map mentions jobs: %s", b)
	}
	var old Map
	if err := json.Unmarshal(b, &old); err != nil || old.Jobs != nil || !reflect.DeepEqual(&old, testMap()) {
		t.Fatalf("jobless round trip: %v", err)
	}

	m := withJobs()
	b, err = json.Marshal(m)
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
	if !strings.Contains(string(b), `"slots":[{"start":10,"end":19},{"start":30,"end":30}]`) ||
		!strings.Contains(string(b), `"reason":"cancelled"`) {
		t.Fatalf("job wire form: %s", b)
	}
	// Decoding validates jobs too.
	bad := strings.Replace(string(b), `"target":"g1"`, `"target":"g0"`, 1)
	if err := json.Unmarshal([]byte(bad), &got); !errors.Is(err, ErrBadMap) {
		t.Fatalf("invalid job decoded: %v", err)
	}
}

func TestJobLookups(t *testing.T) {
	m := withJobs()
	for _, tc := range []struct {
		id    string
		phase JobPhase
	}{{"j3", JobDone}, {"j5", JobCopying}, {"j6", JobAborted}, {"j9", ""}} {
		j := m.Job(tc.id)
		switch {
		case tc.phase == "" && j != nil:
			t.Errorf("Job(%s) = %+v, want nil", tc.id, j)
		case tc.phase != "" && (j == nil || j.Phase != tc.phase):
			t.Errorf("Job(%s) = %+v, want phase %s", tc.id, j, tc.phase)
		}
	}
	if a := m.ActiveJobs(); len(a) != 1 || a[0].ID != "j5" {
		t.Errorf("ActiveJobs = %+v", a)
	}
	for _, tc := range []struct {
		slot int
		want string
	}{{9, ""}, {10, "j5"}, {19, "j5"}, {20, ""}, {30, "j5"}, {0, ""}, {40, ""}} {
		got := ""
		if j := m.JobOfSlot(tc.slot); j != nil {
			got = j.ID
		}
		if got != tc.want {
			t.Errorf("JobOfSlot(%d) = %q, want %q", tc.slot, got, tc.want)
		}
	}
	if n := m.Job("j5").NumSlots(); n != 11 {
		t.Errorf("NumSlots = %d", n)
	}
	if m.GroupIndex("g2") != 2 || m.GroupIndex("g9") != -1 {
		t.Error("GroupIndex")
	}
	if len(testMap().ActiveJobs()) != 0 || testMap().JobOfSlot(0) != nil {
		t.Error("a map without jobs has jobs")
	}
}

func TestCloneCopiesJobs(t *testing.T) {
	m := withJobs()
	c := m.Clone()
	if !reflect.DeepEqual(c, m) {
		t.Fatal("clone differs")
	}
	c.Jobs[1].Slots[0].Start = 11
	c.Jobs[1].Phase = JobDone
	if m.Jobs[1].Slots[0].Start != 10 || m.Jobs[1].Phase != JobCopying {
		t.Fatal("Clone shares jobs with the original")
	}
	if testMap().Clone().Jobs != nil {
		t.Fatal("Clone of a jobless map has a jobs slice")
	}
}
