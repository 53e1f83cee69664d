package controllers

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
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

// namingProvider is a valid minio ClusterStorageProvider with a bucket naming policy, not yet
// created (the admission tests use it too).
func namingProvider(name, secret string, policy *v1alpha1.BucketNamingPolicy) *v1alpha1.ClusterStorageProvider {
	return &v1alpha1.ClusterStorageProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9"},
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: operatorNamespace, Name: secret},
			BucketNaming:         policy,
		},
	}
}

// createNamingProvider creates a ClusterStorageProvider over the tenant's store with the policy
// from the start, so that no reconcile can see it without the policy.
func (tn *tenant) createNamingProvider(suffix string, mutate func(*v1alpha1.StorageProviderSpec)) string {
	tn.t.Helper()
	p := namingProvider(tn.provider+"-"+suffix, tn.provider, nil)
	mutate(&p.Spec)
	must(tn.t, k8s.Create(context.Background(), p))
	return p.Name
}

// backendIn creates a StateBackend in namespace ns that uses the ClusterStorageProvider named
// providerName.
func backendIn(t *testing.T, ns, name, providerName string, mutate func(*v1alpha1.StateBackend)) client.ObjectKey {
	t.Helper()
	sb := &v1alpha1.StateBackend{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.StateBackendSpec{
			ProviderRef: v1alpha1.ProviderReference{Kind: v1alpha1.ClusterStorageProviderKind, Name: providerName},
			Key:         "network/terraform.tfstate",
		},
	}
	if mutate != nil {
		mutate(sb)
	}
	must(t, k8s.Create(context.Background(), sb))
	return client.ObjectKeyFromObject(sb)
}

func bucketNamed(name string) func(*v1alpha1.StateBackend) {
	return func(sb *v1alpha1.StateBackend) { sb.Spec.BucketName = name }
}

// assertNoSecret fails when the StateBackend's Secret exists.
func assertNoSecret(t *testing.T, key client.ObjectKey) {
	t.Helper()
	if err := k8s.Get(context.Background(), key, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("StateBackend %s got a Secret (err %v)", key, err)
	}
}

// waitProviderObserved waits until the provider reconciler has seen the provider's current
// generation: the manager's cache, which the StateBackend reconciler reads too, then holds it.
func waitProviderObserved(t *testing.T, name string) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		p := &v1alpha1.ClusterStorageProvider{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, p); err != nil {
			return err
		}
		if p.Status.ObservedGeneration != p.Generation {
			return fmt.Errorf("provider %s: observed generation %d, want %d", name, p.Status.ObservedGeneration, p.Generation)
		}
		return nil
	})
}

// TestBucketNamingPrefixesDefaultNames: a backend without spec.bucketName gets the default name
// under the provider's prefix, for cluster-wide and namespaced providers alike; a reader of such a
// backend reads the prefixed bucket and creates none of its own.
func TestBucketNamingPrefixesDefaultNames(t *testing.T) {
	tn := newTenant(t)
	csp := tn.createNamingProvider("prefixed", func(s *v1alpha1.StorageProviderSpec) {
		s.BucketNaming = &v1alpha1.BucketNamingPolicy{Prefix: "acme-"}
	})
	sb := waitReady(t, backendIn(t, tn.ns, "network", csp, nil))
	want := naming.PrefixedBucketName(testOwnershipKey.BucketNameSalt(), "acme-", tn.ns, "network")
	if sb.Status.BucketName != want || !strings.HasPrefix(want, "acme-"+tn.ns+"-network-") {
		t.Fatalf("default bucket %q, want %q (the prefix, then <namespace>-<name>-<hash8>)", sb.Status.BucketName, want)
	}
	if b, ok := tn.store.Bucket(want); !ok || b.Owner == nil || b.Owner.UID != string(sb.UID) {
		t.Fatalf("bucket %q not created and marked as the backend's: %+v (exists %v)", want, b.Owner, ok)
	}
	secret := getSecret(t, tn.ns, "network")
	if bucket, _, _ := tn.store.CredentialScope(string(secret.Data[backendconfig.EnvAccessKeyID])); bucket != want {
		t.Fatalf("credential scoped to %q, want %q", bucket, want)
	}

	// Readers are unaffected: they read the owner's bucket, whatever its name.
	r := waitReady(t, backendIn(t, tn.ns, "remote-state", csp, reader("network", "")))
	if r.Status.BucketName != want {
		t.Fatalf("reader reads %q, want the owner's %q", r.Status.BucketName, want)
	}
	if names := tn.store.BucketNames(); len(names) != 1 {
		t.Fatalf("buckets %v, want only the owner's", names)
	}

	// A namespaced StorageProvider applies its own policy.
	must(t, k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "local-creds"},
		Data:       map[string][]byte{storeKey: []byte(tn.provider)},
	}))
	must(t, k8s.Create(context.Background(), &v1alpha1.StorageProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "local"},
		Spec: v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9"},
			CredentialsSecretRef: &v1alpha1.SecretReference{Name: "local-creds"},
			BucketNaming:         &v1alpha1.BucketNamingPolicy{Prefix: "local-"},
		},
	}))
	local := waitReady(t, tn.backend("local-state", func(sb *v1alpha1.StateBackend) {
		sb.Spec.ProviderRef = v1alpha1.ProviderReference{Kind: v1alpha1.StorageProviderKind, Name: "local"}
	}))
	if want := naming.PrefixedBucketName(testOwnershipKey.BucketNameSalt(), "local-", tn.ns, "local-state"); local.Status.BucketName != want {
		t.Fatalf("namespaced provider: bucket %q, want %q", local.Status.BucketName, want)
	}
}

