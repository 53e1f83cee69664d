// Package bench measures the operator at scale: a parent process (this package) starts a local
// control plane (envtest), fills it with unrelated objects and StateBackends, and reads the
// figures; a child process, hack/bench/manager built like bin/manager (see BuildManager), runs the
// manager against an emulated provider account (managerproc) or with the real provider clients
// against a real MinIO and the fakes over it that the parent starts (stores.go). hack/bench is the
// command.
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/controllers"
	"github.com/tfstate-operator/tfstate-operator/internal/bench/managerproc"
)

// Names of what the bench creates in the cluster.
const (
	operatorNamespace = "tfstate-system"
	providerName      = "bench"
	credentialsSecret = "bench-provider"
)

// Options are the bench command's flags.
type Options struct {
	// Ns and FailRates: one scenario per (N, fail rate) pair in Scenarios, or their product.
	Scenarios []Scenario
	Latency   time.Duration
	// RateCount per RatePer: the provider's limit and the operator's limiter (0: none).
	RateCount int
	RatePer   time.Duration
	// Unrelated is how many Secrets, and as many ConfigMaps, the cluster holds besides the operator's.
	Unrelated int
	// TenantSecrets Secrets of TenantSecretBytes each carry the operator's managed-by label (which
	// any tenant may set) in the first namespace: what a tenant can make the operator's cache hold.
	TenantSecrets, TenantSecretBytes int
	// Namespaces the StateBackends and unrelated objects are spread over.
	Namespaces int
	// Workers create objects in parallel.
	Workers int
	// Concurrency is the manager's; 0: its default.
	Concurrency           int
	Drift, Steady, Retry  time.Duration
	Timeout               time.Duration
	Assets, CRDs, WorkDir string
	// Manager is the manager process's binary (BuildManager).
	Manager ManagerBinary
	// Log receives progress lines.
	Log io.Writer
	// HeapProfileDir, when set, receives each scenario's heap profile of the manager, taken when
	// all its backends are Ready (go tool pprof -sample_index=alloc_space shows where the bytes
	// were allocated).
	HeapProfileDir string
	// Env is added to the manager process's environment (a memory limit, as the chart sets it).
	Env []string
}

// Scenario is one measured run.
type Scenario struct {
	N        int     `json:"n"`
	FailRate float64 `json:"failRate"`
	// Provider is ProviderEmulated (also when empty), or one of the real clients' (stores.go),
	// where no latency or fault is injected.
	Provider string `json:"providerKind,omitempty"`
}

