// Package provider defines the narrow seam between the StateBackend controller and an object store:
// buckets, the credentials scoped to them, and the settings Terraform needs to reach the store.
//
// Every method is idempotent and observes before it changes anything, so a reconcile that crashed
// between any two calls can simply run again. Errors wrap the sentinel errors below so the controller
// can tell a spec problem (terminal) from a transient one (retry with backoff) with errors.Is.
package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Access is what a credential may do in its bucket.
type Access string

const (
	// ReadWrite may list, read, write and delete objects (state and lock files).
	ReadWrite Access = "ReadWrite"
	// ReadOnly may list and read objects only.
	ReadOnly Access = "ReadOnly"
)

// Sentinel errors. Providers wrap them with %w and add context; callers match with errors.Is.
var (
	// ErrBucketNotEmpty: DeleteBucket found objects (or object versions) and deleted nothing.
	ErrBucketNotEmpty = errors.New("bucket is not empty")
	// ErrBucketNameTaken: CreateBucket found the name already in use (by anyone, possibly on another
	// account). The caller observes the bucket again to learn whether it is ours.
	ErrBucketNameTaken = errors.New("bucket name is already taken")
	// ErrNotSupported: the store has no such feature (e.g. object versioning on R2).
	ErrNotSupported = errors.New("not supported by this store")
	// ErrInvalidConfig: the provider's configuration or admin credentials are unusable until a
	// human changes them (malformed endpoint, wrong keys, missing permissions). Terminal.
	ErrInvalidConfig = errors.New("invalid provider configuration")
	// ErrQuotaExceeded: the account's limit (tokens, keys, buckets) is reached. Terminal until a
	// human frees capacity.
	ErrQuotaExceeded = errors.New("provider quota exceeded")
)

// ErrPermissionDenied: the admin credentials are valid but lack a permission the call needs. It
// wraps ErrInvalidConfig (terminal: a human must grant the permission).
var ErrPermissionDenied = fmt.Errorf("%w: the admin credentials lack a permission", ErrInvalidConfig)

// ErrEndpointRefused: a tenant's provider names an endpoint that resolves to a loopback or
// link-local address (the operator's own node and pod, cloud metadata services), which the operator
// does not call for tenants. It is an ErrInvalidConfig: only a change of the spec fixes it.
var ErrEndpointRefused = fmt.Errorf("%w: endpoint refused", ErrInvalidConfig)

// RateLimitedError says the provider asked us to slow down; RetryAfter is its hint (zero if none).
type RateLimitedError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitedError) Error() string { return "rate limited by provider: " + e.Err.Error() }
func (e *RateLimitedError) Unwrap() error { return e.Err }

// Owner identifies the StateBackend a bucket belongs to. It is written on the bucket as an ownership
// marker (tags where the store has them, a marker object where it has not).
type Owner struct {
	Namespace string
	Name      string
	UID       string
	// Cluster is the identity of the cluster whose operator wrote the marker (internal/clusterid):
	// two clusters sharing one storage account never reclaim each other's buckets. Empty on markers
	// written before it was recorded.
	Cluster string
	// Seal authenticates the other fields: an HMAC only the operator's ownership key can make
	// (internal/ownership), so that a marker rewritten by a tenant's credential is not trusted.
	// Empty on markers written before it was recorded.
	Seal string
}

// BucketObservation is what ObserveBucket saw.
type BucketObservation struct {
	// Exists is false when no bucket of that name is visible to the operator's credentials.
	Exists bool
	// Owner is the ownership marker on the bucket; nil when the bucket carries none.
	Owner *Owner
	// Versioning is true when object versioning is enabled.
	Versioning bool
	// Elsewhere, when not empty, says where an existing bucket lives that the operator's
	// credentials cannot reach ("owned by another AWS account", "in region eu-west-1"); Owner is
	// then nil. Such a bucket is nobody's to claim here and is never adopted.
	Elsewhere string
}

// BucketRequest asks for a bucket.
type BucketRequest struct {
	Name  string
	Owner Owner
}

// CredentialRequest asks for a credential limited to one bucket.
type CredentialRequest struct {
	// Name is deterministic for the StateBackend and unique per issue: it starts with the prefix the
	// controller later passes to ListCredentials, so a credential issued by a reconcile that crashed
	// before recording it is found and revoked.
	Name string
	// Bucket is the only bucket the credential may reach.
	Bucket string
	// Access is ReadWrite or ReadOnly.
	Access Access
	// ExpiresAt, when not zero, is when the store must stop accepting the credential. Only
	// clients whose Settings().Expiry is true are given one.
	ExpiresAt time.Time
	// Temporary asks for session credentials (with a SessionToken) that the store stops accepting
	// at ExpiresAt (then required) by itself; the credential they derive from is what ID names and
	// RevokeCredential revokes, ending the sessions. Only clients whose
	// Settings().TemporaryCredentials is true are given it.
	Temporary bool
	// KeyPrefix, when set, confines the credential to the objects under "<KeyPrefix>/". Only
	// clients whose Settings().PrefixScoping is true are given one.
	KeyPrefix string
	// Description is a human-readable note stored with the credential where the store allows it
	// ("tfstate-operator: <namespace>/<name>"). Never secret.
	Description string
}

