// Package manager assembles the operator: the controller-runtime manager with its label-selected
// cache, the controllers, the provider factory and the metrics. main runs it against the cluster;
// the benchmark (hack/bench) runs the very same assembly against an emulated provider.
package manager

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/controllers"
	"github.com/tfstate-operator/tfstate-operator/internal/clusterid"
	"github.com/tfstate-operator/tfstate-operator/internal/metrics"
	"github.com/tfstate-operator/tfstate-operator/internal/minioadmin"
	"github.com/tfstate-operator/tfstate-operator/internal/ownership"
	"github.com/tfstate-operator/tfstate-operator/internal/probe"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
)

// Config is the operator's configuration: main's flags.
type Config struct {
	MetricsAddr, ProbeAddr, LeaderElectionNamespace string
	// WatchNamespaces limits the namespaced kinds watched (nil: all).
	WatchNamespaces []string
	// OperatorNamespace is where ClusterStorageProviders' credentials Secrets must live, and where
	// the cluster's ownership key Secret is kept (internal/ownership). Required.
	OperatorNamespace string
	// ClusterID overrides the cluster's identity (default: the kube-system namespace's UID; see
	// internal/clusterid). A restored or migrated cluster sets the identity of the one it replaces.
	ClusterID   string
	LeaderElect bool
	// Concurrency is the number of StateBackends reconciled in parallel.
	Concurrency                                      int
	RetryInterval, DriftInterval, PropagationTimeout time.Duration

	// NewClient replaces the provider factory (the benchmark's emulated provider); nil: the real
	// providers.
	NewClient controllers.ClientFactory
	// Prober replaces the S3 prober (the benchmark); nil: probe.New().
	Prober provider.Prober

	// MemoryLimit is the container's memory limit in bytes (0: unknown; main reads it from
	// TFSTATE_MEMORY_LIMIT, which the chart sets from the pod's resources). It sets the Go memory
	// limit (unless GOMEMLIMIT does) and sizes the MinIO admin client's memory-hard key
	// derivations.
	MemoryLimit uint64
	// OnNewClient, when set, is called before each provider client is built (the benchmark's
	// start-up figure); it does not replace the factory.
	OnNewClient func()

	// AllowLocalEndpoints lets namespaced StorageProviders name loopback and link-local endpoints
	// (--allow-local-endpoints). Off (the default), the operator never dials them for a tenant.
	AllowLocalEndpoints bool

	// OrphanSweep revokes this cluster's credentials that no StateBackend records
	// (--orphan-sweep-interval, --orphan-sweep-min-age); a zero Interval turns it off.
	OrphanSweep controllers.OrphanSweepConfig
}