// Result is one scenario's figures.
type Result struct {
	Scenario
	// Ready is how many backends were Ready at the end; TimedOut when not all within the timeout.
	Ready    int  `json:"ready"`
	TimedOut bool `json:"timedOut"`
	// StartupSeconds is from starting the manager process to its first reconcile.
	StartupSeconds float64 `json:"startupSeconds"`
	// CreateSeconds is how long creating the N objects took; ReadyAllSeconds from the first create
	// to the last backend Ready; P50/P99/Max per backend from its create to its Ready.
	CreateSeconds   float64 `json:"createSeconds"`
	ReadyAllSeconds float64 `json:"readyAllSeconds"`
	P50Seconds      float64 `json:"p50Seconds"`
	P99Seconds      float64 `json:"p99Seconds"`
	MaxSeconds      float64 `json:"maxSeconds"`
	// Creating: provider calls per backend from start to all Ready.
	Creating PerBackend `json:"creating"`
	// Steady: per backend per drift interval, measured over SteadySeconds after all were Ready.
	Steady        *PerBackend `json:"steady,omitempty"`
	SteadySeconds float64     `json:"steadySeconds,omitempty"`
	DriftSeconds  float64     `json:"driftSeconds"`
	// SteadyPerHourAtDefault is Steady at the default 10-minute drift interval (× 6).
	SteadyPerHourAtDefault *PerBackend `json:"steadyPerHourAtDefault,omitempty"`
	// SteadyPerHour is Steady per hour at the measured drift interval.
	SteadyPerHour *PerBackend `json:"steadyPerHour,omitempty"`
	// Memory of the manager process: RSS at its first reconcile (the unrelated objects present,
	// no backend yet); peak (VmHWM) and final RSS; the peak of its anonymous part (sampled every
	// 100 ms), which leaves out the pages of the binary itself (RssFile at the end); the peak Go
	// heap (sampled in the process).
	StartupRSSMiB float64 `json:"startupRSSMiB"`
	PeakRSSMiB    float64 `json:"peakRSSMiB"`
	RSSMiB        float64 `json:"rssMiB"`
	PeakAnonMiB   float64 `json:"peakAnonRSSMiB"`
	FileMiB       float64 `json:"fileRSSMiB"`
	PeakHeapMiB   float64 `json:"peakHeapMiB"`
	// GCCycles and GCPauseSeconds are the manager's collections and their pauses, and AllocMiB
	// what it allocated, from the first create to all Ready.
	GCCycles       uint32  `json:"gcCycles"`
	GCPauseSeconds float64 `json:"gcPauseSeconds"`
	AllocMiB       float64 `json:"allocMiB"`
	// HeapProfile is the file the manager's heap profile was kept in (Options.HeapProfileDir).
	HeapProfile string `json:"heapProfile,omitempty"`
	// Provider is the emulator's final counts (MaxInWindow against Limit among them).
	Provider managerproc.Stats `json:"provider"`
	// ManagerCreating and ManagerSteady digest the manager's metrics over each phase.
	ManagerCreating *managerproc.ManagerMetrics `json:"managerCreating,omitempty"`
	ManagerSteady   *managerproc.ManagerMetrics `json:"managerSteady,omitempty"`
	// APIServerCreating is the manager's requests per backend from the first create to all Ready
	// as the API server counted them, by "VERB resource[/subresource]" (watches left out).
	APIServerCreating map[string]float64 `json:"apiServerCreating,omitempty"`
	// CreatingCPU is where the machine's CPU went from the first create to all Ready.
	CreatingCPU *CPUUse `json:"creatingCPU,omitempty"`
	// Concurrency is the manager's worker count as configured (0: its default).
	Concurrency int `json:"concurrency"`
	// Error is why the scenario stopped early, if it did.
	Error string `json:"error,omitempty"`
}

// PerBackend are call counts divided by the number of backends.
type PerBackend struct {
	Reads  float64 `json:"reads"`
	Writes float64 `json:"writes"`
	// Failed are calls refused or failed by injection; Probes are data-plane calls.
	Failed float64 `json:"failed"`
	Probes float64 `json:"probes"`
	// APIWrites are the manager's POST, PUT, PATCH and DELETE requests to the API server.
	APIWrites float64 `json:"apiWrites"`
	// Calls are Reads and Writes by operation.
	Calls map[string]float64 `json:"calls,omitempty"`
}

func (p PerBackend) scale(f float64) *PerBackend {
	out := &PerBackend{Reads: p.Reads * f, Writes: p.Writes * f, Failed: p.Failed * f, Probes: p.Probes * f, APIWrites: p.APIWrites * f,
		Calls: make(map[string]float64, len(p.Calls))}
	for op, v := range p.Calls {
		out.Calls[op] = v * f
	}
	return out
}

// perBackend divides the difference between two snapshots by n.
func perBackend(from, to managerproc.ChildStats, n int) PerBackend {
	d := float64(n)
	failed := func(s managerproc.Stats) int64 { return s.Refused + s.Injected5xx + s.Injected429 }
	p := PerBackend{
		Reads:  float64(to.Emulator.Reads-from.Emulator.Reads) / d,
		Writes: float64(to.Emulator.Writes-from.Emulator.Writes) / d,
		Failed: float64(failed(to.Emulator)-failed(from.Emulator)) / d,
		Probes: float64(to.Emulator.Probes-from.Emulator.Probes) / d,
		Calls:  map[string]float64{},
	}
	for op, v := range to.Emulator.Calls {
		if n := v - from.Emulator.Calls[op]; n != 0 {
			p.Calls[op] = float64(n) / d
		}
	}
	if to.Manager != nil && from.Manager != nil {
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			p.APIWrites += (to.Manager.APIRequests[m] - from.Manager.APIRequests[m]) / d
		}
		// The real clients' calls, as the operator's own metrics count them (the Emulator
		// counted nothing then); reads and writes split as the Emulator splits them.
		for op, v := range to.Manager.ProviderCalls {
			calls := (v - from.Manager.ProviderCalls[op]) / d
			if calls == 0 {
				continue
			}
			p.Calls[op] = calls
			p.Failed += (to.Manager.ProviderFailed[op] - from.Manager.ProviderFailed[op]) / d
			if writeOperations[op] {
				p.Writes += calls
			} else {
				p.Reads += calls
			}
		}
	}
	return p
}

