package r2_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cf "github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/option"
	cfr2 "github.com/cloudflare/cloudflare-go/v7/r2"
	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/probe"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/providertest"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/r2"
	"github.com/tfstate-operator/tfstate-operator/internal/ratelimit"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakecloudflare"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

var srv *miniotest.Server

func TestMain(m *testing.M) { os.Exit(miniotest.RunTests(m, &srv)) }

// adminGroups are the permissions the README asks of the operator's API token.
var adminGroups = []string{"Workers R2 Storage Write", "Account API Tokens Write"}

// env is a fake Cloudflare account over the test's MinIO and an admin token of it.
type env struct {
	fake       *fakecloudflare.Server
	adminToken string
}

func newEnv(t *testing.T, cfg fakecloudflare.Config, groups ...string) *env {
	t.Helper()
	cfg.MinIO = srv
	f, err := fakecloudflare.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	if len(groups) == 0 {
		groups = adminGroups
	}
	_, value, err := f.AddToken("tfstate-operator-admin", groups...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: f, adminToken: value}
}

func (e *env) client(t *testing.T, jurisdiction string, acct *r2.Account) *r2.Client {
	t.Helper()
	if acct == nil {
		acct = r2.NewAccount(0)
	}
	c, err := r2.New(r2.Config{
		AccountID:    e.fake.AccountID(),
		Jurisdiction: jurisdiction,
		APIBaseURL:   e.fake.URL(),
		S3Endpoint:   e.fake.S3Endpoint(),
		APIToken:     e.adminToken,
	}, acct)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// requests counts the fake's recorded requests that match method and a path suffix.
func (e *env) requests(method, pathSuffix string) int {
	n := 0
	for _, r := range e.fake.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, pathSuffix) {
			n++
		}
	}
	return n
}

// clientWithBucket is a default-jurisdiction client and a bucket it created.
func (e *env) clientWithBucket(t *testing.T) (*r2.Client, string) {
	t.Helper()
	c, name := e.client(t, "default", nil), freshBucket(t)
	if err := c.CreateBucket(context.Background(), provider.BucketRequest{Name: name, Owner: provider.Owner{Namespace: "n", Name: "x", UID: "u"}}); err != nil {
		t.Fatal(err)
	}
	return c, name
}

var bucketSeq atomic.Int64

func freshBucket(*testing.T) string {
	return fmt.Sprintf("r2-%d-%d", time.Now().UnixNano()%1e6, bucketSeq.Add(1))
}

// data is the provider's S3 side: the test's MinIO.
func data() providertest.MinIODataPlane {
	return providertest.MinIODataPlane{Host: srv.Host, RootUser: srv.RootUser, RootPassword: srv.RootPassword, Region: r2.Region}
}

func s3As(t *testing.T, ak, sk string) *miniogo.Client { return data().Client(t, ak, sk) }

func (e *env) harness(t *testing.T) providertest.Harness {
	return providertest.Harness{Client: e.client(t, "default", nil), PutObject: data().PutObject(t), GetObject: data().GetObject(t), BucketName: freshBucket}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Harness { return newEnv(t, fakecloudflare.Config{}).harness(t) })
}

// TestQuotas: the account's documented caps, set low in the fake, are quota refusals.
func TestQuotas(t *testing.T) {
	providertest.RunQuotas(t, func(t *testing.T) providertest.QuotaHarness {
		return providertest.QuotaHarness{Harness: newEnv(t, fakecloudflare.Config{BucketLimit: 3, TokenQuota: 4}).harness(t), BucketLimit: 3, CredentialLimit: 4}
	})
}

// TestEnforcement: the tokens the provider issues, enforced by real S3 behind the fake.
func s3Harness(t *testing.T) providertest.S3Harness {
	return providertest.S3Harness{Harness: newEnv(t, fakecloudflare.Config{}).harness(t), S3: data().S3}
}

func TestEnforcement(t *testing.T) { providertest.RunEnforcement(t, s3Harness) }

func TestRotation(t *testing.T) { providertest.RunRotation(t, s3Harness) }

