package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
)

// TestAdmissionRejectsBadSpecs asserts, on the real API server, that bad input is refused at
// admission with a message that names the problem.
func TestAdmissionRejectsBadSpecs(t *testing.T) {
	ctx := context.Background()
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "admission"}}))
	base := func() *v1alpha1.StateBackend {
		return &v1alpha1.StateBackend{
			ObjectMeta: metav1.ObjectMeta{Namespace: "admission", GenerateName: "sb-"},
			Spec:       v1alpha1.StateBackendSpec{ProviderRef: v1alpha1.ProviderReference{Name: "p"}},
		}
	}
	cases := []struct {
		reason  string
		mutate  func(*v1alpha1.StateBackend)
		message string
	}{
		{"upper-case bucket names break S3 rules", func(sb *v1alpha1.StateBackend) { sb.Spec.BucketName = "Team-A" }, "spec.bucketName"},
		{"two-character bucket names are too short", func(sb *v1alpha1.StateBackend) { sb.Spec.BucketName = "ab" }, "spec.bucketName"},
		{"bucket names may not end in a hyphen", func(sb *v1alpha1.StateBackend) { sb.Spec.BucketName = "abc-" }, "spec.bucketName"},
		{"underscores are not allowed in bucket names", func(sb *v1alpha1.StateBackend) { sb.Spec.BucketName = "team_a" }, "spec.bucketName"},
		{"reserved prefixes are refused", func(sb *v1alpha1.StateBackend) { sb.Spec.BucketName = "xn--abc" }, "reserves"},
		{"absolute keys are refused", func(sb *v1alpha1.StateBackend) { sb.Spec.Key = "/network/terraform.tfstate" }, "spec.key"},
		{"keys ending in a slash are refused", func(sb *v1alpha1.StateBackend) { sb.Spec.Key = "network/" }, "spec.key"},
		{"double slashes are refused", func(sb *v1alpha1.StateBackend) { sb.Spec.Key = "a//b" }, "spec.key"},
		{"parent segments are refused", func(sb *v1alpha1.StateBackend) { sb.Spec.Key = "a/../b" }, "'..'"},
		{"spaces could add flags to TF_CLI_ARGS_init", func(sb *v1alpha1.StateBackend) { sb.Spec.Key = "a -backend-config=x" }, "spec.key"},
		{"quotes could break the backend file", func(sb *v1alpha1.StateBackend) { sb.Spec.WorkspaceKeyPrefix = `env"x` }, "spec.workspaceKeyPrefix"},
		{"unknown access modes are refused", func(sb *v1alpha1.StateBackend) { sb.Spec.Access = "Admin" }, "spec.access"},
		{"unknown deletion policies are refused", func(sb *v1alpha1.StateBackend) { sb.Spec.DeletionPolicy = "Purge" }, "spec.deletionPolicy"},
		{"unknown provider kinds are refused", func(sb *v1alpha1.StateBackend) { sb.Spec.ProviderRef.Kind = "Bucket" }, "spec.providerRef.kind"},
		{"a key outside the key prefix would escape the credential's scope", func(sb *v1alpha1.StateBackend) {
			sb.Spec.KeyPrefix, sb.Spec.Key = "network", "dns/terraform.tfstate"
		}, "spec.key must lie under spec.keyPrefix"},
		{"a key that only starts with the prefix's letters is outside it", func(sb *v1alpha1.StateBackend) {
			sb.Spec.KeyPrefix, sb.Spec.Key = "network", "network2/terraform.tfstate"
		}, "spec.key must lie under spec.keyPrefix"},
		{"workspaces outside the key prefix could not be written", func(sb *v1alpha1.StateBackend) {
			sb.Spec.KeyPrefix, sb.Spec.WorkspaceKeyPrefix = "network", "env"
		}, "spec.workspaceKeyPrefix must lie under spec.keyPrefix"},
		{"only a ReadOnly backend may read another's bucket", func(sb *v1alpha1.StateBackend) {
			sb.Spec.BucketFrom = &v1alpha1.BucketReference{Name: "writer"}
		}, "spec.bucketFrom is for ReadOnly backends"},
		{"a reader names the bucket through its owner, not by name too", func(sb *v1alpha1.StateBackend) {
			sb.Spec.Access, sb.Spec.BucketName = v1alpha1.AccessReadOnly, "some-bucket"
			sb.Spec.BucketFrom = &v1alpha1.BucketReference{Name: "writer"}
		}, "spec.bucketFrom and spec.bucketName are exclusive"},
		{"a reader never deletes the bucket it reads", func(sb *v1alpha1.StateBackend) {
			sb.Spec.Access, sb.Spec.DeletionPolicy = v1alpha1.AccessReadOnly, v1alpha1.DeletionPolicyDelete
			sb.Spec.BucketFrom = &v1alpha1.BucketReference{Name: "writer"}
		}, "deletionPolicy must be Retain"},
		{"credentials expiring within minutes would be renewed in a loop", func(sb *v1alpha1.StateBackend) {
			sb.Spec.Credentials = &v1alpha1.CredentialPolicy{ExpireAfter: &metav1.Duration{Duration: 5 * time.Minute}}
		}, "expireAfter must be at least 10m"},
		{"temporary credentials need a lifetime", func(sb *v1alpha1.StateBackend) {
			sb.Spec.Credentials = &v1alpha1.CredentialPolicy{Temporary: true}
		}, "temporary needs spec.credentials.expireAfter"},
		{"a session shorter than 15m is refused", func(sb *v1alpha1.StateBackend) {
			sb.Spec.Credentials = &v1alpha1.CredentialPolicy{Temporary: true, ExpireAfter: &metav1.Duration{Duration: 10 * time.Minute}}
		}, "between 15m and 168h for temporary credentials"},
		{"a session beyond R2's seven days is refused", func(sb *v1alpha1.StateBackend) {
			sb.Spec.Credentials = &v1alpha1.CredentialPolicy{Temporary: true, ExpireAfter: &metav1.Duration{Duration: 169 * time.Hour}}
		}, "between 15m and 168h for temporary credentials"},
		{"a rotation period under a minute would rotate in a loop", func(sb *v1alpha1.StateBackend) {
			sb.Spec.Credentials = &v1alpha1.CredentialPolicy{RotationPeriod: &metav1.Duration{Duration: 30 * time.Second}}
		}, "rotationPeriod must be at least 1m"},
		{"parent segments in the key prefix are refused", func(sb *v1alpha1.StateBackend) { sb.Spec.KeyPrefix = "a/../b" }, "spec.keyPrefix must not contain"},
		{"unknown R2 jurisdictions are refused", func(sb *v1alpha1.StateBackend) {
			sb.Spec.CloudflareR2 = &v1alpha1.CloudflareR2BackendOptions{Jurisdiction: "us"}
		}, "spec.cloudflareR2.jurisdiction"},
	}
	for _, tc := range cases {
		sb := base()
		tc.mutate(sb)
		err := k8s.Create(ctx, sb)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: want an Invalid error mentioning %q, got %v", tc.reason, tc.message, err)
		}
	}
}

