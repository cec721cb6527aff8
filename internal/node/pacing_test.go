package node

import (
	"testing"
	"time"
)

// fakeCounter is a node's client command counter on a fake clock.
type fakeCounter struct {
	now   time.Time
	count int64
}

func (f *fakeCounter) pacer() *pacer {
	return &pacer{counter: func() int64 { return f.count }, clock: func() time.Time { return f.now }}
}

func (f *fakeCounter) run(d time.Duration, perSecond float64) {
	f.now = f.now.Add(d)
	f.count += int64(perSecond * d.Seconds())
}

// TestPacerBusy: the pacer measures the node's client rate one period at
// a time, and once busy stays busy.
func TestPacerBusy(t *testing.T) {
	quiet := &fakeCounter{now: time.Unix(100, 0)}
	p := quiet.pacer()
	for i := 0; i < 20; i++ {
		if p.Busy() {
			t.Fatalf("busy at %d commands/s", paceMinRate-10)
		}
		quiet.run(paceEvery/2, paceMinRate-10)
	}

	f := &fakeCounter{now: time.Unix(100, 0)}
	p = f.pacer()
	if p.Busy() {
		t.Fatal("busy before any measure")
	}
	f.run(paceEvery/2, 100000)
	if p.Busy() {
		t.Fatal("busy before a period ended")
	}
	f.run(paceEvery/2, 0)
	if !p.Busy() {
		t.Fatalf("not busy after a period at %d commands/s", 100000/2)
	}
	// A copy at full speed could starve the clients: busy it stays.
	for i := 0; i < 10; i++ {
		f.run(paceEvery, 0)
		if !p.Busy() {
			t.Fatal("not busy any more")
		}
	}
}
