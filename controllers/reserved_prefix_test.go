package controllers

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// The operator keeps provider.ReservedPrefix (".tfstate-operator/") of every state bucket for its
// own objects. Terraform must never be told to keep state there, and state that got there anyway
// is state: deletionPolicy Delete keeps a bucket that holds it.

// TestAdmissionRefusesStateUnderTheReservedPrefix: no key, keyPrefix or workspaceKeyPrefix that
// would make Terraform write an object under .tfstate-operator/ is admitted. Terraform writes
// <key>, <workspaceKeyPrefix>/<workspace>/<key> and, with a keyPrefix, only under <keyPrefix>/, so
// the first segment of each decides.
func TestAdmissionRefusesStateUnderTheReservedPrefix(t *testing.T) {
	ctx := context.Background()
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "reserved-prefix"}}))
	base := func() *v1alpha1.StateBackend {
		return &v1alpha1.StateBackend{
			ObjectMeta: metav1.ObjectMeta{Namespace: "reserved-prefix", GenerateName: "sb-"},
			Spec:       v1alpha1.StateBackendSpec{ProviderRef: v1alpha1.ProviderReference{Name: "p"}},
		}
	}
	refused := []struct {
		reason  string
		mutate  func(*v1alpha1.StateBackend)
		message string
	}{
		{"the state object itself under the prefix", func(sb *v1alpha1.StateBackend) { sb.Spec.Key = ".tfstate-operator/prod.tfstate" }, "spec.key"},
		{"a key that is a probe object's name", func(sb *v1alpha1.StateBackend) {
			sb.Spec.Key = ".tfstate-operator/probe/0123456789abcdef0123456789abcdef"
		}, "spec.key"},
		{"the marker's own name", func(sb *v1alpha1.StateBackend) { sb.Spec.Key = ".tfstate-operator/owner.json" }, "spec.key"},
		{"a differently cased spelling, for stores that fold case", func(sb *v1alpha1.StateBackend) { sb.Spec.Key = ".TFState-Operator/prod.tfstate" }, "spec.key"},
		{"workspaces would live at .tfstate-operator/<workspace>/<key>", func(sb *v1alpha1.StateBackend) {
			sb.Spec.WorkspaceKeyPrefix = ".tfstate-operator"
		}, "spec.workspaceKeyPrefix"},
		{"workspaces deeper under the prefix", func(sb *v1alpha1.StateBackend) { sb.Spec.WorkspaceKeyPrefix = ".tfstate-operator/env" }, "spec.workspaceKeyPrefix"},
		{"a key prefix puts every object under it", func(sb *v1alpha1.StateBackend) {
			sb.Spec.KeyPrefix, sb.Spec.Key = ".tfstate-operator", ".tfstate-operator/prod.tfstate"
		}, "spec.keyPrefix"},
	}
	for _, tc := range refused {
		sb := base()
		tc.mutate(sb)
		err := k8s.Create(ctx, sb)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.message) || !strings.Contains(err.Error(), ".tfstate-operator/") {
			t.Errorf("%s: want an Invalid error on %s naming the reserved prefix, got %v", tc.reason, tc.message, err)
		}
	}
	// Names that merely resemble the prefix are other objects and stay allowed.
	admitted := []struct {
		reason string
		mutate func(*v1alpha1.StateBackend)
	}{
		{"the prefix's name deeper in a key", func(sb *v1alpha1.StateBackend) { sb.Spec.Key = "network/.tfstate-operator/terraform.tfstate" }},
		{"a longer first segment", func(sb *v1alpha1.StateBackend) { sb.Spec.Key = ".tfstate-operator2/terraform.tfstate" }},
		{"a key prefix elsewhere with the name below it", func(sb *v1alpha1.StateBackend) {
			sb.Spec.KeyPrefix, sb.Spec.Key = "team", "team/.tfstate-operator/terraform.tfstate"
		}},
	}
	for _, tc := range admitted {
		sb := base()
		tc.mutate(sb)
		if err := k8s.Create(ctx, sb); err != nil {
			t.Errorf("%s: want it admitted, got %v", tc.reason, err)
		}
	}
}

// TestDeletePolicyKeepsStateUnderTheReservedPrefix: a deletionPolicy Delete backend whose bucket
// holds state at .tfstate-operator/prod.tfstate (written by a runner that chose the key itself, or
// by a backend admitted before the prefix was refused) is kept with BucketNotEmpty, and the state
// with it.
func TestDeletePolicyKeepsStateUnderTheReservedPrefix(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", func(sb *v1alpha1.StateBackend) { sb.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete })
	sb := waitReady(t, key)
	const stateKey = provider.ReservedPrefix + "prod.tfstate"
	must(t, tn.store.PutObject(sb.Status.BucketName, stateKey, []byte(`{"version":4}`)))

	must(t, k8s.Delete(context.Background(), sb))
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNotEmpty)
	b, ok := tn.store.Bucket(sb.Status.BucketName)
	if !ok || string(b.Objects[stateKey]) != `{"version":4}` {
		t.Fatalf("the bucket or the state under %s was deleted: bucket kept %v, objects %v", provider.ReservedPrefix, ok, b.Objects)
	}
	if live := tn.store.LiveCredentials(); len(live) != 0 {
		t.Fatalf("credential must be revoked even while the bucket blocks deletion: %+v", live)
	}
}
