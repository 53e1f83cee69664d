package awss3_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakeaws"
)

// TestObserveABucketOfAnotherAccountOrRegion: bucket names are global and the operator's are
// deterministic, so another cluster (another account, maybe another region) can hold the name.
// S3 answers HeadBucket for it with 403 (another account, this region), 301 MovedPermanently
// with x-amz-bucket-region (another region) or 400 (a region opened after March 2019). Each is a
// bucket that exists and is not ours, never an error to retry forever, and says where it is;
// creating it is refused as a taken name.
func TestObserveABucketOfAnotherAccountOrRegion(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{})
	c := e.client(t)
	for _, tc := range []struct {
		reason, region, where string
	}{
		{"another account's bucket in us-east-1: 403", "", "another AWS account"},
		{"a bucket in eu-west-1: 301 MovedPermanently", "eu-west-1", "eu-west-1"},
		{"a bucket in ap-east-1, opened after March 2019: 400", "ap-east-1", "ap-east-1"},
	} {
		bucket := freshBucket(t)
		if err := e.fake.AddForeignBucket(ctx, bucket, tc.region); err != nil {
			t.Fatal(err)
		}
		obs, err := c.ObserveBucket(ctx, bucket)
		if err != nil || !obs.Exists || obs.Owner != nil {
			t.Errorf("%s: ObserveBucket = %+v, %v; want it to exist, with no owner", tc.reason, obs, err)
		}
		if !strings.Contains(obs.Elsewhere, tc.where) {
			t.Errorf("%s: Elsewhere = %q, want it to name %q", tc.reason, obs.Elsewhere, tc.where)
		}
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: bucket, Owner: owner(bucket)}); !errors.Is(err, provider.ErrBucketNameTaken) {
			t.Errorf("%s: CreateBucket = %v, want ErrBucketNameTaken", tc.reason, err)
		}
	}
}
