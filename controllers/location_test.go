package controllers

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakecloudflare"
)

// A provider's endpoint, region, account (or its kind) decides where its buckets and credentials
// live. Changing it must not move a backend that already has a bucket and a credential: its state
// is at the old location, and so is the credential only the old location can revoke. Such a backend
// makes no provider call, keeps its Secret and ConfigMap as they are, and says why; changing the
// provider back heals it.

// reasonLocationChanged is the Ready reason of a backend whose provider now points elsewhere.
const reasonLocationChanged = v1alpha1.ReasonProviderLocationChanged

// setProviderSpec replaces the spec of the tenant's ClusterStorageProvider.
func (tn *tenant) setProviderSpec(spec v1alpha1.StorageProviderSpec) {
	tn.t.Helper()
	ctx := context.Background()
	csp := &v1alpha1.ClusterStorageProvider{}
	must(tn.t, k8s.Get(ctx, client.ObjectKey{Name: tn.provider}, csp))
	patch := client.MergeFrom(csp.DeepCopy())
	csp.Spec = spec
	must(tn.t, k8s.Patch(ctx, csp, patch))
}

// providerSpec returns the spec of the tenant's ClusterStorageProvider.
func (tn *tenant) providerSpec() v1alpha1.StorageProviderSpec {
	tn.t.Helper()
	csp := &v1alpha1.ClusterStorageProvider{}
	must(tn.t, k8s.Get(context.Background(), client.ObjectKey{Name: tn.provider}, csp))
	return csp.Spec
}

// movedStore registers another memory store, "the new location", and the credentials Secret that
// names it.
func (tn *tenant) movedStore() (*memory.Store, *v1alpha1.SecretReference) {
	tn.t.Helper()
	name := tn.provider + "-moved"
	s := memory.New(memory.DefaultSettings())
	stores.Store(name, s)
	must(tn.t, k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name},
		Data:       map[string][]byte{storeKey: []byte(name)},
	}))
	return s, &v1alpha1.SecretReference{Namespace: operatorNamespace, Name: name}
}

// published is what a backend hands runners: its Secret's and ConfigMap's data.
type published struct {
	secret    map[string][]byte
	configMap map[string]string
}

func publishedBy(t *testing.T, key client.ObjectKey) published {
	t.Helper()
	sb := getBackend(t, key)
	cm := &corev1.ConfigMap{}
	must(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: key.Namespace, Name: sb.Status.ConfigMapName}, cm))
	return published{secret: getSecret(t, key.Namespace, sb.Status.SecretName).Data, configMap: cm.Data}
}

func (p published) equal(o published) bool {
	return maps.EqualFunc(p.secret, o.secret, func(a, b []byte) bool { return string(a) == string(b) }) && maps.Equal(p.configMap, o.configMap)
}

// storeCalls counts every call of every operation of s.
func storeCalls(s *memory.Store) map[memory.Op]int {
	out := map[memory.Op]int{}
	for _, op := range memory.AllOps {
		out[op] = s.Calls(op)
	}
	return out
}

// waitLocationChanged waits for the condition and checks that its message names both locations.
func waitLocationChanged(t *testing.T, key client.ObjectKey, oldLoc, newLoc string) {
	t.Helper()
	sb := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, reasonLocationChanged)
	msg := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionReady).Message
	if !strings.Contains(msg, oldLoc) || !strings.Contains(msg, newLoc) {
		t.Errorf("the condition must name the old location (%s) and the new one (%s): %q", oldLoc, newLoc, msg)
	}
}

