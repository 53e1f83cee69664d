package controllers

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// TestBucketOfAnotherClusterSharingTheAccountIsNeverReclaimed: two clusters that share one storage
// account may name the same bucket for the same namespace and name. The marker records the cluster,
// so the second cluster refuses the first one's bucket instead of "reclaiming" it and writing into
// the same state; within one cluster a retained bucket is still reclaimed (its marker is sealed with
// this cluster's key), and a new bucket's marker names this cluster.
func TestBucketOfAnotherClusterSharingTheAccountIsNeverReclaimed(t *testing.T) {
	tn := newTenant(t)
	// The other cluster's operator sealed its marker with its own key, which this one never holds.
	foreign := provider.Owner{Namespace: tn.ns, Name: "state", UID: "uid-in-the-other-cluster", Cluster: "other-cluster", Seal: "sealed-with-the-other-clusters-key"}
	tn.store.PutBucket("shared-account-state", &foreign)

	other := tn.backend("state", bucketNamed("shared-account-state"))
	sb := waitCondition(t, other, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketOwnedByOther)
	if c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "--cluster-id") {
		t.Errorf("the refusal does not say how a restored cluster takes its buckets back: %q", c.Message)
	}

	// A bucket retained by an earlier backend of the same name in this cluster is reclaimed.
	kept := tn.backend("kept", nil)
	first := waitReady(t, kept)
	deleteAndWait(t, kept)
	kept = tn.backend("kept", nil)
	second := waitReady(t, kept)
	if second.Status.BucketName != first.Status.BucketName {
		t.Errorf("re-created backend got bucket %q, want the retained %q", second.Status.BucketName, first.Status.BucketName)
	}
	b, _ := tn.store.Bucket(first.Status.BucketName)
	if b.Owner == nil || b.Owner.UID != string(second.UID) || b.Owner.Cluster != testClusterID || b.Owner.Seal == "" {
		t.Errorf("bucket reclaimed within the cluster is marked %+v, want uid %s, cluster %s and a seal", b.Owner, second.UID, testClusterID)
	}

	time.Sleep(time.Second)
	if b, _ := tn.store.Bucket("shared-account-state"); b.Owner == nil || *b.Owner != foreign {
		t.Errorf("the other cluster's marker was overwritten: %+v", b.Owner)
	}
	if live := liveWithPrefix(tn, string(sb.UID)); len(live) != 0 {
		t.Errorf("a credential was issued for the other cluster's bucket: %+v", live)
	}
	assertNoSecret(t, other)
}
