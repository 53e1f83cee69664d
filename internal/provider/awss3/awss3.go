// Package awss3 is the provider for AWS S3: hardened state buckets through the S3 API and, as
// credentials, IAM users with one inline policy (Policy) and one access key.
//
// # Buckets
//
// A state bucket gets what AWS advises for Terraform state: versioning, default encryption (SSE-S3,
// or SSE-KMS with an S3 Bucket Key when a KMS key is configured), all four public-access blocks,
// object ownership BucketOwnerEnforced (ACLs off), and tags naming its StateBackend. The tags are
// the ownership marker and are written last, so a bucket carrying them is complete.
// BucketAlreadyOwnedByYou and BucketAlreadyExists are both ErrBucketNameTaken: the controller then
// observes the bucket again, and carries on if its tags name this StateBackend (a create retried
// after a lost reply), while another account's bucket (HeadBucket: 403) is refused as not ours.
// RepairBucketAccess undoes what opened a bucket to the public behind the operator's back: a
// public-access block removed or weakened is put back whole, and a bucket policy granting anyone
// (s3access.AllowsPublic) is deleted; other bucket policies are left alone.
//
// # Credentials
//
// Each credential is an IAM user named CredentialRequest.Name under Config.IAMPath, with the inline
// policy PolicyName and one access key; Credential.ID is the user's name. Issue creates the user,
// puts the policy, then creates the key; revocation deletes the keys, the inline policies,
// detaches managed policies someone attached, then deletes the user (IAM refuses to delete a user
// that still has any of them). A crash between any two of these calls leaves a user under the
// backend's name prefix, which the controller lists and revokes. RepairGrant puts the policy back
// and removes what was added beside it, keeping the key. IAM is eventually consistent: a new key
// is refused by S3 for a few seconds, which the controller's credential probe waits out (reason
// CredentialPropagating).
package awss3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// DefaultIAMPath is the path of the IAM users the operator creates when the spec names none.
const DefaultIAMPath = "/tfstate-operator/"

// Ownership tags on every bucket the operator owns.
const (
	TagManagedBy      = "tfstate.dev/managed-by"
	TagOwnerNamespace = "tfstate.dev/owner-namespace"
	TagOwnerName      = "tfstate.dev/owner-name"
	TagOwnerUID       = "tfstate.dev/owner-uid"
	// TagOwnerCluster and TagOwnerSeal carry Owner.Cluster (at most 63 characters, see
	// internal/clusterid) and Owner.Seal (43 base64url characters): both fit S3's 256-character tag
	// values and their character set. A marker of the previous release has neither.
	TagOwnerCluster = "tfstate.dev/owner-cluster"
	TagOwnerSeal    = "tfstate.dev/owner-seal"
	managedByValue  = "tfstate-operator"
)

// Config is one AWS provider's settings and admin credentials.
type Config struct {
	// Region of the buckets.
	Region string
	// KMSKeyID is the ARN of the SSE-KMS key; empty means SSE-S3.
	KMSKeyID string
	// IAMPath is the path of the users the operator creates (DefaultIAMPath when empty).
	IAMPath string
	// PermissionsBoundaryARN is set on every user the operator creates, when not empty.
	PermissionsBoundaryARN string
	// S3Endpoint, IAMEndpoint and STSEndpoint override the SDK's endpoints. S3Endpoint and
	// STSEndpoint are handed to runners too.
	S3Endpoint, IAMEndpoint, STSEndpoint string
	// AccessKeyID, SecretAccessKey and SessionToken are static admin credentials; all empty means
	// the SDK's default chain (IRSA, EKS Pod Identity, instance role). Secret.
	AccessKeyID, SecretAccessKey, SessionToken string
	// HTTPClient is used for every call; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
}

// Client implements provider.Client for one AWS account and region.
type Client struct {
	cfg  Config
	s3   *s3.Client
	iam  *iam.Client
	sts  *sts.Client
	path string
}

var (
	_ provider.Client  = (*Client)(nil)
	_ provider.Checker = (*Client)(nil)
)

