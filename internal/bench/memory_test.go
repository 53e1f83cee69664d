package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// testLog writes the bench's progress lines to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(string(p))
	return len(p), nil
}

// A tenant may put the operator's managed-by label on any Secret of its namespace. The manager's
// memory must not depend on what tenants label: the manager, built like bin/manager and run as its
// own process against an API server, peaks within 20 % of its peak without 300 such Secrets of
// 1 MiB (cached whole, they alone would be 300 MiB).
func TestTenantLabelledSecretsDoNotGrowTheManagersMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	assets, root, bin := managerUnderTest(ctx, t)
	opts := Options{
		Scenarios:  []Scenario{{N: 1}},
		Namespaces: 1,
		Workers:    8,
		Drift:      time.Minute,
		Retry:      time.Second,
		Timeout:    2 * time.Minute,
		Assets:     assets,
		CRDs:       filepath.Join(root, "config", "crd", "bases"),
		WorkDir:    t.TempDir(),
		Manager:    bin,
		Log:        testLog{t},
	}
	run := func(reason string, o Options) Result {
		t.Helper()
		res := Run(ctx, o)
		if len(res) != 1 || res[0].Error != "" || res[0].Ready != 1 {
			t.Fatalf("%s: %+v, want one Ready backend", reason, res)
		}
		return res[0]
	}
	without := run("without the tenant's Secrets", opts)
	opts.TenantSecrets, opts.TenantSecretBytes = 300, 1<<20-4096
	with := run("with 300 labelled 1 MiB Secrets", opts)
	t.Logf("peak RSS: %.1f MiB without the tenant's Secrets, %.1f MiB with them", without.PeakRSSMiB, with.PeakRSSMiB)
	if with.PeakRSSMiB > 1.2*without.PeakRSSMiB {
		t.Fatalf("the manager's peak RSS is %.1f MiB with 300 tenant Secrets labelled managed-by the operator, %.1f MiB without: more than 20 %% above",
			with.PeakRSSMiB, without.PeakRSSMiB)
	}
}

// TestThirtyMinIOBackendsFitTheChartsMemoryLimit (issue 20): 30 MinIO StateBackends created at once,
// with the manager's default flags and the real MinIO client against a real MinIO, never take the
// manager process near the memory limit the chart gives its pod. The manager runs as its own
// process with the environment the chart's Deployment gives it (the memory limit as
// TFSTATE_MEMORY_LIMIT); its peak anonymous RSS (sampled every 100 ms) must stay a margin below
// the limit, so that a few teams applying backends together never get the operator OOM-killed.
func TestThirtyMinIOBackendsFitTheChartsMemoryLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	assets, root, bin := managerUnderTest(ctx, t)
	limit := chartMemoryLimit(t, root)
	const margin = 64 << 20 // room for the page cache, the kernel's accounting and a burst
	res := Run(ctx, Options{
		Scenarios:      []Scenario{{N: 30, Provider: ProviderMinIO}},
		Namespaces:     3,
		Workers:        30, // all at once
		Drift:          10 * time.Minute,
		Retry:          30 * time.Second,
		Timeout:        5 * time.Minute,
		Assets:         assets,
		CRDs:           filepath.Join(root, "config", "crd", "bases"),
		WorkDir:        t.TempDir(),
		Manager:        bin,
		Log:            testLog{t},
		HeapProfileDir: t.TempDir(),
		Env:            []string{fmt.Sprintf("TFSTATE_MEMORY_LIMIT=%d", limit)},
	})
	if len(res) != 1 || res[0].Error != "" || res[0].Ready != 30 {
		t.Fatalf("%+v, want 30 Ready backends", res)
	}
	r := res[0]
	t.Logf("30 MinIO backends: peak anonymous RSS %.1f MiB, peak heap %.1f MiB, %.1f MiB allocated in %d GC cycles, all Ready in %.1fs; the chart's limit %d MiB",
		r.PeakAnonMiB, r.PeakHeapMiB, r.AllocMiB, r.GCCycles, r.ReadyAllSeconds, limit>>20)
	if ceiling := mib(limit - margin); r.PeakAnonMiB > ceiling {
		t.Fatalf("the manager's peak anonymous RSS is %.1f MiB creating 30 MinIO backends, more than the chart's memory limit (%d MiB) minus %d MiB (%.0f MiB)",
			r.PeakAnonMiB, limit>>20, margin>>20, ceiling)
	}
}

// managerUnderTest is what a memory test needs: the control plane's binaries (KUBEBUILDER_ASSETS),
// the module root, and the manager process built like bin/manager.
func managerUnderTest(ctx context.Context, t *testing.T) (assets, root string, bin ManagerBinary) {
	t.Helper()
	if assets = os.Getenv("KUBEBUILDER_ASSETS"); assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run eval \"$(hack/tools.sh env)\" first")
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if bin, err = BuildManager(ctx, root, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	return assets, root, bin
}

// chartMemoryLimit is resources.limits.memory of the chart's values, in bytes.
func chartMemoryLimit(t *testing.T, root string) uint64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "charts", "tfstate-operator", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Resources struct {
			Limits struct {
				Memory string `json:"memory"`
			} `json:"limits"`
		} `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	q, err := resource.ParseQuantity(values.Resources.Limits.Memory)
	if err != nil || q.Value() <= 0 {
		t.Fatalf("the chart's resources.limits.memory %q: %v", values.Resources.Limits.Memory, err)
	}
	return uint64(q.Value())
}
