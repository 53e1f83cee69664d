package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
)

// TestABucketInAnotherRegionIsRefusedByName: the bucket name a backend asks for is held by
// another account in eu-west-1, where HeadBucket answers 301 (AWS fake over MinIO, the real
// awss3 client). The backend is refused as BucketExistsNotOwned, the message names the region,
// adoption does not change that, and it holds no credential (before, the 301 was a ProviderError
// retried forever).
func TestABucketInAnotherRegionIsRefusedByName(t *testing.T) {
	tn, fake, _, _ := newAWSTenant(t)
	name := fmt.Sprintf("taken-eu-%d", time.Now().UnixNano()%1e9)
	must(t, fake.AddForeignBucket(context.Background(), name, "eu-west-1"))

	key := tn.backend("net", func(sb *v1alpha1.StateBackend) {
		sb.Spec.BucketName = name
		sb.Spec.AdoptExistingBucket = true
	})
	sb := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNotOwned)
	c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionBucketReady)
	if c == nil || c.Reason != v1alpha1.ReasonBucketNotOwned || !strings.Contains(c.Message, "eu-west-1") {
		t.Errorf("BucketReady = %+v, want %s naming eu-west-1", c, v1alpha1.ReasonBucketNotOwned)
	}
	if sb.Status.Credential != nil && sb.Status.Credential.ID != "" {
		t.Errorf("the refused backend holds credential %+v", sb.Status.Credential)
	}
}