// writeOperations are the provider operations that change something at the store.
var writeOperations = map[string]bool{
	"CreateBucket": true, "MarkBucket": true, "EnableVersioning": true, "DeleteBucket": true,
	"IssueCredential": true, "RevokeCredential": true,
}

// diffMetrics is to - from.
func diffMetrics(from, to *managerproc.ManagerMetrics) *managerproc.ManagerMetrics {
	if from == nil || to == nil {
		return nil
	}
	sub := func(a, b map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for k, v := range b {
			if d := v - a[k]; d != 0 {
				out[k] = d
			}
		}
		return out
	}
	return &managerproc.ManagerMetrics{
		APIRequests:      sub(from.APIRequests, to.APIRequests),
		Reconciles:       sub(from.Reconciles, to.Reconciles),
		ReconcileSeconds: sub(from.ReconcileSeconds, to.ReconcileSeconds),
	}
}

// Run runs every scenario in turn, each on a fresh control plane. A scenario that fails is
// reported with what it reached; Run goes on with the next unless ctx has ended.
func Run(ctx context.Context, opts Options) []Result {
	var results []Result
	for _, sc := range opts.Scenarios {
		if ctx.Err() != nil {
			break
		}
		logf(opts.Log, "scenario: %d StateBackends on %s, %.0f%% of provider calls failing", sc.N, providerOf(sc), sc.FailRate*100)
		res := runScenario(ctx, opts, sc)
		if res.Error != "" {
			logf(opts.Log, "scenario stopped: %s", res.Error)
		}
		results = append(results, res)
	}
	return results
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

func runScenario(ctx context.Context, opts Options, sc Scenario) (res Result) {
	res = Result{Scenario: sc, Concurrency: opts.Concurrency, DriftSeconds: opts.Drift.Seconds()}
	defer func() {
		if r := recover(); r != nil {
			res.Error = fmt.Sprint(r)
		}
	}()
	if err := scenario(ctx, opts, sc, &res); err != nil {
		res.Error = err.Error()
	}
	return res
}

func scenario(ctx context.Context, opts Options, sc Scenario, res *Result) (retErr error) {
	dir, err := os.MkdirTemp(opts.WorkDir, fmt.Sprintf("bench-%d-", sc.N))
	if err != nil {
		return err
	}
	defer func() {
		// The manager's log is kept when something went wrong.
		if retErr == nil && !res.TimedOut {
			_ = os.RemoveAll(dir)
		}
	}()
	logf(opts.Log, "starting kube-apiserver and etcd (work dir %s)", dir)
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{opts.CRDs},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: opts.Assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("start envtest: %w", err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			logf(opts.Log, "stop envtest: %v", err)
		}
	}()
	// Everything below (the watch, the manager process) ends before the control plane stops.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		return err
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	nss := namespaces(opts.Namespaces)
	stores, stopStores, err := startStores(ctx, sc.Provider, dir, opts.Latency, sc.N)
	if err != nil {
		return err
	}
	defer stopStores()
	if len(stores) > 1 {
		logf(opts.Log, "%d %s accounts, one ClusterStorageProvider each, at most %d backends each", len(stores), sc.Provider, accountCapacity(sc.Provider))
	}
	if err := setupCluster(ctx, k8s, nss, stores); err != nil {
		return err
	}
	start := time.Now()
	if err := createUnrelated(ctx, k8s, nss, opts.Unrelated, opts.Workers); err != nil {
		return err
	}
	logf(opts.Log, "created %d Secrets and %d ConfigMaps not for the operator in %s", opts.Unrelated, opts.Unrelated, since(start))
	if opts.TenantSecrets > 0 {
		start = time.Now()
		if err := createTenantSecrets(ctx, k8s, nss[0], opts.TenantSecrets, opts.TenantSecretBytes, opts.Workers); err != nil {
			return err
		}
		logf(opts.Log, "created %d Secrets of %d bytes labelled managed-by the operator in %s", opts.TenantSecrets, opts.TenantSecretBytes, since(start))
	}

	// Watch Ready before the backends exist, so that no transition is missed.
	w, err := watchReady(ctx, cfg, scheme)
	if err != nil {
		return err
	}

	child, err := startChild(ctx, opts, sc, kubeconfig, dir)
	if err != nil {
		return err
	}
	defer child.stop(opts.Log)
	// The manager's memory and the provider's counts are recorded however the scenario ends.
	defer func() {
		if err := child.finish(res); err != nil && retErr == nil {
			retErr = err
		}
	}()
	first, err := child.waitFirstReconcile(ctx, 2*time.Minute)
	if err != nil {
		return err
	}
	res.StartupSeconds = first.FirstReconcile.Sub(child.started).Seconds()
	if m, err := procMemory(child.cmd.Process.Pid); err == nil {
		res.StartupRSSMiB = mib(m.RSS)
	}
	logf(opts.Log, "manager: first reconcile %.2fs after its start", res.StartupSeconds)
	before, err := child.stats(ctx, true)
	if err != nil {
		return err
	}
	// The counts so far (the provider's health check) are not the backends': they stay in
	// before and are subtracted.
	cpuBefore, cpuErr := readCPU(child.cmd.Process.Pid)
	apiBefore, apiErr := apiServerRequests(ctx, cfg)

	created, createdAll, err := createBackends(ctx, k8s, nss, sc.N, len(stores), opts.Workers)
	if err != nil {
		return err
	}
	firstCreate := created[0].start
	res.CreateSeconds = createdAll.Sub(firstCreate).Seconds()
	logf(opts.Log, "created %d StateBackends in %.2fs", sc.N, res.CreateSeconds)

	allReady := w.wait(ctx, sc.N, opts.Timeout, opts.Log)
	readyAt := w.snapshot()
	res.Ready = len(readyAt)
	var lat []time.Duration
	last := firstCreate
	for _, c := range created {
		if t, ok := readyAt[c.key]; ok {
			lat = append(lat, t.Sub(c.done))
			if t.After(last) {
				last = t
			}
		}
	}
	slices.Sort(lat)
	res.ReadyAllSeconds = last.Sub(firstCreate).Seconds()
	res.P50Seconds, res.P99Seconds = percentile(lat, 0.50).Seconds(), percentile(lat, 0.99).Seconds()
	if len(lat) > 0 {
		res.MaxSeconds = lat[len(lat)-1].Seconds()
	}
	atReady, err := child.stats(ctx, true)
	if err != nil {
		return err
	}
	res.Creating = perBackend(before, atReady, sc.N)
	res.GCCycles = atReady.GCCycles - before.GCCycles
	res.GCPauseSeconds = atReady.GCPauseSeconds - before.GCPauseSeconds
	res.AllocMiB = mib(atReady.AllocBytes - before.AllocBytes)
	if opts.HeapProfileDir != "" {
		path := filepath.Join(opts.HeapProfileDir, fmt.Sprintf("bench-%s-%d.heap.pprof", providerOf(sc), sc.N))
		if err := child.heapProfile(ctx, path); err != nil {
			logf(opts.Log, "heap profile: %v", err)
		} else {
			res.HeapProfile = path
		}
	}
	res.ManagerCreating = diffMetrics(before.Manager, atReady.Manager)
	if cpuAfter, err := readCPU(child.cmd.Process.Pid); err == nil && cpuErr == nil {
		res.CreatingCPU = cpuAfter.since(cpuBefore)
	}
	if apiAfter, err := apiServerRequests(ctx, cfg); err == nil && apiErr == nil {
		// The bench's own requests in the phase: the N creates (its watch is not counted).
		apiAfter["POST statebackends"] -= float64(sc.N)
		res.APIServerCreating = map[string]float64{}
		for k, v := range apiAfter {
			if d := v - apiBefore[k]; d > 0 {
				res.APIServerCreating[k] = d / float64(sc.N)
			}
		}
	} else {
		logf(opts.Log, "API server metrics: %v", errors.Join(apiErr, err))
	}
	if !allReady {
		res.TimedOut = true
		logf(opts.Log, "%d of %d Ready after %s: giving up (no steady-state figures)", res.Ready, sc.N, opts.Timeout)
		return nil
	}
	logf(opts.Log, "all %d Ready %.2fs after the first create (p50 %.2fs, p99 %.2fs)", sc.N, res.ReadyAllSeconds, res.P50Seconds, res.P99Seconds)

	if opts.Steady > 0 {
		logf(opts.Log, "steady state: counting provider calls for %s (drift interval %s)", opts.Steady, opts.Drift)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(opts.Steady):
		}
		end, err := child.stats(ctx, true)
		if err != nil {
			return err
		}
		intervals := opts.Steady.Seconds() / opts.Drift.Seconds()
		steady := perBackend(atReady, end, sc.N)
		res.Steady = steady.scale(1 / intervals)
		res.SteadySeconds = opts.Steady.Seconds()
		res.SteadyPerHour = res.Steady.scale(time.Hour.Seconds() / opts.Drift.Seconds())
		res.SteadyPerHourAtDefault = res.Steady.scale(6)
		res.ManagerSteady = diffMetrics(atReady.Manager, end.Manager)
	}
	return nil
}

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func namespaces(n int) []string {
	out := make([]string, max(n, 1))
	for i := range out {
		out[i] = fmt.Sprintf("bench-%d", i)
	}
	return out
}

