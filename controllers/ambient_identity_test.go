package controllers

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
)

// TestTenantStorageProviderCannotUseTheAmbientAWSIdentity: an awsS3 provider without a credentials
// Secret runs on the operator's own AWS identity (IRSA, Pod Identity, node role). A tenant's
// StorageProvider may not: admission refuses it, and a StorageProvider stored before that rule
// (served here by a client that returns it as if read from the API server) is refused by the
// StateBackend reconciler's provider resolution and by the provider's health check, both before
// any provider client is built. A ClusterStorageProvider, the platform's, may use the identity.
func TestTenantStorageProviderCannotUseTheAmbientAWSIdentity(t *testing.T) {
	tn := newTenant(t)
	ctx := context.Background()
	ambient := v1alpha1.StorageProviderSpec{AWSS3: &v1alpha1.AWSS3Provider{Region: "eu-west-1"}}

	err := k8s.Create(ctx, &v1alpha1.StorageProvider{ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "ambient"}, Spec: ambient})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "credentialsSecretRef") {
		t.Errorf("a StorageProvider without credentialsSecretRef: got %v, want refused at admission naming spec.credentialsSecretRef", err)
	}
	must(t, k8s.Create(ctx, &v1alpha1.ClusterStorageProvider{ObjectMeta: metav1.ObjectMeta{Name: tn.provider + "-ambient"}, Spec: ambient}))

	var built atomic.Int32
	factory := func(context.Context, providers.Source, provider.Placement) (provider.Client, error) {
		built.Add(1)
		return nil, errors.New("no client in this test")
	}
	stored := &v1alpha1.StorageProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "stored-before-admission", UID: "3f1c1e0a-0000-4000-8000-000000000001", Generation: 1},
		Spec:       ambient,
	}

	r := &StateBackendReconciler{
		Client: storedProviderClient{Client: k8s, sp: stored}, APIReader: k8s, NewClient: factory,
		RetryInterval: time.Second, DriftInterval: time.Minute, OperatorNamespace: operatorNamespace,
	}
	r.secrets = &secretReadCache{next: apiSecrets{k8s}}
	s := &scope{sb: &v1alpha1.StateBackend{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "state", Generation: 1},
		Spec:       v1alpha1.StateBackendSpec{ProviderRef: v1alpha1.ProviderReference{Kind: v1alpha1.StorageProviderKind, Name: stored.Name}},
	}}
	if _, err := r.resolveProvider(ctx, s); err != nil {
		t.Fatal(err)
	}
	c := meta.FindStatusCondition(s.sb.Status.Conditions, v1alpha1.ConditionReady)
	if s.providerResolved || c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonProviderInvalid {
		t.Errorf("StateBackend on a StorageProvider without credentials: resolved %v, Ready %+v; want unresolved, Ready=False %s", s.providerResolved, c, v1alpha1.ReasonProviderInvalid)
	}
	if n := built.Load(); n != 0 {
		t.Errorf("the StateBackend reconciler built %d provider client(s) on the ambient identity for a tenant's StorageProvider", n)
	}

	pr := &StorageProviderReconciler{Client: k8s, APIReader: k8s, NewClient: factory, RetryInterval: time.Second, CheckInterval: time.Minute, OperatorNamespace: operatorNamespace}
	cond, _, _ := pr.check(ctx, namespacedProvider{stored})
	if cond.Status != metav1.ConditionFalse || cond.Reason != v1alpha1.ReasonProviderInvalid || !strings.Contains(cond.Message, "credentialsSecretRef") {
		t.Errorf("health check of a StorageProvider without credentials: %+v; want Ready=False %s naming credentialsSecretRef", cond, v1alpha1.ReasonProviderInvalid)
	}
	if n := built.Load(); n != 0 {
		t.Errorf("the health check built %d provider client(s) on the ambient identity for a tenant's StorageProvider", n)
	}

	// The platform's own provider keeps the ambient identity.
	pr.check(ctx, clusterProvider{&v1alpha1.ClusterStorageProvider{ObjectMeta: metav1.ObjectMeta{Name: "platform", UID: "3f1c1e0a-0000-4000-8000-000000000002"}, Spec: ambient}, operatorNamespace})
	if n := built.Load(); n != 1 {
		t.Errorf("a ClusterStorageProvider without credentials built %d clients, want 1 (the ambient identity is the platform's)", n)
	}
}

// storedProviderClient serves one StorageProvider as the API server would have returned it had it
// been stored before admission refused its spec; every other read goes to the API server.
type storedProviderClient struct {
	client.Client
	sp *v1alpha1.StorageProvider
}

func (c storedProviderClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if p, ok := obj.(*v1alpha1.StorageProvider); ok && key == client.ObjectKeyFromObject(c.sp) {
		c.sp.DeepCopyInto(p)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}