// TestProviderLocationChangeKeepsBackends: changing a ClusterStorageProvider's endpoint, region, account, S3
// endpoint or kind leaves a Ready backend where its state is: no call at either location, the
// Secret and ConfigMap byte-for-byte as they were, a condition naming both locations; changing it
// back makes it Ready with the same credential.
func TestProviderLocationChangeKeepsBackends(t *testing.T) {
	minio := func(endpoint, region string) func(*v1alpha1.StorageProviderSpec) {
		return func(s *v1alpha1.StorageProviderSpec) {
			*s = v1alpha1.StorageProviderSpec{MinIO: &v1alpha1.MinIOProvider{Endpoint: endpoint, Region: region}, CredentialsSecretRef: s.CredentialsSecretRef}
		}
	}
	r2 := func(account, s3Endpoint string) func(*v1alpha1.StorageProviderSpec) {
		return func(s *v1alpha1.StorageProviderSpec) {
			*s = v1alpha1.StorageProviderSpec{CloudflareR2: &v1alpha1.CloudflareR2Provider{AccountID: account, S3Endpoint: s3Endpoint}, CredentialsSecretRef: s.CredentialsSecretRef}
		}
	}
	cases := []struct {
		name           string
		from, to       func(*v1alpha1.StorageProviderSpec)
		oldLoc, newLoc string
	}{
		{"minio-endpoint", minio("http://127.0.0.1:9", "us-east-1"), minio("http://127.0.0.2:9", "us-east-1"), "http://127.0.0.1:9", "http://127.0.0.2:9"},
		{"minio-region", minio("http://127.0.0.1:9", "us-east-1"), minio("http://127.0.0.1:9", "eu-central-1"), "us-east-1", "eu-central-1"},
		{"r2-account", r2(strings.Repeat("a", 32), ""), r2(strings.Repeat("b", 32), ""), strings.Repeat("a", 32), strings.Repeat("b", 32)},
		{"r2-s3-endpoint", r2(strings.Repeat("a", 32), ""), r2(strings.Repeat("a", 32), "http://127.0.0.3:9"), "", "http://127.0.0.3:9"},
		{"provider-kind", minio("http://127.0.0.1:9", "us-east-1"), func(s *v1alpha1.StorageProviderSpec) {
			*s = v1alpha1.StorageProviderSpec{AWSS3: &v1alpha1.AWSS3Provider{Region: "us-east-1"}, CredentialsSecretRef: s.CredentialsSecretRef}
		}, "minio", "aws"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTenant(t)
			original := tn.providerSpec()
			tc.from(&original)
			tn.setProviderSpec(original)
			key := tn.backend("state", nil)
			waitReady(t, key)
			before, calls := publishedBy(t, key), storeCalls(tn.store)

			moved, movedCreds := tn.movedStore()
			elsewhere := original
			tc.to(&elsewhere)
			elsewhere.CredentialsSecretRef = movedCreds
			tn.setProviderSpec(elsewhere)
			waitLocationChanged(t, key, tc.oldLoc, tc.newLoc)

			if !publishedBy(t, key).equal(before) {
				t.Error("the Secret or ConfigMap changed: runners would be pointed away from their state")
			}
			if names := moved.BucketNames(); len(names) != 0 {
				t.Errorf("buckets appeared at the new location: %v", names)
			}
			if live := moved.LiveCredentials(); len(live) != 0 {
				t.Errorf("credentials were issued at the new location: %+v", live)
			}
			for _, op := range memory.AllOps {
				if n := moved.Calls(op); n != 0 {
					t.Errorf("the new location saw %d %s calls", n, op)
				}
				if n := tn.store.Calls(op); n != calls[op] {
					t.Errorf("the old location saw %d more %s calls", n-calls[op], op)
				}
			}

			// Back where the state is: Ready again, with the same credential and Secret.
			tn.setProviderSpec(original)
			waitReady(t, key)
			if !publishedBy(t, key).equal(before) {
				t.Error("the Secret or ConfigMap changed after the provider was changed back")
			}
			for _, op := range []memory.Op{memory.OpIssueCredential, memory.OpRevokeCredential, memory.OpCreateBucket} {
				if n := tn.store.Calls(op); n != calls[op] {
					t.Errorf("healing made %d %s calls; the credential and bucket were fine", n-calls[op], op)
				}
			}
			assertOneLiveCredential(t, tn, key)
		})
	}
}

