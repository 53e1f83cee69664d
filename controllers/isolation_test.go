package controllers

// Tenant isolation, round two (issue 19): a refused backend holds nothing, and status (which an
// over-privileged tenant may patch) never steers the operator onto another backend's credential
// or an unmarked foreign bucket.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/naming"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// liveWithPrefix lists the store's live credentials issued for the backend with this UID.
func liveWithPrefix(tn *tenant, uid string) []provider.CredentialInfo {
	var out []provider.CredentialInfo
	for _, c := range tn.store.LiveCredentials() {
		if strings.HasPrefix(c.Name, naming.CredentialPrefix(testClusterID, uid)) {
			out = append(out, c)
		}
	}
	return out
}

// assertHoldsNothing: the backend has no live credential at the store and its Secret holds no
// credential keys (the operator deletes the Secret it controls).
func assertHoldsNothing(t *testing.T, tn *tenant, key client.ObjectKey, uid string) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		if live := liveWithPrefix(tn, uid); len(live) != 0 {
			return fmt.Errorf("a refused backend still holds live credentials: %+v", live)
		}
		s := &corev1.Secret{}
		err := k8s.Get(context.Background(), key, s)
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return err
		case len(s.Data[backendconfig.EnvAccessKeyID]) != 0 || len(s.Data[backendconfig.EnvSecretAccessKey]) != 0:
			return fmt.Errorf("the Secret of a refused backend still holds credential keys")
		}
		return nil
	})
}

// deleteAndWait deletes the backend and waits until its finalizer is released.
func deleteAndWait(t *testing.T, key client.ObjectKey) {
	t.Helper()
	must(t, k8s.Delete(context.Background(), getBackend(t, key)))
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(context.Background(), key, &v1alpha1.StateBackend{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("StateBackend still exists (err %v)", err)
		}
		return nil
	})
}

// TestRefusedBackendHoldsNothing: a Ready backend that becomes refused (its bucket's marker now
// names another StateBackend; its ClusterStorageProvider stops serving its namespace) has its
// credential revoked at the store and its Secret removed, says why in its condition and an event,
// and can still be deleted.
func TestRefusedBackendHoldsNothing(t *testing.T) {
	cases := []struct {
		name   string
		reason string
		want   string
		refuse func(t *testing.T, tn *tenant, sb *v1alpha1.StateBackend)
	}{
		{"marker-names-another", "the bucket's marker names another StateBackend", v1alpha1.ReasonBucketOwnedByOther,
			func(t *testing.T, tn *tenant, sb *v1alpha1.StateBackend) {
				tn.store.PutBucket(sb.Status.BucketName, &provider.Owner{Namespace: "squatted", Name: "victim", UID: "victim-uid"})
				requestReconcile(t, client.ObjectKeyFromObject(sb))
			}},
		{"namespace-not-served", "the provider's allowedNamespaces stops selecting the namespace", v1alpha1.ReasonNamespaceNotAllowed,
			func(t *testing.T, tn *tenant, _ *v1alpha1.StateBackend) {
				ctx := context.Background()
				csp := &v1alpha1.ClusterStorageProvider{}
				must(t, k8s.Get(ctx, client.ObjectKey{Name: tn.provider}, csp))
				patch := client.MergeFrom(csp.DeepCopy())
				csp.Spec.AllowedNamespaces = &metav1.LabelSelector{MatchLabels: map[string]string{"tfstate.dev/tenant": "elsewhere"}}
				must(t, k8s.Patch(ctx, csp, patch))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Log(tc.reason)
			tn := newTenant(t)
			key := tn.backend("state", nil)
			sb := waitReady(t, key)
			assertOneLiveCredential(t, tn, key)

			tc.refuse(t, tn, sb)
			got := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, tc.want)
			assertHoldsNothing(t, tn, key, string(sb.UID))
			if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); c.Reason != tc.want {
				t.Errorf("Ready reason %q, want %q", c.Reason, tc.want)
			}
			eventually(t, 20*time.Second, func() error {
				if !hasEvent(t, key.Namespace, key.Name, corev1.EventTypeWarning, tc.want) {
					return fmt.Errorf("no warning event with reason %s", tc.want)
				}
				return nil
			})
			deleteAndWait(t, key)
		})
	}
}

