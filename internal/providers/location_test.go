package providers

import (
	"testing"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

func TestLocation(t *testing.T) {
	minio := func(endpoint, region string) *v1alpha1.StorageProviderSpec {
		return &v1alpha1.StorageProviderSpec{MinIO: &v1alpha1.MinIOProvider{Endpoint: endpoint, Region: region}}
	}
	r2 := func(p v1alpha1.CloudflareR2Provider) *v1alpha1.StorageProviderSpec {
		return &v1alpha1.StorageProviderSpec{CloudflareR2: &p}
	}
	aws := func(p v1alpha1.AWSS3Provider) *v1alpha1.StorageProviderSpec {
		return &v1alpha1.StorageProviderSpec{AWSS3: &p}
	}
	spaces := func(p v1alpha1.DigitalOceanSpacesProvider) *v1alpha1.StorageProviderSpec {
		return &v1alpha1.StorageProviderSpec{DigitalOceanSpaces: &p}
	}
	const acct, other = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	cases := []struct {
		reason string
		a, b   *v1alpha1.StorageProviderSpec
		pa, pb provider.Placement
		same   bool
	}{
		{"another MinIO server", minio("http://minio-a:9000", "us-east-1"), minio("http://minio-b:9000", "us-east-1"), provider.Placement{}, provider.Placement{}, false},
		{"another MinIO region", minio("http://m:9000", "us-east-1"), minio("http://m:9000", "eu-west-1"), provider.Placement{}, provider.Placement{}, false},
		{"a trailing slash or upper case is the same URL", minio("http://M:9000/", "us-east-1"), minio("http://m:9000", "us-east-1"), provider.Placement{}, provider.Placement{}, true},
		{"MinIO's default region is what the client uses", minio("http://m:9000", ""), minio("http://m:9000", "us-east-1"), provider.Placement{}, provider.Placement{}, true},
		{"a CA bundle changes how, not where", minio("http://m:9000", "us-east-1"), &v1alpha1.StorageProviderSpec{MinIO: &v1alpha1.MinIOProvider{Endpoint: "http://m:9000", Region: "us-east-1", CABundle: "pem"}}, provider.Placement{}, provider.Placement{}, true},
		{"another Cloudflare account", r2(v1alpha1.CloudflareR2Provider{AccountID: acct}), r2(v1alpha1.CloudflareR2Provider{AccountID: other}), provider.Placement{}, provider.Placement{}, false},
		{"another R2 S3 endpoint", r2(v1alpha1.CloudflareR2Provider{AccountID: acct}), r2(v1alpha1.CloudflareR2Provider{AccountID: acct, S3Endpoint: "https://proxy"}), provider.Placement{}, provider.Placement{}, false},
		{"another API base URL reaches the same account", r2(v1alpha1.CloudflareR2Provider{AccountID: acct}), r2(v1alpha1.CloudflareR2Provider{AccountID: acct, APIBaseURL: "https://api-proxy/client/v4/"}), provider.Placement{}, provider.Placement{}, true},
		{"the provider's default jurisdiction, when the backend follows it", r2(v1alpha1.CloudflareR2Provider{AccountID: acct}), r2(v1alpha1.CloudflareR2Provider{AccountID: acct, Jurisdiction: v1alpha1.R2JurisdictionEU}), provider.Placement{}, provider.Placement{}, false},
		{"a backend's recorded jurisdiction wins over the provider's default", r2(v1alpha1.CloudflareR2Provider{AccountID: acct}), r2(v1alpha1.CloudflareR2Provider{AccountID: acct, Jurisdiction: v1alpha1.R2JurisdictionEU}), provider.Placement{Jurisdiction: "default"}, provider.Placement{Jurisdiction: "default"}, true},
		{"an unset jurisdiction is the default one", r2(v1alpha1.CloudflareR2Provider{AccountID: acct}), r2(v1alpha1.CloudflareR2Provider{AccountID: acct, Jurisdiction: v1alpha1.R2JurisdictionDefault}), provider.Placement{}, provider.Placement{}, true},
		{"another Spaces region", spaces(v1alpha1.DigitalOceanSpacesProvider{Region: "nyc3"}), spaces(v1alpha1.DigitalOceanSpacesProvider{Region: "fra1"}), provider.Placement{}, provider.Placement{}, false},
		{"another AWS region", aws(v1alpha1.AWSS3Provider{Region: "eu-west-1"}), aws(v1alpha1.AWSS3Provider{Region: "us-east-1"}), provider.Placement{}, provider.Placement{}, false},
		{"another IAM endpoint holds other users", aws(v1alpha1.AWSS3Provider{Region: "eu-west-1"}), aws(v1alpha1.AWSS3Provider{Region: "eu-west-1", IAMEndpoint: "https://iam.example"}), provider.Placement{}, provider.Placement{}, false},
		{"another IAM path hides the users the operator made", aws(v1alpha1.AWSS3Provider{Region: "eu-west-1"}), aws(v1alpha1.AWSS3Provider{Region: "eu-west-1", IAMPath: "/other/"}), provider.Placement{}, provider.Placement{}, false},
		{"the default IAM path is what the client uses", aws(v1alpha1.AWSS3Provider{Region: "eu-west-1"}), aws(v1alpha1.AWSS3Provider{Region: "eu-west-1", IAMPath: "/tfstate-operator/"}), provider.Placement{}, provider.Placement{}, true},
		{"a KMS key or STS endpoint changes how, not where", aws(v1alpha1.AWSS3Provider{Region: "eu-west-1"}), aws(v1alpha1.AWSS3Provider{Region: "eu-west-1", KMSKeyID: "arn:aws:kms:eu-west-1:123456789012:key/k", STSEndpoint: "https://sts.example"}), provider.Placement{}, provider.Placement{}, true},
		{"another kind of store with the same region", aws(v1alpha1.AWSS3Provider{Region: "us-east-1"}), minio("", "us-east-1"), provider.Placement{}, provider.Placement{}, false},
	}
	for _, tc := range cases {
		a, b := Location(tc.a, tc.pa), Location(tc.b, tc.pb)
		if (a == b) != tc.same {
			t.Errorf("%s: %+v vs %+v: same = %v, want %v", tc.reason, a, b, a == b, tc.same)
		}
	}
}
