package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

// TestAllowedNamespaces: a ClusterStorageProvider narrowed with allowedNamespaces serves only the
// namespaces it selects. A StateBackend elsewhere gets NamespaceNotAllowed and the store sees no
// call at all; labelling its namespace lets it through.
func TestAllowedNamespaces(t *testing.T) {
	tn := newTenant(t)
	ctx := context.Background()
	csp := &v1alpha1.ClusterStorageProvider{}
	must(t, k8s.Get(ctx, client.ObjectKey{Name: tn.provider}, csp))
	patch := client.MergeFrom(csp.DeepCopy())
	csp.Spec.AllowedNamespaces = &metav1.LabelSelector{MatchLabels: map[string]string{"tfstate.dev/tenant": "allowed"}}
	must(t, k8s.Patch(ctx, csp, patch))

	key := tn.backend("state", nil)
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNamespaceNotAllowed)
	for _, op := range memory.AllOps {
		if n := tn.store.Calls(op); n != 0 {
			t.Errorf("%s was called %d times for a namespace the provider does not serve", op, n)
		}
	}

	ns := &corev1.Namespace{}
	must(t, k8s.Get(ctx, client.ObjectKey{Name: tn.ns}, ns))
	nsPatch := client.MergeFrom(ns.DeepCopy())
	ns.Labels["tfstate.dev/tenant"] = "allowed"
	must(t, k8s.Patch(ctx, ns, nsPatch))
	requestReconcile(t, key) // namespaces are not watched: the drift interval (or any change) re-checks
	waitReady(t, key)
	assertOneLiveCredential(t, tn, key)
}

// TestStorageProviderCannotWidenItsReach: allowedNamespaces is refused on a namespaced
// StorageProvider at admission (it serves its own namespace only).
func TestStorageProviderCannotWidenItsReach(t *testing.T) {
	tn := newTenant(t)
	err := k8s.Create(context.Background(), &v1alpha1.StorageProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "own"},
		Spec: v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9"},
			CredentialsSecretRef: &v1alpha1.SecretReference{Name: "x"},
			AllowedNamespaces:    &metav1.LabelSelector{},
		},
	})
	if err == nil || !strings.Contains(err.Error(), "allowedNamespaces is for ClusterStorageProviders") {
		t.Fatalf("err = %v, want the admission refusal", err)
	}
}

// TestClusterProviderCredentialsOnlyFromTheOperatorNamespace: a ClusterStorageProvider pointed at
// a Secret in a tenant's namespace (which the tenant could write) is refused, by its own health
// check and for every StateBackend using it, before any provider call.
func TestClusterProviderCredentialsOnlyFromTheOperatorNamespace(t *testing.T) {
	tn := newTenant(t)
	ctx := context.Background()
	must(t, k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "planted"},
		Data:       map[string][]byte{storeKey: []byte(tn.provider)},
	}))
	csp := &v1alpha1.ClusterStorageProvider{
		ObjectMeta: metav1.ObjectMeta{Name: tn.provider + "-planted"},
		Spec: v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9"},
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: tn.ns, Name: "planted"},
		},
	}
	must(t, k8s.Create(ctx, csp))
	key := tn.backend("state", func(sb *v1alpha1.StateBackend) { sb.Spec.ProviderRef.Name = csp.Name })
	sb := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderInvalid)
	if c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "operator's namespace") {
		t.Errorf("condition message %q does not say where the Secret must be", c.Message)
	}
	for _, op := range memory.AllOps {
		if n := tn.store.Calls(op); n != 0 {
			t.Errorf("%s was called %d times with credentials from a tenant's namespace", op, n)
		}
	}
	eventually(t, 20*time.Second, func() error {
		p := &v1alpha1.ClusterStorageProvider{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(csp), p); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Reason != v1alpha1.ReasonProviderInvalid {
			return fmt.Errorf("provider condition %+v, want ProviderInvalid", c)
		}
		return nil
	})
}
