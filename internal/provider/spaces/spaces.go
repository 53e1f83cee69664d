// Package spaces is the provider for DigitalOcean Spaces: buckets through the S3 API of one region,
// credentials as Spaces access keys (DigitalOcean API, /v2/spaces/keys) whose only grant is one
// bucket with permission "readwrite" or "read".
//
// # The full-access key
//
// Bucket calls (create, versioning, the ownership marker, delete) go through the S3 API, which a
// bucket-scoped key cannot use for another bucket and no key at all can use to create one unless
// it holds "fullaccess". Users give the operator only an API token, so the operator mints its own
// full-access key through the API:
//   - named "<AdminKeyPrefix><time>", where the prefix is derived from the provider object's UID,
//     so keys of other providers, other clusters and other tools are never touched;
//   - kept in memory only (never in a Secret or etcd), shared by every reconcile of the provider;
//   - replaced after AdminKeyMaxAge, and on every start of the operator: minting revokes every
//     other key under the prefix, so a key left by a crashed process does not stay live;
//   - revoked by Release when the provider object is deleted (the controller's finalizer).
//
// A user who prefers to manage that key can put it in the credentials Secret
// (Config.AdminAccessKeyID/AdminSecretAccessKey); the operator then mints nothing.
//
// Spaces has no bucket tags, so ownership is marked by an object under provider.ReservedPrefix.
// Spaces keeps object versions once enabled through the S3 API, and has no bucket-level encryption
// (SSE-C only), so no encrypt flag is emitted.
package spaces

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/godo"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/s3access"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/s3marker"
	"github.com/tfstate-operator/tfstate-operator/internal/ratelimit"
)

const (
	// DefaultAPIBaseURL is DigitalOcean's API.
	DefaultAPIBaseURL = "https://api.digitalocean.com/"
	// Region is what Terraform and the operator sign S3 requests with: DigitalOcean's own
	// Terraform-backend guide uses us-east-1 (with skip_region_validation), and the endpoint, not
	// the region, selects the Spaces region.
	Region = "us-east-1"

	// DefaultRequestsPerMinute is DigitalOcean's documented limit per token; the hourly one is
	// 5,000 (20 times as much).
	DefaultRequestsPerMinute = 250

	// AdminKeyMaxAge is how long a minted full-access key is used before it is replaced.
	AdminKeyMaxAge = 24 * time.Hour
	// AdminKeyPropagation is how long a refused minted key is taken for a new key that Spaces does
	// not accept yet (a transient error) rather than one revoked out of band (minted again).
	AdminKeyPropagation = 2 * time.Minute
)

// Config is one Spaces provider's settings and admin credentials.
type Config struct {
	// Region is the Spaces region slug (fra1, nyc3, ...).
	Region string
	// APIBaseURL overrides DefaultAPIBaseURL.
	APIBaseURL string
	// S3Endpoint overrides https://<region>.digitaloceanspaces.com.
	S3Endpoint string
	// APIToken is the DigitalOcean API token. Secret.
	APIToken string
	// AdminKeyPrefix is the name prefix of the full-access keys this provider mints (see the package
	// doc). Required unless AdminAccessKeyID is set.
	AdminKeyPrefix string
	// AdminAccessKeyID and AdminSecretAccessKey are a full-access Spaces key given by the user, used
	// instead of a minted one. The secret is secret.
	AdminAccessKeyID, AdminSecretAccessKey string
	// HTTPClient is used for API and S3 calls; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
}

// Account is what every client of one provider object shares: the limiters of its API token and
// the minted full-access key. Create one per provider with NewAccount and keep it.
type Account struct {
	limiters []*ratelimit.Limiter
	now      func() time.Time

	// mu is held while a key is minted, so concurrent reconciles mint one key, not several.
	mu    sync.Mutex
	admin *adminKey
}

type adminKey struct {
	accessKey, secretKey string
	mintedAt             time.Time
}

// NewAccount returns shared state that admits at most requestsPerMinute API calls in any minute and
// 20 times as many in any hour (0: DigitalOcean's 250 and 5,000).
func NewAccount(requestsPerMinute int) *Account {
	if requestsPerMinute <= 0 {
		requestsPerMinute = DefaultRequestsPerMinute
	}
	return NewAccountWith(time.Now, ratelimit.New(requestsPerMinute, time.Minute), ratelimit.New(20*requestsPerMinute, time.Hour))
}

// NewAccountWith is NewAccount with a clock and limiters of the caller's (tests).
func NewAccountWith(now func() time.Time, limiters ...*ratelimit.Limiter) *Account {
	return &Account{limiters: limiters, now: now}
}

