package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/naming"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

func TestMarkerNames(t *testing.T) {
	other := &v1alpha1.StateBackend{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "state", UID: "uid-1"}}
	other.Status.BucketName = "bucket-a"
	key := mustKey([]byte("unit-test ownership key 32 bytes"))
	sealed := func(ns, name, uid, cluster string) provider.BucketObservation {
		o := key.Sealed("bucket-a", provider.Owner{Namespace: ns, Name: name, UID: uid, Cluster: cluster})
		return provider.BucketObservation{Exists: true, Owner: &o}
	}
	marked := func(ns, name, uid string) provider.BucketObservation {
		return provider.BucketObservation{Exists: true, Owner: &provider.Owner{Namespace: ns, Name: name, UID: uid}}
	}
	marked2 := func(ns, name, uid, cluster string) provider.BucketObservation {
		return provider.BucketObservation{Exists: true, Owner: &provider.Owner{Namespace: ns, Name: name, UID: uid, Cluster: cluster}}
	}
	for _, tc := range []struct {
		reason string
		obs    provider.BucketObservation
		want   bool
	}{
		{"the marker names the referenced backend (as the previous release wrote it)", marked("team-a", "state", "uid-1"), true},
		{"sealed for the referenced backend by this cluster", sealed("team-a", "state", "uid-1", "this-cluster"), true},
		{"sealed for a namesake re-created under another UID", sealed("team-a", "state", "uid-old", "this-cluster"), false},
		{"the referenced backend's name and UID, but another cluster's marker", marked2("team-a", "state", "uid-1", "other-cluster"), false},
		{"no bucket: the status names one that is not there", provider.BucketObservation{}, false},
		{"an unmarked bucket is nobody's", provider.BucketObservation{Exists: true}, false},
		{"another backend's bucket (a forged status)", marked("victim", "prod", "uid-2"), false},
		{"same name in another namespace", marked("team-b", "state", "uid-1"), false},
		{"a namesake re-created under another UID", marked("team-a", "state", "uid-old"), false},
		{"another name in the same namespace", marked("team-a", "other", "uid-1"), false},
	} {
		if got := markerNames(key, "this-cluster", tc.obs, other); got != tc.want {
			t.Errorf("%s: markerNames = %v, want %v", tc.reason, got, tc.want)
		}
	}
}

func TestOwnCredentialName(t *testing.T) {
	sb := &v1alpha1.StateBackend{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "state", UID: "uid-1"}}
	other := &v1alpha1.StateBackend{ObjectMeta: metav1.ObjectMeta{UID: "uid-2"}}
	for _, tc := range []struct {
		reason, name string
		want         bool
	}{
		{"a name the backend issues", naming.CredentialName(testClusterID, "uid-1", time.Unix(1700000000, 0)), true},
		{"another backend's credential", naming.CredentialName(testClusterID, string(other.UID), time.Unix(1700000000, 0)), false},
		{"a name the previous release issued for it (before names carried the cluster)", naming.LegacyCredentialPrefix("uid-1") + "sb4k2g", true},
		{"its own name in another cluster sharing the account (issue 19, escape 3)", naming.CredentialName("another-cluster", "uid-1", time.Unix(1700000000, 0)), false},
		{"a platform IAM user written into status", "platform-deployer", false},
		{"the operator's prefix alone is not enough", "tfso-0000000000000000-x", false},
		{"empty", "", false},
	} {
		if got := ownCredentialName(testClusterID, sb, tc.name); got != tc.want {
			t.Errorf("%s: ownCredentialName(%q) = %v, want %v", tc.reason, tc.name, got, tc.want)
		}
	}
}