// setupCluster creates the namespaces and, for each store, a provider and its credentials Secret.
func setupCluster(ctx context.Context, k8s client.Client, nss []string, stores []store) error {
	for _, ns := range append([]string{operatorNamespace}, nss...) {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	for i, st := range stores {
		if err := k8s.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: accountName(credentialsSecret, i), Namespace: operatorNamespace},
			StringData: st.credentials,
		}); err != nil {
			return fmt.Errorf("provider credentials Secret: %w", err)
		}
		spec := *st.spec.DeepCopy()
		spec.CredentialsSecretRef = &v1alpha1.SecretReference{Namespace: operatorNamespace, Name: accountName(credentialsSecret, i)}
		if err := k8s.Create(ctx, &v1alpha1.ClusterStorageProvider{ObjectMeta: metav1.ObjectMeta{Name: accountName(providerName, i)}, Spec: spec}); err != nil {
			return fmt.Errorf("ClusterStorageProvider: %w", err)
		}
	}
	return nil
}

// accountName names the object of the i-th account: base for the first, base-i for the others.
func accountName(base string, i int) string {
	if i == 0 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, i)
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// createUnrelated creates n Secrets and n ConfigMaps of about 1 KiB each, none for the operator.
func createUnrelated(ctx context.Context, k8s client.Client, nss []string, n, workers int) error {
	payload := strings.Repeat("x", 1024)
	return parallel(ctx, 2*n, workers, func(ctx context.Context, i int) error {
		meta := metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%d", i/2), Namespace: nss[i%len(nss)],
			Labels: map[string]string{"app": "unrelated"}}
		var obj client.Object
		if i%2 == 0 {
			obj = &corev1.Secret{ObjectMeta: meta, StringData: map[string]string{"payload": payload}}
		} else {
			obj = &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"payload": payload}}
		}
		if err := k8s.Create(ctx, obj); err != nil {
			return fmt.Errorf("unrelated object %d: %w", i, err)
		}
		return nil
	})
}

