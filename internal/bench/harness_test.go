package bench

import (
	"os"
	"testing"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/bench/managerproc"
)

func TestPercentileIsNearestRank(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		reason string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"no samples have no percentile", nil, 0.5, 0},
		{"one sample is every percentile", ms(7), 0.99, 7 * time.Millisecond},
		{"the median of an even count is the lower middle", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 1..100 is 99", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p50 of 1..100 is 50", ms(hundred...), 0.5, 50 * time.Millisecond},
	}
	for _, tc := range cases {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.reason, got, tc.want)
		}
	}
}

func TestPerBackendDividesTheDifference(t *testing.T) {
	from := managerproc.ChildStats{Emulator: managerproc.Stats{Reads: 10, Writes: 4, Refused: 1, Probes: 2, Calls: map[string]int64{"ObserveBucket": 10, "CreateBucket": 4}},
		Manager: &managerproc.ManagerMetrics{APIRequests: map[string]float64{"GET": 50, "PATCH": 5}}}
	to := managerproc.ChildStats{Emulator: managerproc.Stats{Reads: 30, Writes: 4, Refused: 3, Injected5xx: 2, Probes: 2, Calls: map[string]int64{"ObserveBucket": 30, "CreateBucket": 4}},
		Manager: &managerproc.ManagerMetrics{APIRequests: map[string]float64{"GET": 90, "PATCH": 15, "POST": 10}}}
	p := perBackend(from, to, 10)
	if p.Reads != 2 || p.Writes != 0 || p.Failed != 0.4 || p.Probes != 0 || p.APIWrites != 2 {
		t.Errorf("per backend = %+v, want 2 reads, 0.4 failed, 2 API writes (GETs are not writes)", p)
	}
	if len(p.Calls) != 1 || p.Calls["ObserveBucket"] != 2 {
		t.Errorf("calls = %v, want only ObserveBucket, 2 per backend", p.Calls)
	}
	if h := p.scale(6); h.Reads != 12 || h.Calls["ObserveBucket"] != 12 {
		t.Errorf("scaled by 6 = %+v", h)
	}
}

func TestReadCPUOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	s, err := readCPU(-1)
	if err != nil {
		t.Fatal(err)
	}
	if s.total == 0 || s.busy > s.total {
		t.Errorf("sample = %+v, want busy within a non-zero total", s)
	}
	if comm, ppid, _, err := procStat(os.Getpid()); err != nil || comm == "" || ppid != os.Getppid() {
		t.Errorf("procStat(self) = %q, ppid %d, %v; want this process's name and parent %d", comm, ppid, err, os.Getppid())
	}
	if m, err := procMemory(os.Getpid()); err != nil || m.RSS == 0 || m.HWM < m.RSS {
		t.Errorf("memory = %+v, %v; want a resident set no larger than its peak", m, err)
	}
}
