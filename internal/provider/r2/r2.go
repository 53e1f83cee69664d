// Package r2 is the provider for Cloudflare R2: buckets through the Cloudflare API, credentials as
// account-owned API tokens whose only policy is one R2 permission group ("Workers R2 Storage Bucket
// Item Write" or "... Item Read") on one bucket. R2 derives S3 keys from a token: the access key id
// is the token's id and the secret access key the SHA-256 hex of its value.
//
// R2 buckets carry no tags, so ownership is marked by an object the operator writes under
// provider.ReservedPrefix, through the S3 API with the admin token's own S3 keys. R2 has no object
// versioning: EnableVersioning reports provider.ErrNotSupported. R2 has no bucket policies either:
// RepairBucketAccess turns off a bucket's public r2.dev domain.
//
// Every Cloudflare API call of one account goes through the Account's shared limiter, so the
// account's documented limit (1,200 requests per five minutes) holds across all reconciles.
package r2

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/s3marker"
	"github.com/tfstate-operator/tfstate-operator/internal/ratelimit"
)

const (
	// DefaultAPIBaseURL is Cloudflare's v4 API.
	DefaultAPIBaseURL = "https://api.cloudflare.com/client/v4/"
	// Region is R2's S3 region; R2 treats us-east-1 and an empty region as aliases of it.
	Region = "auto"

	// PermissionGroupWrite and PermissionGroupRead are the bucket-scoped permission groups of
	// R2's "Object Read & Write" and "Object Read only" tokens.
	PermissionGroupWrite = "Workers R2 Storage Bucket Item Write"
	PermissionGroupRead  = "Workers R2 Storage Bucket Item Read"

	// MarkerKey is the ownership marker object in every bucket the operator owns.
	MarkerKey = s3marker.Key

	// DefaultRequestsPerFiveMinutes is Cloudflare's documented API limit per user.
	DefaultRequestsPerFiveMinutes = 1200

	// groupCacheTTL is how long permission-group ids are trusted before they are looked up again.
	groupCacheTTL = time.Hour
)

// Jurisdictions R2 knows; each has its own S3 endpoint host.
var jurisdictionHosts = map[string]string{"default": "", "eu": ".eu", "fedramp": ".fedramp"}

// Config is one R2 provider's settings and admin token.
type Config struct {
	AccountID string
	// Jurisdiction of this client's buckets: default, eu or fedramp (empty: default).
	Jurisdiction string
	// LocationHint for new buckets (optional).
	LocationHint string
	// APIBaseURL overrides DefaultAPIBaseURL.
	APIBaseURL string
	// S3Endpoint overrides https://<account>[.<jurisdiction>].r2.cloudflarestorage.com.
	S3Endpoint string
	// APIToken is the admin API token. Secret.
	APIToken string
	// HTTPClient is used for API and S3 calls; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock temporary credentials' lifetimes are measured with; nil means time.Now.
	Now func() time.Time
	// PropagationTimeout bounds how long temporary credentials are asked of a parent token R2
	// does not accept yet (the operator's --propagation-timeout); 0 means
	// DefaultPropagationTimeout.
	PropagationTimeout time.Duration
}

// DefaultPropagationTimeout is the operator's default --propagation-timeout. R2 documents that a
// new token can take up to a minute to work.
const DefaultPropagationTimeout = 3 * time.Minute

// Account is what every client of one Cloudflare account shares: the request limiter and the
// lookups that do not change between reconciles. Create one per account with NewAccount and keep it.
type Account struct {
	limiter *ratelimit.Limiter

	mu       sync.Mutex
	groups   map[string]string // permission-group name -> id
	groupsAt time.Time
	tokenIDs map[[32]byte]string // SHA-256 of an admin token -> its id (its S3 access key id)
}

// NewAccount returns shared state that admits at most requestsPerFiveMinutes API calls in any five
// minutes (0: Cloudflare's 1,200).
func NewAccount(requestsPerFiveMinutes int) *Account {
	if requestsPerFiveMinutes <= 0 {
		requestsPerFiveMinutes = DefaultRequestsPerFiveMinutes
	}
	return NewAccountWithLimiter(ratelimit.New(requestsPerFiveMinutes, 5*time.Minute))
}

