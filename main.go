// Command manager runs the tfstate-operator: it reconciles StateBackends into a bucket, a credential
// scoped to it, and a Secret a Terraform runner consumes with envFrom.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tfstate-operator/tfstate-operator/controllers"
	"github.com/tfstate-operator/tfstate-operator/internal/manager"
)

// Leader election: a Lease in the operator's namespace (client-go reads, creates and renews it) and the
// core Event it records on becoming leader. `make manifests` puts these in a namespaced Role; the
// chart moves it to the release namespace.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update,namespace=tfstate-system
// +kubebuilder:rbac:groups="",resources=events,verbs=create,namespace=tfstate-system

func main() {
	var (
		metricsAddr, probeAddr, leaderElectionNamespace  string
		watchNamespaces, operatorNamespace, clusterID    string
		leaderElect, allowLocalEndpoints                 bool
		concurrency                                      int
		retryInterval, driftInterval, propagationTimeout time.Duration
		orphanSweepInterval, orphanSweepMinAge           time.Duration
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the metrics endpoint; \"0\" disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles at a time.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election lease (default: the pod's namespace).")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces whose StateBackends, StorageProviders, Secrets and ConfigMaps are watched (default: all). ClusterStorageProviders are always watched.")
	flag.StringVar(&operatorNamespace, "operator-namespace", os.Getenv("POD_NAMESPACE"), "The operator's namespace (required): ClusterStorageProviders' credentials Secrets are read from it and no other, and the cluster's ownership key Secret (tfstate-operator-ownership-key) is kept in it (default: $POD_NAMESPACE).")
	flag.StringVar(&clusterID, "cluster-id", "", "This cluster's identity, written into bucket ownership markers and credential names (default: the UID of the kube-system namespace). A restored or migrated cluster passes the identity of the cluster it replaces to take its buckets back.")
	flag.BoolVar(&allowLocalEndpoints, "allow-local-endpoints", false, "Let namespaced StorageProviders name endpoints on loopback or link-local addresses (127.0.0.0/8, ::1, 169.254.0.0/16, fe80::/10, the cloud metadata services). Off, the operator refuses to dial them for a tenant's provider (reason EndpointRefused); ClusterStorageProviders are never refused. Only for development clusters whose stores run on the node.")
	flag.IntVar(&concurrency, "max-concurrent-reconciles", 16, "StateBackends reconciled in parallel; workers waiting on a provider's rate limiter cost only a goroutine.")
	flag.DurationVar(&retryInterval, "retry-interval", 30*time.Second, "How soon a backend waiting on something outside the cluster is looked at again.")
	flag.DurationVar(&driftInterval, "drift-interval", 10*time.Minute, "How often a Ready backend is checked against its provider.")
	flag.DurationVar(&propagationTimeout, "propagation-timeout", 3*time.Minute, "How long a new credential the store does not accept yet is waited for before it is reported as an error.")
	flag.DurationVar(&orphanSweepInterval, "orphan-sweep-interval", time.Hour, "How often each provider's account is swept for credentials of this cluster that no StateBackend records (a StateBackend deleted with its finalizer removed), which are then revoked; 0 turns the sweep off. Each provider is also swept with its first health check after the operator starts. Off by default with --watch-namespaces (the sweep would not see the StateBackends of other namespaces).")
	flag.DurationVar(&orphanSweepMinAge, "orphan-sweep-min-age", time.Hour, "How old (by the issue time in its name) an unrecorded credential must be before the orphan sweep revokes it; at least 5m.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	intervalSet := false
	flag.Visit(func(f *flag.Flag) { intervalSet = intervalSet || f.Name == "orphan-sweep-interval" })
	sweep, why, err := orphanSweep(orphanSweepInterval, orphanSweepMinAge, intervalSet, splitList(watchNamespaces))
	if err != nil {
		log.Error(err, "orphan sweep")
		os.Exit(1)
	}
	if why != "" {
		log.Info(why)
	}
	memoryLimit, err := manager.MemoryLimitFromEnv(os.Getenv)
	if err != nil {
		log.Error(err, "memory limit")
		os.Exit(1)
	}
	if err := manager.Run(ctrl.SetupSignalHandler(), ctrl.GetConfigOrDie(), manager.Config{
		MemoryLimit: memoryLimit,
		MetricsAddr: metricsAddr, ProbeAddr: probeAddr, LeaderElect: leaderElect,
		LeaderElectionNamespace: leaderElectionNamespace, Concurrency: concurrency,
		WatchNamespaces: splitList(watchNamespaces), OperatorNamespace: operatorNamespace,
		ClusterID: clusterID, AllowLocalEndpoints: allowLocalEndpoints,
		RetryInterval: retryInterval, DriftInterval: driftInterval, PropagationTimeout: propagationTimeout,
		OrphanSweep: sweep,
	}); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

// minOrphanSweepAge is the least --orphan-sweep-min-age: the age is the only guard against a cache
// that has not seen a StateBackend just created yet.
const minOrphanSweepAge = 5 * time.Minute

// orphanSweep is the sweep the flags ask for. Unless --orphan-sweep-interval is given, the sweep is
// off with --watch-namespaces: it would take the credentials of StateBackends in namespaces the
// operator does not watch for orphans (why says so, for the log).
func orphanSweep(interval, minAge time.Duration, intervalSet bool, watchNamespaces []string) (controllers.OrphanSweepConfig, string, error) {
	why := ""
	if len(watchNamespaces) > 0 && !intervalSet {
		interval = 0
		why = "orphan sweep off: --watch-namespaces is set, and the sweep would not see the StateBackends of other namespaces; set --orphan-sweep-interval to turn it on"
	}
	if interval > 0 && minAge < minOrphanSweepAge {
		return controllers.OrphanSweepConfig{}, "", fmt.Errorf("--orphan-sweep-min-age=%s: at least %s, longer than the cache can lag behind a new StateBackend", minAge, minOrphanSweepAge)
	}
	if interval < 0 {
		return controllers.OrphanSweepConfig{}, "", fmt.Errorf("--orphan-sweep-interval=%s: want 0 (off) or a positive duration", interval)
	}
	return controllers.OrphanSweepConfig{Interval: interval, MinAge: minAge}, why, nil
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