func TestSettingsFollowTheJurisdiction(t *testing.T) {
	const acct = "0123456789abcdef0123456789abcdef"
	cases := []struct {
		reason, jurisdiction, override, endpoint string
	}{
		{"no jurisdiction is the default one", "", "", "https://" + acct + ".r2.cloudflarestorage.com"},
		{"default", "default", "", "https://" + acct + ".r2.cloudflarestorage.com"},
		{"EU buckets are reachable only through the EU endpoint", "eu", "", "https://" + acct + ".eu.r2.cloudflarestorage.com"},
		{"FedRAMP buckets likewise", "fedramp", "", "https://" + acct + ".fedramp.r2.cloudflarestorage.com"},
		{"an override (proxy, tests) wins for every jurisdiction", "eu", "http://127.0.0.1:9000/", "http://127.0.0.1:9000"},
	}
	for _, tc := range cases {
		c, err := r2.New(r2.Config{AccountID: acct, Jurisdiction: tc.jurisdiction, S3Endpoint: tc.override, APIToken: "t"}, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.reason, err)
		}
		s := c.Settings()
		want := tc.jurisdiction
		if want == "" {
			want = "default"
		}
		if s.EndpointURL != tc.endpoint || s.Region != "auto" || !s.UsePathStyle || !s.S3Compatible || s.Encrypt || s.Versioning || s.Placement.Jurisdiction != want {
			t.Errorf("%s: settings = %+v, want endpoint %s, region auto, path style, S3-compatible flags, no encrypt, no versioning, jurisdiction %s", tc.reason, s, tc.endpoint, want)
		}
		if err := c.EnableVersioning(context.Background(), "b"); !errors.Is(err, provider.ErrNotSupported) {
			t.Errorf("%s: EnableVersioning err = %v, want ErrNotSupported (R2 has no versioning)", tc.reason, err)
		}
	}
}

func TestBadConfigIsInvalidConfig(t *testing.T) {
	good := r2.Config{AccountID: strings.Repeat("a", 32), APIToken: "t"}
	cases := []struct {
		reason string
		mutate func(*r2.Config)
	}{
		{"an account id that is not 32 hex characters", func(c *r2.Config) { c.AccountID = "ABC" }},
		{"an unknown jurisdiction", func(c *r2.Config) { c.Jurisdiction = "us" }},
		{"no API token", func(c *r2.Config) { c.APIToken = "" }},
		{"an API base URL without scheme", func(c *r2.Config) { c.APIBaseURL = "api.cloudflare.com" }},
		{"an S3 endpoint with a bucket path (a common paste from the dashboard)", func(c *r2.Config) { c.S3Endpoint = "https://x.r2.cloudflarestorage.com/tfstate" }},
	}
	for _, tc := range cases {
		cfg := good
		tc.mutate(&cfg)
		if _, err := r2.New(cfg, nil); !errors.Is(err, provider.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", tc.reason, err)
		}
	}
}

// TestIssuedTokenPolicyIsOneGroupOnOneBucket: what Cloudflare holds for an issued token is one allow
// policy of one bucket-scoped permission group on one bucket resource, and its S3 keys are R2's
// derivation (RunEnforcement proves what real S3 lets those keys do).
func TestIssuedTokenPolicyIsOneGroupOnOneBucket(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakecloudflare.Config{})
	c := e.client(t, "default", nil)
	own := freshBucket(t)
	if err := c.CreateBucket(ctx, provider.BucketRequest{Name: own, Owner: provider.Owner{Namespace: "n", Name: own, UID: own}}); err != nil {
		t.Fatal(err)
	}
	wantGroup := map[string]string{}
	for i, a := range []provider.Access{provider.ReadWrite, provider.ReadOnly} {
		cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: fmt.Sprintf("tfso-policy-%d", i), Bucket: own, Access: a})
		if err != nil {
			t.Fatal(err)
		}
		if cred.AccessKeyID != cred.ID || len(cred.SecretAccessKey) != 64 || cred.SecretAccessKey == r2.SecretAccessKey(e.adminToken) {
			t.Fatalf("S3 keys: access key %q (token id %q), secret of %d characters; want the token id and its own SHA-256 hex", cred.AccessKeyID, cred.ID, len(cred.SecretAccessKey))
		}
		wantGroup[cred.ID] = map[provider.Access]string{provider.ReadWrite: r2.PermissionGroupWrite, provider.ReadOnly: r2.PermissionGroupRead}[a]
	}
	resource := r2.BucketResource(e.fake.AccountID(), "default", own)
	for _, tok := range e.fake.Tokens() {
		group, ours := wantGroup[tok.ID]
		if !ours {
			continue
		}
		if !tok.OnlyAllows(group, resource) {
			t.Errorf("token %s policies = %+v, want one allow policy of %q on {%q: \"*\"}", tok.Name, tok.Policies, group, resource)
		}
		delete(wantGroup, tok.ID)
	}
	if len(wantGroup) != 0 {
		t.Fatalf("tokens %v not found at the fake", wantGroup)
	}
}