// Client implements provider.Client for one Spaces region.
type Client struct {
	cfg        Config
	acct       *Account
	api        *keysAPI
	s3Endpoint *url.URL
	httpClient *http.Client

	s3Mu  sync.Mutex
	s3    *minio.Client
	s3Key string // the access key s3 signs with
}

var (
	_ provider.Client  = (*Client)(nil)
	_ provider.Checker = (*Client)(nil)
)

// New builds a client. It makes no network call. Malformed settings wrap provider.ErrInvalidConfig.
func New(cfg Config, acct *Account) (*Client, error) {
	if !validRegion(cfg.Region) {
		return nil, fmt.Errorf("%w: %q is not a Spaces region slug (fra1, nyc3, ...)", provider.ErrInvalidConfig, cfg.Region)
	}
	if cfg.APIToken == "" {
		return nil, fmt.Errorf("%w: no DigitalOcean API token", provider.ErrInvalidConfig)
	}
	if (cfg.AdminAccessKeyID == "") != (cfg.AdminSecretAccessKey == "") {
		return nil, fmt.Errorf("%w: a full-access Spaces key needs both its access key id and its secret", provider.ErrInvalidConfig)
	}
	if cfg.AdminAccessKeyID == "" && cfg.AdminKeyPrefix == "" {
		return nil, fmt.Errorf("%w: no name prefix for the operator's full-access key", provider.ErrInvalidConfig)
	}
	if cfg.APIBaseURL == "" {
		cfg.APIBaseURL = DefaultAPIBaseURL
	}
	if u, err := url.Parse(cfg.APIBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: apiBaseURL %q must be an http(s) URL", provider.ErrInvalidConfig, cfg.APIBaseURL)
	}
	endpoint := "https://" + cfg.Region + ".digitaloceanspaces.com"
	if cfg.S3Endpoint != "" {
		endpoint = cfg.S3Endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%w: s3Endpoint %q must be http(s)://host[:port]", provider.ErrInvalidConfig, cfg.S3Endpoint)
	}
	u.Path = ""
	if acct == nil {
		acct = NewAccount(0)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	api, err := newKeysAPI(cfg.APIBaseURL, cfg.APIToken, hc, acct.limiters)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, acct: acct, api: api, s3Endpoint: u, httpClient: hc}, nil
}

func validRegion(r string) bool {
	if len(r) != 4 {
		return false
	}
	for i, c := range r {
		if (i < 3 && (c < 'a' || c > 'z')) || (i == 3 && (c < '0' || c > '9')) {
			return false
		}
	}
	return true
}

// Settings implements provider.Client: what DigitalOcean's Terraform-backend guide sets (the
// regional endpoint, region us-east-1, the skip_* flags and skip_s3_checksum), plus path-style
// addressing and the checksum variables; versioning, no encrypt flag.
func (c *Client) Settings() provider.BackendSettings {
	return provider.BackendSettings{
		Region:       Region,
		EndpointURL:  c.s3Endpoint.String(),
		UsePathStyle: true,
		S3Compatible: true,
		Versioning:   true,
	}
}

// ObserveBucket implements provider.Client.
func (c *Client) ObserveBucket(ctx context.Context, bucket string) (provider.BucketObservation, error) {
	s3, err := c.adminS3(ctx)
	if err != nil {
		return provider.BucketObservation{}, err
	}
	exists, err := s3.BucketExists(ctx, bucket)
	if err != nil {
		return provider.BucketObservation{}, c.classifyS3("observe bucket", err)
	}
	if !exists {
		return provider.BucketObservation{}, nil
	}
	owner, err := s3marker.Read(ctx, s3, bucket, c.classifyS3)
	if err != nil {
		return provider.BucketObservation{}, err
	}
	v, err := s3.GetBucketVersioning(ctx, bucket)
	if err != nil {
		return provider.BucketObservation{}, c.classifyS3("read bucket versioning", err)
	}
	return provider.BucketObservation{Exists: true, Owner: owner, Versioning: v.Enabled()}, nil
}

