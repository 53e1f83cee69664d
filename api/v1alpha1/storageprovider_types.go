package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StorageProviderSpec says which object store backs StateBackends and how the operator authenticates
// to it. Exactly one provider block is set.
// +kubebuilder:validation:XValidation:rule="[has(self.minio), has(self.cloudflareR2), has(self.digitalOceanSpaces), has(self.awsS3)].filter(x, x).size() == 1",message="exactly one provider block must be set (minio, cloudflareR2, digitalOceanSpaces, awsS3)"
// +kubebuilder:validation:XValidation:rule="has(self.awsS3) || has(self.credentialsSecretRef)",message="spec.credentialsSecretRef is required, except for awsS3 on a ClusterStorageProvider (which can use the operator's default AWS credential chain: IRSA, EKS Pod Identity)"
type StorageProviderSpec struct {
	// MinIO is a self-hosted MinIO server. Buckets are created with the S3 API; credentials are MinIO
	// service accounts (revocable access keys) limited by an inline policy to one bucket.
	// +optional
	MinIO *MinIOProvider `json:"minio,omitempty"`

	// CloudflareR2 is a Cloudflare account's R2 storage. Buckets are created with the Cloudflare API;
	// credentials are account-owned API tokens limited to one bucket, whose S3 keys are the token id
	// and the SHA-256 of its value.
	// +optional
	CloudflareR2 *CloudflareR2Provider `json:"cloudflareR2,omitempty"`

	// DigitalOceanSpaces is a DigitalOcean account's Spaces in one region. Buckets are created with
	// the S3 API; credentials are Spaces access keys (DigitalOcean API) whose only grant is one bucket.
	// +optional
	DigitalOceanSpaces *DigitalOceanSpacesProvider `json:"digitalOceanSpaces,omitempty"`

	// AWSS3 is an AWS account's S3 in one region. Buckets are hardened as AWS advises for state
	// (versioning, default encryption, public access blocked, bucket-owner-enforced ownership);
	// credentials are IAM users with one inline policy granting what Terraform's S3 backend needs on
	// one bucket (or one key prefix of it) and one access key.
	// +optional
	AWSS3 *AWSS3Provider `json:"awsS3,omitempty"`

	// CredentialsSecretRef names the Secret that holds the provider's admin credentials. The keys it
	// must hold depend on the provider (MinIO: accessKeyID, secretAccessKey; Cloudflare R2: apiToken,
	// an API token with the permissions listed in the README; DigitalOcean Spaces: accessToken, a
	// DigitalOcean API token with the spaces_key scopes, and optionally spacesAccessKeyID and
	// spacesSecretAccessKey, a full-access Spaces key used instead of one the operator mints; AWS S3:
	// accessKeyID, secretAccessKey and optionally sessionToken). For a StorageProvider the namespace,
	// when set, must be the StorageProvider's own. Required, except for awsS3 on a
	// ClusterStorageProvider: without it the operator uses the AWS SDK's default credential chain
	// (IRSA, EKS Pod Identity, instance role), its own identity, which a StorageProvider may not use.
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`

	// BucketNaming constrains the names of the buckets this provider's StateBackends use, so that
	// a tenant cannot pick a name that collides with another tenant's bucket. It applies when a
	// bucket is first named: a backend whose bucket name is already recorded in status keeps it.
	// +optional
	BucketNaming *BucketNamingPolicy `json:"bucketNaming,omitempty"`

	// AllowBucketAdoption lets StateBackends that set spec.adoptExistingBucket take over an existing
	// bucket that carries no ownership marker. A bucket marked as owned by another StateBackend is
	// never adopted. Default false: an existing bucket that is not ours is refused.
	// +optional
	AllowBucketAdoption bool `json:"allowBucketAdoption,omitempty"`

	// AllowCrossNamespaceBucketReads lets a ReadOnly StateBackend read (spec.bucketFrom) the bucket
	// of a StateBackend in another namespace. Default false: only within a namespace.
	// +optional
	AllowCrossNamespaceBucketReads bool `json:"allowCrossNamespaceBucketReads,omitempty"`

	// AllowedNamespaces selects, by label, the namespaces whose StateBackends may use this
	// ClusterStorageProvider (every namespace carries kubernetes.io/metadata.name, so a list of
	// names is a matchExpressions In). Absent: every namespace, as with cert-manager's
	// ClusterIssuer. A StateBackend elsewhere gets Ready=False, reason NamespaceNotAllowed, and no
	// provider call. ClusterStorageProvider only: a StorageProvider serves its own namespace.
	// +optional
	AllowedNamespaces *metav1.LabelSelector `json:"allowedNamespaces,omitempty"`
	// Limits caps what one namespace may take of this provider. ClusterStorageProvider only.
	// +optional
	Limits *ProviderLimits `json:"limits,omitempty"`
}

// ProviderLimits caps what one namespace may take of a ClusterStorageProvider, so that one tenant
// cannot exhaust the account (Cloudflare allows 500 API tokens per account).
type ProviderLimits struct {
	// MaxBackendsPerNamespace is how many StateBackends of one namespace may use the provider. The
	// oldest (by creationTimestamp, then name) are served, and a backend that already holds a
	// bucket or credential always is; the others get Ready=False, reason NamespaceQuotaExceeded,
	// and no provider call. Backends being deleted do not count. Lowering it revokes nothing:
	// backends that already hold a bucket or credential keep them, and newer ones wait until the
	// namespace is under the limit. Absent: no limit.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxBackendsPerNamespace *int32 `json:"maxBackendsPerNamespace,omitempty"`
}

// BucketNamingPolicy is a provider's rule for bucket names.
type BucketNamingPolicy struct {
	// Prefix starts every bucket name: default names become "<prefix><namespace>-<name>-<hash8>"
	// (at most 63 characters), and an explicit spec.bucketName that does not start with it is
	// refused (reason BucketNameRefused, no provider call). Lowercase letters, digits and hyphens,
	// starting with a letter or digit, at most 20 characters.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9-]*$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('xn--') && !self.startsWith('sthree-') && !self.startsWith('amzn-s3-demo-')",message="spec.bucketNaming.prefix uses a prefix that S3 reserves"
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// PerNamespace requires an explicit spec.bucketName to start with "<prefix><namespace>-", the
	// StateBackend's own namespace. Default false: the prefix alone.
	// +optional
	PerNamespace bool `json:"perNamespace,omitempty"`
}

// MinIOProvider configures a MinIO server.
type MinIOProvider struct {
	// Endpoint is the URL of the MinIO S3 API, e.g. http://minio.minio.svc:9000. The scheme decides
	// whether TLS is used. The same URL is handed to Terraform as AWS_ENDPOINT_URL_S3, so it must be
	// reachable from runner pods too.
	// +kubebuilder:validation:Pattern=`^https?://[A-Za-z0-9.:\[\]-]+(/)?$`
	// +kubebuilder:validation:MaxLength=253
	Endpoint string `json:"endpoint"`

	// Region is the MinIO server's region.
	// +kubebuilder:default=us-east-1
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9-]{0,62}$`
	// +optional
	Region string `json:"region,omitempty"`

	// CABundle is a PEM bundle of the certificate authorities that sign the server's certificate, for
	// private CAs. It is published beside the backend config (key ca.crt) for runners to mount.
	// +optional
	CABundle string `json:"caBundle,omitempty"`
}

// R2Jurisdiction is where an R2 bucket's data is kept. It decides the bucket's S3 endpoint.
// +kubebuilder:validation:Enum=default;eu;fedramp
type R2Jurisdiction string

const (
	// R2JurisdictionDefault: no jurisdictional restriction (https://<account>.r2.cloudflarestorage.com).
	R2JurisdictionDefault R2Jurisdiction = "default"
	// R2JurisdictionEU: data stays in the European Union (https://<account>.eu.r2.cloudflarestorage.com).
	R2JurisdictionEU R2Jurisdiction = "eu"
	// R2JurisdictionFedRAMP: FedRAMP Moderate (https://<account>.fedramp.r2.cloudflarestorage.com).
	R2JurisdictionFedRAMP R2Jurisdiction = "fedramp"
)

// CloudflareR2Provider configures a Cloudflare account's R2 storage.
type CloudflareR2Provider struct {
	// AccountID is the Cloudflare account id: 32 lowercase hexadecimal characters.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{32}$`
	AccountID string `json:"accountID"`

	// Jurisdiction is the default jurisdiction of new buckets; a StateBackend may choose its own
	// (spec.cloudflareR2.jurisdiction). A bucket's jurisdiction never changes after creation.
	// +kubebuilder:default=default
	// +optional
	Jurisdiction R2Jurisdiction `json:"jurisdiction,omitempty"`

	// LocationHint asks R2 to place new buckets near a region. R2 honours it only when a bucket
	// name is created for the first time.
	// +kubebuilder:validation:Enum=apac;eeur;enam;weur;wnam;oc
	// +optional
	LocationHint string `json:"locationHint,omitempty"`

	// APIBaseURL overrides the Cloudflare API base URL (default https://api.cloudflare.com/client/v4/),
	// for API proxies and tests.
	// +kubebuilder:validation:Pattern=`^https?://[A-Za-z0-9.:\[\]_-]+(/[A-Za-z0-9._~/-]*)?$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	APIBaseURL string `json:"apiBaseURL,omitempty"`

	// S3Endpoint overrides the R2 S3 endpoint of every jurisdiction (default
	// https://<accountID>[.eu|.fedramp].r2.cloudflarestorage.com), for S3 proxies and tests. It is
	// handed to Terraform as AWS_ENDPOINT_URL_S3, so runner pods must reach it.
	// +kubebuilder:validation:Pattern=`^https?://[A-Za-z0-9.:\[\]_-]+/?$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	S3Endpoint string `json:"s3Endpoint,omitempty"`

	// RequestsPerFiveMinutes caps the operator's calls to the Cloudflare API for this account, shared
	// by every reconcile. Cloudflare allows 1,200 per five minutes per user and blocks every call for
	// five minutes once that is exceeded; lower it when other tools use the same token owner.
	// +kubebuilder:default=1200
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=1200
	// +optional
	RequestsPerFiveMinutes int32 `json:"requestsPerFiveMinutes,omitempty"`
}

