package controllers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/probe"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
)

// startStrictManager runs the operator's reconcilers, with the real provider factory and prober
// and local endpoints refused (the operator's default), on strictEgressNamespace (which the suite's
// permissive manager leaves alone) and on cluster-scoped objects.
func startStrictManager(t *testing.T) {
	t.Helper()
	mgr, err := ctrl.NewManager(testEnv, ctrl.Options{
		Scheme:                 testScheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// The suite's manager already runs controllers of these names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{ByObject: CacheByObject(),
			DefaultNamespaces: map[string]cache.Config{strictEgressNamespace: {}}},
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: UncachedObjects()}},
	})
	must(t, err)
	factory := providers.NewFactory()
	factory.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	must(t, (&StateBackendReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: testScheme,
		Recorder: mgr.GetEventRecorder("tfstate-operator"), NewClient: factory.New, Prober: probe.New(),
		Now: testNow, RetryInterval: 500 * time.Millisecond, DriftInterval: time.Minute, PropagationTimeout: 8 * time.Second,
		OperatorNamespace: operatorNamespace, ClusterID: testClusterID, AllowLocalEndpoints: false, Ownership: testOwnershipKey,
	}).SetupWithManager(ctx, mgr, 2))
	must(t, (&StorageProviderReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), NewClient: factory.New, Release: factory.Release,
		RetryInterval: 500 * time.Millisecond, CheckInterval: time.Minute, OperatorNamespace: operatorNamespace,
		ClusterID: testClusterID, AllowLocalEndpoints: false,
	}).SetupWithManager(mgr))
	go func() {
		if err := mgr.Start(ctx); err != nil {
			t.Logf("strict manager stopped: %v", err)
		}
	}()
}

// TestTenantStorageProviderCannotReachLocalEndpoints: a tenant's StorageProvider may not make the
// operator call loopback (or link-local: the cloud metadata service, covered in internal/egress,
// since 169.254.169.254 cannot be listened on here) addresses: those reach the operator's own pod
// and node. A MinIO endpoint on 127.0.0.1, an R2 API URL on 127.0.0.1 and a MinIO endpoint named
// "localhost" (refused on the address it resolves to, at dial time) get reason EndpointRefused on
// the StorageProvider and on a StateBackend using it, and no request reaches the listener. A
// ClusterStorageProvider on 127.0.0.1 is the platform's and still works.
func TestTenantStorageProviderCannotReachLocalEndpoints(t *testing.T) {
	ctx := context.Background()
	m := sharedMinIO(t)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	must(t, err)

	ns := strictEgressNamespace
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	startStrictManager(t)

	minioCreds := map[string][]byte{providers.MinIOAccessKeyID: []byte(m.RootUser), providers.MinIOSecretAccessKey: []byte(m.RootPassword)}
	kinds := []struct {
		name  string
		spec  v1alpha1.StorageProviderSpec
		creds map[string][]byte
	}{
		{"minio-loopback", v1alpha1.StorageProviderSpec{MinIO: &v1alpha1.MinIOProvider{Endpoint: srv.URL}}, minioCreds},
		{"minio-localhost", v1alpha1.StorageProviderSpec{MinIO: &v1alpha1.MinIOProvider{Endpoint: "http://localhost:" + port}}, minioCreds},
		{"r2-loopback", v1alpha1.StorageProviderSpec{CloudflareR2: &v1alpha1.CloudflareR2Provider{
			AccountID: strings.Repeat("a", 32), Jurisdiction: v1alpha1.R2JurisdictionDefault, APIBaseURL: srv.URL + "/client/v4/",
			S3Endpoint: srv.URL, RequestsPerFiveMinutes: 1200,
		}}, map[string][]byte{providers.CloudflareAPIToken: []byte("cloudflare-token")}},
	}
	for _, k := range kinds {
		must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: k.name + "-admin"}, Data: k.creds}))
		sp := &v1alpha1.StorageProvider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: k.name}, Spec: k.spec}
		sp.Spec.CredentialsSecretRef = &v1alpha1.SecretReference{Name: k.name + "-admin"}
		must(t, k8s.Create(ctx, sp))
		must(t, k8s.Create(ctx, &v1alpha1.StateBackend{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: k.name},
			Spec: v1alpha1.StateBackendSpec{
				ProviderRef: v1alpha1.ProviderReference{Kind: v1alpha1.StorageProviderKind, Name: k.name},
				Key:         "network/terraform.tfstate",
			},
		}))
	}

	// The platform's provider on the same kind of address: the suite's manager checks its health
	// too, through the real factory (by store name).
	csp := "local-endpoints-platform"
	specClients.Store(csp, ClientFactory(providers.NewFactory().New))
	data := map[string][]byte{storeKey: []byte(csp)}
	for k, v := range minioCreds {
		data[k] = v
	}
	must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: csp}, Data: data}))
	must(t, k8s.Create(ctx, &v1alpha1.ClusterStorageProvider{
		ObjectMeta: metav1.ObjectMeta{Name: csp},
		Spec: v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: m.Endpoint},
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: operatorNamespace, Name: csp},
		},
	}))
	must(t, k8s.Create(ctx, &v1alpha1.StateBackend{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform"},
		Spec: v1alpha1.StateBackendSpec{
			ProviderRef: v1alpha1.ProviderReference{Kind: v1alpha1.ClusterStorageProviderKind, Name: csp},
			Key:         "network/terraform.tfstate",
		},
	}))

	for _, k := range kinds {
		key := client.ObjectKey{Namespace: ns, Name: k.name}
		sb := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonEndpointRefused)
		if c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "allow-local-endpoints") {
			t.Errorf("%s: StateBackend Ready message %q does not name the flag that allows local endpoints", k.name, c.Message)
		}
		eventually(t, 30*time.Second, func() error {
			sp := &v1alpha1.StorageProvider{}
			must(t, k8s.Get(ctx, key, sp))
			if c := meta.FindStatusCondition(sp.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse ||
				c.Reason != v1alpha1.ReasonEndpointRefused || c.ObservedGeneration != sp.Generation {
				return fmt.Errorf("%s: StorageProvider Ready %+v, want False/%s", k.name, c, v1alpha1.ReasonEndpointRefused)
			}
			return nil
		})
	}
	waitReady(t, client.ObjectKey{Namespace: ns, Name: "platform"})
	if n := requests.Load(); n != 0 {
		t.Errorf("%d request(s) reached the loopback listener a tenant's StorageProvider named", n)
	}
}
