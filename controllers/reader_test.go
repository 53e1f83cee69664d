package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

func reader(of string, namespace string) func(*v1alpha1.StateBackend) {
	return func(sb *v1alpha1.StateBackend) {
		sb.Spec.Access = v1alpha1.AccessReadOnly
		sb.Spec.BucketFrom = &v1alpha1.BucketReference{Name: of, Namespace: namespace}
	}
}

// TestReaderSharesTheWritersBucket: a ReadOnly backend with bucketFrom reads the writer's bucket
// with a read-only credential of its own, creates no bucket, and leaves bucket and writer alone
// when deleted. Created before the writer, it waits for the writer's bucket.
func TestReaderSharesTheWritersBucket(t *testing.T) {
	tn := newTenant(t)
	readerKey := tn.backend("remote-state", reader("state", ""))
	waitCondition(t, readerKey, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketReferenceNotReady)

	writer := waitReady(t, tn.backend("state", nil))
	r := waitReady(t, readerKey)
	if r.Status.BucketName != writer.Status.BucketName {
		t.Fatalf("reader's bucket %q, want the writer's %q", r.Status.BucketName, writer.Status.BucketName)
	}
	if names := tn.store.BucketNames(); len(names) != 1 {
		t.Fatalf("buckets %v, want only the writer's", names)
	}
	secret := getSecret(t, tn.ns, "remote-state")
	bucket, access, ok := tn.store.CredentialScope(string(secret.Data[backendconfig.EnvAccessKeyID]))
	if !ok || bucket != writer.Status.BucketName || access != provider.ReadOnly {
		t.Fatalf("reader's credential: bucket %q access %q (live %v); want a ReadOnly one on %q", bucket, access, ok, writer.Status.BucketName)
	}
	writerKeyID := string(getSecret(t, tn.ns, "state").Data[backendconfig.EnvAccessKeyID])
	if writerKeyID == string(secret.Data[backendconfig.EnvAccessKeyID]) {
		t.Fatal("the reader holds the writer's credential")
	}

	must(t, k8s.Delete(context.Background(), r))
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(context.Background(), readerKey, &v1alpha1.StateBackend{}); err == nil {
			return fmt.Errorf("reader still there")
		}
		return nil
	})
	if _, ok := tn.store.Bucket(writer.Status.BucketName); !ok {
		t.Fatal("deleting the reader deleted the writer's bucket")
	}
	if _, _, ok := tn.store.CredentialScope(writerKeyID); !ok || len(tn.store.LiveCredentials()) != 1 {
		t.Fatalf("live credentials %+v after deleting the reader, want only the writer's", tn.store.LiveCredentials())
	}
	if n := tn.store.Calls(memory.OpMarkBucket); n != 0 {
		t.Errorf("%d MarkBucket calls, want 0: a reader never marks", n)
	}
}

// TestReaderOfAnotherNamespaceNeedsTheProvidersConsent: cross-namespace reads are refused, with no
// credential issued, until the provider allows them.
func TestReaderOfAnotherNamespaceNeedsTheProvidersConsent(t *testing.T) {
	tn := newTenant(t)
	writer := waitReady(t, tn.backend("state", nil))
	other := tn.ns + "-other"
	must(t, k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}))
	sb := &v1alpha1.StateBackend{
		ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "remote-state"},
		Spec: v1alpha1.StateBackendSpec{
			ProviderRef: v1alpha1.ProviderReference{Kind: v1alpha1.ClusterStorageProviderKind, Name: tn.provider},
		},
	}
	reader("state", tn.ns)(sb)
	must(t, k8s.Create(context.Background(), sb))
	key := client.ObjectKeyFromObject(sb)
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketReferenceRefused)
	if n := len(tn.store.LiveCredentials()); n != 1 {
		t.Fatalf("%d live credentials after a refused read, want only the writer's", n)
	}

	csp := &v1alpha1.ClusterStorageProvider{}
	must(t, k8s.Get(context.Background(), client.ObjectKey{Name: tn.provider}, csp))
	patch := client.MergeFrom(csp.DeepCopy())
	csp.Spec.AllowCrossNamespaceBucketReads = true
	must(t, k8s.Patch(context.Background(), csp, patch))
	if r := waitReady(t, key); r.Status.BucketName != writer.Status.BucketName {
		t.Fatalf("reader's bucket %q, want %q", r.Status.BucketName, writer.Status.BucketName)
	}
}