// DigitalOceanSpacesProvider configures DigitalOcean Spaces in one region.
type DigitalOceanSpacesProvider struct {
	// Region is the Spaces region slug: nyc3, sfo2, sfo3, ams3, sgp1, fra1, syd1, blr1, lon1, tor1,
	// atl1, ... Buckets are created there and runners reach them at
	// https://<region>.digitaloceanspaces.com.
	// +kubebuilder:validation:Pattern=`^[a-z]{3}[0-9]$`
	Region string `json:"region"`

	// APIBaseURL overrides the DigitalOcean API base URL (default https://api.digitalocean.com/), for
	// API proxies and tests.
	// +kubebuilder:validation:Pattern=`^https?://[A-Za-z0-9.:\[\]_-]+(/[A-Za-z0-9._~/-]*)?$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	APIBaseURL string `json:"apiBaseURL,omitempty"`

	// S3Endpoint overrides the Spaces S3 endpoint (default https://<region>.digitaloceanspaces.com),
	// for S3 proxies and tests. It is handed to Terraform as AWS_ENDPOINT_URL_S3, so runner pods must
	// reach it.
	// +kubebuilder:validation:Pattern=`^https?://[A-Za-z0-9.:\[\]_-]+/?$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	S3Endpoint string `json:"s3Endpoint,omitempty"`

	// RequestsPerMinute caps the operator's calls to the DigitalOcean API with this token, shared by
	// every reconcile. DigitalOcean allows 250 requests per minute and 5,000 per hour per token; the
	// hourly cap is kept at 20 times this value. Lower it when other tools use the same token.
	// +kubebuilder:default=250
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=250
	// +optional
	RequestsPerMinute int32 `json:"requestsPerMinute,omitempty"`
}

