package controllers

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/metrics"
	"github.com/tfstate-operator/tfstate-operator/internal/naming"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// TestStrippedFinalizerLeavesNoLiveCredential (issue 19, escape 5): a tenant removes the
// operator's finalizer from its StateBackend and deletes it, so no revocation runs and the key keeps
// working (and counting against the account's quota). The provider's periodic orphan sweep revokes
// it: a credential named with this cluster's prefix that no existing StateBackend records, older
// than the minimum age. It leaves alone what is not this cluster's orphan: a live backend's
// credential, another cluster's orphan in the same account, a credential the previous release
// issued (its name carries no cluster), one younger than the minimum age, a key named by hand, and
// (Spaces) the provider's own minted admin key. A sweep is made at most once per interval, and an
// orphan too young for one sweep goes at a later one.
//
// Each provider runs with its real client against MinIO or the fake API over MinIO; revocation is
// proven by the store refusing the revoked keys on S3 while the live backend's keys still work.
func TestStrippedFinalizerLeavesNoLiveCredential(t *testing.T) {
	for _, kind := range []string{"minio", "r2", "spaces", "aws"} {
		t.Run(kind, func(t *testing.T) { strippedFinalizerIsSwept(t, newRealTenant(t, kind), kind) })
	}
}

func strippedFinalizerIsSwept(t *testing.T, tn *tenant, kind string) {
	ctx := context.Background()
	v, _ := realClients.Load(tn.provider)
	c := v.(provider.Client)

	kept := waitReady(t, tn.backend("kept", nil))
	keptKeys := backendconfig.CredentialFromSecret(getSecret(t, tn.ns, kept.Status.SecretName).Data)
	strippedKey := tn.backend("stripped", nil)
	stripped := waitReady(t, strippedKey)
	strippedCred := *stripped.Status.Credential
	strippedKeys := backendconfig.CredentialFromSecret(getSecret(t, tn.ns, stripped.Status.SecretName).Data)
	stripFinalizerAndDelete(t, strippedKey)
	if !listed(t, c, strippedCred.ID) {
		t.Fatalf("precondition: the stripped backend's credential %q should still be live", strippedCred.Name)
	}

	// Two hours pass: the stripped backend's credential is older than the sweep's minimum age.
	clockOffset.Add(int64(2 * time.Hour))
	now := testNow()
	old := now.Add(-3 * time.Hour)
	planted := map[string]string{} // reason -> credential id
	plant := func(reason, name string) {
		t.Helper()
		cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: name, Bucket: kept.Status.BucketName, Access: provider.ReadOnly})
		if err != nil {
			t.Fatalf("plant %s (%q): %v", reason, name, err)
		}
		planted[reason] = cred.ID
		t.Cleanup(func() { _ = c.RevokeCredential(context.Background(), cred.ID) })
	}
	plant("another cluster's orphan in the same account", naming.CredentialName("another-cluster", "uid-of-another-clusters-backend", old))
	plant("a credential the previous release issued", naming.LegacyCredentialPrefix("uid-of-a-previous-release-backend")+strconv.FormatInt(old.Unix(), 36))
	plant("an orphan younger than the minimum age", naming.CredentialName(testClusterID, "uid-too-young", now))
	plant("a key named by hand with the operator's prefix", "tfso-handmade-key")

	m := metrics.New(nil)
	sr := &StorageProviderReconciler{
		Client: k8s, APIReader: k8s, NewClient: memoryClient, Recorder: testRecorder, Metrics: m, Now: testNow,
		RetryInterval: time.Second, CheckInterval: time.Minute, OperatorNamespace: operatorNamespace,
		ClusterID: testClusterID, AllowLocalEndpoints: true,
		OrphanSweep: OrphanSweepConfig{Interval: time.Hour, MinAge: time.Hour},
	}
	reconcileProvider(t, sr, tn.provider)

	if listed(t, c, strippedCred.ID) {
		t.Errorf("the stripped backend's credential %q is still live after the sweep", strippedCred.Name)
	}
	if _, err := realProber.Probe(ctx, c.Settings(), stripped.Status.BucketName, strippedKeys, provider.ReadWrite); err == nil {
		t.Errorf("the stripped backend's keys still work on S3 after the sweep")
	}
	if !listed(t, c, kept.Status.Credential.ID) {
		t.Errorf("the live backend's credential %q was revoked", kept.Status.Credential.Name)
	}
	if _, err := realProber.Probe(ctx, c.Settings(), kept.Status.BucketName, keptKeys, provider.ReadWrite); err != nil {
		t.Errorf("the live backend's keys stopped working: %v", err)
	}
	for reason, id := range planted {
		if !listed(t, c, id) {
			t.Errorf("%s (id %s) was revoked", reason, id)
		}
	}
	if kind == "spaces" {
		if admin, err := c.ListCredentials(ctx, naming.AdminKeyPrefix(tn.ns)); err != nil || len(admin) == 0 {
			t.Errorf("the provider's own admin key: %v (%v), want it kept", admin, err)
		}
	}
	if got := sweptCount(t, m); got != 1 {
		t.Errorf("%s = %v, want 1", orphanMetric, got)
	}
	eventually(t, 10*time.Second, func() error {
		for _, e := range eventsFor(t, "default", tn.provider) {
			if e.Reason == v1alpha1.ReasonOrphanedCredentialRevoked && e.Regarding.Kind == string(v1alpha1.ClusterStorageProviderKind) {
				return nil
			}
		}
		return fmt.Errorf("no %s event on ClusterStorageProvider %s", v1alpha1.ReasonOrphanedCredentialRevoked, tn.provider)
	})

	// Rate limited: an orphan that appears now waits for the next sweep, one interval later.
	later := naming.CredentialName(testClusterID, "uid-of-a-backend-stripped-later", now.Add(-2*time.Hour))
	cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: later, Bucket: kept.Status.BucketName, Access: provider.ReadOnly})
	must(t, err)
	t.Cleanup(func() { _ = c.RevokeCredential(context.Background(), cred.ID) })
	reconcileProvider(t, sr, tn.provider)
	if !listed(t, c, cred.ID) {
		t.Errorf("a second sweep ran within the interval: %q was revoked", later)
	}
	clockOffset.Add(int64(61 * time.Minute))
	reconcileProvider(t, sr, tn.provider)
	if listed(t, c, cred.ID) {
		t.Errorf("the sweep one interval later left the orphan %q live", later)
	}
	if listed(t, c, strippedCred.ID) || !listed(t, c, kept.Status.Credential.ID) {
		t.Errorf("after the second sweep: the stripped credential live %v, the kept one live %v, want false, true",
			listed(t, c, strippedCred.ID), listed(t, c, kept.Status.Credential.ID))
	}
	// The young orphan is 61 minutes old now, past the minimum age: it goes too; the rest stay.
	young := "an orphan younger than the minimum age"
	if listed(t, c, planted[young]) {
		t.Errorf("%s at the first sweep, unrecorded and past the minimum age at the second, is still live", young)
	}
	for reason, id := range planted {
		if reason != young && !listed(t, c, id) {
			t.Errorf("after the second sweep: %s (id %s) was revoked", reason, id)
		}
	}
	if got := sweptCount(t, m); got != 3 {
		t.Errorf("%s = %v after the second sweep, want 3 (the stripped backend's, the later orphan, the one that aged)", orphanMetric, got)
	}
}