// TestBucketNamingRefusesNamesOutsideThePolicy: an explicit spec.bucketName that does not start
// with the prefix is refused with BucketNameRefused before any provider call for the bucket (no
// observe, no create, no credential); one that fits is accepted. Removing the policy from the
// provider releases the refused backend (the provider watch brings it back).
func TestBucketNamingRefusesNamesOutsideThePolicy(t *testing.T) {
	tn := newTenant(t)
	csp := tn.createNamingProvider("prefixed", func(s *v1alpha1.StorageProviderSpec) {
		s.BucketNaming = &v1alpha1.BucketNamingPolicy{Prefix: "acme-"}
	})
	refused := backendIn(t, tn.ns, "squatter", csp, bucketNamed("other-teams-bucket"))
	sb := waitCondition(t, refused, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNameRefused)
	if c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionBucketReady); c == nil || c.Reason != v1alpha1.ReasonBucketNameRefused {
		t.Errorf("BucketReady %+v, want reason %s", c, v1alpha1.ReasonBucketNameRefused)
	}
	if c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, `"acme-"`) {
		t.Errorf("message %q does not name the required prefix", c.Message)
	}
	if sb.Status.BucketName != "" {
		t.Errorf("a refused name was recorded in status: %q", sb.Status.BucketName)
	}
	if !hasEvent(t, tn.ns, "squatter", corev1.EventTypeWarning, v1alpha1.ReasonBucketNameRefused) {
		t.Errorf("no %s warning event", v1alpha1.ReasonBucketNameRefused)
	}
	time.Sleep(time.Second) // a few retries at the suite's RetryInterval
	for _, op := range []memory.Op{memory.OpObserveBucket, memory.OpCreateBucket, memory.OpMarkBucket, memory.OpIssueCredential} {
		if n := tn.store.Calls(op); n != 0 {
			t.Errorf("%d %s calls for a refused bucket name, want 0", n, op)
		}
	}
	assertNoSecret(t, refused)

	// A name that fits is accepted as given.
	fits := waitReady(t, backendIn(t, tn.ns, "fits", csp, bucketNamed("acme-anything")))
	if fits.Status.BucketName != "acme-anything" {
		t.Fatalf("bucket %q, want acme-anything", fits.Status.BucketName)
	}
	if _, ok := tn.store.Bucket("other-teams-bucket"); ok {
		t.Fatal("the refused bucket was created")
	}

	// Terminal until the spec or the provider changes: dropping the policy releases it.
	p := &v1alpha1.ClusterStorageProvider{}
	must(t, k8s.Get(context.Background(), client.ObjectKey{Name: csp}, p))
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.BucketNaming = nil
	must(t, k8s.Patch(context.Background(), p, patch))
	if sb := waitReady(t, refused); sb.Status.BucketName != "other-teams-bucket" {
		t.Fatalf("bucket %q after the policy was dropped, want other-teams-bucket", sb.Status.BucketName)
	}
}