// TestJurisdictionTravelsOnEveryBucketCall: the cf-r2-jurisdiction header on every bucket call, the
// jurisdiction in the token's resource, and a bucket invisible from another jurisdiction.
func TestJurisdictionTravelsOnEveryBucketCall(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakecloudflare.Config{})
	eu := e.client(t, "eu", nil)
	name := freshBucket(t)
	if err := eu.CreateBucket(ctx, provider.BucketRequest{Name: name, Owner: provider.Owner{Namespace: "n", Name: "x", UID: "u"}}); err != nil {
		t.Fatal(err)
	}
	if obs, err := eu.ObserveBucket(ctx, name); err != nil || !obs.Exists || obs.Owner == nil {
		t.Fatalf("EU client observes %+v, %v; want its owned bucket", obs, err)
	}
	cred, err := eu.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-eu-1", Bucket: name, Access: provider.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	bucketCalls := 0
	for _, r := range e.fake.Requests() {
		if strings.Contains(r.Path, "/r2/buckets") {
			bucketCalls++
			if r.Jurisdiction != "eu" {
				t.Errorf("%s %s sent jurisdiction %q, want eu", r.Method, r.Path, r.Jurisdiction)
			}
		}
	}
	if bucketCalls < 2 {
		t.Fatalf("%d bucket calls recorded, want the create and the observe", bucketCalls)
	}
	if obs, err := e.client(t, "default", nil).ObserveBucket(ctx, name); err != nil || obs.Exists {
		t.Fatalf("default-jurisdiction client observes %+v, %v; want no bucket (R2 needs the jurisdiction header)", obs, err)
	}
	if err := eu.DeleteBucket(ctx, name); err != nil {
		t.Fatal(err)
	}
	if obs, err := eu.ObserveBucket(ctx, name); err != nil || obs.Exists {
		t.Fatalf("after DeleteBucket the EU client observes %+v, %v; want it gone", obs, err)
	}
	for _, tok := range e.fake.Tokens() {
		if tok.ID == cred.ID {
			want := r2.BucketResource(e.fake.AccountID(), "eu", name)
			if _, ok := tok.Policies[0].Resources[want]; !ok {
				t.Errorf("token resources %v, want %s", tok.Policies[0].Resources, want)
			}
		}
	}
}

func TestForeignAndMarkedBuckets(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakecloudflare.Config{})
	c := e.client(t, "default", nil)
	foreign := freshBucket(t)
	// A bucket somebody made with Cloudflare's own tools: no marker.
	buckets := cfr2.NewBucketService(option.WithBaseURL(e.fake.URL()), option.WithAPIToken(e.adminToken), option.WithMaxRetries(0))
	if _, err := buckets.New(ctx, cfr2.BucketNewParams{AccountID: cf.F(e.fake.AccountID()), Name: cf.F(foreign)}); err != nil {
		t.Fatal(err)
	}
	obs, err := c.ObserveBucket(ctx, foreign)
	if err != nil || !obs.Exists || obs.Owner != nil || obs.Versioning {
		t.Fatalf("foreign bucket observed as %+v, %v; want existing, unowned, unversioned", obs, err)
	}
	owner := provider.Owner{Namespace: "team-a", Name: "net", UID: "uid-9"}
	if err := c.MarkBucket(ctx, foreign, owner); err != nil {
		t.Fatal(err)
	}
	if obs, _ := c.ObserveBucket(ctx, foreign); obs.Owner == nil || *obs.Owner != owner {
		t.Fatalf("after MarkBucket owner = %+v, want %+v", obs.Owner, owner)
	}
	// A second CreateBucket is one request: the SDK's own retry of 409 is off.
	before := e.requests(http.MethodPost, "/r2/buckets")
	if err := c.CreateBucket(ctx, provider.BucketRequest{Name: foreign, Owner: owner}); !errors.Is(err, provider.ErrBucketNameTaken) {
		t.Fatalf("create of an existing bucket: err = %v, want ErrBucketNameTaken", err)
	}
	if n := e.requests(http.MethodPost, "/r2/buckets") - before; n != 1 {
		t.Fatalf("%d create requests for one CreateBucket, want 1 (no SDK retries)", n)
	}
}

// TestTokenQuotaIsAClearTerminalError: Cloudflare's 500-token account quota (3 here) surfaces as
// ErrQuotaExceeded that names the limit, never as a retry loop.
func TestTokenQuotaIsAClearTerminalError(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakecloudflare.Config{TokenQuota: 3})
	c, name := e.clientWithBucket(t)
	var err error
	for i := range 5 {
		if _, err = c.IssueCredential(ctx, provider.CredentialRequest{Name: fmt.Sprintf("tfso-q-%d", i), Bucket: name, Access: provider.ReadOnly}); err != nil {
			break
		}
	}
	if !errors.Is(err, provider.ErrQuotaExceeded) || !strings.Contains(err.Error(), "500") {
		t.Fatalf("err = %v, want ErrQuotaExceeded naming Cloudflare's limit of 500", err)
	}
	if strings.Contains(err.Error(), e.adminToken) {
		t.Fatal("the error carries the admin token")
	}
}