// New builds a client. It makes no network call. Malformed settings wrap provider.ErrInvalidConfig.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Region == "" {
		return nil, fmt.Errorf("%w: no AWS region", provider.ErrInvalidConfig)
	}
	for name, v := range map[string]string{"s3Endpoint": cfg.S3Endpoint, "iamEndpoint": cfg.IAMEndpoint, "stsEndpoint": cfg.STSEndpoint} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("%w: %s %q must be http(s)://host[:port]", provider.ErrInvalidConfig, name, v)
		}
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, fmt.Errorf("%w: static AWS credentials need both an access key id and a secret access key", provider.ErrInvalidConfig)
	}
	path := cfg.IAMPath
	if path == "" {
		path = DefaultIAMPath
	}
	if !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/") {
		return nil, fmt.Errorf("%w: iamPath %q must start and end with '/'", provider.ErrInvalidConfig, path)
	}
	var hc aws.HTTPClient = cfg.HTTPClient
	if cfg.HTTPClient == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	// Static keys make a configuration of their own: nothing of the pod's environment or shared
	// config files (profiles, CA bundles) is read. Without keys, the SDK's default chain decides.
	awsCfg := aws.Config{
		Region:      cfg.Region,
		HTTPClient:  hc,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)),
	}
	if cfg.AccessKeyID == "" {
		var err error
		if awsCfg, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region)); err != nil {
			return nil, fmt.Errorf("%w: load the default AWS configuration: %w", provider.ErrInvalidConfig, err)
		}
	}
	return &Client{
		cfg:  cfg,
		path: path,
		s3: s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if cfg.S3Endpoint != "" {
				o.BaseEndpoint = aws.String(strings.TrimSuffix(cfg.S3Endpoint, "/"))
				o.UsePathStyle = true
			}
		}),
		iam: iam.NewFromConfig(awsCfg, func(o *iam.Options) {
			// IAM is global: it signs in its partition's home region, whatever the buckets' region.
			o.Region = iamSigningRegion(cfg.Region)
			if cfg.IAMEndpoint != "" {
				o.BaseEndpoint = aws.String(strings.TrimSuffix(cfg.IAMEndpoint, "/"))
			}
		}),
		sts: sts.NewFromConfig(awsCfg, func(o *sts.Options) {
			if cfg.STSEndpoint != "" {
				o.BaseEndpoint = aws.String(strings.TrimSuffix(cfg.STSEndpoint, "/"))
			}
		}),
	}, nil
}

// Settings implements provider.Client: AWS itself (no skip_* flags), encrypt=true (and kms_key_id
// with SSE-KMS), versioning, prefix scoping. Endpoint overrides are handed to runners.
func (c *Client) Settings() provider.BackendSettings {
	return provider.BackendSettings{
		Region:         c.cfg.Region,
		EndpointURL:    strings.TrimSuffix(c.cfg.S3Endpoint, "/"),
		STSEndpointURL: strings.TrimSuffix(c.cfg.STSEndpoint, "/"),
		UsePathStyle:   c.cfg.S3Endpoint != "",
		Encrypt:        true,
		KMSKeyID:       c.cfg.KMSKeyID,
		Versioning:     true,
		PrefixScoping:  true,
	}
}

// ObserveBucket implements provider.Client. A bucket out of the operator's reach exists, with no
// owner and Elsewhere saying where: HeadBucket answers 403 for another account's bucket, 301
// MovedPermanently for a bucket in another region, and 400 for one in a region opened after
// March 2019, both with x-amz-bucket-region (aws-sdk-go-v2 #1458, boto3 #2728).
func (c *Client) ObserveBucket(ctx context.Context, bucket string) (provider.BucketObservation, error) {
	if _, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		var nf *s3types.NotFound
		var nsb *s3types.NoSuchBucket
		switch code, status := errorCode(err); {
		case errors.As(err, &nf), errors.As(err, &nsb), status == http.StatusNotFound:
			return provider.BucketObservation{}, nil
		case status == http.StatusForbidden && code != "InvalidAccessKeyId" && code != "SignatureDoesNotMatch":
			return provider.BucketObservation{Exists: true, Elsewhere: "owned by another AWS account (or closed to the operator's identity)"}, nil
		case status == http.StatusMovedPermanently:
			return provider.BucketObservation{Exists: true, Elsewhere: "in another region" + regionOf(err)}, nil
		case status == http.StatusBadRequest && regionOf(err) != "":
			return provider.BucketObservation{Exists: true, Elsewhere: "in another region" + regionOf(err)}, nil
		}
		return provider.BucketObservation{}, classify("observe bucket", err)
	}
	tags, err := c.bucketTags(ctx, bucket)
	if err != nil {
		return provider.BucketObservation{}, err
	}
	v, err := c.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		return provider.BucketObservation{}, classify("read bucket versioning", err)
	}
	return provider.BucketObservation{
		Exists:     true,
		Owner:      ownerOf(tags),
		Versioning: v.Status == s3types.BucketVersioningStatusEnabled,
	}, nil
}