// NewAccountWithLimiter is NewAccount with a limiter of the caller's (tests).
func NewAccountWithLimiter(l *ratelimit.Limiter) *Account {
	return &Account{limiter: l, groups: map[string]string{}, tokenIDs: map[[32]byte]string{}}
}

// Client implements provider.Client for one R2 account and jurisdiction.
type Client struct {
	cfg        Config
	acct       *Account
	api        *api
	s3Endpoint string
	httpClient *http.Client

	s3Once sync.Once
	s3     *minio.Client
	s3Err  error
}

var (
	_ provider.Client  = (*Client)(nil)
	_ provider.Checker = (*Client)(nil)
)

// New builds a client. It makes no network call. Malformed settings wrap provider.ErrInvalidConfig.
func New(cfg Config, acct *Account) (*Client, error) {
	if len(cfg.AccountID) != 32 || strings.Trim(cfg.AccountID, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("%w: the Cloudflare account id must be 32 lowercase hexadecimal characters", provider.ErrInvalidConfig)
	}
	if cfg.Jurisdiction == "" {
		cfg.Jurisdiction = "default"
	}
	host, ok := jurisdictionHosts[cfg.Jurisdiction]
	if !ok {
		return nil, fmt.Errorf("%w: unknown R2 jurisdiction %q (default, eu or fedramp)", provider.ErrInvalidConfig, cfg.Jurisdiction)
	}
	if cfg.APIToken == "" {
		return nil, fmt.Errorf("%w: no API token", provider.ErrInvalidConfig)
	}
	if cfg.APIBaseURL == "" {
		cfg.APIBaseURL = DefaultAPIBaseURL
	}
	if u, err := url.Parse(cfg.APIBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: apiBaseURL %q must be an http(s) URL", provider.ErrInvalidConfig, cfg.APIBaseURL)
	}
	endpoint := "https://" + cfg.AccountID + host + ".r2.cloudflarestorage.com"
	if cfg.S3Endpoint != "" {
		u, err := url.Parse(cfg.S3Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("%w: s3Endpoint %q must be http(s)://host[:port]", provider.ErrInvalidConfig, cfg.S3Endpoint)
		}
		endpoint = u.Scheme + "://" + u.Host
	}
	if acct == nil {
		acct = NewAccount(0)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{
		cfg:        cfg,
		acct:       acct,
		api:        newAPI(cfg.APIBaseURL, cfg.AccountID, cfg.APIToken, hc, acct.limiter),
		s3Endpoint: endpoint,
		httpClient: hc,
	}, nil
}

// Settings implements provider.Client: region auto, path style, the S3-compatible flags, no
// encryption flag (R2 refuses the SSE headers) and no versioning.
func (c *Client) Settings() provider.BackendSettings {
	return provider.BackendSettings{
		Region:       Region,
		EndpointURL:  c.s3Endpoint,
		UsePathStyle: true,
		S3Compatible: true,
		Versioning:   false,
		Expiry:       true,
		Placement:    provider.Placement{Jurisdiction: c.cfg.Jurisdiction},
		// R2's temporary access credentials: session keys derived from a bucket token.
		TemporaryCredentials: true,
	}
}

// BucketResource is the token policy resource of one bucket:
// com.cloudflare.edge.r2.bucket.<ACCOUNT_ID>_<JURISDICTION>_<BUCKET>.
func BucketResource(accountID, jurisdiction, bucket string) string {
	return "com.cloudflare.edge.r2.bucket." + accountID + "_" + jurisdiction + "_" + bucket
}

// SecretAccessKey is the S3 secret access key R2 derives from a token value: its SHA-256 in hex.
func SecretAccessKey(tokenValue string) string {
	sum := sha256.Sum256([]byte(tokenValue))
	return hex.EncodeToString(sum[:])
}

// ObserveBucket implements provider.Client.
func (c *Client) ObserveBucket(ctx context.Context, bucket string) (provider.BucketObservation, error) {
	if err := c.api.getBucket(ctx, bucket, c.cfg.Jurisdiction); err != nil {
		if noSuchBucket(err) {
			return provider.BucketObservation{}, nil
		}
		return provider.BucketObservation{}, err
	}
	owner, err := c.readMarker(ctx, bucket)
	if err != nil {
		return provider.BucketObservation{}, err
	}
	return provider.BucketObservation{Exists: true, Owner: owner}, nil
}

// CreateBucket implements provider.Client.
func (c *Client) CreateBucket(ctx context.Context, req provider.BucketRequest) error {
	if err := c.api.createBucket(ctx, req.Name, c.cfg.Jurisdiction, c.cfg.LocationHint); err != nil {
		if apiErrorHas(err, codeBucketExists) || apiStatus(err) == http.StatusConflict {
			return fmt.Errorf("create bucket %q: %w", req.Name, provider.ErrBucketNameTaken)
		}
		if apiErrorHas(err, codeInvalidBucketName) {
			return fmt.Errorf("%w: %w", provider.ErrInvalidConfig, err)
		}
		if apiErrorHas(err, codeTooManyBuckets) {
			return fmt.Errorf("create bucket %q: %w: the account holds as many R2 buckets as it may (1,000,000 by default): %w", req.Name, provider.ErrQuotaExceeded, err)
		}
		return err
	}
	return c.MarkBucket(ctx, req.Name, req.Owner)
}

// MarkBucket implements provider.Client by writing the marker object.
func (c *Client) MarkBucket(ctx context.Context, bucket string, owner provider.Owner) error {
	s3, err := c.adminS3(ctx)
	if err != nil {
		return err
	}
	return s3marker.Write(ctx, s3, bucket, owner, classifyS3)
}

func (c *Client) readMarker(ctx context.Context, bucket string) (*provider.Owner, error) {
	s3, err := c.adminS3(ctx)
	if err != nil {
		return nil, err
	}
	return s3marker.Read(ctx, s3, bucket, classifyS3)
}

// EnableVersioning implements provider.Client: R2 has no object versioning.
func (c *Client) EnableVersioning(context.Context, string) error {
	return fmt.Errorf("R2 object versioning: %w", provider.ErrNotSupported)
}

// RepairBucketAccess implements provider.Client. R2 has no bucket policies and no public-access
// block: a bucket is readable by anyone only through a domain. Its r2.dev (R2-managed) domain,
// turned on with one click in the dashboard, is what the operator undoes: when enabled it is
// turned off (repaired). Custom domains (…/domains/custom) are neither read nor removed: one can
// be attached only from a zone of the same account, a deliberate act of whoever runs that zone
// (a platform team fronting the bucket with Access, say), so removing it is not the operator's
// call. An absent bucket is (false, nil).
func (c *Client) RepairBucketAccess(ctx context.Context, bucket string) (bool, error) {
	enabled, err := c.api.managedDomainEnabled(ctx, bucket, c.cfg.Jurisdiction)
	if err != nil {
		if noSuchBucket(err) {
			return false, nil
		}
		return false, err
	}
	if !enabled {
		return false, nil
	}
	still, err := c.api.setManagedDomain(ctx, bucket, c.cfg.Jurisdiction, false)
	if err != nil {
		if noSuchBucket(err) {
			return false, nil
		}
		return false, err
	}
	if still {
		return false, fmt.Errorf("cloudflare update r2.dev domain of bucket %q: still enabled after disabling it", bucket)
	}
	return true, nil
}

// noSuchBucket says the API answered that the bucket does not exist (in this jurisdiction).
func noSuchBucket(err error) bool {
	return apiErrorHas(err, codeNoSuchBucket) || apiStatus(err) == http.StatusNotFound
}

// DeleteBucket implements provider.Client. Any object but the operator's own
// (provider.IsOperatorObject) makes the bucket non-empty; those are removed last, just before the
// bucket.
func (c *Client) DeleteBucket(ctx context.Context, bucket string) error {
	if err := c.api.getBucket(ctx, bucket, c.cfg.Jurisdiction); err != nil {
		if noSuchBucket(err) {
			return nil
		}
		return err
	}
	s3, err := c.adminS3(ctx)
	if err != nil {
		return err
	}
	if err := s3marker.ClearReserved(ctx, s3, bucket, false, classifyS3); err != nil {
		return err
	}
	if err := c.api.deleteBucket(ctx, bucket, c.cfg.Jurisdiction); err != nil {
		switch {
		case apiErrorHas(err, codeBucketNotEmpty):
			// Written to between the listing and the delete: still never emptied by us.
			return fmt.Errorf("bucket %q: %w", bucket, provider.ErrBucketNotEmpty)
		case apiErrorHas(err, codeNoSuchBucket):
			return nil
		}
		return err
	}
	return nil
}

// maxTemporaryTTL is the longest life R2 gives temporary credentials (ttlSeconds: 604800).
const maxTemporaryTTL = 7 * 24 * time.Hour

// groupFor is the permission group of a bucket token with this access.
func (c *Client) groupFor(ctx context.Context, a provider.Access) (string, error) {
	if a == provider.ReadWrite {
		return c.permissionGroupID(ctx, PermissionGroupWrite)
	}
	return c.permissionGroupID(ctx, PermissionGroupRead)
}

// IssueCredential implements provider.Client with an account-owned token on the one bucket. A
// temporary request gets session keys derived from that token instead: the token expires with
// them, and its value is never returned, so revoking it (RevokeCredential) is the only way to use
// it and ends its sessions at once.
func (c *Client) IssueCredential(ctx context.Context, req provider.CredentialRequest) (provider.Credential, error) {
	var ttl time.Duration
	if req.Temporary {
		ttl = req.ExpiresAt.Sub(c.cfg.Now()).Round(time.Second)
		if req.ExpiresAt.IsZero() || ttl <= 0 || ttl > maxTemporaryTTL {
			return provider.Credential{}, fmt.Errorf("%w: R2 temporary credentials need an expiry within %s", provider.ErrInvalidConfig, maxTemporaryTTL)
		}
	}
	groupID, err := c.groupFor(ctx, req.Access)
	if err != nil {
		return provider.Credential{}, err
	}
	tok, value, err := c.api.createToken(ctx, req.Name, groupID, BucketResource(c.cfg.AccountID, c.cfg.Jurisdiction, req.Bucket), req.ExpiresAt)
	if err != nil {
		if isQuotaError(err) {
			return provider.Credential{}, fmt.Errorf("%w: Cloudflare allows 500 account-owned API tokens per account, one per StateBackend: %w", provider.ErrQuotaExceeded, err)
		}
		return provider.Credential{}, err
	}
	if req.Temporary {
		permission := "object-read-only"
		if req.Access == provider.ReadWrite {
			permission = "object-read-write"
		}
		keys, err := c.sessionOf(ctx, req, tok.ID, permission)
		if err != nil {
			// The parent is of no use without its session; if this delete fails too, the
			// controller's listing finds the parent by name and revokes it.
			_ = c.api.deleteToken(ctx, tok.ID)
			return provider.Credential{}, err
		}
		return provider.Credential{
			ID:              tok.ID,
			Name:            req.Name,
			AccessKeyID:     keys.AccessKeyID,
			SecretAccessKey: keys.SecretAccessKey,
			SessionToken:    keys.SessionToken,
			ExpiresAt:       req.ExpiresAt,
		}, nil
	}
	return provider.Credential{
		ID:              tok.ID,
		Name:            req.Name,
		AccessKeyID:     tok.ID,
		SecretAccessKey: SecretAccessKey(value),
		ExpiresAt:       tok.ExpiresOn,
	}, nil
}

// sessionOf asks for the temporary credentials of a parent token made a moment ago. R2 documents
// that a new token can take up to a minute to work, so a refusal that may mean "not yet" is asked
// again of the same parent, backing off, until PropagationTimeout: deleting the parent and minting
// another on the next reconcile would meet the same wait, and spend the account's token quota and
// rate limit on it. The lifetime asked for is measured again on every attempt, so the session
// never outlives req.ExpiresAt.
func (c *Client) sessionOf(ctx context.Context, req provider.CredentialRequest, parentID, permission string) (sessionKeys, error) {
	timeout := c.cfg.PropagationTimeout
	if timeout <= 0 {
		timeout = DefaultPropagationTimeout
	}
	deadline := time.Now().Add(timeout)
	wait := time.Second
	for {
		ttl := req.ExpiresAt.Sub(c.cfg.Now()).Round(time.Second)
		if ttl <= 0 {
			return sessionKeys{}, fmt.Errorf("%w: the credential's expiry passed while its parent token propagated", provider.ErrInvalidConfig)
		}
		keys, err := c.api.temporaryCredentials(ctx, req.Bucket, c.cfg.Jurisdiction, parentID, permission, ttl)
		if err == nil || !mayBeUnpropagatedParent(err) || time.Now().Add(wait).After(deadline) {
			return keys, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return sessionKeys{}, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 15*time.Second)
	}
}

// mayBeUnpropagatedParent reports whether a refusal of temporary credentials can mean the parent
// token is not usable yet: a 400 (the request is the operator's own, its fields checked before it
// is sent, so what R2 can find wrong with it is the parent) [inference: Cloudflare does not
// document the reply for a parent that has not propagated]. Refused admin tokens, missing
// permissions, an absent bucket, rate limits and server errors are not waited on here.
func mayBeUnpropagatedParent(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusBadRequest &&
		!errors.Is(err, provider.ErrInvalidConfig) && !errors.Is(err, provider.ErrPermissionDenied)
}

// isQuotaError recognises Cloudflare's refusal of a token beyond the account's quota. The exact
// code is not documented; the reply's message names the quota.
func isQuotaError(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode < 400 || apiErr.StatusCode >= 500 || apiErr.StatusCode == http.StatusTooManyRequests {
		return false
	}
	for _, m := range apiErr.Messages {
		if l := strings.ToLower(m); strings.Contains(l, "quota") || strings.Contains(l, "maximum number") {
			return true
		}
	}
	return false
}

// ListCredentials implements provider.Client: every account-owned token whose name starts with
// namePrefix (tokens the operator did not name are never touched).
func (c *Client) ListCredentials(ctx context.Context, namePrefix string) ([]provider.CredentialInfo, error) {
	tokens, err := c.api.listTokens(ctx)
	if err != nil {
		return nil, err
	}
	var out []provider.CredentialInfo
	for _, t := range tokens {
		if !strings.HasPrefix(t.Name, namePrefix) {
			continue
		}
		out = append(out, provider.CredentialInfo{ID: t.ID, Name: t.Name, AccessKeyID: t.ID, ExpiresAt: t.ExpiresOn})
	}
	return out, nil
}

// RevokeCredential implements provider.Client by deleting the token.
func (c *Client) RevokeCredential(ctx context.Context, id string) error {
	if err := c.api.deleteToken(ctx, id); err != nil && apiStatus(err) != http.StatusNotFound {
		return err
	}
	return nil
}

// RepairGrant implements provider.Client: the token's policies must be exactly the one allow of
// the access's permission group on the bucket's resource; anything else (another bucket, another
// group, an account-wide grant, a second policy) is replaced by that, keeping the token's value,
// so its S3 keys (and sessions derived from it) stay valid.
func (c *Client) RepairGrant(ctx context.Context, id string, req provider.CredentialRequest) (bool, error) {
	tok, policies, err := c.api.getToken(ctx, id)
	if err != nil {
		if apiStatus(err) == http.StatusNotFound {
			return false, fmt.Errorf("token %s: %w", id, provider.ErrCredentialNotFound)
		}
		return false, err
	}
	groupID, err := c.groupFor(ctx, req.Access)
	if err != nil {
		return false, err
	}
	resource := BucketResource(c.cfg.AccountID, c.cfg.Jurisdiction, req.Bucket)
	if onlyAllows(policies, groupID, resource) {
		return false, nil
	}
	if err := c.api.setTokenPolicy(ctx, tok, groupID, resource); err != nil {
		if apiStatus(err) == http.StatusNotFound {
			return false, fmt.Errorf("token %s: %w", id, provider.ErrCredentialNotFound)
		}
		return false, err
	}
	return true, nil
}

// onlyAllows says the policies are exactly one allow of one permission group on one resource.
func onlyAllows(policies []tokenPolicy, groupID, resource string) bool {
	if len(policies) != 1 {
		return false
	}
	p := policies[0]
	star, ok := p.Resources[resource]
	return p.Effect == "allow" && len(p.PermissionGroups) == 1 && p.PermissionGroups[0] == groupID &&
		len(p.Resources) == 1 && ok && string(star) == `"*"`
}

// Check implements provider.Checker with read-only calls that need the admin token's permissions:
// the token is valid (verify), may read R2 buckets, may list account tokens, the two bucket-scoped
// permission groups exist, and its S3 keys reach R2.
func (c *Client) Check(ctx context.Context) error {
	if _, err := c.adminTokenID(ctx); err != nil {
		return err
	}
	steps := []struct {
		need string
		call func(context.Context) error
	}{
		{"Workers R2 Storage Write (to create buckets)", func(ctx context.Context) error { return c.api.listBucketsOne(ctx, c.cfg.Jurisdiction) }},
		{"Account API Tokens Write (to issue bucket tokens)", c.api.listTokensOne},
		{"Account API Tokens Write (to look up R2 permission groups)", func(ctx context.Context) error {
			for _, g := range []string{PermissionGroupWrite, PermissionGroupRead} {
				if _, err := c.permissionGroupID(ctx, g); err != nil {
					return err
				}
			}
			return nil
		}},
		{"Workers R2 Storage Write (its S3 keys write the ownership marker)", func(ctx context.Context) error {
			s3, err := c.adminS3(ctx)
			if err != nil {
				return err
			}
			if _, err := s3.ListBuckets(ctx); err != nil {
				return classifyS3("list buckets over S3", err)
			}
			return nil
		}},
	}
	for _, s := range steps {
		if err := s.call(ctx); err != nil {
			if errors.Is(err, provider.ErrPermissionDenied) {
				return fmt.Errorf("the API token needs the permission %s: %w", s.need, err)
			}
			return err
		}
	}
	return nil
}

// permissionGroupID returns a permission group's id, looked up by name once an hour per account.
func (c *Client) permissionGroupID(ctx context.Context, name string) (string, error) {
	c.acct.mu.Lock()
	if time.Since(c.acct.groupsAt) > groupCacheTTL {
		c.acct.groups = map[string]string{}
		c.acct.groupsAt = time.Now()
	}
	id, ok := c.acct.groups[name]
	c.acct.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := c.api.permissionGroupID(ctx, name)
	if err != nil {
		return "", err
	}
	c.acct.mu.Lock()
	c.acct.groups[name] = id
	c.acct.mu.Unlock()
	return id, nil
}

// adminTokenID is the admin token's id, its S3 access key id; looked up once per token value.
func (c *Client) adminTokenID(ctx context.Context) (string, error) {
	key := sha256.Sum256([]byte(c.cfg.APIToken))
	c.acct.mu.Lock()
	id, ok := c.acct.tokenIDs[key]
	c.acct.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := c.api.verify(ctx)
	if err != nil {
		return "", err
	}
	c.acct.mu.Lock()
	c.acct.tokenIDs[key] = id
	c.acct.mu.Unlock()
	return id, nil
}

// adminS3 is an S3 client signed with the admin token's derived keys, for the marker object.
func (c *Client) adminS3(ctx context.Context) (*minio.Client, error) {
	id, err := c.adminTokenID(ctx)
	if err != nil {
		return nil, err
	}
	c.s3Once.Do(func() {
		u, _ := url.Parse(c.s3Endpoint) // validated in New
		c.s3, c.s3Err = minio.New(u.Host, &minio.Options{
			Creds:        credentials.NewStaticV4(id, SecretAccessKey(c.cfg.APIToken), ""),
			Secure:       u.Scheme == "https",
			Region:       Region,
			BucketLookup: minio.BucketLookupPath,
			Transport:    provider.TransportOf(c.httpClient),
		})
	})
	if c.s3Err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrInvalidConfig, c.s3Err)
	}
	return c.s3, nil
}

// classifyS3 maps an S3 error; the text names the status and code, never the reply's message.
func classifyS3(op string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch code := resp.Code; code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return fmt.Errorf("%s: %w: R2 refused the S3 keys derived from the API token (%s)", op, provider.ErrInvalidConfig, code)
	case "AccessDenied":
		return fmt.Errorf("%s: %w: the API token's S3 keys were denied (%s)", op, provider.ErrPermissionDenied, code)
	}
	return fmt.Errorf("%s: %w", op, provider.Redact(err, resp.StatusCode, resp.Code))
}