// TestThrottlingHonoursRetryAfterForTheWholeAccount: a 429 comes back as a RateLimitedError with
// Cloudflare's Retry-After, and no client of the account calls again before it has passed.
func TestThrottlingHonoursRetryAfterForTheWholeAccount(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakecloudflare.Config{})
	acct := r2.NewAccount(0)
	a, b := e.client(t, "default", acct), e.client(t, "eu", acct)
	e.fake.InjectThrottle(1, 42*time.Second)
	before := len(e.fake.Requests())
	_, err := a.ObserveBucket(ctx, "any-bucket")
	var rl *provider.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 42*time.Second {
		t.Fatalf("throttled call: err = %v, want RateLimitedError with RetryAfter 42s", err)
	}
	if _, err := b.ObserveBucket(ctx, "any-bucket"); !errors.As(err, &rl) || rl.RetryAfter <= 40*time.Second {
		t.Fatalf("another client of the account right after: err = %v, want RateLimitedError without calling", err)
	}
	if n := len(e.fake.Requests()) - before; n != 1 {
		t.Fatalf("%d requests reached Cloudflare, want 1: the SDK must not retry and the account must hold back", n)
	}
}

// TestClientSideLimiterIsSharedByTheAccount: the limit is the account's, so two clients of it (two
// reconciles, two jurisdictions) draw from one budget.
func TestClientSideLimiterIsSharedByTheAccount(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakecloudflare.Config{})
	acct := r2.NewAccountWithLimiter(ratelimit.New(10, 5*time.Minute).WithMaxWait(0))
	a, b := e.client(t, "default", acct), e.client(t, "eu", acct)
	if _, err := a.ListCredentials(ctx, "tfso-"); err != nil {
		t.Fatal(err)
	}
	before := len(e.fake.Requests())
	var rl *provider.RateLimitedError
	if _, err := b.ListCredentials(ctx, "tfso-"); !errors.As(err, &rl) || rl.RetryAfter <= 0 {
		t.Fatalf("second call of the account: err = %v, want a client-side RateLimitedError", err)
	}
	if n := len(e.fake.Requests()) - before; n != 0 {
		t.Fatalf("%d requests sent past the client-side limit, want 0", n)
	}
}

func TestPermissionGroupsAreLookedUpOnceByName(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakecloudflare.Config{})
	c, name := e.clientWithBucket(t)
	for i, a := range []provider.Access{provider.ReadWrite, provider.ReadWrite, provider.ReadOnly, provider.ReadOnly} {
		if _, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: fmt.Sprintf("tfso-pg-%d", i), Bucket: name, Access: a}); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.requests(http.MethodGet, "/tokens/permission_groups"); n != 2 {
		t.Fatalf("%d permission-group lookups for 4 tokens of 2 kinds, want 2 (cached by name)", n)
	}
}

func TestListCredentialsPagesThroughEveryToken(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakecloudflare.Config{})
	c, name := e.clientWithBucket(t)
	const n = 57
	for i := range n {
		if _, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: fmt.Sprintf("tfso-page-%02d", i), Bucket: name, Access: provider.ReadOnly}); err != nil {
			t.Fatal(err)
		}
	}
	before := e.requests(http.MethodGet, "/tokens")
	list, err := c.ListCredentials(ctx, "tfso-page-")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("ListCredentials found %d tokens, want %d (every page)", len(list), n)
	}
	if pages := e.requests(http.MethodGet, "/tokens") - before; pages != 2 {
		t.Fatalf("%d list requests for %d tokens, want 2 pages of 50", pages, n+1)
	}
}

// TestCheckNamesTheMissingPermission: the provider condition says which permission the admin token
// lacks, and a refused token is a configuration error, not a permission one.
func TestCheckNamesTheMissingPermission(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		reason  string
		groups  []string
		badTok  bool
		wantErr error
		mention string
	}{
		{"the documented permissions pass", adminGroups, false, nil, ""},
		{"without token management no bucket token can be issued", []string{"Workers R2 Storage Write"}, false, provider.ErrPermissionDenied, "Account API Tokens Write"},
		{"without R2 storage no bucket can be created", []string{"Account API Tokens Write"}, false, provider.ErrPermissionDenied, "Workers R2 Storage Write"},
		{"a token Cloudflare does not know (403 code 9109)", adminGroups, true, provider.ErrInvalidConfig, "refused"},
		{"a malformed token (400 code 6003, 6111 in its chain)", adminGroups, true, provider.ErrInvalidConfig, "refused"},
	}
	for _, tc := range cases {
		e := newEnv(t, fakecloudflare.Config{}, tc.groups...)
		if tc.badTok {
			e.adminToken = "cfat_not-a-token-of-this-account"
			if strings.Contains(tc.reason, "malformed") {
				e.adminToken = "cfat not;a token"
			}
		}
		err := e.client(t, "default", nil).Check(ctx)
		switch {
		case tc.wantErr == nil && err != nil:
			t.Errorf("%s: %v", tc.reason, err)
		case tc.wantErr != nil && (!errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.mention)):
			t.Errorf("%s: err = %v, want %v mentioning %q", tc.reason, err, tc.wantErr, tc.mention)
		case tc.badTok && errors.Is(err, provider.ErrPermissionDenied):
			t.Errorf("%s: a refused token reported as a missing permission: %v", tc.reason, err)
		}
		if err != nil && strings.Contains(err.Error(), e.adminToken) {
			t.Errorf("%s: the error carries the API token", tc.reason)
		}
	}
}

