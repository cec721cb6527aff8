package placement

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// jobMap returns a valid map of 3 nodes and 3 groups at epoch 10: g0 owns
// 0-5460, g1 5461-10922, g2 10923-16383, and slots 16000-16383 are
// unassigned.
func jobMap(t *testing.T) *Map {
	t.Helper()
	m, err := InitialMap(testNodes(3), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	m.Epoch = 10
	for s := 16000; s < NumSlots; s++ {
		m.Slots[s] = -1
	}
	return m
}

func TestNewJob(t *testing.T) {
	base := jobMap(t)
	busy, _, err := NewJob(base, []SlotRange{{Start: 100, End: 199}}, "g1", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		m         *Map
		slots     []SlotRange
		target    string
		maxActive int
		wantErr   error
		wantMsg   string // in the error
		want      []SlotRange
		source    string
	}{
		{name: "one range", m: base, slots: []SlotRange{{Start: 0, End: 99}}, target: "g1", want: []SlotRange{{Start: 0, End: 99}}, source: "g0"},
		{name: "one slot", m: base, slots: []SlotRange{{Start: 16383 - 400, End: 16383 - 400}}, target: "g0", want: []SlotRange{{Start: 15983, End: 15983}}, source: "g2"},
		{name: "ranges merged and sorted", m: base, slots: []SlotRange{{Start: 50, End: 60}, {Start: 0, End: 10}, {Start: 5, End: 20}, {Start: 21, End: 30}, {Start: 40, End: 40}},
			target: "g2", want: []SlotRange{{Start: 0, End: 30}, {Start: 40, End: 40}, {Start: 50, End: 60}}, source: "g0"},
		{name: "next to a busy range", m: busy, slots: []SlotRange{{Start: 200, End: 300}}, target: "g2", maxActive: 2, want: []SlotRange{{Start: 200, End: 300}}, source: "g0"},
		{name: "unknown target", m: base, slots: []SlotRange{{Start: 0, End: 1}}, target: "g7", wantErr: ErrUnknownGroup, wantMsg: `"g7"`},
		{name: "no slots", m: base, target: "g1", wantErr: ErrBadSlots},
		{name: "negative slot", m: base, slots: []SlotRange{{Start: -1, End: 3}}, target: "g1", wantErr: ErrBadSlots, wantMsg: "-1-3"},
		{name: "slot past the last", m: base, slots: []SlotRange{{Start: 16383, End: 16384}}, target: "g1", wantErr: ErrBadSlots, wantMsg: "16384"},
		{name: "start after end", m: base, slots: []SlotRange{{Start: 9, End: 8}}, target: "g1", wantErr: ErrBadSlots, wantMsg: "9-8"},
		{name: "unassigned slot", m: base, slots: []SlotRange{{Start: 15990, End: 16010}}, target: "g1", wantErr: ErrUnassignedSlots, wantMsg: "slot 16000"},
		{name: "two sources", m: base, slots: []SlotRange{{Start: 5000, End: 6000}}, target: "g2", wantErr: ErrMixedSources, wantMsg: "slot 5461 in g1"},
		{name: "target owns them", m: base, slots: []SlotRange{{Start: 6000, End: 6001}}, target: "g1", wantErr: ErrAlreadyOwner, wantMsg: "6000-6001"},
		{name: "slot busy", m: busy, slots: []SlotRange{{Start: 150, End: 150}, {Start: 300, End: 310}}, target: "g2", wantErr: ErrSlotsBusy, wantMsg: "slot 150 is in job j11"},
		{name: "too many jobs", m: busy, slots: []SlotRange{{Start: 300, End: 310}}, target: "g2", maxActive: 1, wantErr: ErrTooManyJobs, wantMsg: "1 active"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := mapJSON(tc.m)
			next, job, err := NewJob(tc.m, tc.slots, tc.target, 1234, tc.maxActive)
			if mapJSON(tc.m) != before {
				t.Fatal("NewJob modified its argument")
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(fmt.Sprint(err), tc.wantMsg) || next != nil || job != nil {
					t.Fatalf("err %v, want %v naming %q", err, tc.wantErr, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantID := fmt.Sprintf("j%d", tc.m.Epoch+1)
			if next.Epoch != tc.m.Epoch+1 || job.ID != wantID || job.Phase != JobCopying || job.Created != 1234 ||
				job.Source != tc.source || job.Target != tc.target || !reflect.DeepEqual(job.Slots, tc.want) {
				t.Fatalf("epoch %d, job %+v", next.Epoch, job)
			}
			if got := next.Job(wantID); got == nil || !reflect.DeepEqual(*got, *job) {
				t.Fatalf("map's job %+v", got)
			}
			if err := next.Validate(); err != nil {
				t.Fatal(err)
			}
			if next.Slots != tc.m.Slots {
				t.Fatal("creating a job moved slots")
			}
			if j := next.JobOfSlot(tc.want[0].Start); j == nil || j.ID != wantID {
				t.Fatalf("JobOfSlot = %v", j)
			}
		})
	}
}

func TestFlipAndAbortJob(t *testing.T) {
	m0 := jobMap(t)
	m1, job, err := NewJob(m0, []SlotRange{{Start: 10, End: 19}, {Start: 30, End: 30}}, "g2", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	g2 := int16(m1.GroupIndex("g2"))

	flipped, err := FlipJob(m1, job.ID, 200)
	if err != nil {
		t.Fatal(err)
	}
	j := flipped.Job(job.ID)
	if flipped.Epoch != m1.Epoch+1 || j.Phase != JobDone || j.Ended != 200 || len(flipped.ActiveJobs()) != 0 {
		t.Fatalf("after flip: epoch %d, job %+v", flipped.Epoch, j)
	}
	for s := 0; s < 40; s++ {
		want := m1.Slots[s]
		if (s >= 10 && s <= 19) || s == 30 {
			want = g2
		}
		if flipped.Slots[s] != want {
			t.Fatalf("slot %d in group %d after the flip, want %d", s, flipped.Slots[s], want)
		}
	}
	if err := flipped.Validate(); err != nil {
		t.Fatal(err)
	}
	if m1.Job(job.ID).Phase != JobCopying || m1.Slots[10] == g2 {
		t.Fatal("FlipJob modified its argument")
	}

	aborted, err := AbortJob(m1, job.ID, "operator cancelled", 300)
	if err != nil {
		t.Fatal(err)
	}
	j = aborted.Job(job.ID)
	if aborted.Epoch != m1.Epoch+1 || j.Phase != JobAborted || j.Ended != 300 || j.Reason != "operator cancelled" ||
		aborted.Slots != m1.Slots {
		t.Fatalf("after abort: epoch %d, job %+v", aborted.Epoch, j)
	}
	if err := aborted.Validate(); err != nil {
		t.Fatal(err)
	}

	// Once either happened, neither can happen again: a flip and an abort
	// never both succeed.
	cases := []struct {
		name    string
		m       *Map
		do      func(*Map) (*Map, error)
		wantErr error
		wantMsg string
	}{
		{"flip after flip", flipped, func(m *Map) (*Map, error) { return FlipJob(m, job.ID, 1) }, ErrJobNotActive, "is done"},
		{"abort after flip", flipped, func(m *Map) (*Map, error) { return AbortJob(m, job.ID, "x", 1) }, ErrJobNotActive, "is done"},
		{"flip after abort", aborted, func(m *Map) (*Map, error) { return FlipJob(m, job.ID, 1) }, ErrJobNotActive, "is aborted"},
		{"abort after abort", aborted, func(m *Map) (*Map, error) { return AbortJob(m, job.ID, "x", 1) }, ErrJobNotActive, "is aborted"},
		{"flip unknown", m1, func(m *Map) (*Map, error) { return FlipJob(m, "j999", 1) }, ErrUnknownJob, "j999"},
		{"abort unknown", m1, func(m *Map) (*Map, error) { return AbortJob(m, "j999", "x", 1) }, ErrUnknownJob, "j999"},
		{"flip on a map from before the job", m0, func(m *Map) (*Map, error) { return FlipJob(m, job.ID, 1) }, ErrUnknownJob, job.ID},
	}
	for _, tc := range cases {
		next, err := tc.do(tc.m)
		if next != nil || !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("%s: %v, want %v naming %q", tc.name, err, tc.wantErr, tc.wantMsg)
		}
	}

	// The slots are free for a new job once the first has ended; a new
	// job's id is new even when the history no longer holds the old one.
	for _, m := range []*Map{flipped, aborted} {
		target := "g1"
		if m == flipped {
			target = "g0"
		}
		next, j2, err := NewJob(m, []SlotRange{{Start: 10, End: 19}}, target, 400, 1)
		if err != nil {
			t.Fatal(err)
		}
		if j2.ID == job.ID || next.Job(job.ID) == nil {
			t.Fatalf("new job %s, old kept: %v", j2.ID, next.Job(job.ID) != nil)
		}
	}
}

func TestJobHistoryTrimmed(t *testing.T) {
	m := jobMap(t)
	// One job that stays active all along, then JobHistory+5 jobs that
	// finish in turn, alternately flipped and aborted.
	m, keep, err := NewJob(m, []SlotRange{{Start: 0, End: 0}}, "g1", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < JobHistory+5; i++ {
		var j *Job
		// Flips move the slot back and forth between g1 and g2.
		dst := "g2"
		if m.SlotGroup(6000).ID == "g2" {
			dst = "g1"
		}
		if m, j, err = NewJob(m, []SlotRange{{Start: 6000, End: 6000}}, dst, int64(i), 0); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		ids = append(ids, j.ID)
		if i%2 == 0 {
			m, err = FlipJob(m, j.ID, int64(1000+i))
		} else {
			m, err = AbortJob(m, j.ID, "test", int64(1000+i))
		}
		if err != nil {
			t.Fatalf("end job %d: %v", i, err)
		}
		finished := len(m.Jobs) - len(m.ActiveJobs())
		if finished != min(i+1, JobHistory) {
			t.Fatalf("after %d jobs: %d finished kept", i+1, finished)
		}
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if m.Job(keep.ID) == nil || len(m.ActiveJobs()) != 1 {
		t.Fatal("the active job was dropped")
	}
	for i, id := range ids {
		if kept := m.Job(id) != nil; kept != (i >= 5) {
			t.Errorf("job %d (%s) kept: %v", i, id, kept)
		}
	}
	// Oldest by end time, not by creation: a job created first but
	// finished last is kept over one created later that finished earlier.
	m2 := jobMap(t)
	m2.Jobs = nil
	for i := 0; i < JobHistory+1; i++ {
		end := int64(100 + i)
		if i == 0 {
			end = 10_000
		}
		m2.Jobs = append(m2.Jobs, Job{ID: fmt.Sprintf("x%d", i), Slots: []SlotRange{{Start: 1, End: 1}}, Source: "g0", Target: "g1",
			Phase: JobAborted, Created: int64(i), Ended: end})
	}
	trimHistory(m2)
	if len(m2.Jobs) != JobHistory || m2.Job("x0") == nil || m2.Job("x1") != nil {
		t.Fatalf("trimmed to %d jobs, x0 kept %v, x1 kept %v", len(m2.Jobs), m2.Job("x0") != nil, m2.Job("x1") != nil)
	}
}

// TestJobsOnService runs the Service's job methods on a single node: the
// sentinel errors come back comparable with errors.Is.
func TestJobsOnService(t *testing.T) {
	lg := testLogger(t)
	n := newTestNode(t, lg, nodeID('a'), nil, func(c *Config) { c.BootstrapExpect, c.Groups, c.Replicas = 1, 2, 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := n.svc.Wait(ctx, 0); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixMilli()
	job, err := n.svc.CreateJob(ctx, []SlotRange{{Start: 0, End: 9}}, "g1", 1)
	if err != nil {
		t.Fatal(err)
	}
	m := n.svc.Map()
	if got := m.Job(job.ID); got == nil || got.Created < before || got.Created > time.Now().UnixMilli() ||
		job.ID != fmt.Sprintf("j%d", m.Epoch) || got.Source != "g0" {
		t.Fatalf("job %+v in map at epoch %d", got, m.Epoch)
	}
	if _, err := n.svc.CreateJob(ctx, []SlotRange{{Start: 20, End: 29}}, "g1", 1); !errors.Is(err, ErrTooManyJobs) {
		t.Fatalf("second job over the cap: %v", err)
	}
	if _, err := n.svc.CreateJob(ctx, []SlotRange{{Start: 5, End: 15}}, "g1", 0); !errors.Is(err, ErrSlotsBusy) {
		t.Fatalf("overlapping job: %v", err)
	}
	if err := n.svc.FlipJob(ctx, "j0"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("flip of an unknown job: %v", err)
	}
	if err := n.svc.FlipJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	if err := n.svc.AbortJob(ctx, job.ID, "too late"); !errors.Is(err, ErrJobNotActive) {
		t.Fatalf("abort after flip: %v", err)
	}
	m = n.svc.Map()
	if j := m.Job(job.ID); j.Phase != JobDone || m.SlotGroup(9).ID != "g1" || m.SlotGroup(10).ID != "g0" {
		t.Fatalf("after flip: job %+v, slot 9 in %s", j, m.SlotGroup(9).ID)
	}
	job2, err := n.svc.CreateJob(ctx, []SlotRange{{Start: 9, End: 9}}, "g0", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.svc.AbortJob(ctx, job2.ID, "cancelled"); err != nil {
		t.Fatal(err)
	}
	if err := n.svc.FlipJob(ctx, job2.ID); !errors.Is(err, ErrJobNotActive) {
		t.Fatalf("flip after abort: %v", err)
	}
	if m := n.svc.Map(); m.Job(job2.ID).Reason != "cancelled" || m.SlotGroup(9).ID != "g1" {
		t.Fatalf("after abort: %+v", m.Job(job2.ID))
	}
}

// TestClaimJob: a mover claims a job with its source term before it copies;
// only the claiming term may flip it, a newer term's claim replaces an
// older one, and an older term can neither claim nor flip afterwards, so a
// deposed source leader's flip and its successor's restart of the copy
// cannot both happen.
func TestClaimJob(t *testing.T) {
	m0 := jobMap(t)
	m1, job, err := NewJob(m0, []SlotRange{{Start: 10, End: 19}}, "g2", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := ClaimJob(m1, job.ID, 3)
	if err != nil || m2.Job(job.ID).Copier != 3 || m2.Epoch != m1.Epoch+1 {
		t.Fatalf("claim by term 3: %v, job %+v", err, m2.Job(job.ID))
	}
	if again, err := ClaimJob(m2, job.ID, 3); err != nil || again != m2 {
		t.Fatalf("claiming again with the same term: %v (map changed: %v)", err, again != m2)
	}
	if _, err := FlipClaimedJob(m2, job.ID, 2, 200); !errors.Is(err, ErrNotCopier) {
		t.Fatalf("flip by an older term: %v, want ErrNotCopier", err)
	}
	m3, err := ClaimJob(m2, job.ID, 4)
	if err != nil || m3.Job(job.ID).Copier != 4 {
		t.Fatalf("claim by a newer term: %v", err)
	}
	if _, err := ClaimJob(m3, job.ID, 3); !errors.Is(err, ErrNotCopier) {
		t.Fatalf("claim by the replaced term: %v, want ErrNotCopier", err)
	}
	if _, err := FlipClaimedJob(m3, job.ID, 3, 200); !errors.Is(err, ErrNotCopier) {
		t.Fatalf("flip by the replaced term: %v, want ErrNotCopier", err)
	}
	flipped, err := FlipClaimedJob(m3, job.ID, 4, 200)
	if err != nil || flipped.Job(job.ID).Phase != JobDone {
		t.Fatalf("flip by the claiming term: %v", err)
	}
	if _, err := ClaimJob(flipped, job.ID, 5); !errors.Is(err, ErrJobNotActive) {
		t.Fatalf("claim after the flip: %v, want ErrJobNotActive", err)
	}
}

// TestClaimJobOnLaggingMap: a claim is committed through the meta group
// even when the caller's map shows its term already holding the claim.
// Here the non-voter's map is set back to one from before the flip (a
// replica that lags); a mover of the same term that claimed from it would
// reset a target whose copy already owns the slots. The claim must be
// refused once the node learns the map.
func TestClaimJobOnLaggingMap(t *testing.T) {
	nodes := formCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nv := nodes[3]
	job, err := nv.svc.CreateJob(ctx, []SlotRange{{Start: 0, End: 9}}, "g1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := nv.svc.ClaimJob(ctx, job.ID, 3); err != nil {
		t.Fatal(err)
	}
	var stale *Map
	testutil.Eventually(t, 10*time.Second, "the claim in the non-voter's map", func() error {
		stale = nv.svc.Map()
		if j := stale.Job(job.ID); j == nil || !j.Active() || j.Copier != 3 {
			return fmt.Errorf("job %+v", j)
		}
		return nil
	})
	if err := nv.svc.FlipClaimedJob(ctx, job.ID, 3, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := nv.svc.Wait(ctx, stale.Epoch); err != nil {
		t.Fatal(err)
	}
	nv.svc.cur.Store(stale) // the node's map lags behind the flip
	res := make(chan error, 1)
	go func() { res <- nv.svc.ClaimJob(ctx, job.ID, 3) }()
	// Another change reaches the node, so that a claim that compared its
	// lagging map with the leader's can wait for a newer one.
	leader, err := metaLeader(nodes)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.svc.UpdateMap(ctx, setSlot(100, 2)); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, ErrJobNotActive) {
		t.Fatalf("claim by the flipping term on a lagging map: %v, want ErrJobNotActive", err)
	}
	if j := leader.svc.Map().Job(job.ID); j.Phase != JobDone {
		t.Fatalf("job %+v after the refused claim", j)
	}
}
