package controllers

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

// TestAdmissionRefusesNamesWhoseObjectsCannotBeWritten: the ConfigMap "<secretName>-backend" must
// be a valid object name (at most 253 characters), and the Secret's name defaults to the
// StateBackend's. So a StateBackend whose name, or spec.secretName, would make that ConfigMap's
// name too long is refused at admission (on the real API server) instead of failing on every
// reconcile; the longest name that works is accepted.
func TestAdmissionRefusesNamesWhoseObjectsCannotBeWritten(t *testing.T) {
	tn := newTenant(t)
	ctx := context.Background()
	longest := validation.DNS1123SubdomainMaxLength - len("-backend")
	backend := func(name, secretName string) *v1alpha1.StateBackend {
		return &v1alpha1.StateBackend{
			ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: name},
			Spec: v1alpha1.StateBackendSpec{
				ProviderRef: v1alpha1.ProviderReference{Kind: v1alpha1.ClusterStorageProviderKind, Name: "absent"},
				SecretName:  secretName,
			},
		}
	}
	for _, tc := range []struct {
		reason, name, secretName, message string
	}{
		{"a name one character too long for its ConfigMap's name", strings.Repeat("n", longest+1), "", "metadata.name"},
		{"the longest name a Kubernetes object may have", strings.Repeat("n", validation.DNS1123SubdomainMaxLength), "", "metadata.name"},
		{"a secretName one character too long for its ConfigMap's name", "short", strings.Repeat("s", longest+1), "spec.secretName"},
	} {
		err := k8s.Create(ctx, backend(tc.name, tc.secretName))
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: got %v, want refused at admission naming %s", tc.reason, err, tc.message)
		}
	}
	// The longest that works, whether it comes from the name or from spec.secretName.
	must(t, k8s.Create(ctx, backend(strings.Repeat("n", longest), "")))
	must(t, k8s.Create(ctx, backend(strings.Repeat("m", validation.DNS1123SubdomainMaxLength), strings.Repeat("s", longest))))
}

// TestLongNameGetsItsSecretWithOneCredential: a StateBackend whose name is too long for a label
// value (64 and more characters) still gets its Secret and ConfigMap, labelled with valid values,
// after exactly one credential was issued: no credential is issued and revoked again and again
// because the Secret cannot be written.
func TestLongNameGetsItsSecretWithOneCredential(t *testing.T) {
	tn := newTenant(t)
	name := strings.Repeat("long-", 40) + "name" // 204 characters
	key := tn.backend(name, nil)
	sb := waitReady(t, key)
	secret := assertOneLiveCredential(t, tn, key)
	if n := tn.store.Calls(memory.OpIssueCredential); n != 1 {
		t.Errorf("%d credentials issued for one backend, want 1", n)
	}
	if n := tn.store.Calls(memory.OpRevokeCredential); n != 0 {
		t.Errorf("%d credentials revoked for a backend that was never rotated, want 0", n)
	}
	cm := &corev1.ConfigMap{}
	must(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: tn.ns, Name: sb.Status.ConfigMapName}, cm))
	for _, labels := range []map[string]string{secret.Labels, cm.Labels} {
		v, ok := labels[LabelStateBackend]
		if !ok || len(validation.IsValidLabelValue(v)) != 0 {
			t.Errorf("label %s=%q: want a valid label value", LabelStateBackend, v)
		}
	}
}