// AWSS3Provider configures AWS S3 in one region and the IAM users the operator creates there.
type AWSS3Provider struct {
	// Region of the buckets, e.g. eu-west-1. Runners get it as AWS_REGION.
	// +kubebuilder:validation:Pattern=`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+$`
	// +kubebuilder:validation:MaxLength=32
	Region string `json:"region"`

	// KMSKeyID is the ARN of a KMS key for SSE-KMS (with an S3 Bucket Key). Default: SSE-S3. It must
	// be the key's ARN (not an alias): the credentials' policy grants kms:Encrypt, kms:Decrypt and
	// kms:GenerateDataKey on exactly this key, and runners pass it as kms_key_id.
	// +kubebuilder:validation:Pattern=`^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$`
	// +kubebuilder:validation:MaxLength=160
	// +optional
	KMSKeyID string `json:"kmsKeyID,omitempty"`

	// IAMPath is the path of the IAM users the operator creates. The operator lists and deletes only
	// users under it.
	// +kubebuilder:default=/tfstate-operator/
	// +kubebuilder:validation:Pattern=`^/([A-Za-z0-9_+=,.@-]+/)*$`
	// +kubebuilder:validation:MaxLength=450
	// +optional
	IAMPath string `json:"iamPath,omitempty"`

	// PermissionsBoundaryARN is a managed policy set as the permissions boundary of every IAM user
	// the operator creates (organisations often require one on every user).
	// +kubebuilder:validation:Pattern=`^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$`
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	PermissionsBoundaryARN string `json:"permissionsBoundaryARN,omitempty"`

	// S3Endpoint overrides the S3 endpoint (GovCloud, China, FIPS, proxies, tests). When set it is
	// handed to runners as AWS_ENDPOINT_URL_S3 and path-style addressing is used.
	// +kubebuilder:validation:Pattern=`^https?://[A-Za-z0-9.:\[\]_-]+/?$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	S3Endpoint string `json:"s3Endpoint,omitempty"`

	// IAMEndpoint overrides the IAM endpoint (GovCloud, China, tests).
	// +kubebuilder:validation:Pattern=`^https?://[A-Za-z0-9.:\[\]_-]+/?$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	IAMEndpoint string `json:"iamEndpoint,omitempty"`

	// STSEndpoint overrides the STS endpoint used for the provider's caller-identity check.
	// +kubebuilder:validation:Pattern=`^https?://[A-Za-z0-9.:\[\]_-]+/?$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	STSEndpoint string `json:"stsEndpoint,omitempty"`
}

