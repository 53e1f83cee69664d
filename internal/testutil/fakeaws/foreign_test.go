package fakeaws

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestForeignBuckets: what the SDK sees of another account's bucket, in this region or another,
// at this region's endpoint (sources in foreignBucket's comment).
func TestForeignBuckets(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, Config{})
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.S3Endpoint()), UsePathStyle: true, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(f.adminKey, f.adminSecret, "")})
	for _, tc := range []struct {
		reason, region string
		headStatus     int
		headRegion     string
		tagsCode       string
		tagsStatus     int
	}{
		{"another account, this region", "", 403, "", "AccessDenied", 403},
		{"another region, opened before 2019", "eu-west-1", 301, "eu-west-1", "PermanentRedirect", 301},
		{"an opt-in region", "ap-east-1", 400, "ap-east-1", "IllegalLocationConstraintException", 400},
	} {
		b := uniq("foreign")
		if err := f.AddForeignBucket(ctx, b, tc.region); err != nil {
			t.Fatal(err)
		}
		_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)})
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != tc.headStatus || re.Response.Header.Get("x-amz-bucket-region") != tc.headRegion {
			t.Fatalf("%s: HeadBucket = %v, want HTTP %d with x-amz-bucket-region %q", tc.reason, err, tc.headStatus, tc.headRegion)
		}
		_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(b)})
		wantS3(t, tc.reason+": GetBucketTagging", err, tc.tagsCode, tc.tagsStatus)
		_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)})
		var taken *s3types.BucketAlreadyExists
		if !errors.As(err, &taken) {
			t.Errorf("%s: CreateBucket = %v, want BucketAlreadyExists", tc.reason, err)
		}
		wantAPIError(t, err, "BucketAlreadyExists", 409)
	}
}

// TestCreateOfABucketTheAccountHas: 200 OK in us-east-1 (the bucket's settings kept), 409
// BucketAlreadyOwnedByYou in any other region (S3 API reference, "Error responses").
func TestCreateOfABucketTheAccountHas(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		reason, region, code string
		status               int
	}{
		{"us-east-1 answers 200", "us-east-1", "", 0},
		{"other regions answer 409", "eu-west-1", "BucketAlreadyOwnedByYou", 409},
	} {
		f := newFake(t, Config{Region: tc.region})
		c := s3.New(s3.Options{Region: tc.region, BaseEndpoint: aws.String(f.S3Endpoint()), UsePathStyle: true, RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(f.adminKey, f.adminSecret, "")})
		b := uniq("again")
		in := &s3.CreateBucketInput{Bucket: aws.String(b)}
		if tc.region != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(tc.region)}
		}
		if _, err := c.CreateBucket(ctx, in); err != nil {
			t.Fatalf("%s: first create: %v", tc.reason, err)
		}
		if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(b), PublicAccessBlockConfiguration: allBlocked()}); err != nil {
			t.Fatal(err)
		}
		_, err := c.CreateBucket(ctx, in)
		wantS3(t, tc.reason+": second create", err, tc.code, tc.status)
		if f.Bucket(b).PublicAccessBlock == nil {
			t.Errorf("%s: the second create dropped the bucket's settings", tc.reason)
		}
	}
}
