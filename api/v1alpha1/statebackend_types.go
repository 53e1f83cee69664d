package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Access is what an issued credential may do in its bucket.
// +kubebuilder:validation:Enum=ReadWrite;ReadOnly
type Access string

const (
	// AccessReadWrite may read, write and delete state and lock objects.
	AccessReadWrite Access = "ReadWrite"
	// AccessReadOnly may list and read objects only (terraform_remote_state readers, plan-only runs).
	AccessReadOnly Access = "ReadOnly"
)

// DeletionPolicy says what happens to the bucket when its StateBackend is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionPolicyRetain keeps the bucket and every object in it. The credential is revoked.
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyDelete removes the bucket, but only when it is empty: the operator never empties
	// a bucket. A non-empty bucket blocks deletion with the condition reason BucketNotEmpty.
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// ProviderKind is the kind of provider a StateBackend uses.
// +kubebuilder:validation:Enum=ClusterStorageProvider;StorageProvider
type ProviderKind string

const (
	// ClusterStorageProviderKind refers to a cluster-scoped ClusterStorageProvider.
	ClusterStorageProviderKind ProviderKind = "ClusterStorageProvider"
	// StorageProviderKind refers to a StorageProvider in the StateBackend's namespace.
	StorageProviderKind ProviderKind = "StorageProvider"
)