func TestAdmissionImmutableFields(t *testing.T) {
	ctx := context.Background()
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "immutable"}}))
	sb := &v1alpha1.StateBackend{
		ObjectMeta: metav1.ObjectMeta{Namespace: "immutable", Name: "sb"},
		Spec: v1alpha1.StateBackendSpec{
			ProviderRef: v1alpha1.ProviderReference{Name: "does-not-exist"},
			BucketName:  "immutable-bucket",
		},
	}
	must(t, k8s.Create(ctx, sb))
	cases := []struct {
		reason  string
		mutate  func(*v1alpha1.StateBackend)
		message string
	}{
		{"the bucket cannot change under existing state", func(sb *v1alpha1.StateBackend) { sb.Spec.BucketName = "other-bucket" }, "spec.bucketName is immutable"},
		{"the bucket cannot be removed to fall back to the default", func(sb *v1alpha1.StateBackend) { sb.Spec.BucketName = "" }, "cannot be added or removed"},
		{"moving providers is a migration", func(sb *v1alpha1.StateBackend) { sb.Spec.ProviderRef.Name = "other" }, "spec.providerRef is immutable"},
		{"the Secret name cannot be added later", func(sb *v1alpha1.StateBackend) { sb.Spec.SecretName = "other" }, "cannot be added or removed"},
		{"an R2 jurisdiction cannot be added later (the bucket would move)", func(sb *v1alpha1.StateBackend) {
			sb.Spec.CloudflareR2 = &v1alpha1.CloudflareR2BackendOptions{Jurisdiction: v1alpha1.R2JurisdictionEU}
		}, "spec.cloudflareR2 is immutable"},
		{"a key prefix cannot be added later (the credential's scope would change under it)", func(sb *v1alpha1.StateBackend) {
			sb.Spec.KeyPrefix = "network"
		}, "spec.keyPrefix is immutable"},
	}
	for _, tc := range cases {
		var err error
		for range 20 { // the controller writes the finalizer and status concurrently: retry conflicts
			cur := &v1alpha1.StateBackend{}
			must(t, k8s.Get(ctx, client.ObjectKeyFromObject(sb), cur))
			tc.mutate(cur)
			if err = k8s.Update(ctx, cur); !apierrors.IsConflict(err) {
				break
			}
		}
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: want an Invalid error mentioning %q, got %v", tc.reason, tc.message, err)
		}
	}
}