// stripFinalizerAndDelete is what a tenant does to skip the operator's revocation: it removes the
// finalizer, then deletes the StateBackend, which goes at once.
func stripFinalizerAndDelete(t *testing.T, key client.ObjectKey) {
	t.Helper()
	ctx := context.Background()
	sb := getBackend(t, key)
	base := sb.DeepCopy()
	sb.Finalizers = slices.DeleteFunc(sb.Finalizers, func(f string) bool { return f == Finalizer })
	must(t, k8s.Patch(ctx, sb, client.MergeFrom(base)))
	must(t, k8s.Delete(ctx, sb))
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(ctx, key, &v1alpha1.StateBackend{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("StateBackend %s: %v, want it gone", key, err)
		}
		return nil
	})
}

// reconcileProvider runs one reconcile of the ClusterStorageProvider name with sr.
func reconcileProvider(t *testing.T, sr *StorageProviderReconciler, name string) {
	t.Helper()
	if _, err := sr.reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKey{Name: name}}, &v1alpha1.ClusterStorageProvider{}); err != nil {
		t.Fatalf("reconcile provider %s: %v", name, err)
	}
}

// listed says the store still lists a live credential with this id.
func listed(t *testing.T, c provider.Client, id string) bool {
	t.Helper()
	all, err := c.ListCredentials(context.Background(), "")
	if err != nil {
		t.Fatalf("list credentials: %v", err)
	}
	return slices.ContainsFunc(all, func(ci provider.CredentialInfo) bool { return ci.ID == id })
}

const orphanMetric = "tfstate_operator_orphaned_credentials_revoked_total"

// sweptCount sums the orphan sweep's revocation counter over its labels.
func sweptCount(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	families, err := reg.Gather()
	must(t, err)
	var sum float64
	for _, f := range families {
		if f.GetName() != orphanMetric {
			continue
		}
		for _, metric := range f.GetMetric() {
			sum += counterValue(metric)
		}
	}
	return sum
}

func counterValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return 0
}