func ownerOf(tags map[string]string) *provider.Owner {
	o := provider.Owner{Namespace: tags[TagOwnerNamespace], Name: tags[TagOwnerName], UID: tags[TagOwnerUID],
		Cluster: tags[TagOwnerCluster], Seal: tags[TagOwnerSeal]}
	if tags[TagManagedBy] != managedByValue || o.Namespace == "" || o.Name == "" || o.UID == "" {
		return nil
	}
	return &o
}

func (c *Client) bucketTags(ctx context.Context, bucket string) (map[string]string, error) {
	out, err := c.s3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)})
	if err != nil {
		if code, _ := errorCode(err); code == "NoSuchTagSet" || code == "NoSuchTagSetError" {
			return map[string]string{}, nil
		}
		return nil, classify("read bucket tags", err)
	}
	tags := make(map[string]string, len(out.TagSet))
	for _, t := range out.TagSet {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

// CreateBucket implements provider.Client: the bucket (no LocationConstraint in us-east-1, which
// refuses one), then MarkBucket's hardening and tags.
//
// In us-east-1 S3 answers 200 OK, not 409 BucketAlreadyOwnedByYou, to a create of a bucket the
// account already has (S3 API reference, "Error responses"), so a 200 there does not prove this
// call made the bucket: one that already carries tags (a marker, or anyone's) is
// ErrBucketNameTaken, for the controller to observe and judge. A bucket made untagged in the
// same account between the controller's observe and this create cannot be told from a new one.
func (c *Client) CreateBucket(ctx context.Context, req provider.BucketRequest) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(req.Name), ObjectOwnership: s3types.ObjectOwnershipBucketOwnerEnforced}
	if c.cfg.Region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(c.cfg.Region)}
	}
	if _, err := c.s3.CreateBucket(ctx, in); err != nil {
		var owned *s3types.BucketAlreadyOwnedByYou
		var exists *s3types.BucketAlreadyExists
		switch code, _ := errorCode(err); {
		case errors.As(err, &owned), errors.As(err, &exists):
			return fmt.Errorf("create bucket %q: %w", req.Name, provider.ErrBucketNameTaken)
		case code == "InvalidBucketName":
			return fmt.Errorf("create bucket %q: %w: S3 refused the name", req.Name, provider.ErrInvalidConfig)
		}
		return classify("create bucket", err)
	}
	if c.cfg.Region == "us-east-1" {
		tags, err := c.bucketTags(ctx, req.Name)
		if err != nil {
			return err
		}
		if len(tags) > 0 {
			return fmt.Errorf("create bucket %q: %w: us-east-1 answered 200 for a bucket that already carries tags", req.Name, provider.ErrBucketNameTaken)
		}
	}
	return c.MarkBucket(ctx, req.Name, req.Owner)
}

// MarkBucket implements provider.Client. It hardens the bucket first (public-access blocks,
// bucket-owner-enforced ownership, default encryption; each a put of the whole setting, so
// repeating them is harmless) and writes the ownership tags last, keeping tags of others.
func (c *Client) MarkBucket(ctx context.Context, bucket string, owner provider.Owner) error {
	b := aws.String(bucket)
	if err := c.blockPublicAccess(ctx, bucket); err != nil {
		return err
	}
	if _, err := c.s3.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: b, OwnershipControls: &s3types.OwnershipControls{
		Rules: []s3types.OwnershipControlsRule{{ObjectOwnership: s3types.ObjectOwnershipBucketOwnerEnforced}},
	}}); err != nil {
		return classify("enforce bucket-owner object ownership", err)
	}
	if _, err := c.s3.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: b, ServerSideEncryptionConfiguration: c.encryption()}); err != nil {
		return classify("set default encryption", err)
	}
	tags, err := c.bucketTags(ctx, bucket)
	if err != nil {
		return err
	}
	tags[TagManagedBy], tags[TagOwnerNamespace], tags[TagOwnerName], tags[TagOwnerUID] = managedByValue, owner.Namespace, owner.Name, owner.UID
	// An empty cluster or seal removes the tag: a stale seal must not outlive the marker it sealed.
	for k, v := range map[string]string{TagOwnerCluster: owner.Cluster, TagOwnerSeal: owner.Seal} {
		if v == "" {
			delete(tags, k)
		} else {
			tags[k] = v
		}
	}
	set := make([]s3types.Tag, 0, len(tags))
	for k, v := range tags {
		set = append(set, s3types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := c.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b, Tagging: &s3types.Tagging{TagSet: set}}); err != nil {
		return classify("tag bucket", err)
	}
	return nil
}