// SecretReference names a Secret.
type SecretReference struct {
	// Namespace of the Secret. Required for a ClusterStorageProvider; for a StorageProvider it
	// defaults to, and must equal, the StorageProvider's namespace.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// StorageProviderStatus is the observed state of a provider.
type StorageProviderStatus struct {
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready is True when the admin credentials were accepted and hold the permissions
	// the operator needs (as far as the provider can tell without changing anything).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=csp,categories=tfstate
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ClusterStorageProvider is an object store and its admin credentials, usable by StateBackends in
// every namespace. Its credentials Secret lives in the operator's own namespace, never a tenant's.
// +kubebuilder:validation:XValidation:rule="!has(self.spec.credentialsSecretRef) || has(self.spec.credentialsSecretRef.__namespace__)",message="spec.credentialsSecretRef.namespace is required for a ClusterStorageProvider"
type ClusterStorageProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StorageProviderSpec   `json:"spec"`
	Status StorageProviderStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterStorageProviderList is a list of ClusterStorageProviders.
type ClusterStorageProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterStorageProvider `json:"items"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sp,categories=tfstate
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// StorageProvider is an object store and its admin credentials, usable only by StateBackends in its
// own namespace. Its credentials Secret is read from its own namespace (CEL cannot see metadata.namespace,
// so a different spec.credentialsSecretRef.namespace is refused by the controller with ProviderInvalid).
// +kubebuilder:validation:XValidation:rule="!has(self.spec.allowedNamespaces)",message="spec.allowedNamespaces is for ClusterStorageProviders; a StorageProvider serves its own namespace only"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.limits)",message="spec.limits is for ClusterStorageProviders; a StorageProvider serves its own namespace only"
// +kubebuilder:validation:XValidation:rule="has(self.spec.credentialsSecretRef)",message="spec.credentialsSecretRef is required on a StorageProvider: without it awsS3 would use the operator's own AWS identity (the default credential chain), which only a ClusterStorageProvider may use"
type StorageProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StorageProviderSpec   `json:"spec"`
	Status StorageProviderStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// StorageProviderList is a list of StorageProviders.
type StorageProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StorageProvider `json:"items"`
}