// TestBackendDeletedWhileItsProviderMovedRevokesAtTheOldLocation: deletion revokes the backend's
// credential, which only the old location can do. While the provider points elsewhere the backend
// keeps its finalizer (and the new location sees no call); once the provider points back, deletion
// revokes it there and completes.
func TestBackendDeletedWhileItsProviderMovedRevokesAtTheOldLocation(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", func(sb *v1alpha1.StateBackend) { sb.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete })
	sb := waitReady(t, key)
	original := tn.providerSpec()
	moved, movedCreds := tn.movedStore()
	elsewhere := original
	elsewhere.MinIO = &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.2:9", Region: "us-east-1"}
	elsewhere.CredentialsSecretRef = movedCreds
	tn.setProviderSpec(elsewhere)
	waitLocationChanged(t, key, "http://127.0.0.1:9", "http://127.0.0.2:9")

	must(t, k8s.Delete(context.Background(), sb))
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, reasonLocationChanged)
	if live := tn.store.LiveCredentials(); len(live) != 1 {
		t.Fatalf("the credential at the old location must stay until it can be revoked there: %+v", live)
	}
	for _, op := range memory.AllOps {
		if n := moved.Calls(op); n != 0 {
			t.Errorf("the new location saw %d %s calls during deletion", n, op)
		}
	}

	tn.setProviderSpec(original)
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(context.Background(), key, &v1alpha1.StateBackend{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	if live := tn.store.LiveCredentials(); len(live) != 0 {
		t.Fatalf("deletion did not revoke the credential at the old location: %+v", live)
	}
	if _, ok := tn.store.Bucket(sb.Status.BucketName); ok {
		t.Fatal("deletionPolicy Delete did not delete the empty bucket at the old location")
	}
}

// TestR2AccountChangeLeavesBackendsOnTheirAccount: the real R2 client against two fake Cloudflare
// accounts over MinIO. Moving the provider to the second account creates no bucket or token there,
// revokes nothing on the first, and leaves the Secret as it was; moving it back makes it Ready.
func TestR2AccountChangeLeavesBackendsOnTheirAccount(t *testing.T) {
	m := sharedMinIO(t)
	var accounts [2]*fakecloudflare.Server
	var tokens [2]string
	for i := range accounts {
		fake, err := fakecloudflare.Start(fakecloudflare.Config{MinIO: m})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fake.Close)
		_, admin, err := fake.AddToken("tfstate-operator", "Workers R2 Storage Write", "Account API Tokens Write")
		if err != nil {
			t.Fatal(err)
		}
		accounts[i], tokens[i] = fake, admin
	}
	tn := newTenant(t)
	specClients.Store(tn.provider, ClientFactory(providers.NewFactory().New))
	ctx := context.Background()
	firstCreds := getSecret(t, operatorNamespace, tn.provider)
	firstCreds.Data[providers.CloudflareAPIToken] = []byte(tokens[0])
	must(t, k8s.Update(ctx, firstCreds))
	must(t, k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: tn.provider + "-second"},
		Data:       map[string][]byte{storeKey: []byte(tn.provider), providers.CloudflareAPIToken: []byte(tokens[1])},
	}))
	spec := func(i int, secret string) v1alpha1.StorageProviderSpec {
		return v1alpha1.StorageProviderSpec{
			CloudflareR2: &v1alpha1.CloudflareR2Provider{
				AccountID: accounts[i].AccountID(), APIBaseURL: accounts[i].URL(), S3Endpoint: accounts[i].S3Endpoint(),
			},
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: operatorNamespace, Name: secret},
		}
	}
	first := spec(0, tn.provider)
	tn.setProviderSpec(first)
	key := tn.backend("state", nil)
	waitReady(t, key)
	before := publishedBy(t, key)
	tokensBefore := len(accounts[0].Tokens())
	sent := len(accounts[0].Requests())

	tn.setProviderSpec(spec(1, tn.provider+"-second"))
	waitLocationChanged(t, key, accounts[0].AccountID(), accounts[1].AccountID())
	if !publishedBy(t, key).equal(before) {
		t.Error("the Secret or ConfigMap changed: runners would be pointed at an empty bucket in another account")
	}
	for _, r := range accounts[1].Requests() {
		if r.Method != "GET" {
			t.Errorf("the new account was changed: %s %s", r.Method, r.Path)
		}
	}
	for _, r := range accounts[0].Requests()[sent:] {
		if r.Method != "GET" {
			t.Errorf("the old account was changed while the provider pointed elsewhere: %s %s", r.Method, r.Path)
		}
	}
	if n := len(accounts[1].Tokens()); n != 1 {
		t.Errorf("the new account holds %d tokens, want only its admin token", n)
	}

	tn.setProviderSpec(first)
	waitReady(t, key)
	if !publishedBy(t, key).equal(before) {
		t.Error("the Secret or ConfigMap changed after the provider was changed back")
	}
	if n := len(accounts[0].Tokens()); n != tokensBefore {
		t.Errorf("the old account holds %d tokens, want the %d it had: nothing issued or revoked", n, tokensBefore)
	}
}

// TestUpgradedBackendKeepsTheLocationItsStatusRecorded: a backend recorded by a release that kept
// no status.location has status.endpoint and status.region; those are its location. One whose
// provider resolves elsewhere now is left where it is; one whose provider still resolves there is
// Ready and untouched.
func TestUpgradedBackendKeepsTheLocationItsStatusRecorded(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", nil)
	sb := waitReady(t, key)
	before, calls := publishedBy(t, key), storeCalls(tn.store)
	ctx := context.Background()

	// What the previous release left when the provider's endpoint was changed under it: the old
	// endpoint in status, no location.
	must(t, k8s.Status().Patch(ctx, sb, client.RawPatch(types.MergePatchType, []byte(`{"status":{"location":null,"endpoint":"http://10.0.0.1:9000"}}`))))
	requestReconcile(t, key)
	waitLocationChanged(t, key, "http://10.0.0.1:9000", "http://127.0.0.1:9")
	if !publishedBy(t, key).equal(before) {
		t.Error("the Secret or ConfigMap of an upgraded backend moved to the provider's new endpoint")
	}
	for _, op := range memory.AllOps {
		if n := tn.store.Calls(op); n != calls[op] {
			t.Errorf("the provider's new location saw %d %s calls", n-calls[op], op)
		}
	}

	// An upgraded backend whose provider is where its status says is simply Ready.
	sb = getBackend(t, key)
	must(t, k8s.Status().Patch(ctx, sb, client.RawPatch(types.MergePatchType, []byte(`{"status":{"location":null,"endpoint":"http://127.0.0.1:9"}}`))))
	requestReconcile(t, key)
	waitReady(t, key)
	if !publishedBy(t, key).equal(before) {
		t.Error("the Secret or ConfigMap changed")
	}
	for _, op := range []memory.Op{memory.OpIssueCredential, memory.OpRevokeCredential, memory.OpCreateBucket} {
		if n := tn.store.Calls(op); n != calls[op] {
			t.Errorf("the upgrade made %d %s calls", n-calls[op], op)
		}
	}
}
