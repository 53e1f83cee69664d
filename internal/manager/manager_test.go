package manager

import (
	"runtime/debug"
	"testing"
)

func TestCacheNamespaces(t *testing.T) {
	for _, tc := range []struct {
		reason string
		names  []string
	}{
		{"no list watches every namespace", nil},
		{"one namespace", []string{"team-a"}},
		{"a list", []string{"team-a", "team-b"}},
	} {
		ns := namespaces(tc.names)
		if (ns == nil) != (len(tc.names) == 0) || len(ns) != len(tc.names) {
			t.Errorf("%s: cache namespaces %v for %q", tc.reason, ns, tc.names)
		}
		for _, n := range tc.names {
			if _, ok := ns[n]; !ok {
				t.Errorf("%s: namespace %s not watched", tc.reason, n)
			}
		}
	}
}

func TestMemoryLimitFromEnv(t *testing.T) {
	for _, tc := range []struct {
		reason, value string
		want          uint64
		wantErr       bool
	}{
		{"unset: unknown", "", 0, false},
		{"the chart's 256Mi, as a resourceFieldRef renders it", "268435456", 256 << 20, false},
		{"surrounding spaces", " 1073741824\n", 1 << 30, false},
		{"a quantity is not bytes", "256Mi", 0, true},
		{"negative", "-1", 0, true},
	} {
		got, err := MemoryLimitFromEnv(func(k string) string {
			if k != MemoryLimitEnv {
				t.Fatalf("read %s, want %s", k, MemoryLimitEnv)
			}
			return tc.value
		})
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: MemoryLimitFromEnv(%q) = %d, %v; want %d, error %v", tc.reason, tc.value, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestApplyMemoryLimit: the Go memory limit follows the container's (90 %), unless GOMEMLIMIT was
// given or the limit is unknown.
func TestApplyMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	for _, tc := range []struct {
		reason   string
		limit    uint64
		explicit bool
		want     int64
	}{
		{"the chart's 256 MiB", 256 << 20, false, 256 << 20 / 10 * 9},
		{"GOMEMLIMIT set: left as it is", 256 << 20, true, 12345 << 20},
		{"unknown: left as it is", 0, false, 12345 << 20},
	} {
		debug.SetMemoryLimit(12345 << 20)
		applyMemoryLimit(tc.limit, tc.explicit)
		if got := debug.SetMemoryLimit(-1); got != tc.want {
			t.Errorf("%s: Go memory limit %d, want %d", tc.reason, got, tc.want)
		}
	}
}

// TestApplyGCPercent: the collector's target is GCPercent, unless GOGC was given.
func TestApplyGCPercent(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	for _, tc := range []struct {
		reason   string
		explicit bool
		want     int
	}{
		{"GOGC unset: the manager's", false, GCPercent},
		{"GOGC set: left as it is", true, 170},
	} {
		debug.SetGCPercent(170)
		applyGCPercent(tc.explicit)
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("%s: GC percent %d, want %d", tc.reason, got, tc.want)
		}
	}
}
