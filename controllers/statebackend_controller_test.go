package controllers

import (
	"context"
	"errors"
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
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

// assertOneLiveCredential checks the invariant: exactly one live credential for the backend, held
// by its Secret, scoped to its bucket.
func assertOneLiveCredential(t *testing.T, tn *tenant, key client.ObjectKey) *corev1.Secret {
	t.Helper()
	sb := getBackend(t, key)
	live := tn.store.LiveCredentials()
	if len(live) != 1 {
		t.Fatalf("want exactly one live credential, got %d: %+v", len(live), live)
	}
	if !strings.HasPrefix(live[0].Name, naming.CredentialPrefix(testClusterID, string(sb.UID))) {
		t.Fatalf("credential %q is not named for the backend", live[0].Name)
	}
	secret := getSecret(t, key.Namespace, sb.Status.SecretName)
	if got := string(secret.Data[backendconfig.EnvAccessKeyID]); got != live[0].AccessKeyID {
		t.Fatalf("Secret holds access key %q, the live credential is %q", got, live[0].AccessKeyID)
	}
	bucket, _, _ := tn.store.CredentialScope(live[0].AccessKeyID)
	if bucket != sb.Status.BucketName {
		t.Fatalf("credential scoped to %q, backend bucket is %q", bucket, sb.Status.BucketName)
	}
	if sb.Status.Credential == nil || sb.Status.Credential.ID != live[0].ID {
		t.Fatalf("status.credential %+v does not name the live credential %q", sb.Status.Credential, live[0].ID)
	}
	return secret
}

func TestReadyBackendPublishesSecretAndConfigMap(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("network", func(sb *v1alpha1.StateBackend) { sb.Spec.BucketName = "team-a-network-tfstate" })
	sb := waitReady(t, key)

	for _, typ := range []string{v1alpha1.ConditionBucketReady, v1alpha1.ConditionCredentialReady} {
		waitCondition(t, key, typ, metav1.ConditionTrue, v1alpha1.ReasonReady)
	}
	if sb.Status.BucketName != "team-a-network-tfstate" || sb.Status.SecretName != "network" ||
		sb.Status.ConfigMapName != "network-backend" || sb.Status.Endpoint != "http://127.0.0.1:9" || sb.Status.Region != "us-east-1" {
		t.Errorf("status names are wrong: %+v", sb.Status)
	}
	if sb.Status.Versioning != v1alpha1.VersioningEnabled || sb.Status.Locking != v1alpha1.LockingLockfile {
		t.Errorf("versioning %q and locking %q, want Enabled and Lockfile", sb.Status.Versioning, sb.Status.Locking)
	}
	if sb.Status.Credential.VerifiedAt == nil || sb.Status.Credential.IssuedAt == nil {
		t.Errorf("credential status lacks issuedAt/verifiedAt: %+v", sb.Status.Credential)
	}
	b, ok := tn.store.Bucket("team-a-network-tfstate")
	if !ok || b.Owner == nil || b.Owner.UID != string(sb.UID) || !b.Versioning {
		t.Fatalf("bucket not created, marked and versioned: %+v", b)
	}

	// The reconciles woken by the Secret and ConfigMap writes must not probe a proven credential
	// again (each probe is several S3 calls, with a cloud's rate limits behind them).
	time.Sleep(time.Second)
	if got := tn.store.Calls(memory.OpProbe); got != 1 {
		t.Errorf("credential probed %d times, want once", got)
	}

	secret := assertOneLiveCredential(t, tn, key)
	if !metav1.IsControlledBy(secret, sb) || secret.Labels[LabelManagedBy] != ManagedByValue {
		t.Errorf("Secret is not owned and labelled: %+v", secret.ObjectMeta)
	}
	args := string(secret.Data["TF_CLI_ARGS_init"])
	for _, want := range []string{"-backend-config=bucket=team-a-network-tfstate", "-backend-config=key=network/terraform.tfstate", "-backend-config=use_lockfile=true"} {
		if !strings.Contains(args, want) {
			t.Errorf("TF_CLI_ARGS_init %q lacks %q", args, want)
		}
	}
	cm := &corev1.ConfigMap{}
	must(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: tn.ns, Name: "network-backend"}, cm))
	if !metav1.IsControlledBy(cm, sb) || !strings.Contains(cm.Data[backendconfig.ConfigMapBackendFile], "team-a-network-tfstate") {
		t.Errorf("ConfigMap is not owned or lacks the backend file: %+v", cm)
	}
	for k, v := range cm.Data {
		if strings.Contains(v, string(secret.Data[backendconfig.EnvSecretAccessKey])) {
			t.Errorf("ConfigMap key %q holds the secret key", k)
		}
	}

	// A full reconcile of a Ready backend (one asked for) changes nothing at the provider.
	issued := tn.store.Calls(memory.OpIssueCredential)
	requestReconcile(t, key)
	waitHandled(t, key)
	if got := tn.store.Calls(memory.OpIssueCredential); got != issued {
		t.Errorf("a Ready backend issued %d more credentials on a requested reconcile", got-issued)
	}
	assertOneLiveCredential(t, tn, key)
}