// CreateBucket implements provider.Client. Spaces bucket names are global across regions and
// accounts: a name taken by anyone is ErrBucketNameTaken.
func (c *Client) CreateBucket(ctx context.Context, req provider.BucketRequest) error {
	s3, err := c.adminS3(ctx)
	if err != nil {
		return err
	}
	if err := s3.MakeBucket(ctx, req.Name, minio.MakeBucketOptions{Region: Region}); err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
			return fmt.Errorf("create bucket %q: %w", req.Name, provider.ErrBucketNameTaken)
		case "InvalidBucketName":
			return fmt.Errorf("create bucket %q: %w: Spaces refused the name", req.Name, provider.ErrInvalidConfig)
		case "TooManyBuckets":
			// The S3 code for an account's bucket limit (AWS's S3 error codes: 400 TooManyBuckets).
			return fmt.Errorf("create bucket %q: %w: DigitalOcean allows 100 Spaces buckets per account by default, one per StateBackend (ask support to raise it)", req.Name, provider.ErrQuotaExceeded)
		}
		return c.classifyS3("create bucket", err)
	}
	return s3marker.Write(ctx, s3, req.Name, req.Owner, c.classifyS3)
}

// MarkBucket implements provider.Client by writing the marker object.
func (c *Client) MarkBucket(ctx context.Context, bucket string, owner provider.Owner) error {
	s3, err := c.adminS3(ctx)
	if err != nil {
		return err
	}
	return s3marker.Write(ctx, s3, bucket, owner, c.classifyS3)
}

// RepairBucketAccess implements provider.Client: Spaces opens a bucket to the public two ways, and
// both are closed: a bucket policy that allows anyone is removed, and an ACL that grants a public
// group anything ("public-read", the control panel's "File Listing: Enabled") is set back to
// "private" (acl.go).
func (c *Client) RepairBucketAccess(ctx context.Context, bucket string) (bool, error) {
	s3, err := c.adminS3(ctx)
	if err != nil {
		return false, err
	}
	removed, err := s3access.RemovePublicPolicy(ctx, s3, bucket, c.classifyS3)
	if err != nil {
		return false, err
	}
	public, err := c.bucketACLIsPublic(ctx, bucket)
	if err != nil || !public {
		return removed, err
	}
	if err := c.makeBucketACLPrivate(ctx, bucket); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchBucket" {
			return removed, nil
		}
		return removed, err
	}
	return true, nil
}

// EnableVersioning implements provider.Client (Spaces: through the S3 API only).
func (c *Client) EnableVersioning(ctx context.Context, bucket string) error {
	s3, err := c.adminS3(ctx)
	if err != nil {
		return err
	}
	if err := s3.EnableVersioning(ctx, bucket); err != nil {
		return c.classifyS3("enable versioning", err)
	}
	return nil
}

// DeleteBucket implements provider.Client. Every object version and delete marker counts, except
// the operator's own (provider.IsOperatorObject), which are removed last.
func (c *Client) DeleteBucket(ctx context.Context, bucket string) error {
	s3, err := c.adminS3(ctx)
	if err != nil {
		return err
	}
	exists, err := s3.BucketExists(ctx, bucket)
	if err != nil {
		return c.classifyS3("observe bucket", err)
	}
	if !exists {
		return nil
	}
	if err := s3marker.ClearReserved(ctx, s3, bucket, true, c.classifyS3); err != nil {
		return err
	}
	if err := s3.RemoveBucket(ctx, bucket); err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "BucketNotEmpty":
			// Written to between the listing and the delete: still never emptied by us.
			return fmt.Errorf("bucket %q: %w", bucket, provider.ErrBucketNotEmpty)
		case "NoSuchBucket":
			return nil
		}
		return c.classifyS3("delete bucket", err)
	}
	return nil
}

// Permission is the Spaces grant permission of an access mode.
func Permission(a provider.Access) godo.SpacesKeyPermission {
	if a == provider.ReadWrite {
		return godo.SpacesKeyReadWrite
	}
	return godo.SpacesKeyRead
}

// Grants is what a key issued for req may do: one grant, its bucket with the access's permission.
// IssueCredential creates keys with it and RepairGrant restores it. Spaces keys cannot be confined
// to a key prefix (Settings has no PrefixScoping), so req.KeyPrefix plays no part.
func Grants(req provider.CredentialRequest) []*godo.Grant {
	return []*godo.Grant{{Bucket: req.Bucket, Permission: Permission(req.Access)}}
}

// SameGrants reports whether a key holding have may do exactly what want allows: the same
// (bucket, permission) pairs in any order, since DigitalOcean keeps the order it was sent, which
// means nothing. A repeated grant adds nothing; a null one is not understood, so never matches.
func SameGrants(have, want []*godo.Grant) bool {
	h, hOK := grantSet(have)
	w, wOK := grantSet(want)
	return hOK && wOK && maps.Equal(h, w)
}

