package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/ownership"
	"github.com/tfstate-operator/tfstate-operator/internal/probe"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
)

// The suite runs the real reconciler in a manager against a real kube-apiserver and etcd (envtest),
// with in-memory providers so that failures can be injected after any provider call.

const (
	operatorNamespace = "tfstate-system"
	storeKey          = "memoryStore" // key of the credentials Secret naming the test's store
	// testClusterID is the suite's cluster identity (the manager resolves the kube-system UID).
	testClusterID = "envtest-cluster"
)

var (
	k8s    client.Client
	stores sync.Map // store id -> *memory.Store
	// testOwnershipKey is the suite's ownership key (the manager reads or creates the Secret).
	testOwnershipKey = mustKey([]byte("envtest ownership key: 32 bytes!"))
	// testEnv and testScheme let a test start a manager of its own (see strictEgressNamespace).
	testEnv    *rest.Config
	testScheme *runtime.Scheme
	// testRecorder is the suite's manager's event recorder, for reconcilers a test builds itself.
	testRecorder events.EventRecorder
)

func mustKey(b []byte) ownership.Key {
	k, err := ownership.NewKey(b)
	if err != nil {
		panic(err)
	}
	return k
}

// strictEgressNamespace is left out of the suite's manager, whose reconcilers allow local
// endpoints (every store here listens on 127.0.0.1): TestTenantStorageProviderCannotReachLocalEndpoints
// runs a manager of its own there with the operator's default, which refuses them.
const strictEgressNamespace = "local-endpoints-refused"

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.Level(zapLevel()))))
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assetsDir(),
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start envtest (kube-apiserver and etcd come from `make tools`): %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	defer stopSharedMinIO()

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	testEnv, testScheme = cfg, scheme
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: suiteCacheByObject()},
		Client:                 client.Options{Cache: &client.CacheOptions{DisableFor: UncachedObjects()}},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		return 1
	}
	testRecorder = mgr.GetEventRecorder("tfstate-operator")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &StateBackendReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Scheme:        scheme,
		Recorder:      mgr.GetEventRecorder("tfstate-operator"),
		NewClient:     memoryClient,
		Prober:        proberFor{},
		Now:           testNow,
		RetryInterval: 500 * time.Millisecond,
		DriftInterval: time.Minute,
		// Short, so that a credential that never propagates turns into an error within a test.
		PropagationTimeout: 8 * time.Second,
		OperatorNamespace:  operatorNamespace,
		ClusterID:          testClusterID,
		Ownership:          testOwnershipKey,
		// Every store here listens on 127.0.0.1; TestTenantStorageProviderCannotReachLocalEndpoints
		// runs a manager of its own without this.
		AllowLocalEndpoints: true,
	}
	if err := r.SetupWithManager(ctx, mgr, 4); err != nil {
		fmt.Fprintf(os.Stderr, "setup: %v\n", err)
		return 1
	}
	if err := (&StorageProviderReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), NewClient: memoryClient, Release: recordRelease,
		RetryInterval: 500 * time.Millisecond, CheckInterval: time.Minute, OperatorNamespace: operatorNamespace,
		ClusterID: testClusterID, AllowLocalEndpoints: true,
	}).SetupWithManager(mgr); err != nil {
		fmt.Fprintf(os.Stderr, "setup providers: %v\n", err)
		return 1
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "manager stopped: %v\n", err)
		}
	}()
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		return 1
	}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		fmt.Fprintf(os.Stderr, "namespace: %v\n", err)
		return 1
	}
	return m.Run()
}

// suiteCacheByObject is CacheByObject with strictEgressNamespace left out of every namespaced
// kind the suite's manager reconciles or watches (a field selector on metadata.namespace is only
// supported for namespaced kinds).
func suiteCacheByObject() map[client.Object]cache.ByObject {
	notStrict := fields.OneTermNotEqualSelector("metadata.namespace", strictEgressNamespace)
	out := CacheByObject()
	for o, by := range out {
		by.Field = notStrict
		out[o] = by
	}
	out[&v1alpha1.StateBackend{}] = cache.ByObject{Field: notStrict}
	out[&v1alpha1.StorageProvider{}] = cache.ByObject{Field: notStrict}
	return out
}

func zapLevel() int8 {
	if os.Getenv("TEST_VERBOSE_LOGS") != "" {
		return -1
	}
	return 1 // warnings and errors only: reconcile errors are expected in fault-injection tests
}

// assetsDir is where hack/tools.sh caches kube-apiserver and etcd.
func assetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "tfstate-operator", "tools")
}

// memoryClient is the suite's ClientFactory: the credentials Secret names the store. A cloudflareR2
// block gets the store with R2's placement rules (a jurisdiction, defaulting to the provider's);
// a minio block refuses a placement, as the real factory does.
// clockOffset moves the reconciler's clock forward (tests that need hours to pass). It only ever
// grows; tests compare the operator's times with each other, not with the wall clock.
var clockOffset atomic.Int64

func testNow() time.Time { return time.Now().Add(time.Duration(clockOffset.Load())) }

// released counts, by provider UID, the Release calls of deleted providers.
var released sync.Map

func recordRelease(_ context.Context, src providers.Source) error {
	n, _ := released.LoadOrStore(src.UID, new(atomic.Int32))
	n.(*atomic.Int32).Add(1)
	return nil
}

// realClients holds, by store name, provider clients of real stores (a fake API over MinIO) that
// tests use in place of a memory store.
var realClients sync.Map

// specClients holds, by store name, factories that build real clients from the provider's spec, for
// tests in which that spec changes (a provider moved to another account).
var specClients sync.Map