func TestAdmissionProviderSpecs(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		reason  string
		obj     client.Object
		message string
	}{
		{"a provider needs exactly one provider block", &v1alpha1.ClusterStorageProvider{
			ObjectMeta: metav1.ObjectMeta{Name: "no-block"},
			Spec:       v1alpha1.StorageProviderSpec{CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: "x", Name: "y"}},
		}, "exactly one provider block"},
		{"a cluster provider's Secret needs a namespace", &v1alpha1.ClusterStorageProvider{
			ObjectMeta: metav1.ObjectMeta{Name: "no-namespace"},
			Spec: v1alpha1.StorageProviderSpec{
				MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9000"},
				CredentialsSecretRef: &v1alpha1.SecretReference{Name: "y"},
			},
		}, "namespace is required"},
		{"endpoints need a scheme", &v1alpha1.ClusterStorageProvider{
			ObjectMeta: metav1.ObjectMeta{Name: "no-scheme"},
			Spec: v1alpha1.StorageProviderSpec{
				MinIO:                &v1alpha1.MinIOProvider{Endpoint: "127.0.0.1:9000"},
				CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: "x", Name: "y"},
			},
		}, "spec.minio.endpoint"},
		{"a provider has one block, not two", &v1alpha1.ClusterStorageProvider{
			ObjectMeta: metav1.ObjectMeta{Name: "two-blocks"},
			Spec: v1alpha1.StorageProviderSpec{
				MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9000"},
				CloudflareR2:         &v1alpha1.CloudflareR2Provider{AccountID: strings.Repeat("a", 32)},
				CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: "x", Name: "y"},
			},
		}, "exactly one provider block"},
		{"only AWS may go without a credentials Secret", &v1alpha1.ClusterStorageProvider{
			ObjectMeta: metav1.ObjectMeta{Name: "minio-no-secret"},
			Spec:       v1alpha1.StorageProviderSpec{MinIO: &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9000"}},
		}, "spec.credentialsSecretRef is required"},
		{"an AWS region looks like one", awsSpec("bad-region", func(p *v1alpha1.AWSS3Provider) { p.Region = "Ireland" }), "spec.awsS3.region"},
		{"the KMS key must be an ARN (the policy names it)", awsSpec("kms-alias", func(p *v1alpha1.AWSS3Provider) { p.KMSKeyID = "alias/tfstate" }), "spec.awsS3.kmsKeyID"},
		{"an IAM path starts and ends with a slash", awsSpec("bad-path", func(p *v1alpha1.AWSS3Provider) { p.IAMPath = "tfstate" }), "spec.awsS3.iamPath"},
		{"a permissions boundary is an IAM policy ARN", awsSpec("bad-boundary", func(p *v1alpha1.AWSS3Provider) { p.PermissionsBoundaryARN = "boundary" }), "spec.awsS3.permissionsBoundaryARN"},
		{"an IAM endpoint needs a scheme", awsSpec("bad-iam-endpoint", func(p *v1alpha1.AWSS3Provider) { p.IAMEndpoint = "iam.amazonaws.com" }), "spec.awsS3.iamEndpoint"},
		{"a Cloudflare account id is 32 lowercase hex characters", r2Spec("bad-account", func(p *v1alpha1.CloudflareR2Provider) { p.AccountID = "My-Account" }), "spec.cloudflareR2.accountID"},
		{"R2 knows three jurisdictions", r2Spec("bad-jurisdiction", func(p *v1alpha1.CloudflareR2Provider) { p.Jurisdiction = "us" }), "spec.cloudflareR2.jurisdiction"},
		{"R2 knows six location hints", r2Spec("bad-hint", func(p *v1alpha1.CloudflareR2Provider) { p.LocationHint = "mars" }), "spec.cloudflareR2.locationHint"},
		{"the client-side limit cannot exceed Cloudflare's", r2Spec("bad-limit", func(p *v1alpha1.CloudflareR2Provider) { p.RequestsPerFiveMinutes = 5000 }), "spec.cloudflareR2.requestsPerFiveMinutes"},
		{"an API base URL needs a scheme", r2Spec("bad-api-url", func(p *v1alpha1.CloudflareR2Provider) { p.APIBaseURL = "api.cloudflare.com" }), "spec.cloudflareR2.apiBaseURL"},
		{"a bucket name prefix is lowercase (S3 names are)", namingProvider("bad-prefix-case", "y", &v1alpha1.BucketNamingPolicy{Prefix: "Acme-"}), "spec.bucketNaming.prefix"},
		{"a bucket name prefix starts with a letter or digit", namingProvider("bad-prefix-start", "y", &v1alpha1.BucketNamingPolicy{Prefix: "-acme"}), "spec.bucketNaming.prefix"},
		{"dots and underscores are not allowed in a bucket name prefix", namingProvider("bad-prefix-chars", "y", &v1alpha1.BucketNamingPolicy{Prefix: "acme_x."}), "spec.bucketNaming.prefix"},
		{"a bucket name prefix leaves room for the namespace and hash (20 characters)", namingProvider("bad-prefix-long", "y", &v1alpha1.BucketNamingPolicy{Prefix: strings.Repeat("a", 21)}), "spec.bucketNaming.prefix"},
		{"a bucket name prefix may not start with one S3 reserves", namingProvider("bad-prefix-reserved", "y", &v1alpha1.BucketNamingPolicy{Prefix: "xn--acme"}), "S3 reserves"},
	}
	for _, tc := range cases {
		err := k8s.Create(ctx, tc.obj)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: want an Invalid error mentioning %q, got %v", tc.reason, tc.message, err)
		}
	}
}