// createTenantSecrets creates n Secrets of size bytes in ns that carry the label the operator's
// own Secrets carry, as a tenant may.
func createTenantSecrets(ctx context.Context, k8s client.Client, ns string, n, size, workers int) error {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	return parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		obj := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tenant-labelled-%d", i), Namespace: ns,
				Labels: map[string]string{controllers.LabelManagedBy: controllers.ManagedByValue}},
			Data: map[string][]byte{"payload": payload},
		}
		if err := k8s.Create(ctx, obj); err != nil {
			return fmt.Errorf("tenant Secret %d: %w", i, err)
		}
		return nil
	})
}

type createdBackend struct {
	key         client.ObjectKey
	start, done time.Time
}

// createBackends creates n StateBackends as fast as workers allow, taking the accounts' providers
// in turn; created is in index order.
func createBackends(ctx context.Context, k8s client.Client, nss []string, n, accounts, workers int) (created []createdBackend, all time.Time, err error) {
	created = make([]createdBackend, n)
	err = parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		sb := &v1alpha1.StateBackend{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sb-%d", i), Namespace: nss[i%len(nss)]},
			Spec: v1alpha1.StateBackendSpec{
				ProviderRef: v1alpha1.ProviderReference{Kind: v1alpha1.ClusterStorageProviderKind, Name: accountName(providerName, i%max(accounts, 1))},
				Key:         "terraform.tfstate",
			},
		}
		start := time.Now()
		if err := k8s.Create(ctx, sb); err != nil {
			return fmt.Errorf("StateBackend %d: %w", i, err)
		}
		created[i] = createdBackend{key: client.ObjectKeyFromObject(sb), start: start, done: time.Now()}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	all = time.Now()
	slices.SortFunc(created, func(a, b createdBackend) int { return a.start.Compare(b.start) })
	return created, all, nil
}