// TestBucketNamingPerNamespace: with perNamespace, an explicit name must start with
// "<prefix><namespace>-": tenant A cannot name a bucket in tenant B's part of the name space, and
// a name in its own part is accepted.
func TestBucketNamingPerNamespace(t *testing.T) {
	tn := newTenant(t)
	nsA, nsB := tn.ns+"-a", tn.ns+"-b"
	for _, ns := range []string{nsA, nsB} {
		must(t, k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	csp := tn.createNamingProvider("per-ns", func(s *v1alpha1.StorageProviderSpec) {
		s.BucketNaming = &v1alpha1.BucketNamingPolicy{Prefix: "acme-", PerNamespace: true}
	})

	cases := []struct {
		reason, name, bucket string
		refused              bool
	}{
		{"tenant A may not name a bucket under tenant B's namespace", "in-b", "acme-" + nsB + "-state", true},
		{"the prefix alone is not enough", "prefix-only", "acme-state", true},
		{"the namespace without the prefix is not enough", "no-prefix", nsA + "-state", true},
		{"the namespace must be followed by a hyphen, not run on", "run-on", "acme-" + nsA + "x-state", true},
		{"a name under its own namespace is accepted", "own", "acme-" + nsA + "-state", false},
	}
	for _, tc := range cases {
		key := backendIn(t, nsA, tc.name, csp, bucketNamed(tc.bucket))
		if !tc.refused {
			if sb := waitReady(t, key); sb.Status.BucketName != tc.bucket {
				t.Errorf("%s: bucket %q, want %q", tc.reason, sb.Status.BucketName, tc.bucket)
			}
			continue
		}
		sb := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNameRefused)
		if c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, fmt.Sprintf("%q", "acme-"+nsA+"-")) {
			t.Errorf("%s: message %q does not name the required prefix", tc.reason, c.Message)
		}
		if _, ok := tn.store.Bucket(tc.bucket); ok {
			t.Errorf("%s: bucket %q was created", tc.reason, tc.bucket)
		}
		assertNoSecret(t, key)
	}

	// Tenant B may use its own part; its default name fits its policy too.
	b := waitReady(t, backendIn(t, nsB, "state", csp, bucketNamed("acme-"+nsB+"-state")))
	if b.Status.BucketName != "acme-"+nsB+"-state" {
		t.Fatalf("tenant B's bucket %q", b.Status.BucketName)
	}
	d := waitReady(t, backendIn(t, nsB, "default", csp, nil))
	if !strings.HasPrefix(d.Status.BucketName, naming.RequiredBucketPrefix("acme-", true, nsB)) {
		t.Fatalf("tenant B's default bucket %q does not fit its own policy", d.Status.BucketName)
	}
	// Exactly the three accepted buckets; creates were made for them only.
	if names := tn.store.BucketNames(); len(names) != 3 {
		t.Fatalf("buckets %v, want the three accepted ones", names)
	}
	if n := tn.store.Calls(memory.OpCreateBucket); n != 3 {
		t.Fatalf("%d CreateBucket calls, want 3", n)
	}
}

// TestBucketNamingNeverMovesAnExistingBucket: a policy added to a provider later applies to names
// chosen after it; backends whose bucket is recorded in status keep it (default and explicit
// names alone), and nothing is created under the new prefix for them.
func TestBucketNamingNeverMovesAnExistingBucket(t *testing.T) {
	tn := newTenant(t)
	old := waitReady(t, tn.backend("old", nil))
	explicit := waitReady(t, tn.backend("explicit", bucketNamed("legacy-"+tn.ns)))
	creates := tn.store.Calls(memory.OpCreateBucket)

	p := &v1alpha1.ClusterStorageProvider{}
	must(t, k8s.Get(context.Background(), client.ObjectKey{Name: tn.provider}, p))
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.BucketNaming = &v1alpha1.BucketNamingPolicy{Prefix: "acme-", PerNamespace: true}
	must(t, k8s.Patch(context.Background(), p, patch))
	waitProviderObserved(t, tn.provider)

	// A reconcile under the policy (a manual rotation changes the generation): same buckets.
	for _, sb := range []*v1alpha1.StateBackend{old, explicit} {
		cur := getBackend(t, client.ObjectKeyFromObject(sb))
		patch := client.MergeFrom(cur.DeepCopy())
		cur.Spec.Credentials = &v1alpha1.CredentialPolicy{RotationRequest: "after-the-policy"}
		must(t, k8s.Patch(context.Background(), cur, patch))
		got := waitReady(t, client.ObjectKeyFromObject(sb))
		if got.Status.BucketName != sb.Status.BucketName {
			t.Errorf("%s: bucket moved from %q to %q when the policy was added", sb.Name, sb.Status.BucketName, got.Status.BucketName)
		}
		if got.Status.Credential == nil || got.Status.Credential.RotationRequest != "after-the-policy" {
			t.Errorf("%s: not reconciled under the policy: credential %+v", sb.Name, got.Status.Credential)
		}
	}
	if n := tn.store.Calls(memory.OpCreateBucket); n != creates {
		t.Errorf("%d CreateBucket calls after the policy was added, want none", n-creates)
	}

	// New backends are held to it.
	waitCondition(t, tn.backend("new-explicit", bucketNamed("legacy2-"+tn.ns)), v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNameRefused)
	if got := waitReady(t, tn.backend("new-default", nil)); got.Status.BucketName != naming.PrefixedBucketName(testOwnershipKey.BucketNameSalt(), "acme-", tn.ns, "new-default") {
		t.Errorf("new default bucket %q, want the prefixed default", got.Status.BucketName)
	}
}