// TestNewTokensArePropagatedBeforeUse: R2 takes up to a minute to accept a new token; the real
// prober reports it as not yet valid (the controller waits) and proves it once it propagated.
func TestNewTokensArePropagatedBeforeUse(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakecloudflare.Config{PropagationDelay: 2 * time.Second})
	c, name := e.clientWithBucket(t)
	cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-prop-1", Bucket: name, Access: provider.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	impatient := probe.New(probe.WithPropagationWindow(0))
	if _, err := impatient.Probe(ctx, c.Settings(), name, cred, provider.ReadWrite); !errors.Is(err, provider.ErrCredentialNotYetValid) {
		t.Fatalf("probe of a token that has not propagated: err = %v, want ErrCredentialNotYetValid", err)
	}
	res, err := probe.New(probe.WithPropagationWindow(30*time.Second)).Probe(ctx, c.Settings(), name, cred, provider.ReadWrite)
	if err != nil {
		t.Fatalf("probe after propagation: %v", err)
	}
	if !res.ConditionalWrites {
		t.Error("conditional writes not detected: use_lockfile would be left out")
	}
}

// TestGrantRepair: a token whose policy an administrator widened in the dashboard (a PUT of the
// token with a second bucket) is put back to its one bucket, keeping its value.
func TestGrantRepair(t *testing.T) {
	providertest.RunGrantRepair(t, func(t *testing.T) providertest.GrantHarness {
		e := newEnv(t, fakecloudflare.Config{})
		h := providertest.S3Harness{Harness: e.harness(t), S3: data().S3}
		widen := func(t *testing.T, cred provider.Credential, own, other string) {
			t.Helper()
			acct := e.fake.AccountID()
			policies := fmt.Sprintf(`[{"effect":"allow","permission_groups":[{"id":%q}],"resources":{%q:"*",%q:"*"}}]`,
				fakecloudflare.PermissionGroupID(r2.PermissionGroupWrite), r2.BucketResource(acct, "default", own), r2.BucketResource(acct, "default", other))
			if status, err := e.fake.UpdateTokenPolicies(e.adminToken, cred.ID, []byte(policies)); err != nil || status != http.StatusOK {
				t.Fatalf("widening the token out of band: HTTP %d, %v", status, err)
			}
		}
		return providertest.GrantHarness{S3Harness: h, Widen: widen}
	})
}

// movableClock is a clock a test moves forward, shared by the provider and the fake.
type movableClock struct{ offset atomic.Int64 }