func grantSet(grants []*godo.Grant) (map[godo.Grant]bool, bool) {
	set := make(map[godo.Grant]bool, len(grants))
	for _, g := range grants {
		if g == nil {
			return nil, false
		}
		set[*g] = true
	}
	return set, true
}

// holdsFullAccess: one fullaccess grant gives the key every bucket, whatever else it holds.
func holdsFullAccess(grants []*godo.Grant) bool {
	return slices.ContainsFunc(grants, func(g *godo.Grant) bool { return g != nil && g.Permission == godo.SpacesKeyFullAccess })
}

func formatGrants(grants []*godo.Grant) string {
	parts := make([]string, 0, len(grants))
	for _, g := range grants {
		if g == nil {
			parts = append(parts, "null")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s on %q", g.Permission, g.Bucket))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// IssueCredential implements provider.Client with a Spaces key whose one grant is the bucket.
func (c *Client) IssueCredential(ctx context.Context, req provider.CredentialRequest) (provider.Credential, error) {
	k, err := c.api.create(ctx, req.Name, Grants(req)...)
	if err != nil {
		return provider.Credential{}, err
	}
	return provider.Credential{ID: k.AccessKey, Name: req.Name, AccessKeyID: k.AccessKey, SecretAccessKey: k.SecretKey}, nil
}

// ListCredentials implements provider.Client: every key of the account whose name starts with
// namePrefix (keys the operator did not name are never touched).
func (c *Client) ListCredentials(ctx context.Context, namePrefix string) ([]provider.CredentialInfo, error) {
	keys, err := c.api.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []provider.CredentialInfo
	for _, k := range keys {
		if strings.HasPrefix(k.Name, namePrefix) {
			out = append(out, provider.CredentialInfo{ID: k.AccessKey, Name: k.Name, AccessKeyID: k.AccessKey})
		}
	}
	return out, nil
}

// RevokeCredential implements provider.Client by deleting the key.
func (c *Client) RevokeCredential(ctx context.Context, id string) error {
	return c.api.delete(ctx, id)
}

// RepairGrant implements provider.Client. A Spaces key's grants are edited in place (PUT
// /v2/spaces/keys/{access_key}), so a key widened out of band (another bucket, a wider permission)
// gets back exactly Grants(req) under the same keys, and runners holding them are unaffected. The
// grants are replaced whole, under the key's current name (the PUT needs one).
//
// DigitalOcean does not turn a fullaccess key into a scoped one (API reference, "Update Spaces
// Access Keys"). When it refuses, or answers with the grants unchanged, such a key cannot be
// narrowed and is reported as provider.ErrCredentialTooBroad: the caller revokes it.
func (c *Client) RepairGrant(ctx context.Context, id string, req provider.CredentialRequest) (bool, error) {
	k, err := c.api.get(ctx, id)
	if err != nil {
		return false, fmt.Errorf("repair grant of Spaces key %s: %w", id, err)
	}
	want := Grants(req)
	if SameGrants(k.Grants, want) {
		return false, nil
	}
	updated, err := c.api.update(ctx, id, firstNonEmpty(k.Name, req.Name), want...)
	if err == nil && SameGrants(updated.Grants, want) {
		return true, nil
	}
	if holdsFullAccess(k.Grants) {
		var refusal *APIError
		if errors.As(err, &refusal) && (refusal.StatusCode == http.StatusBadRequest || refusal.StatusCode == http.StatusUnprocessableEntity) {
			return false, fmt.Errorf("repair grant of Spaces key %s: it holds fullaccess, which DigitalOcean does not narrow in place: %w: %w", id, provider.ErrCredentialTooBroad, refusal)
		}
		if err == nil {
			return false, fmt.Errorf("repair grant of Spaces key %s: it holds fullaccess and DigitalOcean kept %s: %w", id, formatGrants(updated.Grants), provider.ErrCredentialTooBroad)
		}
	}
	if err != nil {
		return false, fmt.Errorf("repair grant of Spaces key %s: %w", id, err)
	}
	return false, fmt.Errorf("repair grant of Spaces key %s: DigitalOcean answered the update with grants %s, not %s", id, formatGrants(updated.Grants), formatGrants(want))
}

// Check implements provider.Checker: the token may read keys, and the full-access key (the user's,
// or one the operator mints and keeps anyway for bucket calls) reaches Spaces over S3.
func (c *Client) Check(ctx context.Context) error {
	if err := c.api.listOne(ctx); err != nil {
		return err
	}
	s3, err := c.adminS3(ctx)
	if err != nil {
		return err
	}
	if _, err := s3.ListBuckets(ctx); err != nil {
		return c.classifyS3("list buckets over S3", err)
	}
	return nil
}

// Release revokes every full-access key this provider minted (none when the user gave one). The
// controller calls it when the provider object is deleted.
func (c *Client) Release(ctx context.Context) error {
	if c.cfg.AdminAccessKeyID != "" {
		return nil
	}
	c.acct.mu.Lock()
	defer c.acct.mu.Unlock()
	if err := c.revokeAdminKeys(ctx, ""); err != nil {
		return err
	}
	c.acct.admin = nil
	return nil
}

// adminS3 is an S3 client signed with the full-access key, minting one first if needed.
func (c *Client) adminS3(ctx context.Context) (*minio.Client, error) {
	ak, sk, err := c.adminKey(ctx)
	if err != nil {
		return nil, err
	}
	c.s3Mu.Lock()
	defer c.s3Mu.Unlock()
	if c.s3 != nil && c.s3Key == ak {
		return c.s3, nil
	}
	s3, err := minio.New(c.s3Endpoint.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(ak, sk, ""),
		Secure:       c.s3Endpoint.Scheme == "https",
		Region:       Region,
		BucketLookup: minio.BucketLookupPath,
		Transport:    provider.TransportOf(c.httpClient),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrInvalidConfig, err)
	}
	c.s3, c.s3Key = s3, ak
	return s3, nil
}

// adminKey returns the full-access key pair: the user's, else the minted one, minted (or replaced
// once older than AdminKeyMaxAge) here.
func (c *Client) adminKey(ctx context.Context) (string, string, error) {
	if c.cfg.AdminAccessKeyID != "" {
		return c.cfg.AdminAccessKeyID, c.cfg.AdminSecretAccessKey, nil
	}
	c.acct.mu.Lock()
	defer c.acct.mu.Unlock()
	now := c.acct.now()
	if k := c.acct.admin; k != nil && now.Sub(k.mintedAt) < AdminKeyMaxAge {
		return k.accessKey, k.secretKey, nil
	}
	// Mint first, then revoke the others under the prefix (the replaced key, or one a crashed
	// process left behind): there is never a moment without a key.
	k, err := c.api.create(ctx, c.cfg.AdminKeyPrefix+strconv.FormatInt(now.Unix(), 36), &godo.Grant{Bucket: "", Permission: godo.SpacesKeyFullAccess})
	if err != nil {
		return "", "", fmt.Errorf("mint the operator's full-access Spaces key: %w", err)
	}
	c.acct.admin = &adminKey{accessKey: k.AccessKey, secretKey: k.SecretKey, mintedAt: now}
	// A failure here leaves old keys live until the next mint or Release; the new key works.
	_ = c.revokeAdminKeys(ctx, k.AccessKey)
	return k.AccessKey, k.SecretKey, nil
}

// revokeAdminKeys deletes every key under the admin prefix except keep. acct.mu must be held.
func (c *Client) revokeAdminKeys(ctx context.Context, keep string) error {
	keys, err := c.api.list(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if strings.HasPrefix(k.Name, c.cfg.AdminKeyPrefix) && k.AccessKey != keep {
			if err := c.api.delete(ctx, k.AccessKey); err != nil {
				return err
			}
		}
	}
	return nil
}

// classifyS3 maps an S3 error. A minted key that Spaces refuses is either too new (transient) or
// was revoked out of band (forgotten, so the next call mints another; transient too); a refused
// user-given key is a configuration problem.
//
// The text names the status and code, never the reply's message.
func (c *Client) classifyS3(op string, err error) error {
	resp := minio.ToErrorResponse(err)
	code := resp.Code
	switch code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch":
		if c.cfg.AdminAccessKeyID != "" {
			return fmt.Errorf("%s: %w: Spaces refused the full-access key of the credentials Secret (%s)", op, provider.ErrInvalidConfig, code)
		}
		c.acct.mu.Lock()
		defer c.acct.mu.Unlock()
		if k := c.acct.admin; k != nil && c.acct.now().Sub(k.mintedAt) >= AdminKeyPropagation {
			c.acct.admin = nil
			return fmt.Errorf("%s: Spaces refused the operator's full-access key (%s), which was revoked out of band; a new one is minted on the next attempt", op, code)
		}
		return fmt.Errorf("%s: Spaces does not accept the operator's new full-access key yet (%s)", op, code)
	case "AccessDenied":
		return fmt.Errorf("%s: %w: the full-access key was denied (%s)", op, provider.ErrPermissionDenied, code)
	}
	return fmt.Errorf("%s: %w", op, provider.Redact(err, resp.StatusCode, code))
}
