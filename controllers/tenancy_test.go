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
	"k8s.io/apimachinery/pkg/types"
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

// setMaxBackendsPerNamespace sets the tenant's ClusterStorageProvider's per-namespace limit.
func (tn *tenant) setMaxBackendsPerNamespace(n int32) {
	tn.t.Helper()
	ctx := context.Background()
	csp := &v1alpha1.ClusterStorageProvider{}
	must(tn.t, k8s.Get(ctx, client.ObjectKey{Name: tn.provider}, csp))
	patch := client.MergeFrom(csp.DeepCopy())
	csp.Spec.Limits = &v1alpha1.ProviderLimits{MaxBackendsPerNamespace: &n}
	must(tn.t, k8s.Patch(ctx, csp, patch))
}

// TestNamespaceCannotTakeMoreThanItsShareOfAClusterProvider: spec.limits.maxBackendsPerNamespace
// caps one namespace's backends on a ClusterStorageProvider. A backend over it gets
// NamespaceQuotaExceeded and costs no provider call; lowering the limit revokes nothing; a backend
// that holds a credential is never pushed out by a newer one; raising it lets the newer one through.
func TestNamespaceCannotTakeMoreThanItsShareOfAClusterProvider(t *testing.T) {
	tn := newTenant(t)
	tn.setMaxBackendsPerNamespace(2)
	first := tn.backend("a-first", nil)
	waitReady(t, first)
	second := tn.backend("b-second", nil)
	waitReady(t, second)

	before := providerCalls(tn.store)
	third := tn.backend("c-third", nil)
	// The condition is written at the end of the reconcile that refused it: by then that
	// reconcile has made every call it was going to.
	waitCondition(t, third, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNamespaceQuotaExceeded)
	if got := callsSince(tn.store, before); len(got) != 0 {
		t.Errorf("a backend over the namespace's limit made provider calls: %v", got)
	}

	// Lowering the limit below what the namespace holds revokes nothing.
	tn.setMaxBackendsPerNamespace(1)
	for _, key := range []client.ObjectKey{first, second} {
		requestReconcile(t, key)
		waitHandled(t, key)
		waitReady(t, key)
	}
	if n := len(tn.store.LiveCredentials()); n != 2 {
		t.Errorf("%d live credentials after the limit was lowered, want the 2 the backends hold", n)
	}

	// The oldest holder goes: the other holder keeps its place, the newer backend still waits.
	sb := getBackend(t, first)
	must(t, k8s.Delete(context.Background(), sb))
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(context.Background(), first, &v1alpha1.StateBackend{}); err == nil {
			return fmt.Errorf("%s still exists", first)
		}
		return nil
	})
	requestReconcile(t, third)
	waitCondition(t, third, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNamespaceQuotaExceeded)
	waitReady(t, second)

	// Raising the limit lets it through.
	tn.setMaxBackendsPerNamespace(2)
	waitReady(t, third)
}

// TestOnlyAClusterProviderHasPerNamespaceLimits: spec.limits is refused on a namespaced
// StorageProvider (it serves one namespace: the limit would be the tenant's own), and a limit below
// one is refused.
func TestOnlyAClusterProviderHasPerNamespaceLimits(t *testing.T) {
	tn := newTenant(t)
	one, zero := int32(1), int32(0)
	spec := func(n *int32) v1alpha1.StorageProviderSpec {
		return v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9"},
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: operatorNamespace, Name: "x"},
			Limits:               &v1alpha1.ProviderLimits{MaxBackendsPerNamespace: n},
		}
	}
	cases := []struct {
		reason string
		obj    client.Object
		want   string // in the refusal; "" = accepted
	}{
		{"a StorageProvider has no per-namespace limit", &v1alpha1.StorageProvider{ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "own"}, Spec: spec(&one)}, "spec.limits is for ClusterStorageProviders"},
		{"a limit of 0 is refused", &v1alpha1.ClusterStorageProvider{ObjectMeta: metav1.ObjectMeta{Name: tn.provider + "-zero"}, Spec: spec(&zero)}, "maxBackendsPerNamespace"},
		{"a ClusterStorageProvider takes a limit of 1", &v1alpha1.ClusterStorageProvider{ObjectMeta: metav1.ObjectMeta{Name: tn.provider + "-one"}, Spec: spec(&one)}, ""},
	}
	for _, tc := range cases {
		err := k8s.Create(context.Background(), tc.obj)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: create returned %v, want %q", tc.reason, err, tc.want)
		}
		if err == nil {
			must(t, k8s.Delete(context.Background(), tc.obj))
		}
	}
}

func TestWithinQuotaIsDeterministic(t *testing.T) {
	at := func(sec int) metav1.Time { return metav1.NewTime(time.Date(2026, 12, 1, 0, 0, sec, 0, time.UTC)) }
	b := func(name string, created int, mutate ...func(*v1alpha1.StateBackend)) v1alpha1.StateBackend {
		sb := v1alpha1.StateBackend{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: at(created)}}
		for _, m := range mutate {
			m(&sb)
		}
		return sb
	}
	holding := func(sb *v1alpha1.StateBackend) { sb.Status.BucketName = "bucket-" + sb.Name }
	deleting := func(sb *v1alpha1.StateBackend) { now := at(100); sb.DeletionTimestamp = &now }
	cases := []struct {
		reason string
		sb     v1alpha1.StateBackend
		others []v1alpha1.StateBackend
		limit  int
		want   bool
	}{
		{"the only backend is within a limit of one", b("a", 1), nil, 1, true},
		{"the oldest keeps its place", b("a", 1), []v1alpha1.StateBackend{b("a", 1), b("b", 2)}, 1, true},
		{"a newer one is over", b("b", 2), []v1alpha1.StateBackend{b("a", 1), b("b", 2)}, 1, false},
		{"created in the same second, the name decides", b("b", 1), []v1alpha1.StateBackend{b("a", 1), b("b", 1)}, 1, false},
		{"a holder is never pushed out by an older one that holds nothing", b("b", 2, holding), []v1alpha1.StateBackend{b("a", 1), b("b", 2, holding)}, 1, true},
		{"an older one that holds nothing waits for the holder", b("a", 1), []v1alpha1.StateBackend{b("a", 1), b("b", 2, holding)}, 1, false},
		{"holders above a lowered limit keep theirs", b("c", 3, holding), []v1alpha1.StateBackend{b("a", 1, holding), b("b", 2, holding), b("c", 3, holding)}, 1, true},
		{"a backend being deleted does not count", b("b", 2), []v1alpha1.StateBackend{b("a", 1, holding, deleting), b("b", 2)}, 1, true},
		{"the backend itself is counted once, listed or not", b("b", 2), []v1alpha1.StateBackend{b("a", 1)}, 2, true},
	}
	for _, tc := range cases {
		if got := withinQuota(&tc.sb, tc.others, tc.limit); got != tc.want {
			t.Errorf("%s: withinQuota = %v, want %v", tc.reason, got, tc.want)
		}
	}
}
