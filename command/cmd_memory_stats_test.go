package command

import (
	"strings"
	"testing"
)

// TestDoctorReport: each of Redis's checks reports its issue past its
// threshold, and only then.
func TestDoctorReport(t *testing.T) {
	const mb = 1 << 20
	fine := MemoryStats{Peak: 100 * mb, Total: 100 * mb, RSS: 110 * mb,
		AllocAllocated: 100 * mb, AllocActive: 105 * mb, AllocResident: 106 * mb, Clients: 10, ClientsNormal: 10 * 1024}
	for _, c := range []struct {
		name   string
		change func(*MemoryStats)
		want   string
	}{
		{"fine", func(*MemoryStats) {}, doctorFine},
		{"empty", func(m *MemoryStats) { m.Total = 4 * mb }, doctorEmpty},
		{"peak", func(m *MemoryStats) { m.Peak = 151 * mb }, doctorPeak},
		{"rss", func(m *MemoryStats) {
			m.RSS = 141 * mb
			m.AllocResident = 140 * mb
			m.AllocActive = 139 * mb
			m.AllocAllocated = 138 * mb
		}, doctorFrag},
		{"rss within 10 MB", func(m *MemoryStats) {
			m.Total = 6 * mb
			m.Peak = 6 * mb
			m.RSS = 15 * mb
			m.AllocResident = 15 * mb
			m.AllocActive = 15 * mb
			m.AllocAllocated = 15 * mb
		}, doctorFine},
		{"allocator fragmentation", func(m *MemoryStats) { m.AllocActive = 120 * mb; m.AllocResident = 120 * mb; m.RSS = 121 * mb }, doctorAllocFrag},
		{"allocator rss", func(m *MemoryStats) { m.AllocResident = 130 * mb; m.RSS = 131 * mb }, doctorAllocRSS},
		{"process rss", func(m *MemoryStats) { m.RSS = 130 * mb }, doctorProcRSS},
		{"client buffers", func(m *MemoryStats) { m.ClientsNormal = 10 * 201 * 1024 }, doctorClients},
	} {
		m := fine
		c.change(&m)
		got := doctorReport(m)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: report %q, want it to contain %q", c.name, got, c.want[:40])
		}
		if c.want != doctorFine && c.want != doctorEmpty && (!strings.HasPrefix(got, doctorIntro) || !strings.HasSuffix(got, doctorOutro) || strings.Count(got, " * ") != 1) {
			t.Errorf("%s: report %q, want the intro, one issue and the outro", c.name, got)
		}
	}
}