// patchStatusAsTenant patches a StateBackend's status subresource, as a tenant granted
// statebackends/status by mistake would.
func patchStatusAsTenant(t *testing.T, key client.ObjectKey, mutate func(*v1alpha1.StateBackendStatus)) {
	t.Helper()
	sb := getBackend(t, key)
	patch := client.MergeFrom(sb.DeepCopy())
	mutate(&sb.Status)
	must(t, k8s.Status().Patch(context.Background(), sb, patch))
}

// TestTamperedStatusNeverTouchesAnotherBackendsCredential: status.credential and
// status.previousCredential of one backend are pointed at another backend's credential. The
// operator never repairs or revokes it (on AWS that would strip a victim IAM user's policies): the
// victim's credential stays live with its grant, and the tampered backend keeps (or re-issues) its
// own.
func TestTamperedStatusNeverTouchesAnotherBackendsCredential(t *testing.T) {
	tn := newTenant(t)
	victimKey, tamperedKey := tn.backend("victim", nil), tn.backend("tampered", nil)
	victim, tampered := waitReady(t, victimKey), waitReady(t, tamperedKey)
	v := victim.Status.Credential
	victimBucket, victimAccess, ok := tn.store.CredentialScope(v.ID)
	if !ok {
		t.Fatalf("the victim's credential %q is not live", v.ID)
	}

	patchStatusAsTenant(t, tamperedKey, func(st *v1alpha1.StateBackendStatus) {
		st.Credential.ID, st.Credential.Name = v.ID, v.Name
		st.PreviousCredential = &v1alpha1.RetiredCredentialStatus{ID: v.ID, Name: v.Name, RevokeAt: metav1.NewTime(time.Now().Add(-time.Hour))}
	})
	requestReconcile(t, tamperedKey)
	waitHandled(t, tamperedKey)
	bumpAnnotation(t, tamperedKey) // and once more, through whatever path the first one left
	requestReconcile(t, tamperedKey)
	waitHandled(t, tamperedKey)

	bucket, acc, ok := tn.store.CredentialScope(v.ID)
	if !ok {
		t.Fatalf("the victim's credential %q was revoked through another backend's status", v.Name)
	}
	if bucket != victimBucket || acc != victimAccess {
		t.Fatalf("the victim's credential was re-granted through another backend's status: %s on %q, was %s on %q", acc, bucket, victimAccess, victimBucket)
	}
	if got := liveWithPrefix(tn, string(tampered.UID)); len(got) != 1 {
		t.Fatalf("the tampered backend holds %d credentials of its own, want 1: %+v", len(got), got)
	}
	waitReady(t, tamperedKey)
	if st := getBackend(t, tamperedKey).Status.Credential; st == nil || st.ID == v.ID {
		t.Errorf("the tampered backend's status still names the victim's credential: %+v", st)
	}
	waitReady(t, victimKey)
}

// TestFakedCreatingIntentCannotTakeAForeignBucket: a status patch that fakes an interrupted
// create (BucketReady reason Creating) of a bucket the operator never named for this backend (an
// unmarked bucket of someone else) is refused as BucketExistsNotOwned; the bucket is not marked.
func TestFakedCreatingIntentCannotTakeAForeignBucket(t *testing.T) {
	tn := newTenant(t)
	const foreign = "someone-elses-unmarked-bucket"
	tn.store.PutBucket(foreign, nil)
	must(t, tn.store.PutObject(foreign, "prod/terraform.tfstate", []byte(`{"secret":"state"}`)))
	key := tn.backend("state", nil)
	waitReady(t, key)

	patchStatusAsTenant(t, key, func(st *v1alpha1.StateBackendStatus) {
		st.BucketName = foreign
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: v1alpha1.ConditionBucketReady, Status: metav1.ConditionFalse, Reason: reasonCreating,
			Message: "creating bucket", ObservedGeneration: getBackend(t, key).Generation,
		})
	})
	requestReconcile(t, key)
	waitCondition(t, key, v1alpha1.ConditionBucketReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNotOwned)
	if b, _ := tn.store.Bucket(foreign); b.Owner != nil {
		t.Fatalf("the foreign bucket was marked as owned by %+v through a faked Creating intent", *b.Owner)
	}
	for _, c := range tn.store.LiveCredentials() {
		if bucket, _, _ := tn.store.CredentialScope(c.AccessKeyID); bucket == foreign {
			t.Fatalf("credential %q was issued for the foreign bucket", c.Name)
		}
	}
}