func (c *movableClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *movableClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// TestTemporaryCredentials: a temporary request returns R2 session keys derived from a parent
// token. Real S3 (behind the fake) needs the session token, confines the keys to the bucket and
// access, and stops accepting them when the parent is revoked or expires.
func TestTemporaryCredentials(t *testing.T) {
	ctx := context.Background()
	clock := &movableClock{}
	e := newEnv(t, fakecloudflare.Config{Now: clock.Now})
	c, err := r2.New(r2.Config{AccountID: e.fake.AccountID(), APIBaseURL: e.fake.URL(), S3Endpoint: e.fake.S3Endpoint(), APIToken: e.adminToken, Now: clock.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	own, other := freshBucket(t), freshBucket(t)
	for _, b := range []string{own, other} {
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: b, Owner: provider.Owner{Namespace: "n", Name: b, UID: b}}); err != nil {
			t.Fatal(err)
		}
	}
	prefix := fmt.Sprintf("tfso-%x-", time.Now().UnixNano()&0xffffffff)
	issue := func(name string, a provider.Access, life time.Duration) provider.Credential {
		t.Helper()
		cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: prefix + name, Bucket: own, Access: a, Temporary: true, ExpiresAt: clock.Now().Add(life).Truncate(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}
	rw, ro := issue("rw", provider.ReadWrite, time.Hour), issue("ro", provider.ReadOnly, time.Hour)

	t.Run("the reply is session keys derived from a listed parent token that expires with them", func(t *testing.T) {
		if rw.SessionToken == "" || rw.AccessKeyID == rw.ID || rw.ExpiresAt.IsZero() {
			t.Fatalf("credential = {ID %s, AccessKeyID %s, session token set %v, expires %v}, want session keys distinct from the parent id, with an expiry",
				rw.ID, rw.AccessKeyID, rw.SessionToken != "", rw.ExpiresAt)
		}
		live, err := c.ListCredentials(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != 2 {
			t.Fatalf("listed %d credentials, want the two parents", len(live))
		}
		parent := findToken(e.fake, rw.ID)
		if parent == nil || !parent.ExpiresOn.Equal(rw.ExpiresAt) || !parent.OnlyAllows(r2.PermissionGroupWrite, r2.BucketResource(e.fake.AccountID(), "default", own)) {
			t.Fatalf("parent token = %+v, want the bucket's write group only, expiring at %v", parent, rw.ExpiresAt)
		}
		temps := e.fake.TemporaryCredentials()
		if len(temps) != 2 || temps[0].Permission != "object-read-write" || temps[1].Permission != "object-read-only" ||
			temps[0].TTL < time.Hour-2*time.Second || temps[0].TTL > time.Hour {
			t.Fatalf("temporary credentials asked for = %+v, want object-read-write then object-read-only, for what is left of 1h", temps)
		}
	})

	put := func(cl *miniogo.Client, bucket string) error {
		_, err := cl.PutObject(ctx, bucket, "state", strings.NewReader("x"), 1, miniogo.PutObjectOptions{})
		return err
	}
	withoutToken := rw
	withoutToken.SessionToken = ""
	cases := []struct {
		reason  string
		cred    provider.Credential
		bucket  string
		allowed bool
	}{
		{"read-write session keys write their bucket", rw, own, true},
		{"read-write session keys are refused another bucket", rw, other, false},
		{"read-only session keys cannot write", ro, own, false},
		{"session keys without their session token are refused", withoutToken, own, false},
	}
	for _, tc := range cases {
		err := put(data().S3(t, tc.cred), tc.bucket)
		if tc.allowed != (err == nil) {
			t.Errorf("%s: err = %v", tc.reason, err)
		}
	}

	t.Run("revoking the parent ends the session at once", func(t *testing.T) {
		if err := c.RevokeCredential(ctx, ro.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := data().S3(t, ro).ListBuckets(ctx); err == nil {
			t.Fatal("session keys of a revoked parent still authenticate")
		}
	})
	t.Run("the parent's expiry ends the session", func(t *testing.T) {
		clock.Advance(time.Hour + time.Second)
		if err := e.fake.ExpireDue(); err != nil {
			t.Fatal(err)
		}
		if err := put(data().S3(t, rw), own); err == nil {
			t.Fatal("session keys still write an hour after they expired")
		}
	})
	t.Run("an expiry beyond R2's seven days is refused before any call", func(t *testing.T) {
		before := len(e.fake.Requests())
		_, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: prefix + "long", Bucket: own, Access: provider.ReadWrite, Temporary: true, ExpiresAt: clock.Now().Add(8 * 24 * time.Hour)})
		if !errors.Is(err, provider.ErrInvalidConfig) || len(e.fake.Requests()) != before {
			t.Fatalf("err = %v after %d calls, want ErrInvalidConfig and none", err, len(e.fake.Requests())-before)
		}
	})
}

// TestExpiredTokenRefusedOnS3: R2 stops accepting a token at its expires_on; the fake does the
// same on its S3 data plane, which the controller's renewal is tested against.
func TestExpiredTokenRefusedOnS3(t *testing.T) {
	ctx := context.Background()
	clock := &movableClock{}
	e := newEnv(t, fakecloudflare.Config{Now: clock.Now})
	c, bucket := e.clientWithBucket(t)
	cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-expiring", Bucket: bucket, Access: provider.ReadWrite, ExpiresAt: clock.Now().Add(10 * time.Minute).Truncate(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	list := func() error { _, err := data().S3(t, cred).BucketExists(ctx, bucket); return err }
	if err := list(); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	clock.Advance(9 * time.Minute)
	if err := e.fake.ExpireDue(); err != nil {
		t.Fatal(err)
	}
	if err := list(); err != nil {
		t.Fatalf("a minute before expiry: %v", err)
	}
	clock.Advance(time.Minute)
	if err := e.fake.ExpireDue(); err != nil {
		t.Fatal(err)
	}
	if err := list(); err == nil {
		t.Fatal("the token's S3 keys still work at its expires_on")
	}
	live, err := c.ListCredentials(ctx, "tfso-expiring")
	if err != nil || len(live) != 1 {
		t.Fatalf("an expired token stays listed until deleted (as on Cloudflare): %v, %v", live, err)
	}
}

func findToken(f *fakecloudflare.Server, id string) *fakecloudflare.Token {
	for _, tok := range f.Tokens() {
		if tok.ID == id {
			return &tok
		}
	}
	return nil
}

// setManagedDomain turns a bucket's r2.dev domain on or off the way the dashboard does: a PUT of
// the Cloudflare API with the admin token, never through the Client under test.
func (e *env) setManagedDomain(t *testing.T, jurisdiction, bucket string, enabled bool) {
	t.Helper()
	body := fmt.Sprintf(`{"enabled":%t}`, enabled)
	req, err := http.NewRequest(http.MethodPut, e.fake.URL()+"accounts/"+e.fake.AccountID()+"/r2/buckets/"+bucket+"/domains/managed", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.adminToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("cf-r2-jurisdiction", jurisdiction)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT r2.dev domain of %s: HTTP %d %s", bucket, resp.StatusCode, raw)
	}
}

// anonymousGet reads bucket/key without credentials, as the public reads an r2.dev domain (the
// fake serves those reads on the S3 endpoint).
func anonymousGet(t *testing.T, bucket, key string) error {
	t.Helper()
	resp, err := http.Get(srv.Endpoint + "/" + bucket + "/" + key)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("anonymous GET %s/%s: HTTP %d", bucket, key, resp.StatusCode)
	}
	return nil
}

// TestBucketAccessRepair: a bucket whose r2.dev domain was enabled out of band is readable by
// anyone until RepairBucketAccess turns the domain off.
func TestBucketAccessRepair(t *testing.T) {
	providertest.RunBucketAccessRepair(t, func(t *testing.T) providertest.AccessHarness {
		e := newEnv(t, fakecloudflare.Config{})
		return providertest.AccessHarness{
			Harness:      e.harness(t),
			Expose:       func(t *testing.T, bucket string) { e.setManagedDomain(t, "default", bucket, true) },
			AnonymousGet: anonymousGet,
		}
	})
}

// TestBucketAccessRepairDetails: the repair follows the client's jurisdiction, needs Workers R2
// Storage Write (a read-only token is told so and changes nothing), and one read is all a private
// bucket costs.
func TestBucketAccessRepairDetails(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakecloudflare.Config{})
	eu := e.client(t, "eu", nil)
	name := freshBucket(t)
	if err := eu.CreateBucket(ctx, provider.BucketRequest{Name: name, Owner: provider.Owner{Namespace: "n", Name: "x", UID: "u"}}); err != nil {
		t.Fatal(err)
	}

	before := len(e.fake.Requests())
	if got, err := eu.RepairBucketAccess(ctx, name); err != nil || got {
		t.Fatalf("repair of a private bucket = %v, %v; want false, nil", got, err)
	}
	if n := len(e.fake.Requests()) - before; n != 1 {
		t.Errorf("repair of a private bucket made %d API calls, want 1 (the read)", n)
	}

	e.setManagedDomain(t, "eu", name, true)
	if got, err := e.client(t, "default", nil).RepairBucketAccess(ctx, name); err != nil || got {
		t.Fatalf("default-jurisdiction repair of an EU bucket = %v, %v; want false, nil (not its bucket)", got, err)
	}
	if _, enabled, _ := e.fake.ManagedDomain(name); !enabled {
		t.Fatal("a client of another jurisdiction turned the domain off")
	}

	_, readOnly, err := e.fake.AddToken("read-only", "Workers R2 Storage Read")
	if err != nil {
		t.Fatal(err)
	}
	ro, err := r2.New(r2.Config{AccountID: e.fake.AccountID(), Jurisdiction: "eu", APIBaseURL: e.fake.URL(), S3Endpoint: e.fake.S3Endpoint(), APIToken: readOnly}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ro.RepairBucketAccess(ctx, name); !errors.Is(err, provider.ErrPermissionDenied) || got {
		t.Fatalf("repair with a read-only token = %v, %v; want ErrPermissionDenied", got, err)
	}
	if _, enabled, _ := e.fake.ManagedDomain(name); !enabled {
		t.Fatal("a refused repair changed the domain")
	}

	if got, err := eu.RepairBucketAccess(ctx, name); err != nil || !got {
		t.Fatalf("repair of an exposed EU bucket = %v, %v; want true, nil", got, err)
	}
	if _, enabled, _ := e.fake.ManagedDomain(name); enabled {
		t.Fatal("the r2.dev domain is still enabled after the repair")
	}
	for _, r := range e.fake.Requests() {
		if strings.HasSuffix(r.Path, "/domains/managed") && r.TokenID != "" && r.Jurisdiction == "" {
			t.Errorf("%s %s sent no jurisdiction", r.Method, r.Path)
		}
	}
}

// TestARefusedTokenIsNotAMissingPermission: on the account's endpoints Cloudflare answers a
// revoked, expired or unknown token with 403 code 9109 and a malformed one with 400 code 6003
// (6111 in its error_chain), not 401: both are a refused token (ProviderInvalid), never a
// missing permission, which is 403 code 10000.
func TestARefusedTokenIsNotAMissingPermission(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		reason, token string
	}{
		{"a token Cloudflare does not know: 403 code 9109", "cfat_not-a-token-of-this-account"},
		{"a malformed token: 400 code 6003", "cfat not;a token"},
	} {
		e := newEnv(t, fakecloudflare.Config{})
		e.adminToken = tc.token
		_, err := e.client(t, "default", nil).ObserveBucket(ctx, "any-bucket")
		if !errors.Is(err, provider.ErrInvalidConfig) || errors.Is(err, provider.ErrPermissionDenied) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: ObserveBucket = %v, want a refused token (ErrInvalidConfig, not ErrPermissionDenied)", tc.reason, err)
		}
	}
}

