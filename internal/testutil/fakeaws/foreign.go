package fakeaws

// This file owns foreign buckets: names taken in S3's global namespace by another account,
// in this region or another, and how S3 answers a request for one at this region's endpoint.

import (
	"context"
	"fmt"
	"net/http"

	"github.com/minio/minio-go/v7"
)

// optInRegions are the regions AWS opened after 20 March 2019, disabled by default in an account
// (AWS account management guide, "Enable or disable AWS Regions in your account"). For a bucket
// in one of them, S3 at another region's endpoint answers HeadBucket 400 where it answers 301 for
// the older regions (aws-sdk-go-v2 #1458, boto3 #2728; ../shared/reference/provider-truth-2.md).
var optInRegions = map[string]bool{
	"af-south-1": true, "ap-east-1": true, "ap-east-2": true, "ap-south-2": true, "ap-southeast-3": true,
	"ap-southeast-4": true, "ap-southeast-5": true, "ap-southeast-6": true, "ap-southeast-7": true,
	"ca-west-1": true, "eu-central-2": true, "eu-south-1": true, "eu-south-2": true, "il-central-1": true,
	"me-central-1": true, "me-south-1": true, "mx-central-1": true,
}

// AddForeignBucket takes name in the data plane (MinIO's namespace, global like S3's) for a bucket
// of another account living in region (Config.Region when empty). The operator's requests for it
// are answered as S3 answers requests for a bucket it may not reach (foreignBucket), and CreateBucket
// of the name is refused with 409 BucketAlreadyExists.
func (s *Server) AddForeignBucket(ctx context.Context, name, region string) error {
	if region == "" {
		region = s.cfg.Region
	}
	if err := s.root.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("fakeaws: foreign bucket %q in MinIO: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.foreign[name] = region
	return nil
}

// foreignRegion is the region of a foreign bucket; ok is false for a bucket that is not foreign.
func (s *Server) foreignRegion(bucket string) (region string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	region, ok = s.foreign[bucket]
	return region, ok
}

// foreignBucket answers a request naming a foreign bucket, in region, at this region's endpoint.
// [inference] The fake does not authenticate these requests: S3 answers them before access is
// decided (a 301 names the region to anyone).
//
//   - Another account's bucket in this region: HeadBucket 403 with no body (a HEAD answer has
//     none, so the SDK's error code is the status text), CreateBucket 409 BucketAlreadyExists
//     "The requested bucket name is not available. ..." (S3 API reference, "Error responses":
//     BucketAlreadyExists, 409), anything else 403 AccessDenied.
//   - In another region opened before 20 March 2019: HeadBucket 301 with x-amz-bucket-region and
//     no body (aws-sdk-go-v2 #1458: "api error MovedPermanently"; S3 API reference, HeadBucket:
//     "x-amz-bucket-region" is answered also with a 301), other requests 301 PermanentRedirect
//     with the region's endpoint (S3 API reference, "Error responses": PermanentRedirect, 301).
//   - In an opt-in region (optInRegions): HeadBucket 400 with x-amz-bucket-region and no body
//     (lyft/clutch #3027, open-component-model #2000), other requests 400
//     IllegalLocationConstraintException "The <region> location constraint is incompatible for the
//     region specific endpoint this request was sent to." [inference: the wording of users'
//     reports of GetObject in such a region, not of an AWS page].
//   - CreateBucket of the name from any region: 409 BucketAlreadyExists (the name is another
//     account's).
func (s *Server) foreignBucket(c *s3call, region string) {
	if c.op == "" {
		c.op = c.r.Method + " foreign bucket"
	}
	if c.r.Method == http.MethodPut && len(c.r.URL.Query()) == 0 {
		c.op = "CreateBucket"
		c.fail(http.StatusConflict, "BucketAlreadyExists",
			"The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
		return
	}
	head := c.r.Method == http.MethodHead
	if head && len(c.r.URL.Query()) == 0 {
		c.op = "HeadBucket"
	}
	if region == s.cfg.Region {
		if head {
			c.status = http.StatusForbidden
			c.w.Header().Set("x-amz-request-id", c.reqID)
			c.w.WriteHeader(http.StatusForbidden)
			return
		}
		c.fail(http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	}
	c.w.Header().Set("x-amz-bucket-region", region)
	status := http.StatusMovedPermanently
	if optInRegions[region] {
		status = http.StatusBadRequest
	}
	switch {
	case head:
		c.status = status
		c.w.Header().Set("x-amz-request-id", c.reqID)
		c.w.WriteHeader(status)
	case status == http.StatusBadRequest:
		c.fail(status, "IllegalLocationConstraintException",
			"The "+region+" location constraint is incompatible for the region specific endpoint this request was sent to.")
	default:
		c.fail(status, "PermanentRedirect",
			"The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.")
	}
}