// encryption is the bucket's default encryption: SSE-KMS with a Bucket Key (fewer KMS calls) when
// a key is configured, else SSE-S3.
func (c *Client) encryption() *s3types.ServerSideEncryptionConfiguration {
	def := &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256}
	rule := s3types.ServerSideEncryptionRule{ApplyServerSideEncryptionByDefault: def}
	if c.cfg.KMSKeyID != "" {
		def.SSEAlgorithm, def.KMSMasterKeyID = s3types.ServerSideEncryptionAwsKms, aws.String(c.cfg.KMSKeyID)
		rule.BucketKeyEnabled = aws.Bool(true)
	}
	return &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{rule}}
}

// EnableVersioning implements provider.Client.
func (c *Client) EnableVersioning(ctx context.Context, bucket string) error {
	if _, err := c.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		return classify("enable versioning", err)
	}
	return nil
}

// DeleteBucket implements provider.Client. Every object version and delete marker counts, except
// the operator's own (provider.IsOperatorObject), which are removed last.
func (c *Client) DeleteBucket(ctx context.Context, bucket string) error {
	b := aws.String(bucket)
	var reserved []s3types.ObjectIdentifier
	p := s3.NewListObjectVersionsPaginator(c.s3, &s3.ListObjectVersionsInput{Bucket: b})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if code, _ := errorCode(err); code == "NoSuchBucket" {
				return nil
			}
			return classify("list object versions", err)
		}
		for _, v := range page.Versions {
			if key := aws.ToString(v.Key); !provider.IsOperatorObject(key) {
				return fmt.Errorf("bucket %q holds %q: %w", bucket, key, provider.ErrBucketNotEmpty)
			}
			reserved = append(reserved, s3types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			if key := aws.ToString(m.Key); !provider.IsOperatorObject(key) {
				return fmt.Errorf("bucket %q holds %q: %w", bucket, key, provider.ErrBucketNotEmpty)
			}
			reserved = append(reserved, s3types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
	}
	for _, o := range reserved {
		if _, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: o.Key, VersionId: o.VersionId}); err != nil {
			return classify("delete reserved object", err)
		}
	}
	if _, err := c.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b}); err != nil {
		switch code, _ := errorCode(err); code {
		case "BucketNotEmpty":
			// Written to between the listing and the delete: still never emptied by us.
			return fmt.Errorf("bucket %q: %w", bucket, provider.ErrBucketNotEmpty)
		case "NoSuchBucket":
			return nil
		}
		return classify("delete bucket", err)
	}
	return nil
}

// IssueCredential implements provider.Client: user, policy, access key, in that order (a key never
// exists without its policy). A user left by an earlier attempt of the same name is reused.
func (c *Client) IssueCredential(ctx context.Context, req provider.CredentialRequest) (provider.Credential, error) {
	user := aws.String(req.Name)
	in := &iam.CreateUserInput{UserName: user, Path: aws.String(c.path), Tags: []iamtypes.Tag{
		{Key: aws.String(TagManagedBy), Value: aws.String(managedByValue)},
		{Key: aws.String("tfstate.dev/bucket"), Value: aws.String(req.Bucket)},
	}}
	if c.cfg.PermissionsBoundaryARN != "" {
		in.PermissionsBoundary = aws.String(c.cfg.PermissionsBoundaryARN)
	}
	if _, err := c.iam.CreateUser(ctx, in); err != nil {
		var exists *iamtypes.EntityAlreadyExistsException
		if !errors.As(err, &exists) {
			return provider.Credential{}, classify("create IAM user", err)
		}
	}
	if _, err := c.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: user, PolicyName: aws.String(PolicyName), PolicyDocument: aws.String(string(c.policy(req)))}); err != nil {
		return provider.Credential{}, classify("put the user's policy", err)
	}
	out, err := c.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: user})
	if err != nil {
		return provider.Credential{}, classify("create access key", err)
	}
	return provider.Credential{
		ID:              req.Name,
		Name:            req.Name,
		AccessKeyID:     aws.ToString(out.AccessKey.AccessKeyId),
		SecretAccessKey: aws.ToString(out.AccessKey.SecretAccessKey),
	}, nil
}