// readyWatcher records when each StateBackend was first seen Ready.
type readyWatcher struct {
	mu    sync.Mutex
	ready map[client.ObjectKey]time.Time
}

func watchReady(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) (*readyWatcher, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	inf, err := c.GetInformer(ctx, &v1alpha1.StateBackend{})
	if err != nil {
		return nil, err
	}
	w := &readyWatcher{ready: map[client.ObjectKey]time.Time{}}
	see := func(obj any) {
		now := time.Now()
		sb, ok := obj.(*v1alpha1.StateBackend)
		if !ok || !meta.IsStatusConditionTrue(sb.Status.Conditions, v1alpha1.ConditionReady) {
			return
		}
		key := client.ObjectKeyFromObject(sb)
		w.mu.Lock()
		if _, seen := w.ready[key]; !seen {
			w.ready[key] = now
		}
		w.mu.Unlock()
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    see,
		UpdateFunc: func(_, obj any) { see(obj) },
	}); err != nil {
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, errors.New("the bench's StateBackend watch did not sync")
	}
	return w, nil
}

func (w *readyWatcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ready)
}

func (w *readyWatcher) snapshot() map[client.ObjectKey]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[client.ObjectKey]time.Time, len(w.ready))
	for k, v := range w.ready {
		out[k] = v
	}
	return out
}

