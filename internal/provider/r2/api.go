package r2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/accounts"
	"github.com/cloudflare/cloudflare-go/v7/option"
	cfr2 "github.com/cloudflare/cloudflare-go/v7/r2"
	"github.com/cloudflare/cloudflare-go/v7/shared"
	"github.com/cloudflare/cloudflare-go/v7/user"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/ratelimit"
)

// Cloudflare API error codes the provider acts on (r2/api/error-codes.mdx; the REST API answers
// with the same numbers in errors[].code).
const (
	// A refused token: revoked, expired or unknown (403 9109 "Invalid access token", ddns-go
	// #890), malformed (400 6003 "Invalid request headers" with 6111 "Invalid format for
	// Authorization header"), or missing (400 9106). A missing permission is 403 10000
	// "Authentication error" (terraform-provider-cloudflare #1533, cf-terraforming #754).
	codeInvalidAccessToken = 9109
	codeInvalidHeaders     = 6003
	codeInvalidAuthHeader  = 6111
	codeMissingAuth        = 9106
	codeNoSuchBucket       = 10006
	codeBucketNotEmpty     = 10008
	codeBucketExists       = 10073
	codeInvalidBucketName  = 10005
	codeTooManyBuckets     = 10009 // R2 error codes: TooManyBuckets, 400, "Account bucket limit exceeded"
)

// defaultBlock is how long every call is held back after a 429 that carries no Retry-After:
// Cloudflare documents that exceeding the limit blocks all calls for the next five minutes.
const defaultBlock = 5 * time.Minute

// api is every Cloudflare API call the provider makes, and no more: the SDK services it needs, built
// without the SDK's environment defaults (CLOUDFLARE_* variables of the operator's process must not
// change what it calls) and with the SDK's own retries off, so that the reconcile loop retries with
// backoff and a 409 "bucket exists" is seen at once rather than retried.
type api struct {
	accountID  string
	buckets    *cfr2.BucketService
	tokens     *accounts.TokenService
	userTokens *user.TokenService
	temps      *cfr2.TemporaryCredentialService
}

func newAPI(baseURL, accountID, token string, httpClient *http.Client, limiter *ratelimit.Limiter) *api {
	opts := []option.RequestOption{
		option.WithBaseURL(baseURL),
		option.WithHTTPClient(httpClient),
		option.WithAPIToken(token),
		option.WithMaxRetries(0),
		option.WithMiddleware(limited(limiter)),
	}
	return &api{
		accountID:  accountID,
		buckets:    cfr2.NewBucketService(opts...),
		tokens:     accounts.NewTokenService(opts...),
		userTokens: user.NewTokenService(opts...),
		temps:      cfr2.NewTemporaryCredentialService(opts...),
	}
}

// limited sends each request through the account's shared limiter and, on a 429, holds back every
// call of the account for as long as Cloudflare asked.
func limited(l *ratelimit.Limiter) option.Middleware {
	return func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		if err := l.Wait(req.Context()); err != nil {
			return nil, err
		}
		resp, err := next(req)
		if err == nil && resp.StatusCode == http.StatusTooManyRequests {
			l.Block(retryAfter(resp.Header, defaultBlock))
		}
		return resp, err
	}
}

// retryAfter reads Retry-After (seconds or an HTTP date), else def.
func retryAfter(h http.Header, def time.Duration) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return def
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return def
}

// APIError is a Cloudflare API error reply. Unlike the SDK's error it never carries the raw
// request or response (which hold the bearer token or, for a created token, its value).
type APIError struct {
	Op         string
	StatusCode int
	Codes      []int64
	Messages   []string
}

// Error names the operation, the status and the error codes, never the messages: they are the
// reply's text, and a tenant's apiBaseURL can name a service that is not Cloudflare.
func (e *APIError) Error() string {
	parts := make([]string, len(e.Codes))
	for i := range e.Codes {
		parts[i] = strconv.FormatInt(e.Codes[i], 10)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("cloudflare %s: HTTP %d", e.Op, e.StatusCode)
	}
	return fmt.Sprintf("cloudflare %s: HTTP %d: error codes %s", e.Op, e.StatusCode, strings.Join(parts, ", "))
}

// Has reports whether the reply carries the error code.
func (e *APIError) Has(code int64) bool {
	for _, c := range e.Codes {
		if c == code {
			return true
		}
	}
	return false
}