// ProviderReference names the provider a StateBackend uses.
type ProviderReference struct {
	// Kind of the provider.
	// +kubebuilder:default=ClusterStorageProvider
	// +optional
	Kind ProviderKind `json:"kind,omitempty"`

	// Name of the provider. A StorageProvider is looked up in the StateBackend's own namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// StateBackendSpec is the desired Terraform remote-state backend.
// +kubebuilder:validation:XValidation:rule="has(self.bucketName) == has(oldSelf.bucketName)",message="spec.bucketName is immutable: it cannot be added or removed after creation"
// +kubebuilder:validation:XValidation:rule="has(self.secretName) == has(oldSelf.secretName)",message="spec.secretName is immutable: it cannot be added or removed after creation"
// +kubebuilder:validation:XValidation:rule="has(self.cloudflareR2) == has(oldSelf.cloudflareR2)",message="spec.cloudflareR2 is immutable: it cannot be added or removed after creation"
// +kubebuilder:validation:XValidation:rule="!has(self.bucketFrom) || (has(self.access) && self.access == 'ReadOnly')",message="spec.bucketFrom is for ReadOnly backends: set spec.access to ReadOnly"
// +kubebuilder:validation:XValidation:rule="!has(self.bucketFrom) || !has(self.bucketName)",message="spec.bucketFrom and spec.bucketName are exclusive"
// +kubebuilder:validation:XValidation:rule="!has(self.bucketFrom) || !has(self.deletionPolicy) || self.deletionPolicy == 'Retain'",message="a backend with spec.bucketFrom never deletes the bucket it reads: deletionPolicy must be Retain"
// +kubebuilder:validation:XValidation:rule="has(self.bucketFrom) == has(oldSelf.bucketFrom)",message="spec.bucketFrom is immutable: it cannot be added or removed after creation"
// +kubebuilder:validation:XValidation:rule="has(self.keyPrefix) == has(oldSelf.keyPrefix)",message="spec.keyPrefix is immutable: it cannot be added or removed after creation"
// +kubebuilder:validation:XValidation:rule="!has(self.keyPrefix) || !has(self.key) || self.key.startsWith(self.keyPrefix + '/')",message="spec.key must lie under spec.keyPrefix"
// +kubebuilder:validation:XValidation:rule="!has(self.keyPrefix) || !has(self.workspaceKeyPrefix) || self.workspaceKeyPrefix.startsWith(self.keyPrefix + '/')",message="spec.workspaceKeyPrefix must lie under spec.keyPrefix"
type StateBackendSpec struct {
	// ProviderRef names the ClusterStorageProvider or StorageProvider that creates the bucket and
	// the credential. Immutable: moving state between providers is a migration, not an update.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.providerRef is immutable"
	ProviderRef ProviderReference `json:"providerRef"`

	// BucketName is the bucket that holds the state. Default: derived deterministically from the
	// namespace and name ("<namespace>-<name>-<hash>", at most 63 characters). S3/R2 naming rules
	// apply: 3-63 characters of lowercase letters, digits and hyphens, starting and ending with a
	// letter or digit. Immutable.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9-]*[a-z0-9]$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.bucketName is immutable"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('xn--') && !self.endsWith('-s3alias') && !self.startsWith('sthree-')",message="spec.bucketName uses a prefix or suffix that S3 reserves"
	// +optional
	BucketName string `json:"bucketName,omitempty"`

	// BucketFrom reads another StateBackend's bucket instead of creating one: for
	// terraform_remote_state readers. Only ReadOnly backends may set it; they get a read-only
	// credential of their own for that bucket and never mark or delete it. The other StateBackend
	// must use the same provider; one in another namespace only when the provider sets
	// allowCrossNamespaceBucketReads. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.bucketFrom is immutable"
	// +optional
	BucketFrom *BucketReference `json:"bucketFrom,omitempty"`

	// Key is the default state object key, passed to terraform init as -backend-config=key=...
	// Relative path segments of letters, digits, '.', '_' and '-' separated by single '/'; it must
	// not start or end with '/' and no segment may be '.' or '..'. When unset, runners pass their
	// own key. Its first segment must not be ".tfstate-operator" (any case): the operator keeps
	// ".tfstate-operator/" for its own objects.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '.' || s == '..')",message="spec.key must not contain '.' or '..' path segments"
	// +kubebuilder:validation:XValidation:rule="self.split('/')[0].lowerAscii() != '.tfstate-operator'",message="spec.key must not lie under .tfstate-operator/, which the operator keeps for its own objects"
	// +optional
	Key string `json:"key,omitempty"`

	// KeyPrefix confines the credential to the objects under "<keyPrefix>/" in the bucket: it may
	// list only that prefix, read and write only state under it, and delete only lock files under
	// it. spec.key and spec.workspaceKeyPrefix, when set, must lie under it; workspaceKeyPrefix
	// defaults to "<keyPrefix>/env" so that `terraform workspace new` keeps its state inside. Only
	// providers whose credentials can be scoped to a prefix accept it (AWS S3); others report
	// ProviderInvalid. Same rules as key, at most 128 characters (the prefix appears several times
	// in an IAM policy, which AWS limits to 2,048 characters); not under ".tfstate-operator/".
	// Immutable.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '.' || s == '..')",message="spec.keyPrefix must not contain '.' or '..' path segments"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.keyPrefix is immutable"
	// +kubebuilder:validation:XValidation:rule="self.split('/')[0].lowerAscii() != '.tfstate-operator'",message="spec.keyPrefix must not lie under .tfstate-operator/, which the operator keeps for its own objects"
	// +optional
	KeyPrefix string `json:"keyPrefix,omitempty"`

	// WorkspaceKeyPrefix is the prefix of non-default workspaces' state (Terraform's default is
	// "env:"). Same rules as key: workspaces' state is "<workspaceKeyPrefix>/<workspace>/<key>", so
	// its first segment must not be ".tfstate-operator" either.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '.' || s == '..')",message="spec.workspaceKeyPrefix must not contain '.' or '..' path segments"
	// +kubebuilder:validation:XValidation:rule="self.split('/')[0].lowerAscii() != '.tfstate-operator'",message="spec.workspaceKeyPrefix must not lie under .tfstate-operator/, which the operator keeps for its own objects"
	// +optional
	WorkspaceKeyPrefix string `json:"workspaceKeyPrefix,omitempty"`

	// Access is what the issued credential may do: ReadWrite (state and locks) or ReadOnly (list and
	// read, for terraform_remote_state readers and plan-only runs).
	// +kubebuilder:default=ReadWrite
	// +optional
	Access Access `json:"access,omitempty"`

	// SecretName is the Secret the operator writes the credential and backend environment into.
	// Default: metadata.name. Immutable. A Secret of that name that the operator does not control is
	// never overwritten. At most 245 characters: the ConfigMap "<secretName>-backend" must stay a
	// valid object name.
	// +kubebuilder:validation:MaxLength=245
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.secretName is immutable"
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// Isolation renders the Secret as AWS shared credentials and config files (keys "credentials"
	// and "config") holding one named profile, instead of environment variables, for runners that
	// also run the AWS provider: with envFrom, the state credential would be in AWS_* variables
	// that the provider picks up too. Runners mount the Secret at mountPath and use the
	// ConfigMap's backend file, which selects the profile and the files. TF_CLI_ARGS_init is not
	// written.
	// +optional
	Isolation *IsolationOptions `json:"isolation,omitempty"`

	// OmitCLIArgs leaves TF_CLI_ARGS_init out of the Secret. Set it for runners that refuse
	// TF_CLI_ARGS* variables (Flux tofu-controller and anything else built on terraform-exec); they
	// take the backend settings from the ConfigMap instead.
	// +optional
	OmitCLIArgs bool `json:"omitCLIArgs,omitempty"`

	// DeletionPolicy says what happens to the bucket when this StateBackend is deleted. The
	// credential is always revoked. Retain (default) keeps the bucket and its state; Delete removes
	// the bucket only when it is empty and reports BucketNotEmpty otherwise.
	// +kubebuilder:default=Retain
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// CloudflareR2 holds settings that apply only when the provider is Cloudflare R2. Immutable. A
	// StateBackend that sets it on another kind of provider is refused (reason ProviderInvalid).
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.cloudflareR2 is immutable"
	// +optional
	CloudflareR2 *CloudflareR2BackendOptions `json:"cloudflareR2,omitempty"`

	// Credentials says how the issued credential is rotated.
	// +optional
	Credentials *CredentialPolicy `json:"credentials,omitempty"`

	// AdoptExistingBucket asks to take over an existing bucket that carries no ownership marker. It
	// takes effect only when the provider sets allowBucketAdoption. A bucket marked as owned by
	// another StateBackend is never adopted.
	// +optional
	AdoptExistingBucket bool `json:"adoptExistingBucket,omitempty"`
}

// BucketReference names a StateBackend whose bucket another one reads.
type BucketReference struct {
	// Name of the StateBackend.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Namespace of the StateBackend; default the referring one's.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// Defaults of IsolationOptions.
const (
	DefaultIsolationMountPath = "/var/run/secrets/tfstate"
	DefaultIsolationProfile   = "tfstate"
)

// IsolationOptions says where runners mount the isolated Secret and which profile it holds.
type IsolationOptions struct {
	// MountPath is the directory where runners mount the Secret; the backend file names the files
	// under it. Default /var/run/secrets/tfstate.
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$`
	// +optional
	MountPath string `json:"mountPath,omitempty"`
	// Profile is the profile name in both files. Default tfstate.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +optional
	Profile string `json:"profile,omitempty"`
}

// CredentialPolicy says how a StateBackend's credential is rotated. A rotation issues a new
// credential, switches the Secret to it, and revokes the old one only after revokeAfter, so a
// runner that read the Secret before the switch finishes its run.
// +kubebuilder:validation:XValidation:rule="!has(self.temporary) || !self.temporary || has(self.expireAfter)",message="spec.credentials.temporary needs spec.credentials.expireAfter (the session's lifetime)"
// +kubebuilder:validation:XValidation:rule="!has(self.temporary) || !self.temporary || !has(self.expireAfter) || (duration(self.expireAfter) >= duration('15m') && duration(self.expireAfter) <= duration('168h'))",message="spec.credentials.expireAfter must be between 15m and 168h for temporary credentials"
type CredentialPolicy struct {
	// RotationPeriod is the age at which the credential is replaced, e.g. 720h. Unset: never on a
	// schedule. At least 1m.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="spec.credentials.rotationPeriod must be at least 1m"
	// +optional
	RotationPeriod *metav1.Duration `json:"rotationPeriod,omitempty"`

	// RevokeAfter is how long a replaced credential keeps working after the Secret switched away
	// from it: long enough for a running `terraform apply` to finish. Default 1h.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="spec.credentials.revokeAfter must not be negative"
	// +optional
	RevokeAfter *metav1.Duration `json:"revokeAfter,omitempty"`

	// ExpireAfter makes each credential expire at the store this long after it is issued (Cloudflare
	// R2 and MinIO; other providers report ProviderInvalid). It is renewed when two thirds of its
	// life have passed, so the replaced one still works for the rest (at most revokeAfter). At
	// least 10m.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10m')",message="spec.credentials.expireAfter must be at least 10m"
	// +optional
	ExpireAfter *metav1.Duration `json:"expireAfter,omitempty"`

	// Temporary hands out temporary credentials: the Secret holds session keys with
	// AWS_SESSION_TOKEN that the store itself stops accepting after expireAfter (required, 15m to
	// 168h), renewed like any expiring credential. The long-lived credential they derive from stays
	// with the operator and never reaches the Secret; revoking it ends its sessions at once.
	// Cloudflare R2 only; other providers report ProviderInvalid.
	// +optional
	Temporary bool `json:"temporary,omitempty"`

	// RotationRequest rotates the credential once whenever it changes (any text, e.g. a date):
	// manual rotation that GitOps can bump. status.credential.rotationRequest shows the request
	// the current credential answered.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	RotationRequest string `json:"rotationRequest,omitempty"`
}

// CloudflareR2BackendOptions are a StateBackend's Cloudflare R2 settings.
type CloudflareR2BackendOptions struct {
	// Jurisdiction of this backend's bucket; default: the provider's. It decides the S3 endpoint
	// and is part of the token's resource, so it can never change.
	// +optional
	Jurisdiction R2Jurisdiction `json:"jurisdiction,omitempty"`
}

// Condition types of a StateBackend.
const (
	// ConditionReady is True when the Secret holds a credential proven to work against the bucket.
	ConditionReady = "Ready"
	// ConditionBucketReady is True when the bucket exists and is owned by this StateBackend.
	ConditionBucketReady = "BucketReady"
	// ConditionCredentialReady is True when exactly one credential is live and held by the Secret.
	ConditionCredentialReady = "CredentialReady"
	// ConditionReconciling is True while the object is not Ready and the operator is still working
	// on it (kstatus: InProgress). It is absent otherwise. Providers carry it too.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the object is not Ready and will not become Ready until someone
	// changes its spec or something it names (kstatus: Failed). Its reason is the Ready reason. It
	// is absent otherwise. Providers carry it too.
	ConditionStalled = "Stalled"
)

// Condition reasons of a StateBackend. They are part of the API: alerts and tests match on them.
const (
	ReasonReady                 = "Ready"
	ReasonProgressing           = "Progressing"
	ReasonProviderNotFound      = "ProviderNotFound"
	ReasonProviderInvalid       = "ProviderInvalid"
	ReasonCredentialsNotFound   = "ProviderCredentialsNotFound"
	ReasonProviderError         = "ProviderError"
	ReasonProviderRateLimited   = "ProviderRateLimited"
	ReasonProviderQuotaExceeded = "ProviderQuotaExceeded"
	// ReasonProviderPermissionDenied: the provider's admin credentials lack a permission.
	ReasonProviderPermissionDenied = "ProviderPermissionDenied"
	ReasonBucketOwnedByOther       = "BucketOwnedByAnother"
	ReasonBucketNotOwned           = "BucketExistsNotOwned"
	ReasonBucketCreated            = "BucketCreated"
	// ReasonBucketResealed (an event): the bucket's marker named this StateBackend, UID included,
	// without a seal the cluster's ownership key verifies (written by the previous release, or
	// before the key was regenerated), and was sealed again.
	ReasonBucketResealed        = "BucketResealed"
	ReasonBucketNotEmpty        = "BucketNotEmpty"
	ReasonBucketNotReady        = "BucketNotReady"
	ReasonSecretConflict        = "SecretNotOwned"
	ReasonConfigMapConflict     = "ConfigMapNotOwned"
	ReasonCredentialIssued      = "CredentialIssued"
	ReasonCredentialPropagating = "CredentialPropagating"
	ReasonCredentialRejected    = "CredentialRejected"
	ReasonDeleting              = "Deleting"
	// ReasonInvalidBackendSettings: a value would be unsafe in TF_CLI_ARGS_init or the backend file.
	ReasonInvalidBackendSettings = "InvalidBackendSettings"
	// ReasonProviderInUse: a deleted provider waits for the StateBackends that use it to go.
	ReasonProviderInUse = "ProviderInUse"
	// ReasonCredentialRotated (event): a new credential replaced the old one, which is revoked
	// after spec.credentials.revokeAfter.
	ReasonCredentialRotated = "CredentialRotated"
	// ReasonBucketReferenceRefused: spec.bucketFrom names a StateBackend this one may not read
	// (another namespace without the provider's allowCrossNamespaceBucketReads, or another
	// provider).
	ReasonBucketReferenceRefused = "BucketReferenceRefused"
	// ReasonBucketReferenceNotReady: the StateBackend spec.bucketFrom names has no bucket yet.
	ReasonBucketReferenceNotReady = "BucketReferenceNotReady"
	// ReasonCredentialGrantRepaired (warning event): what the store let the credential do had been
	// changed out of band and was restored to what it was issued for, keeping its keys.
	ReasonCredentialGrantRepaired = "CredentialGrantRepaired"
	// ReasonBucketAccessRepaired (warning event): the bucket had been opened to the public outside
	// the operator (a public bucket policy, R2's r2.dev access, a weakened AWS public-access
	// block) and was closed again.
	ReasonBucketAccessRepaired = "BucketAccessRepaired"
	// ReasonNamespaceNotAllowed: the ClusterStorageProvider's allowedNamespaces does not select
	// this StateBackend's namespace; no provider call is made.
	ReasonNamespaceNotAllowed = "NamespaceNotAllowed"
	// ReasonNamespaceQuotaExceeded: the namespace already has as many StateBackends on the
	// ClusterStorageProvider as its spec.limits.maxBackendsPerNamespace allows; no provider call is
	// made until one of them is deleted or the limit raised.
	ReasonNamespaceQuotaExceeded = "NamespaceQuotaExceeded"
	// ReasonBucketNameRefused: spec.bucketName does not fit the provider's bucketNaming policy;
	// no provider call is made for the bucket.
	ReasonBucketNameRefused = "BucketNameRefused"
	// ReasonEndpointRefused: a StorageProvider (a tenant's) names an endpoint that is, or resolves
	// to, a loopback or link-local address (the operator's own pod and node, cloud metadata
	// services); no request is sent there unless the operator runs with --allow-local-endpoints.
	// ClusterStorageProviders are the platform's and never refused.
	ReasonEndpointRefused = "EndpointRefused"
	// ReasonProviderLocationChanged: the provider's endpoint, region, account or kind now points
	// elsewhere than status.location, where this backend's bucket and credentials are. No provider
	// call is made, the Secret and ConfigMap keep pointing at the old location, and deletion waits
	// (only the old location can revoke the credential) until the provider points back.
	ReasonProviderLocationChanged = "ProviderLocationChanged"
	// ReasonOrphanedCredentialRevoked (an Event on a provider object): the orphan sweep revoked a
	// credential named for this cluster that no existing StateBackend records, such as one of a
	// StateBackend deleted with its finalizer removed.
	ReasonOrphanedCredentialRevoked = "OrphanedCredentialRevoked"
)

// VersioningState is whether the bucket keeps old object versions.
// +kubebuilder:validation:Enum=Enabled;Unsupported
type VersioningState string

const (
	// VersioningEnabled: every state write keeps the previous version.
	VersioningEnabled VersioningState = "Enabled"
	// VersioningUnsupported: the store has no object versioning (Cloudflare R2): each state write
	// replaces the previous state, and earlier versions are not kept.
	VersioningUnsupported VersioningState = "Unsupported"
)

// LockingState is how Terraform locks this backend's state.
// +kubebuilder:validation:Enum=Lockfile;Unsupported;NotApplicable
type LockingState string

const (
	// LockingLockfile: the store honours If-None-Match on PutObject, so use_lockfile=true is emitted.
	LockingLockfile LockingState = "Lockfile"
	// LockingUnsupported: the store ignored a conditional write; use_lockfile is not emitted because
	// it would not exclude concurrent runs.
	LockingUnsupported LockingState = "Unsupported"
	// LockingNotApplicable: a ReadOnly credential cannot take locks; readers run with -lock=false.
	LockingNotApplicable LockingState = "NotApplicable"
)

// CredentialStatus describes the live credential without any secret material.
type CredentialStatus struct {
	// Name is the deterministic name the credential was issued under; it is recorded before the
	// provider call so that a crash can be recovered by listing.
	// +optional
	Name string `json:"name,omitempty"`
	// ID is the provider's non-secret id of the credential: the access key id, or on AWS S3 the
	// IAM user's name.
	// +optional
	ID string `json:"id,omitempty"`
	// IssuedAt is when the credential was issued.
	// +optional
	IssuedAt *metav1.Time `json:"issuedAt,omitempty"`
	// ExpiresAt is when the credential expires, if it does.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// VerifiedAt is when the credential was last proven with signed S3 calls of its own.
	// +optional
	VerifiedAt *metav1.Time `json:"verifiedAt,omitempty"`
	// NextRotationAt is when spec.credentials.rotationPeriod replaces it.
	// +optional
	NextRotationAt *metav1.Time `json:"nextRotationAt,omitempty"`
	// RotationRequest is the spec.credentials.rotationRequest this credential was issued under.
	// +optional
	RotationRequest string `json:"rotationRequest,omitempty"`
}

// BucketLocation is where a backend's bucket and credentials live: the fields of its provider that
// choose the store, the account and the region the operator's calls reach. Settings that only
// change how the same place is reached (API base URLs, CA bundles, rate limits) are not part of it.
type BucketLocation struct {
	// Provider is the kind of store: minio, cloudflare-r2, digitalocean-spaces or aws-s3.
	Provider string `json:"provider"`
	// Endpoint is the S3 endpoint as configured (MinIO's endpoint, an s3Endpoint override); empty
	// where the provider derives it from the account or region.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// Region is the provider's region (MinIO, Spaces, AWS).
	// +optional
	Region string `json:"region,omitempty"`
	// AccountID is the Cloudflare account (R2).
	// +optional
	AccountID string `json:"accountID,omitempty"`
	// Jurisdiction is the R2 jurisdiction of the bucket.
	// +optional
	Jurisdiction R2Jurisdiction `json:"jurisdiction,omitempty"`
	// IAMEndpoint is the IAM endpoint override (AWS), where the credentials are users.
	// +optional
	IAMEndpoint string `json:"iamEndpoint,omitempty"`
	// IAMPath is the path of the IAM users (AWS): the operator finds and revokes credentials only
	// under it.
	// +optional
	IAMPath string `json:"iamPath,omitempty"`
}

// RetiredCredentialStatus is a replaced credential that still works until RevokeAt.
type RetiredCredentialStatus struct {
	// Name and ID of the credential, as in CredentialStatus.
	Name string `json:"name"`
	ID   string `json:"id"`
	// RevokeAt is when it is revoked.
	RevokeAt metav1.Time `json:"revokeAt"`
}

// StateBackendStatus is the observed state of a StateBackend.
type StateBackendStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, BucketReady and CredentialReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// BucketName is the bucket in use, recorded before it is created.
	// +optional
	BucketName string `json:"bucketName,omitempty"`
	// Endpoint is the S3 endpoint runners use (empty on AWS, where the SDK resolves it).
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// Region is the region runners use.
	// +optional
	Region string `json:"region,omitempty"`
	// Jurisdiction is the Cloudflare R2 jurisdiction of the bucket, recorded before the bucket is
	// created so that a later change of the provider's default never moves an existing backend.
	// +optional
	Jurisdiction R2Jurisdiction `json:"jurisdiction,omitempty"`
	// Location is where the bucket and the credentials live: the provider settings that decide
	// which store, account and region the operator's calls reach. It is recorded before anything is
	// created there and never follows the provider afterwards: a provider whose settings now point
	// elsewhere leaves the backend where its state is (reason ProviderLocationChanged).
	// +optional
	Location *BucketLocation `json:"location,omitempty"`
	// SecretName is the Secret holding the credential and backend environment.
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// ConfigMapName is the ConfigMap holding the non-secret backend settings as files and keys.
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`
	// SecretResourceVersion and ConfigMapResourceVersion are the resourceVersions of the Secret and
	// the ConfigMap as the operator last wrote (or read and found as it wrote) them. The operator
	// caches only the metadata of Secrets and ConfigMaps: an object still at its recorded version
	// is the one the operator wrote, and a different version (someone changed it) sends the
	// operator to read its contents. Kept in status so that this survives a restart.
	// +optional
	SecretResourceVersion string `json:"secretResourceVersion,omitempty"`
	// ConfigMapResourceVersion is the ConfigMap's, as SecretResourceVersion is the Secret's.
	// +optional
	ConfigMapResourceVersion string `json:"configMapResourceVersion,omitempty"`
	// Credential is the live credential, without secret material.
	// +optional
	Credential *CredentialStatus `json:"credential,omitempty"`
	// PreviousCredential is the credential a rotation replaced, still working until its RevokeAt so
	// that runs that started with it can finish. At most one.
	// +optional
	PreviousCredential *RetiredCredentialStatus `json:"previousCredential,omitempty"`
	// Versioning is whether the bucket keeps old versions of the state.
	// +optional
	Versioning VersioningState `json:"versioning,omitempty"`
	// Locking is how state locking works for this backend.
	// +optional
	Locking LockingState `json:"locking,omitempty"`
	// LastHandledReconcileAt is the value of the tfstate.dev/reconcile-requested-at annotation the
	// operator last answered with a full check against the provider.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// AnnotationReconcileRequestedAt asks for a full check of a StateBackend against its provider now,
// instead of at its next drift check: set it to a new value (a timestamp, say), and the operator
// records the value it answered in status.lastHandledReconcileAt.
const AnnotationReconcileRequestedAt = "tfstate.dev/reconcile-requested-at"

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sb,categories=tfstate
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Bucket",type=string,JSONPath=`.status.bucketName`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.secretName`
// +kubebuilder:printcolumn:name="Access",type=string,JSONPath=`.spec.access`,priority=1
// +kubebuilder:printcolumn:name="Locking",type=string,JSONPath=`.status.locking`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// StateBackend is a Terraform remote-state backend: a bucket, a credential scoped to it, and a
// Secret that a runner pod consumes with envFrom. Its name is at most 245 characters unless
// spec.secretName is set: the Secret is named after it and the ConfigMap "<secret name>-backend"
// must stay within the 253 characters of an object name.
// +kubebuilder:validation:XValidation:rule="has(self.spec.secretName) || self.metadata.name.size() <= 245",message="metadata.name must be at most 245 characters (or set spec.secretName): the ConfigMap <name>-backend must be a valid object name"
type StateBackend struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StateBackendSpec   `json:"spec"`
	Status StateBackendStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// StateBackendList is a list of StateBackends.
type StateBackendList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StateBackend `json:"items"`
}