// ListCredentials implements provider.Client: the users under the IAM path whose name starts with
// namePrefix, each with its (first) access key; a user without a key (an interrupted issue) is
// listed with none, so that it is revoked too.
func (c *Client) ListCredentials(ctx context.Context, namePrefix string) ([]provider.CredentialInfo, error) {
	var out []provider.CredentialInfo
	p := iam.NewListUsersPaginator(c.iam, &iam.ListUsersInput{PathPrefix: aws.String(c.path)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify("list IAM users", err)
		}
		for _, u := range page.Users {
			name := aws.ToString(u.UserName)
			if !strings.HasPrefix(name, namePrefix) || aws.ToString(u.Path) != c.path {
				continue
			}
			keys, err := c.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: u.UserName})
			if err != nil {
				var nse *iamtypes.NoSuchEntityException
				if errors.As(err, &nse) {
					continue // deleted since the listing
				}
				return nil, classify("list access keys", err)
			}
			info := provider.CredentialInfo{ID: name, Name: name}
			if len(keys.AccessKeyMetadata) > 0 {
				info.AccessKeyID = aws.ToString(keys.AccessKeyMetadata[0].AccessKeyId)
			}
			out = append(out, info)
		}
	}
	return out, nil
}

// ErrForeignUser: RevokeCredential or RepairGrant was handed an IAM user the operator did not
// create (its name lacks credentialNamePrefix, or it is not under the client's IAM path). Nothing
// is changed: the id may come from a StateBackend's status, which is not the operator's own record.
var ErrForeignUser = errors.New("not an IAM user of the operator")

// credentialNamePrefix starts every credential name the operator issues (naming.CredentialPrefix).
const credentialNamePrefix = "tfso-"

// ownUser checks that id names a user the operator created: its name carries the operator's
// prefix and the user is under the client's IAM path. exists is false when there is no such user.
// Errors wrap ErrForeignUser for any other user.
func (c *Client) ownUser(ctx context.Context, id string) (exists bool, err error) {
	if !strings.HasPrefix(id, credentialNamePrefix) {
		return false, fmt.Errorf("IAM user %q: the name lacks the operator's prefix %q: %w", id, credentialNamePrefix, ErrForeignUser)
	}
	out, err := c.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(id)})
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return false, nil
	}
	if err != nil {
		return false, classify("get IAM user", err)
	}
	if p := aws.ToString(out.User.Path); p != c.path {
		return false, fmt.Errorf("IAM user %q is under path %q, not the operator's %q: %w", id, p, c.path, ErrForeignUser)
	}
	return true, nil
}

// RevokeCredential implements provider.Client: the user's access keys, its inline policies, the
// managed policies attached to it out of band, then the user. Whatever is already gone is skipped.
// Only a user of the operator's (ownUser) is touched.
func (c *Client) RevokeCredential(ctx context.Context, id string) error {
	user := aws.String(id)
	gone := func(err error) bool {
		var nse *iamtypes.NoSuchEntityException
		return errors.As(err, &nse)
	}
	if exists, err := c.ownUser(ctx, id); err != nil || !exists {
		return err
	}
	keys, err := c.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: user})
	if gone(err) {
		return nil
	}
	if err != nil {
		return classify("list access keys", err)
	}
	for _, k := range keys.AccessKeyMetadata {
		if _, err := c.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: user, AccessKeyId: k.AccessKeyId}); err != nil && !gone(err) {
			return classify("delete access key", err)
		}
	}
	policies, err := c.iam.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: user})
	if err != nil && !gone(err) {
		return classify("list user policies", err)
	}
	if err == nil {
		for _, name := range policies.PolicyNames {
			if _, err := c.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: user, PolicyName: aws.String(name)}); err != nil && !gone(err) {
				return classify("delete user policy", err)
			}
		}
	}
	attached, err := c.attachedPolicies(ctx, id)
	if err != nil && !gone(err) {
		return err
	}
	for _, arn := range attached {
		if _, err := c.iam.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: user, PolicyArn: aws.String(arn)}); err != nil && !gone(err) {
			return classify("detach user policy", err)
		}
	}
	if _, err := c.iam.DeleteUser(ctx, &iam.DeleteUserInput{UserName: user}); err != nil && !gone(err) {
		return classify("delete IAM user", err)
	}
	return nil
}

