package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run eval \"$(hack/tools.sh env)\" first")
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin, err := BuildManager(ctx, root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
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
