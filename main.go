// Command manager runs the tfstate-operator: it reconciles StateBackends into a bucket, a credential
// scoped to it, and a Secret a Terraform runner consumes with envFrom.
package main

import (
	"flag"
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
	flag.DurationVar(&orphanSweepInterval, "orphan-sweep-interval", time.Hour, "How often each provider's account is swept for credentials of this cluster that no StateBackend records (a StateBackend deleted with its finalizer removed), which are then revoked; 0 turns the sweep off. Each provider is also swept with its first health check after the operator starts.")
	flag.DurationVar(&orphanSweepMinAge, "orphan-sweep-min-age", time.Hour, "How old (by the issue time in its name) an unrecorded credential must be before the orphan sweep revokes it.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

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
		OrphanSweep: controllers.OrphanSweepConfig{Interval: orphanSweepInterval, MinAge: orphanSweepMinAge},
	}); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
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