// RepairGrant implements provider.Client. What an IAM user's keys may do is the union of its
// inline policies, its attached managed policies and its groups' policies, so the grant is whole
// only when the inline policy PolicyName says (EquivalentPolicies) what IssueCredential would put
// for req and nothing else is there. What was added beside the policy goes first (other inline
// policies are deleted, managed policies detached), then the policy is put again if it differs,
// so a repair cut short by an error has already removed what it could and the next one finishes
// it. Only a user of the operator's (ownUser) is touched. The access key is not touched, so runners keep working. Group memberships are not looked
// at yet: the test fake has no groups to prove such a repair against.
func (c *Client) RepairGrant(ctx context.Context, id string, req provider.CredentialRequest) (bool, error) {
	user := aws.String(id)
	gone := func(err error) bool {
		var nse *iamtypes.NoSuchEntityException
		return errors.As(err, &nse)
	}
	notFound := fmt.Errorf("repair the grant of IAM user %q: %w", id, provider.ErrCredentialNotFound)
	if exists, err := c.ownUser(ctx, id); err != nil {
		return false, err
	} else if !exists {
		return false, notFound
	}
	var inline []string
	p := iam.NewListUserPoliciesPaginator(c.iam, &iam.ListUserPoliciesInput{UserName: user})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if gone(err) {
			return false, notFound
		}
		if err != nil {
			return false, classify("list user policies", err)
		}
		inline = append(inline, page.PolicyNames...)
	}
	attached, err := c.attachedPolicies(ctx, id)
	if gone(err) {
		return false, notFound
	}
	if err != nil {
		return false, err
	}

	repaired := false
	for _, name := range inline {
		if name == PolicyName {
			continue
		}
		if _, err := c.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: user, PolicyName: aws.String(name)}); err != nil {
			if gone(err) {
				continue // deleted meanwhile
			}
			return repaired, classify("delete user policy", err)
		}
		repaired = true
	}
	for _, arn := range attached {
		if _, err := c.iam.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: user, PolicyArn: aws.String(arn)}); err != nil {
			if gone(err) {
				continue // detached meanwhile
			}
			return repaired, classify("detach user policy", err)
		}
		repaired = true
	}

	want := c.policy(req)
	current, err := c.userPolicy(ctx, id, slices.Contains(inline, PolicyName))
	if err != nil {
		return repaired, err
	}
	if current != nil && EquivalentPolicies(current, want) {
		return repaired, nil
	}
	if _, err := c.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: user, PolicyName: aws.String(PolicyName), PolicyDocument: aws.String(string(want))}); err != nil {
		if gone(err) {
			return repaired, notFound
		}
		return repaired, classify("put the user's policy", err)
	}
	return true, nil
}

// policy is the inline policy IssueCredential puts for req.
func (c *Client) policy(req provider.CredentialRequest) []byte {
	return Policy(PolicyRequest{Partition: Partition(c.cfg.Region), Bucket: req.Bucket, Access: req.Access, KeyPrefix: req.KeyPrefix, KMSKeyARN: c.cfg.KMSKeyID})
}

// userPolicy is the user's inline policy PolicyName as JSON, nil when it has none (listed is
// whether ListUserPolicies named it; it may have gone since). IAM answers the document
// URL-encoded (RFC 3986); AWS suggests a form decoder (java.net.URLDecoder), which is also right
// should a space ever come as "+".
func (c *Client) userPolicy(ctx context.Context, user string, listed bool) ([]byte, error) {
	if !listed {
		return nil, nil
	}
	out, err := c.iam.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(PolicyName)})
	if err != nil {
		var nse *iamtypes.NoSuchEntityException
		if errors.As(err, &nse) {
			return nil, nil // the put that follows tells a missing user apart
		}
		return nil, classify("get the user's policy", err)
	}
	doc, err := url.QueryUnescape(aws.ToString(out.PolicyDocument))
	if err != nil {
		return nil, fmt.Errorf("get the user's policy: IAM answered a document that is not URL-encoded: %w", err)
	}
	return []byte(doc), nil
}