// requestReconcile asks for a full check of the backend against its provider, as a human would
// with the reconcile-requested-at annotation.
func requestReconcile(t *testing.T, key client.ObjectKey) {
	t.Helper()
	setAnnotation(t, key, v1alpha1.AnnotationReconcileRequestedAt, time.Now().Format(time.RFC3339Nano))
}

// waitHandled waits until the backend's status says the last requested reconcile was answered.
func waitHandled(t *testing.T, key client.ObjectKey) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		sb := getBackend(t, key)
		if want := sb.Annotations[v1alpha1.AnnotationReconcileRequestedAt]; sb.Status.LastHandledReconcileAt != want {
			return fmt.Errorf("lastHandledReconcileAt %q, want %q", sb.Status.LastHandledReconcileAt, want)
		}
		return nil
	})
}

func setAnnotation(t *testing.T, key client.ObjectKey, name, value string) {
	t.Helper()
	sb := getBackend(t, key)
	patch := client.MergeFrom(sb.DeepCopy())
	if sb.Annotations == nil {
		sb.Annotations = map[string]string{}
	}
	sb.Annotations[name] = value
	must(t, k8s.Patch(context.Background(), sb, patch))
}

// bumpAnnotation triggers a reconcile without changing the spec or asking for a full check.
func bumpAnnotation(t *testing.T, key client.ObjectKey) {
	t.Helper()
	setAnnotation(t, key, "test/poke", time.Now().String())
}

// TestCrashAfterEveryProviderCall injects a failure after each provider call took effect (a lost
// reply, or a crash right after the call) and checks that the next reconciles converge to one
// bucket and exactly one live credential held by the Secret.
func TestCrashAfterEveryProviderCall(t *testing.T) {
	cases := []struct {
		reason string
		op     memory.Op
		after  bool
		// lostFirst, when set, is a call whose reply is lost before op's fault.
		lostFirst memory.Op
	}{
		{"the bucket was created but the reply was lost", memory.OpCreateBucket, true, ""},
		{"versioning was enabled but the reply was lost", memory.OpEnableVersioning, true, ""},
		{"a credential was issued but the Secret was never written", memory.OpIssueCredential, true, ""},
		// A new backend lists nothing (nothing can have been issued for it yet): the listing
		// comes after an issue whose reply was lost.
		{"an issue's reply was lost, then the listing of credentials failed", memory.OpListCredentials, false, memory.OpIssueCredential},
		{"observing the bucket failed", memory.OpObserveBucket, false, ""},
		{"the probe failed after proving the credential", memory.OpProbe, true, ""},
		{"issuing failed before anything was created", memory.OpIssueCredential, false, ""},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d-%s", i, tc.op), func(t *testing.T) {
			tn := newTenant(t)
			injected := errors.New("injected: connection reset")
			if tc.lostFirst != "" {
				tn.store.FailAfter(tc.lostFirst, injected)
			}
			if tc.after {
				tn.store.FailAfter(tc.op, injected)
			} else {
				tn.store.FailBefore(tc.op, injected)
			}
			key := tn.backend("state", nil)
			sb := waitReady(t, key)
			if tn.store.PendingFaults() != 0 {
				t.Fatalf("%s: the fault was never triggered", tc.reason)
			}
			if names := tn.store.BucketNames(); len(names) != 1 || names[0] != sb.Status.BucketName {
				t.Fatalf("%s: want exactly the bucket %q, got %v", tc.reason, sb.Status.BucketName, names)
			}
			assertOneLiveCredential(t, tn, key)
		})
	}
}