func memoryClient(ctx context.Context, src providers.Source, p provider.Placement) (provider.Client, error) {
	spec, creds := src.Spec, src.Credentials
	if f, ok := specClients.Load(string(creds[storeKey])); ok {
		return f.(ClientFactory)(ctx, src, p)
	}
	if c, ok := realClients.Load(string(creds[storeKey])); ok {
		return c.(provider.Client), nil
	}
	s, ok := stores.Load(string(creds[storeKey]))
	if !ok {
		return nil, fmt.Errorf("%w: unknown store %q", provider.ErrInvalidConfig, creds[storeKey])
	}
	switch {
	case spec.MinIO != nil && p == (provider.Placement{}):
		return s.(*memory.Store), nil
	case spec.MinIO != nil:
		return nil, fmt.Errorf("%w: a MinIO provider has no jurisdictions", provider.ErrInvalidConfig)
	case spec.CloudflareR2 != nil:
		if p.Jurisdiction == "" {
			p.Jurisdiction = string(spec.CloudflareR2.Jurisdiction)
		}
		return placedStore{Store: s.(*memory.Store), placement: p}, nil
	}
	return nil, fmt.Errorf("%w: no provider block", provider.ErrInvalidConfig)
}

// placedStore is a memory store seen through one placement.
type placedStore struct {
	*memory.Store
	placement provider.Placement
}

func (p placedStore) Settings() provider.BackendSettings {
	s := p.Store.Settings()
	s.Placement = p.placement
	return s
}

var realProber = probe.New()

// proberFor routes a probe to the memory store that issued the credential, or to the real prober.
type proberFor struct{}

func (proberFor) Probe(ctx context.Context, settings provider.BackendSettings, bucket string, cred provider.Credential, access provider.Access) (provider.ProbeResult, error) {
	var found *memory.Store
	stores.Range(func(_, v any) bool {
		s := v.(*memory.Store)
		if _, _, ok := s.CredentialScope(cred.AccessKeyID); ok {
			found = s
			return false
		}
		return true
	})
	if found == nil {
		return realProber.Probe(ctx, settings, bucket, cred, access) // a real store's credential
	}
	return found.Probe(ctx, settings, bucket, cred, access)
}

// tenant is one test's world: a namespace, a ClusterStorageProvider and the store behind it.
type tenant struct {
	t        *testing.T
	ns       string
	provider string
	store    *memory.Store
}

func newTenant(t *testing.T) *tenant {
	t.Helper()
	return newTenantWith(t, memory.DefaultSettings())
}

// newTenantWith is newTenant with a store of the given settings (capabilities).
func newTenantWith(t *testing.T, settings provider.BackendSettings) *tenant {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		// Subtests of one long-named test must not share a namespace: the cut keeps a digest of
		// the whole name.
		sum := sha256.Sum256([]byte(name))
		name = name[:43] + "-" + hex.EncodeToString(sum[:])[:6]
	}
	name = strings.Trim(name, "-")
	tn := &tenant{t: t, ns: name, provider: name, store: memory.New(settings)}
	stores.Store(name, tn.store)
	ctx := context.Background()
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tn.ns}}))
	must(t, k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name},
		Data:       map[string][]byte{storeKey: []byte(name)},
	}))
	tn.createProvider()
	return tn
}

func (tn *tenant) createProvider() {
	must(tn.t, k8s.Create(context.Background(), &v1alpha1.ClusterStorageProvider{
		ObjectMeta: metav1.ObjectMeta{Name: tn.provider},
		Spec: v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9"},
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: operatorNamespace, Name: tn.provider},
		},
	}))
}

// backend creates a StateBackend in the tenant's namespace.
func (tn *tenant) backend(name string, mutate func(*v1alpha1.StateBackend)) client.ObjectKey {
	tn.t.Helper()
	sb := &v1alpha1.StateBackend{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: name},
		Spec: v1alpha1.StateBackendSpec{
			ProviderRef: v1alpha1.ProviderReference{Kind: v1alpha1.ClusterStorageProviderKind, Name: tn.provider},
			Key:         "network/terraform.tfstate",
		},
	}
	if mutate != nil {
		mutate(sb)
	}
	must(tn.t, k8s.Create(context.Background(), sb))
	return client.ObjectKeyFromObject(sb)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// eventually polls f until it returns nil or the timeout passes, then fails with f's last error.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s: %v", timeout, err)
}

func getBackend(t *testing.T, key client.ObjectKey) *v1alpha1.StateBackend {
	t.Helper()
	sb := &v1alpha1.StateBackend{}
	must(t, k8s.Get(context.Background(), key, sb))
	return sb
}

// waitCondition waits until condition typ has status and reason for the current generation.
func waitCondition(t *testing.T, key client.ObjectKey, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.StateBackend {
	t.Helper()
	var sb *v1alpha1.StateBackend
	eventually(t, 20*time.Second, func() error {
		sb = &v1alpha1.StateBackend{}
		if err := k8s.Get(context.Background(), key, sb); err != nil {
			return err
		}
		c := meta.FindStatusCondition(sb.Status.Conditions, typ)
		if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != sb.Generation {
			return fmt.Errorf("condition %s: got %+v, want status %s reason %s (generation %d)", typ, c, status, reason, sb.Generation)
		}
		return nil
	})
	return sb
}

func waitReady(t *testing.T, key client.ObjectKey) *v1alpha1.StateBackend {
	t.Helper()
	return waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

func getSecret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	must(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s))
	return s
}

// eventsFor lists the events recorded about a StateBackend.
func eventsFor(t *testing.T, ns, name string) []eventsv1.Event {
	t.Helper()
	list := &eventsv1.EventList{}
	must(t, k8s.List(context.Background(), list, client.InNamespace(ns)))
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}