// attachedPolicies are the ARNs of the managed policies attached to user, every page. A missing
// user is an error wrapping *iamtypes.NoSuchEntityException, other errors are classified.
func (c *Client) attachedPolicies(ctx context.Context, user string) ([]string, error) {
	var arns []string
	p := iam.NewListAttachedUserPoliciesPaginator(c.iam, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			var nse *iamtypes.NoSuchEntityException
			if errors.As(err, &nse) {
				return nil, err
			}
			return nil, classify("list attached user policies", err)
		}
		for _, ap := range page.AttachedPolicies {
			arns = append(arns, aws.ToString(ap.PolicyArn))
		}
	}
	return arns, nil
}

// Check implements provider.Checker: STS accepts the credentials, and IAM lets them list the
// operator's users (the one IAM read the operator needs). Neither changes anything.
func (c *Client) Check(ctx context.Context) error {
	if _, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		return classify("get caller identity", err)
	}
	if _, err := c.iam.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String(c.path), MaxItems: aws.Int32(1)}); err != nil {
		return classify("list IAM users", err)
	}
	return nil
}

// errorCode is the API error code and HTTP status of err ("" and 0 when it has none).
func errorCode(err error) (string, int) {
	code, status := "", 0
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	var respErr interface{ HTTPStatusCode() int }
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	return code, status
}

// regionName is the shape of an AWS region name (us-east-1, ap-southeast-5, us-gov-west-1).
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]{2,12}){1,2}-[0-9]{1,2}$`)

// regionOf is " (<region>)" for the x-amz-bucket-region header of err's reply, or "" when there is
// none. The header is a reply's text (a tenant's endpoint can be any HTTP service): only a value
// shaped as a region name is kept.
func regionOf(err error) string {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return ""
	}
	if r := re.Response.Header.Get("x-amz-bucket-region"); regionName.MatchString(r) {
		return " (" + r + ")"
	}
	return ""
}

// deniedAction is an IAM action name in an AccessDenied message ("... not authorized to perform:
// iam:PutUserPolicy on resource ...").
var deniedAction = regexp.MustCompile(`\b(iam|s3|kms|sts):[A-Za-z0-9]{1,64}\b`)

// rawMessage is the message AWS answered (never shown as is).
func rawMessage(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorMessage()
	}
	return ""
}

// classify maps an AWS error: refused admin credentials are a configuration problem, a missing
// permission is ErrPermissionDenied, an IAM quota ErrQuotaExceeded, throttling a RateLimitedError
// (after the SDK's own retries); anything else (network, 5xx) stays retryable. The text names the
// status and code, never the reply's message (a tenant's endpoint can be any HTTP service).
func classify(op string, err error) error {
	code, status := errorCode(err)
	err = provider.Redact(err, status, code)
	switch code {
	case "InvalidClientTokenId", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "UnrecognizedClientException":
		return fmt.Errorf("%s: %w: AWS refused the admin credentials (%s)", op, provider.ErrInvalidConfig, code)
	case "AccessDenied", "AccessDeniedException":
		if action := deniedAction.FindString(rawMessage(err)); action != "" {
			// The one token of AWS's message worth keeping: the action to grant, which has the
			// shape of an IAM action name and so cannot carry a reply's text.
			return fmt.Errorf("%s: %w (%s): %w", op, provider.ErrPermissionDenied, action, err)
		}
		return fmt.Errorf("%s: %w: %w", op, provider.ErrPermissionDenied, err)
	case "LimitExceeded":
		return fmt.Errorf("%s: %w: %w", op, provider.ErrQuotaExceeded, err)
	case "TooManyBuckets":
		// S3 error codes: 400, "You have attempted to create more buckets than allowed"; the
		// default quota is 10,000 buckets per account (raised through Service Quotas).
		return fmt.Errorf("%s: %w: the account holds as many buckets as its S3 quota allows (10,000 by default): %w", op, provider.ErrQuotaExceeded, err)
	case "Throttling", "ThrottlingException", "SlowDown", "RequestLimitExceeded":
		return &provider.RateLimitedError{Err: fmt.Errorf("%s: %w", op, err)}
	case "MalformedPolicyDocument", "ValidationError", "InvalidInput":
		return fmt.Errorf("%s: %w: %w", op, provider.ErrInvalidConfig, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