// Credential is an issued credential. SecretAccessKey and SessionToken are secret: they are written
// to the StateBackend's Secret and nowhere else (never to logs, events, status or errors).
type Credential struct {
	// ID is the provider's non-secret id used to revoke it (an access key id, a token id). For
	// temporary credentials it names the credential the session derives from, and AccessKeyID is
	// the session's.
	ID string
	// Name is the name it was issued under (CredentialRequest.Name).
	Name string
	// AccessKeyID and SecretAccessKey are the S3 signing keys.
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is set for temporary credentials.
	SessionToken string
	// ExpiresAt is zero for credentials that do not expire.
	ExpiresAt time.Time
}

// CredentialInfo is a listed credential: no secret material.
type CredentialInfo struct {
	ID          string
	Name        string
	AccessKeyID string
	ExpiresAt   time.Time
}

// Placement is where a backend's bucket lives inside a provider account, on stores where each bucket
// chooses (Cloudflare R2's jurisdictions). The zero value asks for the provider's default; a client
// reports the placement it resolved in BackendSettings.Placement.
type Placement struct {
	// Jurisdiction is an R2 jurisdiction: default, eu or fedramp.
	Jurisdiction string
}

// BackendSettings is how Terraform's s3 backend reaches this store, apart from bucket, key and
// credentials. It contains nothing secret.
type BackendSettings struct {
	// Region is passed as AWS_REGION and region=.
	Region string
	// EndpointURL is the S3 endpoint (AWS_ENDPOINT_URL_S3); empty on AWS, where the SDK resolves it.
	EndpointURL string
	// STSEndpointURL is the STS endpoint (AWS_ENDPOINT_URL_STS) when it is not the SDK's: on AWS,
	// Terraform validates its credentials and looks up the account id through STS.
	STSEndpointURL string
	// UsePathStyle emits use_path_style=true.
	UsePathStyle bool
	// S3Compatible marks a store that is not AWS: it emits the skip_* flags (no STS, IAM or metadata
	// API; non-AWS region names) and the checksum variables that keep Terraform >= 1.11.2's SDK from
	// sending trailers such stores reject.
	S3Compatible bool
	// Encrypt emits encrypt=true (server-side encryption on state writes; AWS only).
	Encrypt bool
	// KMSKeyID emits kms_key_id= (AWS SSE-KMS).
	KMSKeyID string
	// CABundle is a PEM bundle for a private CA, published in the ConfigMap for runners to mount.
	CABundle string
	// Versioning says whether the store can keep old object versions at all.
	Versioning bool
	// Placement is the resolved placement of this client's buckets (zero where the store has none).
	Placement Placement
	// PrefixScoping says the store's credentials can be confined to a key prefix
	// (CredentialRequest.KeyPrefix).
	PrefixScoping bool
	// Expiry says the store can make a credential expire by itself (CredentialRequest.ExpiresAt).
	Expiry bool
	// TemporaryCredentials says the store can issue session credentials (CredentialRequest.Temporary).
	TemporaryCredentials bool
	// RefuseLocalEndpoints makes the operator's own data-plane calls (a Prober's) refuse to dial
	// loopback and link-local addresses, as the provider's client does for a tenant's
	// StorageProvider. The controller sets it on what it hands the Prober; it is not rendered for
	// runners.
	RefuseLocalEndpoints bool
}