func TestCrashBetweenBucketCreateAndMarker(t *testing.T) {
	tn := newTenant(t)
	tn.store.CrashMidCreate = true
	key := tn.backend("state", nil)
	sb := waitReady(t, key)
	b, _ := tn.store.Bucket(sb.Status.BucketName)
	if b.Owner == nil || b.Owner.UID != string(sb.UID) {
		t.Fatalf("the bucket created by the interrupted reconcile was not marked as ours: %+v", b.Owner)
	}
	assertOneLiveCredential(t, tn, key)
}

func TestForeignBucketIsRefusedUnlessAdoptionIsAllowed(t *testing.T) {
	tn := newTenant(t)
	tn.store.PutBucket("someone-elses", nil)
	tn.store.PutBucket("another-backends", &provider.Owner{Namespace: "other", Name: "x", UID: "u"})

	refused := tn.backend("refused", func(sb *v1alpha1.StateBackend) { sb.Spec.BucketName = "someone-elses" })
	waitCondition(t, refused, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNotOwned)
	owned := tn.backend("owned", func(sb *v1alpha1.StateBackend) {
		sb.Spec.BucketName = "another-backends"
		sb.Spec.AdoptExistingBucket = true
	})
	waitCondition(t, owned, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketOwnedByOther)
	// The provider does not allow adoption, so asking for it is not enough.
	asks := tn.backend("asks", func(sb *v1alpha1.StateBackend) {
		sb.Spec.BucketName = "someone-elses"
		sb.Spec.AdoptExistingBucket = true
	})
	waitCondition(t, asks, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNotOwned)

	time.Sleep(time.Second)
	if live := tn.store.LiveCredentials(); len(live) != 0 {
		t.Fatalf("a refused bucket must get no credential, got %+v", live)
	}
	for _, name := range []string{"refused", "owned", "asks"} {
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: tn.ns, Name: name}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Errorf("backend %q of a refused bucket got a Secret (err %v)", name, err)
		}
	}
	if b, _ := tn.store.Bucket("another-backends"); b.Owner.Name != "x" {
		t.Errorf("another backend's marker was overwritten: %+v", b.Owner)
	}

	// Allowing adoption on the provider lets the backend that asked for it take the unmarked bucket.
	p := &v1alpha1.ClusterStorageProvider{}
	must(t, k8s.Get(context.Background(), client.ObjectKey{Name: tn.provider}, p))
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.AllowBucketAdoption = true
	must(t, k8s.Patch(context.Background(), p, patch))
	sb := waitReady(t, asks)
	if b, _ := tn.store.Bucket("someone-elses"); b.Owner == nil || b.Owner.UID != string(sb.UID) {
		t.Fatalf("adopted bucket not marked: %+v", b.Owner)
	}
	waitCondition(t, owned, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketOwnedByOther)
}

func TestExistingSecretIsNeverOverwritten(t *testing.T) {
	tn := newTenant(t)
	must(t, k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "network"},
		Data:       map[string][]byte{"mine": []byte("do not touch")},
	}))
	key := tn.backend("network", nil)
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretConflict)
	if live := tn.store.LiveCredentials(); len(live) != 0 {
		t.Fatalf("no credential may be issued while the Secret's name is taken, got %+v", live)
	}
	s := getSecret(t, tn.ns, "network")
	if string(s.Data["mine"]) != "do not touch" || len(s.Data) != 1 {
		t.Fatalf("foreign Secret was modified: %v", s.Data)
	}
	// Removing the foreign Secret frees the name.
	must(t, k8s.Delete(context.Background(), s))
	waitReady(t, key)
	assertOneLiveCredential(t, tn, key)
}