// TestTemporaryCredentialsOfAParentThatHasNotPropagated: R2 takes a while to accept a new token,
// so the temporary credentials asked of a parent made a moment ago are asked again of the same
// parent until it works, within the propagation timeout; one parent is made, not one per try. Past
// the timeout the parent is deleted and the refusal is retryable.
func TestTemporaryCredentialsOfAParentThatHasNotPropagated(t *testing.T) {
	ctx := context.Background()
	issue := func(e *env, timeout time.Duration) (provider.Credential, string, error) {
		t.Helper()
		c, err := r2.New(r2.Config{AccountID: e.fake.AccountID(), APIBaseURL: e.fake.URL(), S3Endpoint: e.fake.S3Endpoint(), APIToken: e.adminToken, PropagationTimeout: timeout}, nil)
		if err != nil {
			t.Fatal(err)
		}
		bucket := freshBucket(t)
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: bucket, Owner: provider.Owner{Namespace: "n", Name: bucket, UID: bucket}}); err != nil {
			t.Fatal(err)
		}
		cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-fresh-parent", Bucket: bucket, Access: provider.ReadWrite, Temporary: true, ExpiresAt: time.Now().Add(time.Hour)})
		return cred, bucket, err
	}
	parents := func(e *env) (live int) {
		for _, tok := range e.fake.Tokens() {
			if tok.Name == "tfso-fresh-parent" {
				live++
			}
		}
		return live
	}

	t.Run("within the timeout the same parent is asked again", func(t *testing.T) {
		e := newEnv(t, fakecloudflare.Config{PropagationDelay: 3 * time.Second})
		cred, bucket, err := issue(e, 30*time.Second)
		if err != nil {
			t.Fatalf("temporary credentials of a parent that propagates in 3 s: %v", err)
		}
		if made := e.requests(http.MethodPost, "/tokens"); made != 1 {
			t.Errorf("%d tokens made, want the one parent", made)
		}
		if n := parents(e); n != 1 {
			t.Errorf("%d live parents, want 1", n)
		}
		if asked := e.requests(http.MethodPost, "/r2/temp-access-credentials"); asked < 2 {
			t.Errorf("temporary credentials asked %d times: the fake's delay was not met, the test proves nothing", asked)
		}
		s3 := s3WithSession(t, cred)
		if err := s3PutGet(ctx, s3, bucket); err != nil {
			t.Fatalf("the session keys do not work: %v", err)
		}
	})
	t.Run("past the timeout the parent is deleted and the error is retryable", func(t *testing.T) {
		e := newEnv(t, fakecloudflare.Config{PropagationDelay: time.Minute})
		_, _, err := issue(e, 2*time.Second)
		if err == nil || errors.Is(err, provider.ErrInvalidConfig) || errors.Is(err, provider.ErrPermissionDenied) || errors.Is(err, provider.ErrQuotaExceeded) {
			t.Fatalf("err = %v, want a retryable error", err)
		}
		if n := parents(e); n != 0 {
			t.Errorf("%d live parents left, want none", n)
		}
	})
}

func s3WithSession(t *testing.T, cred provider.Credential) *miniogo.Client {
	t.Helper()
	c, err := miniogo.New(srv.Host, &miniogo.Options{Creds: credentials.NewStaticV4(cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func s3PutGet(ctx context.Context, c *miniogo.Client, bucket string) error {
	if _, err := c.PutObject(ctx, bucket, "k/terraform.tfstate", strings.NewReader("{}"), 2, miniogo.PutObjectOptions{}); err != nil {
		return err
	}
	o, err := c.GetObject(ctx, bucket, "k/terraform.tfstate", miniogo.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer o.Close()
	_, err = io.ReadAll(o)
	return err
}
