package awss3

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tfstate-operator/tfstate-operator/internal/provider/s3access"
)

// blockedPublicAccess is the public-access block of every state bucket: all four settings on.
func blockedPublicAccess() *s3types.PublicAccessBlockConfiguration {
	return &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
	}
}

// fullyBlocked reports whether cfg has all four public-access settings on (a setting left out is
// off, as S3 reads it).
func fullyBlocked(cfg *s3types.PublicAccessBlockConfiguration) bool {
	return cfg != nil && aws.ToBool(cfg.BlockPublicAcls) && aws.ToBool(cfg.IgnorePublicAcls) &&
		aws.ToBool(cfg.BlockPublicPolicy) && aws.ToBool(cfg.RestrictPublicBuckets)
}

// blockPublicAccess puts the bucket's public-access block with all four settings on (a put of the
// whole setting: repeating it is harmless).
func (c *Client) blockPublicAccess(ctx context.Context, bucket string) error {
	if _, err := c.s3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(bucket), PublicAccessBlockConfiguration: blockedPublicAccess()}); err != nil {
		return classify("block public access (s3:PutBucketPublicAccessBlock)", err)
	}
	return nil
}

// bucketGone reports whether err says the bucket does not exist.
func bucketGone(err error) bool {
	var nsb *s3types.NoSuchBucket
	code, status := errorCode(err)
	return errors.As(err, &nsb) || code == "NoSuchBucket" || (code == "" && status == http.StatusNotFound)
}

// RepairBucketAccess implements provider.Client. It reads the bucket's public-access block and its
// bucket policy, then puts the block back with all four settings on if it is missing
// (NoSuchPublicAccessBlockConfiguration) or any setting is off, and deletes the bucket policy if
// s3access.AllowsPublic says it grants anyone something. The block goes first: RestrictPublicBuckets
// alone already stops a public policy from working, should the delete fail. A policy that grants
// no one outside (a team's Deny of insecure transport, grants to named accounts) is left as it
// is; a public one is deleted whole, since S3 has no way to remove one statement but rewriting
// the policy, which the operator does not do. A missing bucket (NoSuchBucket, or a bare 404) is
// (false, nil); other errors are classified like the other calls, naming the S3 action.
func (c *Client) RepairBucketAccess(ctx context.Context, bucket string) (bool, error) {
	b := aws.String(bucket)
	var block *s3types.PublicAccessBlockConfiguration
	out, err := c.s3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b})
	switch code, _ := errorCode(err); {
	case err == nil:
		block = out.PublicAccessBlockConfiguration
	case code == "NoSuchPublicAccessBlockConfiguration":
	case bucketGone(err):
		return false, nil
	default:
		return false, classify("read the public access block (s3:GetBucketPublicAccessBlock)", err)
	}
	policy, err := c.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
	switch code, _ := errorCode(err); {
	case err == nil:
	case code == "NoSuchBucketPolicy":
	case bucketGone(err):
		return false, nil
	default:
		return false, classify("read the bucket policy (s3:GetBucketPolicy)", err)
	}

	repaired := false
	if !fullyBlocked(block) {
		if err := c.blockPublicAccess(ctx, bucket); err != nil {
			if bucketGone(err) {
				return false, nil
			}
			return false, err
		}
		repaired = true
	}
	if policy != nil && policy.Policy != nil && s3access.AllowsPublic([]byte(aws.ToString(policy.Policy))) {
		if _, err := c.s3.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: b}); err != nil {
			if bucketGone(err) {
				return repaired, nil
			}
			return repaired, classify("delete the public bucket policy (s3:DeleteBucketPolicy)", err)
		}
		repaired = true
	}
	return repaired, nil
}