func TestMissingProviderThenCreated(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", func(sb *v1alpha1.StateBackend) { sb.Spec.ProviderRef.Name = "not-yet" })
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderNotFound)

	// Missing credentials Secret: a condition, not a crash.
	stores.Store("not-yet", tn.store)
	must(t, k8s.Create(context.Background(), &v1alpha1.ClusterStorageProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "not-yet"},
		Spec: v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9"},
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: operatorNamespace, Name: "not-yet"},
		},
	}))
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCredentialsNotFound)
	must(t, k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "not-yet"},
		Data:       map[string][]byte{storeKey: []byte("not-yet")},
	}))
	waitReady(t, key)
}

func TestDeletingABackendThatNeverReachedAProvider(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("typo", func(sb *v1alpha1.StateBackend) { sb.Spec.ProviderRef.Name = "no-such-provider" })
	sb := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderNotFound)
	if !containsFinalizer(sb) {
		t.Fatal("finalizer missing: it must be added before anything else")
	}
	// Nothing was ever created at a provider, so nothing blocks the deletion.
	must(t, k8s.Delete(context.Background(), sb))
	eventually(t, 20*time.Second, func() error {
		err := k8s.Get(context.Background(), key, &v1alpha1.StateBackend{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("StateBackend still exists (err %v)", err)
	})
	if got := tn.store.Calls(memory.OpIssueCredential) + tn.store.Calls(memory.OpCreateBucket); got != 0 {
		t.Fatalf("%d provider calls for a backend whose provider does not exist", got)
	}
}

func TestNamespacedStorageProvider(t *testing.T) {
	tn := newTenant(t)
	stores.Store("local", tn.store)
	must(t, k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "local-creds"},
		Data:       map[string][]byte{storeKey: []byte("local")},
	}))
	must(t, k8s.Create(context.Background(), &v1alpha1.StorageProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "local"},
		Spec: v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9"},
			CredentialsSecretRef: &v1alpha1.SecretReference{Name: "local-creds"},
		},
	}))
	key := tn.backend("state", func(sb *v1alpha1.StateBackend) {
		sb.Spec.ProviderRef = v1alpha1.ProviderReference{Kind: v1alpha1.StorageProviderKind, Name: "local"}
	})
	waitReady(t, key)

	// A StorageProvider that names the operator's namespace would hand a tenant the operator's
	// admin credentials: refused, and nothing is created with them.
	must(t, k8s.Create(context.Background(), &v1alpha1.StorageProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "cross-namespace"},
		Spec: v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9"},
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: operatorNamespace, Name: tn.provider},
		},
	}))
	before := len(tn.store.BucketNames())
	hijack := tn.backend("hijack", func(sb *v1alpha1.StateBackend) {
		sb.Spec.ProviderRef = v1alpha1.ProviderReference{Kind: v1alpha1.StorageProviderKind, Name: "cross-namespace"}
	})
	waitCondition(t, hijack, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderInvalid)
	if after := len(tn.store.BucketNames()); after != before {
		t.Fatalf("a bucket was created with another namespace's credentials (%d -> %d buckets)", before, after)
	}
}

func TestCredentialPropagationIsAwaited(t *testing.T) {
	tn := newTenant(t)
	tn.store.PropagationProbes = 2
	key := tn.backend("state", nil)
	waitCondition(t, key, v1alpha1.ConditionCredentialReady, metav1.ConditionFalse, v1alpha1.ReasonCredentialPropagating)
	waitReady(t, key)
	if got := tn.store.Calls(memory.OpIssueCredential); got != 1 {
		t.Fatalf("waiting for propagation must not issue again: %d issued", got)
	}
	assertOneLiveCredential(t, tn, key)
}