// classify turns an SDK error into an *APIError wrapped with the provider's sentinels: a refused
// token (401, or one of the refused-token codes) is ErrInvalidConfig, any other 403 a missing
// permission (ErrPermissionDenied, looked at again every retry interval, so Cloudflare's
// occasional transient 403 10000 clears by itself), a 429 a RateLimitedError; anything else stays
// retryable.
func classify(op string, err error) error {
	var rl *provider.RateLimitedError
	if errors.As(err, &rl) {
		return fmt.Errorf("cloudflare %s: %w", op, err)
	}
	var sdkErr *cfr2.Error
	if !errors.As(err, &sdkErr) {
		return fmt.Errorf("cloudflare %s: %w", op, provider.Redact(err, 0, ""))
	}
	apiErr := &APIError{Op: op, StatusCode: sdkErr.StatusCode}
	for _, e := range sdkErr.Errors {
		apiErr.Codes = append(apiErr.Codes, e.Code)
		apiErr.Messages = append(apiErr.Messages, e.Message)
	}
	switch {
	case sdkErr.StatusCode == http.StatusTooManyRequests:
		var h http.Header
		if sdkErr.Response != nil {
			h = sdkErr.Response.Header
		}
		return &provider.RateLimitedError{RetryAfter: retryAfter(h, defaultBlock), Err: apiErr}
	case sdkErr.StatusCode == http.StatusUnauthorized, apiErr.Has(codeInvalidAccessToken), apiErr.Has(codeInvalidHeaders),
		apiErr.Has(codeInvalidAuthHeader), apiErr.Has(codeMissingAuth):
		return fmt.Errorf("%w: the API token was refused: %w", provider.ErrInvalidConfig, apiErr)
	case sdkErr.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %w", provider.ErrPermissionDenied, apiErr)
	}
	return apiErr
}

func apiErrorHas(err error, code int64) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Has(code)
}