// TestTenantCannotObtainCredentialsToAnotherTenantsBucket: tenant B's bucket exists and is marked as
// B's. Tenant A, on the same provider (one that even allows adoption), names it in spec.bucketName,
// with and without adoptExistingBucket, and reads it with bucketFrom without the provider's consent
// to cross-namespace reads: every attempt is refused, no credential is issued, no Secret written,
// and B's marker is untouched.
func TestTenantCannotObtainCredentialsToAnotherTenantsBucket(t *testing.T) {
	tn := newTenant(t)
	nsA, nsB := tn.ns+"-a", tn.ns+"-b"
	for _, ns := range []string{nsA, nsB} {
		must(t, k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	csp := tn.createNamingProvider("adopting", func(s *v1alpha1.StorageProviderSpec) { s.AllowBucketAdoption = true })
	b := waitReady(t, backendIn(t, nsB, "state", csp, nil))
	bucket := b.Status.BucketName
	issued := tn.store.Calls(memory.OpIssueCredential)
	marks := tn.store.Calls(memory.OpMarkBucket)

	cases := []struct {
		reason, name string
		mutate       func(*v1alpha1.StateBackend)
		want         string
	}{
		{"naming B's bucket", "by-name", bucketNamed(bucket), v1alpha1.ReasonBucketOwnedByOther},
		{"naming B's bucket and asking to adopt it (the provider allows adoption)", "adopt", func(sb *v1alpha1.StateBackend) {
			sb.Spec.BucketName, sb.Spec.AdoptExistingBucket = bucket, true
		}, v1alpha1.ReasonBucketOwnedByOther},
		{"reading B's bucket without the provider's consent to cross-namespace reads", "read", reader("state", nsB), v1alpha1.ReasonBucketReferenceRefused},
	}
	for _, tc := range cases {
		key := backendIn(t, nsA, tc.name, csp, tc.mutate)
		waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, tc.want)
		assertNoSecret(t, key)
	}
	time.Sleep(time.Second) // a few retries at the suite's RetryInterval
	if n := tn.store.Calls(memory.OpIssueCredential); n != issued {
		t.Errorf("%d credentials issued to tenant A, want 0", n-issued)
	}
	if n := tn.store.Calls(memory.OpMarkBucket); n != marks {
		t.Errorf("%d MarkBucket calls by tenant A, want 0", n-marks)
	}
	live := tn.store.LiveCredentials()
	if len(live) != 1 {
		t.Fatalf("live credentials %+v, want tenant B's only", live)
	}
	if got := string(getSecret(t, nsB, "state").Data[backendconfig.EnvAccessKeyID]); live[0].AccessKeyID != got {
		t.Errorf("the live credential %+v is not tenant B's (%s)", live[0], got)
	}
	if o, _ := tn.store.Bucket(bucket); o.Owner == nil || o.Owner.UID != string(b.UID) || o.Owner.Namespace != nsB {
		t.Fatalf("tenant B's marker changed: %+v", o.Owner)
	}
}

// TestAdmissionAcceptsBucketNaming: the policy shapes the README shows are accepted, up to the
// 20-character limit.
func TestAdmissionAcceptsBucketNaming(t *testing.T) {
	for _, policy := range []*v1alpha1.BucketNamingPolicy{
		{Prefix: "acme-"},
		{Prefix: "acme-", PerNamespace: true},
		{PerNamespace: true},
		{Prefix: strings.Repeat("a", 19) + "-"},
		{Prefix: "0"},
	} {
		p := namingProvider("", "y", policy)
		p.GenerateName = "naming-ok-"
		if err := k8s.Create(context.Background(), p); err != nil {
			t.Errorf("%+v: %v", *policy, err)
			continue
		}
		must(t, k8s.Delete(context.Background(), p))
	}
}