func TestCredentialThatNeverPropagatesBecomesAnError(t *testing.T) {
	tn := newTenant(t)
	tn.store.PropagationProbes = 1 << 30
	key := tn.backend("state", nil)
	waitCondition(t, key, v1alpha1.ConditionCredentialReady, metav1.ConditionFalse, v1alpha1.ReasonCredentialPropagating)
	// After PropagationTimeout the wait is over: an ordinary provider error, retried with backoff.
	eventually(t, 30*time.Second, func() error {
		sb := getBackend(t, key)
		c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionCredentialReady)
		if c == nil || c.Reason != v1alpha1.ReasonProviderError {
			return fmt.Errorf("CredentialReady = %+v, want reason %s", c, v1alpha1.ReasonProviderError)
		}
		return nil
	})
	if got := tn.store.Calls(memory.OpIssueCredential); got != 1 {
		t.Fatalf("%d credentials issued, want 1: a refused credential is not replaced in a loop", got)
	}
}

func TestStoreWithoutConditionalWritesGetsNoLockfile(t *testing.T) {
	tn := newTenant(t)
	tn.store.ConditionalWrites = false
	key := tn.backend("state", nil)
	sb := waitReady(t, key)
	if sb.Status.Locking != v1alpha1.LockingUnsupported {
		t.Fatalf("locking %q, want Unsupported", sb.Status.Locking)
	}
	if args := string(getSecret(t, tn.ns, "state").Data["TF_CLI_ARGS_init"]); strings.Contains(args, "use_lockfile") {
		t.Fatalf("use_lockfile emitted for a store that ignores conditional writes: %q", args)
	}
}

func TestAccessChangeReplacesTheCredential(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", nil)
	waitReady(t, key)
	before := tn.store.LiveCredentials()[0]

	sb := getBackend(t, key)
	patch := client.MergeFrom(sb.DeepCopy())
	sb.Spec.Access = v1alpha1.AccessReadOnly
	must(t, k8s.Patch(context.Background(), sb, patch))
	eventually(t, 20*time.Second, func() error {
		live := tn.store.LiveCredentials()
		if len(live) != 1 || live[0].ID == before.ID {
			return fmt.Errorf("live credentials %+v", live)
		}
		return nil
	})
	sb = waitReady(t, key)
	if sb.Status.Locking != v1alpha1.LockingNotApplicable {
		t.Errorf("a ReadOnly backend has locking %q, want NotApplicable", sb.Status.Locking)
	}
	secret := assertOneLiveCredential(t, tn, key)
	if _, a, _ := tn.store.CredentialScope(string(secret.Data[backendconfig.EnvAccessKeyID])); a != provider.ReadOnly {
		t.Fatalf("new credential has access %q", a)
	}
}

func TestDriftSecretDeletedOrCredentialRevoked(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", nil)
	waitReady(t, key)
	first := tn.store.LiveCredentials()[0]

	// The secret half cannot be read back: a lost Secret means a new credential, and the old one
	// is revoked.
	must(t, k8s.Delete(context.Background(), getSecret(t, tn.ns, "state")))
	eventually(t, 20*time.Second, func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(context.Background(), key, s); err != nil {
			return err
		}
		if string(s.Data[backendconfig.EnvAccessKeyID]) == first.AccessKeyID {
			return errors.New("Secret still holds the first credential")
		}
		return nil
	})
	waitReady(t, key)
	assertOneLiveCredential(t, tn, key)
}

