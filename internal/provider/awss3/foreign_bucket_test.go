package awss3_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

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

// TestCreateInUSEast1OfABucketTheAccountHas: S3 in us-east-1 answers 200 to a create of a bucket
// the account already has. A bucket made by someone else in the account (tagged, holding state)
// between the controller's observe and create is then not taken for a new one: it is a taken
// name, and its tags are left as they were.
func TestCreateInUSEast1OfABucketTheAccountHas(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{})
	c := e.client(t)
	bucket := freshBucket(t)
	admin := e.s3()
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	theirs := []s3types.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}
	if _, err := admin.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(bucket), Tagging: &s3types.Tagging{TagSet: theirs}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("the fake must answer a second create in us-east-1 with 200, as S3 does: %v", err)
	}

	if err := c.CreateBucket(ctx, provider.BucketRequest{Name: bucket, Owner: owner(bucket)}); !errors.Is(err, provider.ErrBucketNameTaken) {
		t.Errorf("CreateBucket = %v, want ErrBucketNameTaken", err)
	}
	out, err := admin.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)})
	if err != nil || len(out.TagSet) != 1 || aws.ToString(out.TagSet[0].Key) != "team" {
		t.Errorf("the bucket's tags are %+v (%v), want only its own", out, err)
	}
}
