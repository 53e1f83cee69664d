package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/minio"
)

// newRealTenant is a tenant whose provider is the real client of kind (minio, r2, spaces or aws)
// against the shared MinIO or a fake over it.
func newRealTenant(t *testing.T, kind string) *tenant {
	t.Helper()
	switch kind {
	case "minio":
		return newMinIOTenant(t)
	case "r2":
		return newR2Tenant(t).tenant
	case "spaces":
		return newSpacesTenant(t)
	case "aws":
		tn, _, _, _ := newAWSTenant(t)
		return tn
	}
	t.Fatalf("no real client of kind %q", kind)
	return nil
}

// newMinIOTenant is a tenant whose provider is the real MinIO client against the shared MinIO.
func newMinIOTenant(t *testing.T) *tenant {
	t.Helper()
	m := sharedMinIO(t)
	c, err := minio.New(minio.Config{Endpoint: m.Endpoint, AccessKeyID: m.RootUser, SecretAccessKey: m.RootPassword})
	must(t, err)
	tn := newTenant(t)
	realClients.Store(tn.provider, provider.Client(c))
	return tn
}

// TestReaderOfATamperedStatusGetsNoCredentialForAnotherBucket: whoever can write
// statebackends/status points a backend's status.bucketName at a victim's bucket (BucketReady
// True); a reader (spec.bucketFrom) of that backend must not get a credential for the victim's
// bucket: the reader checks the bucket's ownership marker, which names the victim, and is refused.
//
// The forged status must persist while the reader is reconciled, or the test would race the
// operator repairing it. So the referenced backend is one the operator no longer reconciles: it is
// deleted while a foreign finalizer holds it, the operator has finished its own deletion work
// (its finalizer is gone, deletionPolicy Retain keeps the bucket) and never writes its status
// again. The forged status is written after that, and stays.
func TestReaderOfATamperedStatusGetsNoCredentialForAnotherBucket(t *testing.T) {
	for _, kind := range []string{"minio", "r2"} {
		t.Run(kind, func(t *testing.T) { readerGetsNoCredentialForAForgedBucket(t, newRealTenant(t, kind)) })
	}
}

func readerGetsNoCredentialForAForgedBucket(t *testing.T, tn *tenant) {
	ctx := context.Background()
	victim := waitReady(t, tn.backend("victim", nil))
	refKey := tn.backend("forged", func(sb *v1alpha1.StateBackend) {
		sb.Finalizers = []string{"example.com/hold"}
	})
	forged := waitReady(t, refKey)

	must(t, k8s.Delete(ctx, forged))
	eventually(t, 30*time.Second, func() error {
		sb := getBackend(t, refKey)
		if controllerutil.ContainsFinalizer(sb, Finalizer) {
			return errors.New("the operator has not finished deleting the referenced backend")
		}
		return nil
	})
	sb := getBackend(t, refKey)
	base := sb.DeepCopy()
	sb.Status.BucketName = victim.Status.BucketName
	meta.SetStatusCondition(&sb.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionBucketReady, Status: metav1.ConditionTrue,
		Reason: v1alpha1.ReasonReady, Message: "forged", ObservedGeneration: sb.Generation})
	must(t, k8s.Status().Patch(ctx, sb, client.MergeFrom(base)))
	t.Cleanup(func() {
		sb := getBackend(t, refKey)
		p := client.MergeFrom(sb.DeepCopy())
		sb.Finalizers = nil
		_ = k8s.Patch(context.Background(), sb, p)
	})

	readerKey := tn.backend("reader", reader("forged", ""))
	got := waitCondition(t, readerKey, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketReferenceRefused)
	if got.Status.BucketName == victim.Status.BucketName {
		t.Errorf("the reader's status names the victim's bucket %q", victim.Status.BucketName)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: tn.ns, Name: got.Status.SecretName}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("the reader's Secret: %v, want none", err)
	}
	if got := getBackend(t, refKey); got.Status.BucketName != victim.Status.BucketName {
		t.Fatalf("the forged status did not persist (bucketName %q): the test proves nothing", got.Status.BucketName)
	}
	if c := getBackend(t, readerKey).Status.Credential; c != nil && c.ID != "" {
		t.Errorf("the reader holds credential %+v", c)
	}
}