// Client is one provider account as seen by the controller. Implementations are safe for concurrent
// use by many reconciles.
type Client interface {
	// Settings describes how Terraform reaches the store. It makes no network call.
	Settings() BackendSettings

	// ObserveBucket reports whether the bucket exists, its ownership marker and versioning. It never
	// changes anything. A bucket that exists but is invisible to the operator (another account's) is
	// reported as existing with no owner where the store can tell, else as an error.
	ObserveBucket(ctx context.Context, bucket string) (BucketObservation, error)

	// CreateBucket creates the bucket and writes the ownership marker. If the name is taken it
	// returns an error wrapping ErrBucketNameTaken and changes nothing; the caller re-observes.
	CreateBucket(ctx context.Context, req BucketRequest) error

	// MarkBucket writes the ownership marker on an existing bucket (adoption, or repair after a crash
	// between create and mark). It overwrites any marker: the caller decides whether that is allowed.
	MarkBucket(ctx context.Context, bucket string, owner Owner) error

	// EnableVersioning turns object versioning on. Already on is success. Stores without versioning
	// return an error wrapping ErrNotSupported.
	EnableVersioning(ctx context.Context, bucket string) error

	// RepairBucketAccess makes sure the bucket is reachable with credentials only, undoing what
	// opened it to the public outside the operator: a bucket policy that allows anyone
	// (Principal "*"; the operator never writes one), R2's public r2.dev access, a removed or
	// weakened AWS public-access block. Other bucket policies (a team's own Deny statements,
	// say) are left alone. It reports whether it changed anything; a second call right after
	// returns false. An absent bucket is success (false).
	RepairBucketAccess(ctx context.Context, bucket string) (repaired bool, err error)

	// DeleteBucket deletes the bucket if it holds no object and no object version, including the
	// ownership marker when that is an object. A non-empty bucket is left untouched and an error
	// wrapping ErrBucketNotEmpty returned. An absent bucket is success.
	DeleteBucket(ctx context.Context, bucket string) error

	// IssueCredential creates a new credential limited to req.Bucket with req.Access. It does not
	// look for an existing one: the controller lists and revokes first. The returned Credential is
	// usable once the store has propagated it (the controller probes before declaring Ready).
	IssueCredential(ctx context.Context, req CredentialRequest) (Credential, error)

	// ListCredentials returns every live credential whose Name starts with namePrefix.
	ListCredentials(ctx context.Context, namePrefix string) ([]CredentialInfo, error)

	// RevokeCredential revokes the credential with this ID. An absent credential is success.
	RevokeCredential(ctx context.Context, id string) error

	// RepairGrant reads back what the store lets the live credential with this ID do and, if that is
	// not exactly the grant req would issue (req.Bucket, req.Access, req.KeyPrefix; req.Name is the
	// name it was issued under), restores req's grant in place: the keys stay the same, so runners
	// holding them are unaffected. Anything beyond the grant that the store attached to the
	// credential out of band (another bucket, a broader permission, an extra policy) is removed. It
	// reports whether it changed anything; a second call right after returns false. Expiry and
	// description are not compared. An absent credential returns an error wrapping
	// ErrCredentialNotFound and changes nothing.
	RepairGrant(ctx context.Context, id string, req CredentialRequest) (repaired bool, err error)
}

// ErrCredentialNotFound: the credential named by an ID is not (or no longer) in the store.
var ErrCredentialNotFound = errors.New("credential not found")

// Checker is implemented by clients that can tell, without changing anything, whether the admin
// credentials are accepted and hold the permissions the operator needs. Check returns nil, or an
// error wrapping ErrInvalidConfig (refused credentials) or ErrPermissionDenied (a missing
// permission, named in the message), or a plain error for a transient failure.
type Checker interface {
	Check(ctx context.Context) error
}

// ReservedPrefix is the key prefix the operator keeps for itself inside a state bucket: probe
// objects and, on stores without bucket tags, the ownership marker. Admission refuses keys that put
// Terraform's state under it, but a runner may still choose such a key itself: only the exact
// objects the operator writes (IsOperatorObject) do not make a bucket "non-empty" for
// DeleteBucket, which removes them last; anything else under the prefix is state.
const ReservedPrefix = ".tfstate-operator/"

// OwnerMarkerKey is the ownership marker object on stores without bucket tags.
const OwnerMarkerKey = ReservedPrefix + "owner.json"

// probeKeyPrefix starts every probe object's key; ProbeKey adds probeIDLength lowercase hex
// characters.
const (
	probeKeyPrefix = ReservedPrefix + "probe/"
	probeIDLength  = 32
)

// ProbeKey is the key of the probe object with id, which must be 32 lowercase hex characters (16
// random bytes): the exact shape IsOperatorObject recognises.
func ProbeKey(id string) string { return probeKeyPrefix + id }

// IsOperatorObject reports whether key is an object the operator itself writes in a state bucket:
// the ownership marker, or a probe object named by ProbeKey. It matches exact names, not the
// reserved prefix: state a runner put under the prefix is never the operator's to delete.
func IsOperatorObject(key string) bool {
	if key == OwnerMarkerKey {
		return true
	}
	id, ok := strings.CutPrefix(key, probeKeyPrefix)
	return ok && len(id) == probeIDLength && strings.Trim(id, "0123456789abcdef") == ""
}

// ErrCredentialNotYetValid: the store does not accept the credential yet (new keys take seconds to
// propagate on several clouds). The caller retries later without issuing a new one.
var ErrCredentialNotYetValid = errors.New("credential not accepted by the store yet")

// ErrCredentialTooBroad: a probe found the credential can do more than it was issued for (a ReadOnly
// credential that can write). The credential must be revoked, never handed out.
var ErrCredentialTooBroad = errors.New("credential is broader than requested")

// ProbeResult is what a probe proved about an issued credential.
type ProbeResult struct {
	// ConditionalWrites is true when a second PutObject with If-None-Match: * on the same key was
	// refused (412/409), so use_lockfile=true gives real mutual exclusion. Always false for ReadOnly.
	ConditionalWrites bool
}

// Prober proves an issued credential with signed S3 calls of its own before the backend is declared
// Ready. ReadWrite: list, a conditional put twice (the second must be refused), get, delete, all under
// ReservedPrefix. ReadOnly: list succeeds and a put is denied.
type Prober interface {
	Probe(ctx context.Context, settings BackendSettings, bucket string, cred Credential, access Access) (ProbeResult, error)
}
