// Package managerproc is the manager process of the benchmark (hack/bench/manager): the manager
// (internal/manager, the same assembly as main) against an Emulator, a provider account with
// latency, a server-side rate limit and injected faults, or against the real provider clients
// (RealProviders: the parent points the ClusterStorageProvider at a real MinIO), with a stats
// endpoint for the parent (internal/bench). It must not import envtest or the harness: its binary
// is built like bin/manager so that the memory measured is that of a production-like binary.
package managerproc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tfstate-operator/tfstate-operator/controllers"
	"github.com/tfstate-operator/tfstate-operator/internal/manager"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
	"github.com/tfstate-operator/tfstate-operator/internal/ratelimit"
)

// ChildConfig is what the parent hands the manager process (as JSON in its -config flag).
type ChildConfig struct {
	Emulator          EmulatorConfig `json:"emulator"`
	Concurrency       int            `json:"concurrency"`
	DriftInterval     time.Duration  `json:"driftInterval"`
	RetryInterval     time.Duration  `json:"retryInterval"`
	OperatorNamespace string         `json:"operatorNamespace"`
	// RealProviders runs the operator's real provider factory and prober instead of the
	// Emulator: what users run, against whatever store the provider objects name.
	RealProviders bool `json:"realProviders"`
}

// ChildStats is what the child's stats endpoint answers.
type ChildStats struct {
	Emulator Stats `json:"emulator"`
	// HeapBytes and PeakHeapBytes are the Go heap's live and unswept objects, now and at the
	// highest of the samples taken every 100 ms.
	HeapBytes     uint64 `json:"heapBytes"`
	PeakHeapBytes uint64 `json:"peakHeapBytes"`
	// FirstReconcile is when a reconcile first asked for a provider client (zero: not yet).
	FirstReconcile time.Time `json:"firstReconcile"`
	// GCCycles, GCPauseSeconds and AllocBytes are the Go runtime's totals since the start:
	// completed collections, time the program was paused for them, bytes allocated.
	GCCycles       uint32  `json:"gcCycles"`
	GCPauseSeconds float64 `json:"gcPauseSeconds"`
	AllocBytes     uint64  `json:"allocBytes"`
	// Manager is a digest of the manager's own metrics (only when asked: gathering costs).
	Manager *ManagerMetrics `json:"manager,omitempty"`
}

// ManagerMetrics digests controller-runtime's metrics: where the manager's time and API calls go.
type ManagerMetrics struct {
	// APIRequests counts requests to the API server by HTTP method.
	APIRequests map[string]float64 `json:"apiRequests"`
	// Reconciles counts reconciles by "controller/result".
	Reconciles map[string]float64 `json:"reconciles"`
	// ReconcileSeconds is the time spent in reconciles, by controller.
	ReconcileSeconds map[string]float64 `json:"reconcileSeconds"`
	// ProviderCalls and ProviderFailed count the provider calls of the operator's real clients
	// by operation (tfstate_operator_provider_calls_total: all, and those that did not succeed);
	// empty against the Emulator, which counts its own.
	ProviderCalls  map[string]float64 `json:"providerCalls,omitempty"`
	ProviderFailed map[string]float64 `json:"providerFailed,omitempty"`
}

