// Command manager runs the tfstate-operator: it reconciles StateBackends into a bucket, a credential
// scoped to it, and a Secret a Terraform runner consumes with envFrom.
package main

import (
	"context"
	"flag"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/controllers"
	"github.com/tfstate-operator/tfstate-operator/internal/metrics"
	"github.com/tfstate-operator/tfstate-operator/internal/probe"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
)

// Leader election: a Lease in the operator's namespace (client-go reads, creates and renews it) and the
// core Event it records on becoming leader. `make manifests` puts these in a namespaced Role; the
// chart moves it to the release namespace.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update,namespace=tfstate-system
// +kubebuilder:rbac:groups="",resources=events,verbs=create,namespace=tfstate-system

func main() {
	var (
		metricsAddr, probeAddr, leaderElectionNamespace  string
		watchNamespaces, operatorNamespace               string
		leaderElect                                      bool
		concurrency                                      int
		retryInterval, driftInterval, propagationTimeout time.Duration
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the metrics endpoint; \"0\" disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles at a time.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election lease (default: the pod's namespace).")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces whose StateBackends, StorageProviders, Secrets and ConfigMaps are watched (default: all). ClusterStorageProviders are always watched.")
	flag.StringVar(&operatorNamespace, "operator-namespace", os.Getenv("POD_NAMESPACE"), "The operator's namespace: ClusterStorageProviders' credentials Secrets are read from it and no other (default: $POD_NAMESPACE; empty: not enforced).")
	flag.IntVar(&concurrency, "max-concurrent-reconciles", 4, "StateBackends reconciled in parallel.")
	flag.DurationVar(&retryInterval, "retry-interval", 30*time.Second, "How soon a backend waiting on something outside the cluster is looked at again.")
	flag.DurationVar(&driftInterval, "drift-interval", 10*time.Minute, "How often a Ready backend is checked against its provider.")
	flag.DurationVar(&propagationTimeout, "propagation-timeout", 3*time.Minute, "How long a new credential the store does not accept yet is waited for before it is reported as an error.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	if err := run(ctrl.SetupSignalHandler(), config{
		metricsAddr: metricsAddr, probeAddr: probeAddr, leaderElect: leaderElect,
		leaderElectionNamespace: leaderElectionNamespace, concurrency: concurrency,
		watchNamespaces: splitList(watchNamespaces), operatorNamespace: operatorNamespace,
		retryInterval: retryInterval, driftInterval: driftInterval, propagationTimeout: propagationTimeout,
	}); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

type config struct {
	metricsAddr, probeAddr, leaderElectionNamespace  string
	watchNamespaces                                  []string
	operatorNamespace                                string
	leaderElect                                      bool
	concurrency                                      int
	retryInterval, driftInterval, propagationTimeout time.Duration
}

func run(ctx context.Context, cfg config) error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	managed := labels.SelectorFromSet(labels.Set{controllers.LabelManagedBy: controllers.ManagedByValue})
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: cfg.metricsAddr},
		HealthProbeBindAddress:  cfg.probeAddr,
		LeaderElection:          cfg.leaderElect,
		LeaderElectionID:        "tfstate-operator.tfstate.dev",
		LeaderElectionNamespace: cfg.leaderElectionNamespace,
		Cache: cache.Options{
			// Only the Secrets and ConfigMaps the operator writes are cached: a cluster's other
			// Secrets never enter the manager's memory.
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Secret{}:    {Label: managed},
				&corev1.ConfigMap{}: {Label: managed},
			},
			DefaultTransform:  cache.TransformStripManagedFields(),
			DefaultNamespaces: namespaces(cfg.watchNamespaces),
		},
	})
	if err != nil {
		return err
	}
	// One factory for every controller: it holds what the reconciles of one provider account share
	// (Cloudflare's request limiter).
	// The operator's own metrics, served beside controller-runtime's; the StateBackend gauges read
	// the manager's cache at scrape time.
	m := metrics.New(mgr.GetCache())
	ctrlmetrics.Registry.MustRegister(m.Collectors()...)
	factory := providers.NewFactory()
	factory.Metrics = m
	r := &controllers.StateBackendReconciler{
		Client:             mgr.GetClient(),
		APIReader:          mgr.GetAPIReader(),
		Scheme:             mgr.GetScheme(),
		Recorder:           mgr.GetEventRecorder("tfstate-operator"),
		NewClient:          factory.New,
		Prober:             probe.New(),
		RetryInterval:      cfg.retryInterval,
		DriftInterval:      cfg.driftInterval,
		PropagationTimeout: cfg.propagationTimeout,
		OperatorNamespace:  cfg.operatorNamespace,
	}
	if err := r.SetupWithManager(ctx, mgr, cfg.concurrency); err != nil {
		return err
	}
	if err := (&controllers.StorageProviderReconciler{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		NewClient:         factory.New,
		Release:           factory.Release,
		RetryInterval:     cfg.retryInterval,
		CheckInterval:     cfg.driftInterval,
		OperatorNamespace: cfg.operatorNamespace,
	}).SetupWithManager(mgr); err != nil {
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

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