// Run builds the manager for the cluster at restConfig and runs it until ctx ends.
func Run(ctx context.Context, restConfig *rest.Config, cfg Config) error {
	applyMemoryLimit(cfg.MemoryLimit, os.Getenv("GOMEMLIMIT") != "")
	applyGCPercent(os.Getenv("GOGC") != "")
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: cfg.MetricsAddr},
		HealthProbeBindAddress:  cfg.ProbeAddr,
		LeaderElection:          cfg.LeaderElect,
		LeaderElectionID:        "tfstate-operator.tfstate.dev",
		LeaderElectionNamespace: cfg.LeaderElectionNamespace,
		Cache: cache.Options{
			// Only the metadata of the Secrets and ConfigMaps labelled as the operator's is cached:
			// a cluster's other Secrets never enter the manager's memory, and a tenant labelling its
			// own Secrets as ours adds only their trimmed metadata.
			ByObject:          controllers.CacheByObject(),
			DefaultTransform:  cache.TransformStripManagedFields(),
			DefaultNamespaces: namespaces(cfg.WatchNamespaces),
		},
		// Their contents are read from the API server when needed, never through an informer.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: controllers.UncachedObjects()}},
	})
	if err != nil {
		return err
	}
	clusterID, err := clusterid.Resolve(ctx, mgr.GetAPIReader(), cfg.ClusterID)
	if err != nil {
		return err
	}
	// The ownership key seals every bucket's marker; without it no marker could be trusted. It is
	// read (or made) before any reconciler starts, through the API reader: the cache holds only the
	// metadata of Secrets and has not started yet.
	key, err := ownership.Ensure(ctx, mgr.GetAPIReader(), mgr.GetClient(), cfg.OperatorNamespace)
	if err != nil {
		return fmt.Errorf("ownership key: %w", err)
	}
	// The operator's own metrics, served beside controller-runtime's; the StateBackend gauges read
	// the manager's cache at scrape time.
	m := metrics.New(mgr.GetCache())
	ctrlmetrics.Registry.MustRegister(m.Collectors()...)
	// One factory for every controller: it holds what the reconciles of one provider account share
	// (Cloudflare's and DigitalOcean's request limiters).
	factory := providers.NewFactory()
	factory.Metrics = m
	factory.MinIOKeyDerivations = minioadmin.KeyDerivationsFor(cfg.MemoryLimit)
	factory.PropagationTimeout = cfg.PropagationTimeout
	newClient, release := controllers.ClientFactory(factory.New), factory.Release
	if cfg.OnNewClient != nil {
		newClient = func(ctx context.Context, src providers.Source, p provider.Placement) (provider.Client, error) {
			cfg.OnNewClient()
			return factory.New(ctx, src, p)
		}
	}
	if cfg.NewClient != nil {
		newClient = cfg.NewClient
		release = func(context.Context, providers.Source) error { return nil }
	}
	prober := cfg.Prober
	if prober == nil {
		prober = probe.New()
	}
	r := &controllers.StateBackendReconciler{
		Client:             mgr.GetClient(),
		APIReader:          mgr.GetAPIReader(),
		Scheme:             mgr.GetScheme(),
		Recorder:           mgr.GetEventRecorder("tfstate-operator"),
		NewClient:          newClient,
		Prober:             prober,
		RetryInterval:      cfg.RetryInterval,
		DriftInterval:      cfg.DriftInterval,
		PropagationTimeout: cfg.PropagationTimeout,
		OperatorNamespace:  cfg.OperatorNamespace,
		ClusterID:          clusterID,
		Ownership:          key,
	}
	r.AllowLocalEndpoints = cfg.AllowLocalEndpoints
	if err := r.SetupWithManager(ctx, mgr, cfg.Concurrency); err != nil {
		return err
	}
	sp := &controllers.StorageProviderReconciler{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		NewClient:         newClient,
		Release:           release,
		RetryInterval:     cfg.RetryInterval,
		CheckInterval:     cfg.DriftInterval,
		OperatorNamespace: cfg.OperatorNamespace,
		ClusterID:         clusterID,
		OrphanSweep:       cfg.OrphanSweep,
		Recorder:          mgr.GetEventRecorder("tfstate-operator"),
		Metrics:           m,
	}
	sp.AllowLocalEndpoints = cfg.AllowLocalEndpoints
	if err := sp.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// MemoryLimitEnv is the environment variable the chart (and config/manager) sets to the manager
// container's memory limit in bytes (a resourceFieldRef of limits.memory).
const MemoryLimitEnv = "TFSTATE_MEMORY_LIMIT"

// MemoryLimitFromEnv reads MemoryLimitEnv: 0 when it is unset.
func MemoryLimitFromEnv(getenv func(string) string) (uint64, error) {
	v := strings.TrimSpace(getenv(MemoryLimitEnv))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want the memory limit in bytes: %w", MemoryLimitEnv, v, err)
	}
	return n, nil
}

// goMemoryLimit is the Go runtime's soft memory limit for a container limit: 90 % of it, so that
// the collector works harder before the kernel's OOM killer would (0: none).
func goMemoryLimit(containerLimit uint64) int64 {
	return int64(containerLimit / 10 * 9)
}

// applyMemoryLimit sets the Go memory limit from the container's, unless GOMEMLIMIT was given
// (explicit) or the limit is unknown.
func applyMemoryLimit(containerLimit uint64, explicit bool) {
	if explicit || containerLimit == 0 {
		return
	}
	debug.SetMemoryLimit(goMemoryLimit(containerLimit))
}

// GCPercent is the manager's Go GC target (GOGC) unless GOGC is set: the heap may grow to 1.5 times
// what is live between collections, not twice. The manager's live heap is small and its
// allocation rate low, so collecting twice as often costs little: with 1,000 backends and 20,000
// unrelated objects it took the bench's steady RSS from 69 to 62 MiB, 101 collections instead of 46
// while creating them and 0.09 s of pauses instead of 0.04 s in all (README, Memory).
const GCPercent = 50

// applyGCPercent sets GCPercent, unless GOGC was given (explicit).
func applyGCPercent(explicit bool) {
	if explicit {
		return
	}
	debug.SetGCPercent(GCPercent)
}

// namespaces is the cache's DefaultNamespaces for --watch-namespaces: nil (every namespace) when
// none are named. Cluster-scoped kinds are not affected.
func namespaces(names []string) map[string]cache.Config {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]cache.Config, len(names))
	for _, n := range names {
		m[n] = cache.Config{}
	}
	return m
}