// RunChild runs the manager against an emulated provider until ctx ends or stdin closes (the
// parent went away). It first writes "stats http://<addr>" to out, the endpoint the parent reads.
func RunChild(ctx context.Context, cfg ChildConfig, stdin io.Reader, out io.Writer) error {
	// Error level only: reconcile errors are expected with injected faults, and the parent keeps
	// this process's stderr in a file.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()

	// As main does: KUBECONFIG (set by the parent), client-side throttling left to the API server.
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}

	emu := NewEmulator(memory.New(memory.DefaultSettings()), cfg.Emulator)
	var client provider.Client = emu
	if cfg.Emulator.RateCount > 0 {
		// The operator's own limiter, one per provider account, in front of the provider's.
		client = ratelimit.Client(emu, ratelimit.New(cfg.Emulator.RateCount, cfg.Emulator.RatePer))
	}
	var (
		mu             sync.Mutex
		firstReconcile time.Time
	)
	markFirst := func() {
		mu.Lock()
		if firstReconcile.IsZero() {
			firstReconcile = time.Now()
		}
		mu.Unlock()
	}
	var (
		newClient controllers.ClientFactory = func(context.Context, providers.Source, provider.Placement) (provider.Client, error) {
			markFirst()
			return client, nil
		}
		prober provider.Prober = emu.Prober()
	)
	if cfg.RealProviders {
		// The manager's own factory and prober, as main runs them.
		newClient, prober = nil, nil
	}
	memoryLimit, err := manager.MemoryLimitFromEnv(os.Getenv)
	if err != nil {
		return err
	}

	heap := &heapSampler{}
	go heap.run(ctx, 100*time.Millisecond)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("stats listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		cur, peak := heap.get()
		mu.Lock()
		s := ChildStats{Emulator: emu.Stats(), HeapBytes: cur, PeakHeapBytes: peak, FirstReconcile: firstReconcile}
		mu.Unlock()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.GCCycles, s.GCPauseSeconds, s.AllocBytes = ms.NumGC, float64(ms.PauseTotalNs)/1e9, ms.TotalAlloc
		if r.URL.Query().Get("manager") != "" {
			m, err := gatherManagerMetrics()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			s.Manager = m
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	})
	// The heap profile (alloc_space shows where the bytes were allocated) for the parent to keep.
	mux.Handle("/debug/pprof/heap", pprof.Handler("heap"))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	if _, err := fmt.Fprintf(out, "stats http://%s\n", ln.Addr()); err != nil {
		return err
	}

	return manager.Run(ctx, restConfig, manager.Config{
		// The metrics server runs as in production (on loopback); the parent reads the same
		// registry through the stats endpoint.
		MetricsAddr:       "127.0.0.1:0",
		ProbeAddr:         "0",
		OperatorNamespace: cfg.OperatorNamespace,
		Concurrency:       cfg.Concurrency,
		RetryInterval:     cfg.RetryInterval,
		DriftInterval:     cfg.DriftInterval,
		NewClient:         newClient,
		Prober:            prober,
		OnNewClient:       markFirst,
		MemoryLimit:       memoryLimit,
	})
}

// heapSampler keeps the highest Go heap size seen.
type heapSampler struct {
	mu        sync.Mutex
	cur, peak uint64
}

func (h *heapSampler) run(ctx context.Context, every time.Duration) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			v := sample[0].Value.Uint64()
			h.mu.Lock()
			h.cur, h.peak = v, max(h.peak, v)
			h.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *heapSampler) get() (cur, peak uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur, h.peak
}

// gatherManagerMetrics reads controller-runtime's registry, which manager.Run serves.
func gatherManagerMetrics() (*ManagerMetrics, error) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	m := &ManagerMetrics{APIRequests: map[string]float64{}, Reconciles: map[string]float64{}, ReconcileSeconds: map[string]float64{},
		ProviderCalls: map[string]float64{}, ProviderFailed: map[string]float64{}}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetName() {
			case "rest_client_requests_total":
				m.APIRequests[labels["method"]] += s.GetCounter().GetValue()
			case "controller_runtime_reconcile_total":
				m.Reconciles[labels["controller"]+"/"+labels["result"]] += s.GetCounter().GetValue()
			case "controller_runtime_reconcile_time_seconds":
				m.ReconcileSeconds[labels["controller"]] += s.GetHistogram().GetSampleSum()
			case "tfstate_operator_provider_calls_total":
				m.ProviderCalls[labels["operation"]] += s.GetCounter().GetValue()
				if labels["result"] != "success" {
					m.ProviderFailed[labels["operation"]] += s.GetCounter().GetValue()
				}
			}
		}
	}
	return m, nil
}