// wait returns true once n backends are Ready, false at the timeout; it logs progress.
func (w *readyWatcher) wait(ctx context.Context, n int, timeout time.Duration, log io.Writer) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastLog := time.Now()
	for {
		c := w.count()
		if c >= n {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		if time.Since(lastLog) >= 10*time.Second {
			logf(log, "%d of %d Ready", c, n)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// childProcess is the manager process.
type childProcess struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	url      string
	started  time.Time
	done     chan struct{}
	waitErr  error
	logPath  string
	httpc    *http.Client
	stopOnce sync.Once
	peakAnon atomic.Uint64
}

func startChild(ctx context.Context, opts Options, sc Scenario, kubeconfig, dir string) (*childProcess, error) {
	cfg := managerproc.ChildConfig{
		Emulator: managerproc.EmulatorConfig{
			Latency: opts.Latency, RateCount: opts.RateCount, RatePer: opts.RatePer, FailRate: sc.FailRate,
		},
		Concurrency:       opts.Concurrency,
		DriftInterval:     opts.Drift,
		RetryInterval:     opts.Retry,
		OperatorNamespace: operatorNamespace,
		RealProviders:     providerOf(sc) != ProviderEmulated,
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(opts.Manager.Path, "-config", string(raw))
	cmd.Env = append(append(os.Environ(), opts.Env...), "KUBECONFIG="+kubeconfig)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	c := &childProcess{cmd: cmd, stdin: stdin, done: make(chan struct{}), logPath: logPath,
		httpc: &http.Client{Timeout: 30 * time.Second}}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start the manager process: %w", err)
	}
	go func() {
		c.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(c.done)
	}()
	go c.sampleAnon(100 * time.Millisecond)
	r := bufio.NewReader(stdout)
	url, err := readStatsLine(r)
	if err != nil {
		c.stop(nil)
		return nil, fmt.Errorf("%w (manager log: %s)", err, logPath)
	}
	c.url = url
	go func() { _, _ = io.Copy(io.Discard, r) }()
	return c, nil
}

// stats reads the child's stats; manager asks for its metrics digest too.
func (c *childProcess) stats(ctx context.Context, manager bool) (managerproc.ChildStats, error) {
	url := c.url + "/stats"
	if manager {
		url += "?manager=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return managerproc.ChildStats{}, err
	}
	resp, err := c.httpc.Do(req)
	if err != nil {
		return managerproc.ChildStats{}, fmt.Errorf("manager stats: %w (manager log: %s)", err, c.logPath)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return managerproc.ChildStats{}, fmt.Errorf("manager stats: %s: %s", resp.Status, b)
	}
	var s managerproc.ChildStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return managerproc.ChildStats{}, fmt.Errorf("manager stats: %w", err)
	}
	return s, nil
}

func (c *childProcess) waitFirstReconcile(ctx context.Context, timeout time.Duration) (managerproc.ChildStats, error) {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-c.done:
			return managerproc.ChildStats{}, fmt.Errorf("the manager exited before its first reconcile: %v (log: %s)", c.waitErr, c.logPath)
		default:
		}
		s, err := c.stats(ctx, false)
		if err == nil && !s.FirstReconcile.IsZero() {
			return s, nil
		}
		if time.Now().After(deadline) {
			return managerproc.ChildStats{}, fmt.Errorf("no reconcile within %s of the manager's start (last error %v, log: %s)", timeout, err, c.logPath)
		}
		select {
		case <-ctx.Done():
			return managerproc.ChildStats{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// heapProfile saves the manager's heap profile to path.
func (c *childProcess) heapProfile(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/debug/pprof/heap", nil)
	if err != nil {
		return err
	}
	resp, err := c.httpc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("manager heap profile: %s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// finish records the child's memory and final provider counts.
func (c *childProcess) finish(res *Result) error {
	// Its own context: the scenario's may have ended (interrupt).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.stats(ctx, false)
	if err != nil {
		return err
	}
	res.Provider = s.Emulator
	res.PeakHeapMiB = mib(s.PeakHeapBytes)
	m, err := procMemory(c.cmd.Process.Pid)
	if err != nil {
		return err
	}
	res.PeakRSSMiB, res.RSSMiB, res.FileMiB = mib(m.HWM), mib(m.RSS), mib(m.File)
	res.PeakAnonMiB = mib(max(c.peakAnon.Load(), m.Anon))
	return nil
}

// sampleAnon keeps the highest anonymous RSS of the child until it exits.
func (c *childProcess) sampleAnon(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if m, err := procMemory(c.cmd.Process.Pid); err == nil {
			for {
				old := c.peakAnon.Load()
				if m.Anon <= old || c.peakAnon.CompareAndSwap(old, m.Anon) {
					break
				}
			}
		}
		select {
		case <-c.done:
			return
		case <-t.C:
		}
	}
}

// stop closes the child's stdin (it stops its manager and exits) and kills it if it lingers.
func (c *childProcess) stop(log io.Writer) {
	c.stopOnce.Do(func() {
		_ = c.stdin.Close()
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			logf(log, "the manager process did not stop: killing it")
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// procMem is a process's resident memory in bytes (/proc/<pid>/status).
type procMem struct{ HWM, RSS, Anon, File uint64 }

// procMemory reads a process's resident memory (Linux).
func procMemory(pid int) (procMem, error) {
	var m procMem
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, fmt.Errorf("manager memory: %w", err)
	}
	fields := map[string]*uint64{"VmHWM": &m.HWM, "VmRSS": &m.RSS, "RssAnon": &m.Anon, "RssFile": &m.File}
	for _, line := range strings.Split(string(raw), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if f := fields[name]; ok && f != nil {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
			if err != nil {
				return m, fmt.Errorf("manager memory: %s: %w", line, err)
			}
			*f = kb << 10
		}
	}
	return m, nil
}

// apiServerRequests reads the API server's apiserver_request_total, summed by "VERB
// resource[/subresource]", watches left out.
func apiServerRequests(ctx context.Context, cfg *rest.Config) (map[string]float64, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("API server metrics: %w", err)
	}
	out := map[string]float64{}
	const name = "apiserver_request_total{"
	for _, line := range strings.Split(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		labelText, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(labelText, ",") {
			if k, val, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(val, `"`)
			}
		}
		if labels["verb"] == "WATCH" {
			continue
		}
		key := labels["verb"] + " " + labels["resource"]
		if sub := labels["subresource"]; sub != "" {
			key += "/" + sub
		}
		out[key] += v
	}
	return out, nil
}

// readStatsLine reads the child's first line of output: its stats endpoint.
func readStatsLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("child's stats address: %w", err)
	}
	var url string
	if _, err := fmt.Sscanf(line, "stats %s", &url); err != nil {
		return "", fmt.Errorf("child's first line %q: %w", line, err)
	}
	if url == "" {
		return "", errors.New("child gave no stats address")
	}
	return url, nil
}