// r2Spec is a valid cloudflareR2 ClusterStorageProvider changed by mutate.
func r2Spec(name string, mutate func(*v1alpha1.CloudflareR2Provider)) *v1alpha1.ClusterStorageProvider {
	p := &v1alpha1.CloudflareR2Provider{AccountID: strings.Repeat("0a", 16)}
	mutate(p)
	return &v1alpha1.ClusterStorageProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.StorageProviderSpec{CloudflareR2: p, CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: "x", Name: "y"}},
	}
}

// awsSpec is a valid awsS3 ClusterStorageProvider (default credential chain) changed by mutate.
func awsSpec(name string, mutate func(*v1alpha1.AWSS3Provider)) *v1alpha1.ClusterStorageProvider {
	p := &v1alpha1.AWSS3Provider{Region: "eu-west-1"}
	mutate(p)
	return &v1alpha1.ClusterStorageProvider{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.StorageProviderSpec{AWSS3: p}}
}

// TestAdmissionAcceptsAWSProviders: the AWS shapes the README shows are accepted, with and without
// a credentials Secret (the default chain: IRSA, EKS Pod Identity).
func TestAdmissionAcceptsAWSProviders(t *testing.T) {
	ctx := context.Background()
	for _, csp := range []*v1alpha1.ClusterStorageProvider{
		awsSpec("aws-default-chain", func(*v1alpha1.AWSS3Provider) {}),
		awsSpec("aws-everything", func(p *v1alpha1.AWSS3Provider) {
			p.Region, p.IAMPath = "us-gov-west-1", "/platform/tfstate/"
			p.KMSKeyID = "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
			p.PermissionsBoundaryARN = "arn:aws-us-gov:iam::111122223333:policy/tfstate-boundary"
			p.S3Endpoint, p.IAMEndpoint, p.STSEndpoint = "https://s3.example.test", "https://iam.example.test", "https://sts.example.test"
		}),
	} {
		if err := k8s.Create(ctx, csp); err != nil {
			t.Errorf("%s: %v", csp.Name, err)
			continue
		}
		got := &v1alpha1.ClusterStorageProvider{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(csp), got))
		if csp.Spec.AWSS3.IAMPath == "" && got.Spec.AWSS3.IAMPath != "/tfstate-operator/" {
			t.Errorf("%s: iamPath defaulted to %q, want /tfstate-operator/", csp.Name, got.Spec.AWSS3.IAMPath)
		}
		must(t, k8s.Delete(ctx, got))
	}
}