func apiStatus(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

func (a *api) getBucket(ctx context.Context, name, jurisdiction string) error {
	var params cfr2.BucketGetParams
	set(&params.AccountID, a.accountID)
	set(&params.Jurisdiction, cfr2.BucketGetParamsCfR2Jurisdiction(jurisdiction))
	_, err := a.buckets.Get(ctx, name, params)
	if err != nil {
		return classify("get bucket", err)
	}
	return nil
}

func (a *api) createBucket(ctx context.Context, name, jurisdiction, locationHint string) error {
	var params cfr2.BucketNewParams
	set(&params.AccountID, a.accountID)
	set(&params.Name, name)
	set(&params.Jurisdiction, cfr2.BucketNewParamsCfR2Jurisdiction(jurisdiction))
	if locationHint != "" {
		set(&params.LocationHint, cfr2.BucketNewParamsLocationHint(locationHint))
	}
	if _, err := a.buckets.New(ctx, params); err != nil {
		return classify("create bucket", err)
	}
	return nil
}

func (a *api) deleteBucket(ctx context.Context, name, jurisdiction string) error {
	var params cfr2.BucketDeleteParams
	set(&params.AccountID, a.accountID)
	set(&params.Jurisdiction, cfr2.BucketDeleteParamsCfR2Jurisdiction(jurisdiction))
	_, err := a.buckets.Delete(ctx, name, params)
	if err != nil {
		return classify("delete bucket", err)
	}
	return nil
}

// managedDomainEnabled reads whether the bucket's r2.dev (R2-managed) domain serves its objects
// to anyone: GET accounts/{account_id}/r2/buckets/{bucket_name}/domains/managed.
func (a *api) managedDomainEnabled(ctx context.Context, name, jurisdiction string) (bool, error) {
	var params cfr2.BucketDomainManagedListParams
	set(&params.AccountID, a.accountID)
	set(&params.Jurisdiction, cfr2.BucketDomainManagedListParamsCfR2Jurisdiction(jurisdiction))
	res, err := a.buckets.Domains.Managed.List(ctx, name, params)
	if err != nil {
		return false, classify("get r2.dev domain", err)
	}
	if res.JSON.Enabled.IsMissing() || res.JSON.Enabled.IsNull() {
		return false, errors.New("cloudflare get r2.dev domain: the reply does not say whether the domain is enabled")
	}
	return res.Enabled, nil
}

// setManagedDomain turns the bucket's r2.dev domain on or off (PUT .../domains/managed with
// {"enabled": ...}) and returns the state Cloudflare reports afterwards.
func (a *api) setManagedDomain(ctx context.Context, name, jurisdiction string, enabled bool) (bool, error) {
	var params cfr2.BucketDomainManagedUpdateParams
	set(&params.AccountID, a.accountID)
	set(&params.Enabled, enabled)
	set(&params.Jurisdiction, cfr2.BucketDomainManagedUpdateParamsCfR2Jurisdiction(jurisdiction))
	res, err := a.buckets.Domains.Managed.Update(ctx, name, params)
	if err != nil {
		return false, classify("update r2.dev domain", err)
	}
	if res.JSON.Enabled.IsMissing() || res.JSON.Enabled.IsNull() {
		return false, errors.New("cloudflare update r2.dev domain: the reply does not say whether the domain is enabled")
	}
	return res.Enabled, nil
}

// listBucketsOne lists at most one bucket: a read-only check of the token's R2 permission.
func (a *api) listBucketsOne(ctx context.Context, jurisdiction string) error {
	var params cfr2.BucketListParams
	set(&params.AccountID, a.accountID)
	set(&params.PerPage, 1.0)
	set(&params.Jurisdiction, cfr2.BucketListParamsCfR2Jurisdiction(jurisdiction))
	_, err := a.buckets.List(ctx, params)
	if err != nil {
		return classify("list buckets", err)
	}
	return nil
}

// permissionGroupID looks a permission group up by its exact name.
func (a *api) permissionGroupID(ctx context.Context, name string) (string, error) {
	var params accounts.TokenPermissionGroupListParams
	set(&params.AccountID, a.accountID)
	set(&params.Name, name)
	page, err := a.tokens.PermissionGroups.List(ctx, params)
	if err != nil {
		return "", classify("list permission groups", err)
	}
	for _, g := range page.Result {
		if g.Name == name && g.ID != "" {
			return g.ID, nil
		}
	}
	return "", fmt.Errorf("%w: the account has no permission group named %q", provider.ErrInvalidConfig, name)
}

// tokenInfo is a listed or created token, without its value.
type tokenInfo struct {
	ID, Name  string
	ExpiresOn time.Time
}

// bucketPolicy is the one policy of a bucket token: allow one permission group on one resource.
func bucketPolicy(groupID, resource string) []shared.TokenPolicyParam {
	var group shared.TokenPolicyPermissionGroupParam
	set(&group.ID, groupID)
	var p shared.TokenPolicyParam
	set(&p.Effect, shared.TokenPolicyEffectAllow)
	set(&p.PermissionGroups, []shared.TokenPolicyPermissionGroupParam{group})
	set(&p.Resources, shared.TokenPolicyResourcesUnionParam(shared.TokenPolicyResourcesIAMResourcesTypeObjectStringParam{resource: "*"}))
	return []shared.TokenPolicyParam{p}
}

// createToken creates an account-owned token with one allow policy of one permission group on one
// resource, and returns it with its value (shown by Cloudflare only now).
func (a *api) createToken(ctx context.Context, name, groupID, resource string, expiresOn time.Time) (tokenInfo, string, error) {
	var params accounts.TokenNewParams
	set(&params.AccountID, a.accountID)
	set(&params.Name, name)
	set(&params.Policies, bucketPolicy(groupID, resource))
	if !expiresOn.IsZero() {
		set(&params.ExpiresOn, expiresOn.UTC())
	}
	tok, err := a.tokens.New(ctx, params)
	if err != nil {
		return tokenInfo{}, "", classify("create token", err)
	}
	if tok.ID == "" || tok.Value == "" {
		return tokenInfo{}, "", errors.New("cloudflare create token: the reply holds no token id or value")
	}
	return tokenInfo{ID: tok.ID, Name: tok.Name, ExpiresOn: tok.ExpiresOn}, string(tok.Value), nil
}

// tokensPerPage is the largest page Cloudflare serves (per_page: 5 to 50).
const tokensPerPage = 50

// listTokens lists every account-owned token, page by page as result_info says: the SDK's
// auto-pager would ask for one empty page more on every listing.
func (a *api) listTokens(ctx context.Context) ([]tokenInfo, error) {
	var out []tokenInfo
	for page := 1; ; page++ {
		var params accounts.TokenListParams
		set(&params.AccountID, a.accountID)
		set(&params.Page, float64(page))
		set(&params.PerPage, float64(tokensPerPage))
		res, err := a.tokens.List(ctx, params)
		if err != nil {
			return nil, classify("list tokens", err)
		}
		for _, t := range res.Result {
			out = append(out, tokenInfo{ID: t.ID, Name: t.Name, ExpiresOn: t.ExpiresOn})
		}
		// The SDK's result_info type lacks total_pages; it is kept among the extra fields.
		totalPages, _ := strconv.ParseInt(res.ResultInfo.JSON.ExtraFields["total_pages"].Raw(), 10, 64)
		if len(res.Result) < tokensPerPage || (totalPages > 0 && int64(page) >= totalPages) {
			return out, nil
		}
	}
}

// listTokensOne lists at most a few tokens: a read-only check of the token-management permission.
func (a *api) listTokensOne(ctx context.Context) error {
	var params accounts.TokenListParams
	set(&params.AccountID, a.accountID)
	set(&params.PerPage, 5.0)
	if _, err := a.tokens.List(ctx, params); err != nil {
		return classify("list tokens", err)
	}
	return nil
}

// tokenPolicy is one policy of a token as Cloudflare returns it.
type tokenPolicy struct {
	Effect           string
	PermissionGroups []string // ids
	// Resources maps each resource key to "*" or to nested resources (kept as raw JSON).
	Resources map[string]json.RawMessage
}

// getToken reads a token's policies (never its value). A missing token is an *APIError of status 404.
func (a *api) getToken(ctx context.Context, id string) (tokenInfo, []tokenPolicy, error) {
	var params accounts.TokenGetParams
	set(&params.AccountID, a.accountID)
	tok, err := a.tokens.Get(ctx, id, params)
	if err != nil {
		return tokenInfo{}, nil, classify("get token", err)
	}
	var policies []tokenPolicy
	for _, p := range tok.Policies {
		tp := tokenPolicy{Effect: string(p.Effect)}
		for _, g := range p.PermissionGroups {
			tp.PermissionGroups = append(tp.PermissionGroups, g.ID)
		}
		if err := json.Unmarshal([]byte(p.JSON.Resources.Raw()), &tp.Resources); err != nil {
			return tokenInfo{}, nil, fmt.Errorf("cloudflare get token: unreadable policy resources: %w", err)
		}
		policies = append(policies, tp)
	}
	return tokenInfo{ID: tok.ID, Name: tok.Name, ExpiresOn: tok.ExpiresOn}, policies, nil
}

// setTokenPolicy replaces a token's policies with the one bucket policy, keeping its name, expiry
// and value (so its S3 keys stay the same).
func (a *api) setTokenPolicy(ctx context.Context, tok tokenInfo, groupID, resource string) error {
	var params accounts.TokenUpdateParams
	set(&params.AccountID, a.accountID)
	set(&params.Token.Name, tok.Name)
	set(&params.Token.Policies, bucketPolicy(groupID, resource))
	if !tok.ExpiresOn.IsZero() {
		set(&params.Token.ExpiresOn, tok.ExpiresOn.UTC())
	}
	if _, err := a.tokens.Update(ctx, tok.ID, params); err != nil {
		return classify("update token", err)
	}
	return nil
}

// sessionKeys are temporary S3 credentials. Secret.
type sessionKeys struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// temporaryCredentials asks R2 for session keys on one bucket derived from the parent token. The
// SDK has no jurisdiction parameter here; the cf-r2-jurisdiction header the bucket calls use is
// sent anyway so a bucket outside the default jurisdiction is found [inference].
func (a *api) temporaryCredentials(ctx context.Context, bucket, jurisdiction, parentID, permission string, ttl time.Duration) (sessionKeys, error) {
	var params cfr2.TemporaryCredentialNewParams
	set(&params.AccountID, a.accountID)
	set(&params.TemporaryCredential.Bucket, bucket)
	set(&params.TemporaryCredential.ParentAccessKeyID, parentID)
	set(&params.TemporaryCredential.Permission, cfr2.TemporaryCredentialPermission(permission))
	set(&params.TemporaryCredential.TTLSeconds, ttl.Seconds())
	res, err := a.temps.New(ctx, params, option.WithHeader("cf-r2-jurisdiction", jurisdiction))
	if err != nil {
		return sessionKeys{}, classify("create temporary credentials", err)
	}
	if res.AccessKeyID == "" || res.SecretAccessKey == "" || res.SessionToken == "" {
		return sessionKeys{}, errors.New("cloudflare create temporary credentials: the reply lacks keys or a session token")
	}
	return sessionKeys{AccessKeyID: res.AccessKeyID, SecretAccessKey: res.SecretAccessKey, SessionToken: res.SessionToken}, nil
}

func (a *api) deleteToken(ctx context.Context, id string) error {
	var params accounts.TokenDeleteParams
	set(&params.AccountID, a.accountID)
	if _, err := a.tokens.Delete(ctx, id, params); err != nil {
		return classify("delete token", err)
	}
	return nil
}

// verify returns the id of the calling token: account-owned tokens answer on the account's verify
// endpoint, user tokens only on the user's.
func (a *api) verify(ctx context.Context) (string, error) {
	var params accounts.TokenVerifyParams
	set(&params.AccountID, a.accountID)
	res, err := a.tokens.Verify(ctx, params)
	if err == nil && res.ID != "" {
		return res.ID, nil
	}
	accountErr := classify("verify token", err)
	var rl *provider.RateLimitedError
	if errors.As(accountErr, &rl) {
		return "", accountErr
	}
	ures, uerr := a.userTokens.Verify(ctx)
	if uerr == nil && ures.ID != "" {
		return ures.ID, nil
	}
	if uerr == nil {
		return "", errors.New("cloudflare verify token: the reply holds no token id")
	}
	return "", accountErr
}