func TestDeleteRetainKeepsBucketAndRevokes(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", nil)
	sb := waitReady(t, key)
	must(t, tn.store.PutObject(sb.Status.BucketName, "network/terraform.tfstate", []byte(`{"version":4}`)))

	must(t, k8s.Delete(context.Background(), sb))
	eventually(t, 20*time.Second, func() error {
		err := k8s.Get(context.Background(), key, &v1alpha1.StateBackend{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	if live := tn.store.LiveCredentials(); len(live) != 0 {
		t.Fatalf("credential not revoked on delete: %+v", live)
	}
	b, ok := tn.store.Bucket(sb.Status.BucketName)
	if !ok || string(b.Objects["network/terraform.tfstate"]) != `{"version":4}` {
		t.Fatalf("Retain lost the bucket or its state: %+v", b)
	}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: tn.ns, Name: "state"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the Secret of a deleted backend must be removed, got %v", err)
	}

	// A StateBackend re-created with the same name gets its retained state back.
	key = tn.backend("state", nil)
	again := waitReady(t, key)
	if again.Status.BucketName != sb.Status.BucketName {
		t.Fatalf("re-created backend got bucket %q, want the retained %q", again.Status.BucketName, sb.Status.BucketName)
	}
}

func TestDeletePolicyNeverEmptiesABucket(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", func(sb *v1alpha1.StateBackend) { sb.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete })
	sb := waitReady(t, key)
	must(t, tn.store.PutObject(sb.Status.BucketName, "network/terraform.tfstate", []byte("state")))

	must(t, k8s.Delete(context.Background(), sb))
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNotEmpty)
	if live := tn.store.LiveCredentials(); len(live) != 0 {
		t.Fatalf("credential must be revoked even while the bucket blocks deletion: %+v", live)
	}
	if b, ok := tn.store.Bucket(sb.Status.BucketName); !ok || string(b.Objects["network/terraform.tfstate"]) != "state" {
		t.Fatalf("a non-empty bucket lost objects: %+v", b)
	}

	// Once the user empties it, the deletion completes and the bucket is gone.
	tn.store.DeleteObject(sb.Status.BucketName, "network/terraform.tfstate")
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(context.Background(), key, &v1alpha1.StateBackend{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	if _, ok := tn.store.Bucket(sb.Status.BucketName); ok {
		t.Fatalf("empty bucket not deleted under deletionPolicy Delete")
	}
}

func TestReadOnlyCredentialThatCanWriteIsRevoked(t *testing.T) {
	tn := newTenant(t)
	tn.store.TooBroad = true
	key := tn.backend("reader", func(sb *v1alpha1.StateBackend) { sb.Spec.Access = v1alpha1.AccessReadOnly })
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCredentialRejected)
	eventually(t, 10*time.Second, func() error {
		if live := tn.store.LiveCredentials(); len(live) != 0 {
			return fmt.Errorf("too-broad credential still live: %+v", live)
		}
		return nil
	})
	// Terminal until the spec changes: no issue-probe-revoke loop through the Secret's events.
	time.Sleep(2 * time.Second)
	if got := tn.store.Calls(memory.OpIssueCredential); got != 1 {
		t.Fatalf("%d credentials issued for a spec whose credential was rejected, want 1", got)
	}
}

func TestEventsAndStatusCarryNoSecrets(t *testing.T) {
	tn := newTenant(t)
	tn.store.FailAfter(memory.OpIssueCredential, errors.New("injected"))
	key := tn.backend("state", nil)
	sb := waitReady(t, key)
	secret := getSecret(t, tn.ns, "state")
	sk := string(secret.Data[backendconfig.EnvSecretAccessKey])
	if sk == "" {
		t.Fatal("no secret key in the Secret")
	}
	evs := eventsFor(t, tn.ns, "state")
	if len(evs) == 0 {
		t.Fatal("no events recorded")
	}
	for _, e := range evs {
		if strings.Contains(e.Note, sk) {
			t.Errorf("event %q carries the secret key", e.Reason)
		}
	}
	for _, c := range sb.Status.Conditions {
		if strings.Contains(c.Message, sk) {
			t.Errorf("condition %s carries the secret key", c.Type)
		}
	}
	reasons := map[string]bool{}
	for _, e := range evs {
		reasons[e.Reason] = true
	}
	for _, want := range []string{v1alpha1.ReasonBucketCreated, v1alpha1.ReasonCredentialIssued, "CredentialRevoked"} {
		if !reasons[want] {
			t.Errorf("no %s event; got %v", want, reasons)
		}
	}
}
