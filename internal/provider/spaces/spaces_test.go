package spaces_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	miniogo "github.com/minio/minio-go/v7"

	"github.com/tfstate-operator/tfstate-operator/internal/naming"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/providertest"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/spaces"
	"github.com/tfstate-operator/tfstate-operator/internal/ratelimit"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakedigitalocean"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

var srv *miniotest.Server

func TestMain(m *testing.M) { os.Exit(miniotest.RunTests(m, &srv)) }

// env is a fake DigitalOcean account over the test's MinIO, an API token of it, and the provider
// UID its clients mint their full-access key for.
type env struct {
	fake  *fakedigitalocean.Server
	token string
	uid   string
	clock *clock
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var seq atomic.Int64

func newEnv(t *testing.T, cfg fakedigitalocean.Config, scopes ...string) *env {
	t.Helper()
	cfg.MinIO = srv
	f, err := fakedigitalocean.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return &env{fake: f, token: f.AddToken("tfstate-operator", scopes...), uid: fmt.Sprintf("provider-uid-%d", seq.Add(1)), clock: &clock{now: time.Now()}}
}

func (e *env) config() spaces.Config {
	return spaces.Config{
		Region:         "fra1",
		APIBaseURL:     e.fake.URL(),
		S3Endpoint:     e.fake.S3Endpoint(),
		APIToken:       e.token,
		AdminKeyPrefix: naming.AdminKeyPrefix(e.uid),
	}
}

func (e *env) account() *spaces.Account {
	return spaces.NewAccountWith(e.clock.Now, ratelimit.New(250, time.Minute))
}

func (e *env) client(t *testing.T, acct *spaces.Account) *spaces.Client {
	t.Helper()
	if acct == nil {
		acct = e.account()
	}
	c, err := spaces.New(e.config(), acct)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// adminKeys are the live keys named for this env's provider.
func (e *env) adminKeys() []fakedigitalocean.Key {
	var out []fakedigitalocean.Key
	for _, k := range e.fake.Keys() {
		if strings.HasPrefix(k.Name, naming.AdminKeyPrefix(e.uid)) {
			out = append(out, k)
		}
	}
	return out
}

func (e *env) requests(method, path string) int {
	n := 0
	for _, r := range e.fake.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

func freshBucket(*testing.T) string {
	return fmt.Sprintf("do-%d-%d", time.Now().UnixNano()%1e6, seq.Add(1))
}

// data is the provider's S3 side: the test's MinIO.
func data() providertest.MinIODataPlane {
	return providertest.MinIODataPlane{Host: srv.Host, RootUser: srv.RootUser, RootPassword: srv.RootPassword, Region: spaces.Region}
}

func s3As(t *testing.T, ak, sk string) *miniogo.Client { return data().Client(t, ak, sk) }

func (e *env) harness(t *testing.T) providertest.Harness {
	return providertest.Harness{Client: e.client(t, nil), PutObject: data().PutObject(t), BucketName: freshBucket}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Harness { return newEnv(t, fakedigitalocean.Config{}).harness(t) })
}

// TestRotation runs 100 rotations; the limits are raised so that the test does not wait a minute
// for DigitalOcean's 250 requests per minute (TestThrottling* cover those).
func TestRotation(t *testing.T) {
	providertest.RunRotation(t, func(t *testing.T) providertest.S3Harness {
		e := newEnv(t, fakedigitalocean.Config{PerMinute: 100000, PerHour: 1000000})
		acct := spaces.NewAccountWith(e.clock.Now, ratelimit.New(100000, time.Minute))
		return providertest.S3Harness{
			Harness: providertest.Harness{Client: e.client(t, acct), PutObject: data().PutObject(t), BucketName: freshBucket},
			S3:      data().S3,
		}
	})
}

// TestEnforcement: the keys the provider issues, enforced by real S3 behind the fake.
func TestEnforcement(t *testing.T) {
	providertest.RunEnforcement(t, func(t *testing.T) providertest.S3Harness {
		return providertest.S3Harness{
			Harness: newEnv(t, fakedigitalocean.Config{}).harness(t),
			S3:      data().S3,
		}
	})
}

// TestIssuedKeyHasOneBucketGrant: what DigitalOcean holds for an issued key is one grant, on the
// backend's bucket, with the access's permission (RunEnforcement proves what S3 lets it do).
func TestIssuedKeyHasOneBucketGrant(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakedigitalocean.Config{})
	c := e.client(t, nil)
	bucket := freshBucket(t)
	if err := c.CreateBucket(ctx, provider.BucketRequest{Name: bucket, Owner: provider.Owner{Namespace: "n", Name: "x", UID: "u"}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		reason string
		access provider.Access
		want   string
	}{
		{"a writer's key may read and write the bucket", provider.ReadWrite, "readwrite"},
		{"a reader's key may only read it", provider.ReadOnly, "read"},
	}
	for _, tc := range cases {
		cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-grant-" + tc.want, Bucket: bucket, Access: tc.access})
		if err != nil {
			t.Fatal(err)
		}
		var got *fakedigitalocean.Key
		for _, k := range e.fake.Keys() {
			if k.AccessKey == cred.AccessKeyID {
				got = &k
			}
		}
		if got == nil || got.Name != "tfso-grant-"+tc.want || len(got.Grants) != 1 ||
			got.Grants[0] != (fakedigitalocean.Grant{Bucket: bucket, Permission: tc.want}) || cred.ID != cred.AccessKeyID {
			t.Errorf("%s: DigitalOcean holds %+v for credential %+v; want one %s grant on %s, id = access key", tc.reason, got, cred.ID, tc.want, bucket)
		}
	}
}

func TestSettingsFollowDigitalOceansTerraformGuide(t *testing.T) {
	cases := []struct {
		reason, override, endpoint string
	}{
		{"the regional endpoint", "", "https://fra1.digitaloceanspaces.com"},
		{"an override (proxy, tests) wins", "http://127.0.0.1:9000/", "http://127.0.0.1:9000"},
	}
	for _, tc := range cases {
		c, err := spaces.New(spaces.Config{Region: "fra1", S3Endpoint: tc.override, APIToken: "t", AdminKeyPrefix: "p-"}, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.reason, err)
		}
		s := c.Settings()
		if s.EndpointURL != tc.endpoint || s.Region != "us-east-1" || !s.UsePathStyle || !s.S3Compatible || s.Encrypt || !s.Versioning || s.Placement != (provider.Placement{}) {
			t.Errorf("%s: settings = %+v, want endpoint %s, region us-east-1, path style, the S3-compatible flags, no encrypt, versioning", tc.reason, s, tc.endpoint)
		}
	}
}

func TestBadConfigIsInvalidConfig(t *testing.T) {
	good := spaces.Config{Region: "nyc3", APIToken: "t", AdminKeyPrefix: "p-"}
	cases := []struct {
		reason string
		mutate func(*spaces.Config)
	}{
		{"a region that is not a slug", func(c *spaces.Config) { c.Region = "NYC3" }},
		{"an AWS region name", func(c *spaces.Config) { c.Region = "us-east-1" }},
		{"no API token", func(c *spaces.Config) { c.APIToken = "" }},
		{"an API base URL without scheme", func(c *spaces.Config) { c.APIBaseURL = "api.digitalocean.com" }},
		{"an S3 endpoint with a bucket path", func(c *spaces.Config) { c.S3Endpoint = "https://fra1.digitaloceanspaces.com/tfstate" }},
		{"half a full-access key", func(c *spaces.Config) { c.AdminAccessKeyID = "DO00" }},
		{"neither a full-access key nor a prefix to mint one under", func(c *spaces.Config) { c.AdminKeyPrefix = "" }},
	}
	for _, tc := range cases {
		cfg := good
		tc.mutate(&cfg)
		if _, err := spaces.New(cfg, nil); !errors.Is(err, provider.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", tc.reason, err)
		}
	}
}

// TestFullAccessKeyIsMintedOnceAndKeptInMemory: concurrent reconciles of one provider mint one
// full-access key, reuse it, and later clients of the same Account (the same provider) too.
func TestFullAccessKeyIsMintedOnceAndKeptInMemory(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakedigitalocean.Config{})
	acct := e.account()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.client(t, acct).ObserveBucket(ctx, "no-such-bucket-here")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client(t, acct).ObserveBucket(ctx, "no-such-bucket-here"); err != nil {
		t.Fatal(err)
	}
	keys := e.adminKeys()
	if len(keys) != 1 || len(keys[0].Grants) != 1 || keys[0].Grants[0].Permission != "fullaccess" {
		t.Fatalf("admin keys = %+v, want exactly one full-access key", keys)
	}
	if n := e.requests(http.MethodPost, "/v2/spaces/keys"); n != 1 {
		t.Fatalf("%d key creations for 9 bucket calls, want 1", n)
	}
}

// TestFullAccessKeyLifecycle: a key a crashed process left is revoked when the next process mints
// its own; the key is replaced once it is AdminKeyMaxAge old; a key revoked out of band is minted
// again; Release revokes it; keys of other providers and tools are never touched.
func TestFullAccessKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakedigitalocean.Config{})
	other := newEnvSharing(e, "another-provider")
	otherKey := other.mintVia(t)
	stranger, err := e.client(t, nil).IssueCredential(ctx, provider.CredentialRequest{Name: "someone-elses-key", Bucket: "b", Access: provider.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}

	crashed := e.mintVia(t) // a process that minted, then died
	acct := e.account()     // the next process
	c := e.client(t, acct)
	if _, err := c.ObserveBucket(ctx, "absent-bucket"); err != nil {
		t.Fatal(err)
	}
	live := e.adminKeys()
	if len(live) != 1 || live[0].AccessKey == crashed {
		t.Fatalf("after the restart admin keys = %+v, want one new key and the crashed process's %s revoked", live, crashed)
	}
	first := live[0].AccessKey

	e.clock.Add(spaces.AdminKeyMaxAge)
	if _, err := c.ObserveBucket(ctx, "absent-bucket"); err != nil {
		t.Fatal(err)
	}
	if live := e.adminKeys(); len(live) != 1 || live[0].AccessKey == first {
		t.Fatalf("after %s admin keys = %+v, want one key replacing %s", spaces.AdminKeyMaxAge, live, first)
	}
	second := e.adminKeys()[0].AccessKey

	// Revoked out of band: refused as "not yet valid" within the propagation window, then minted again.
	if err := c.RevokeCredential(ctx, second); err != nil {
		t.Fatal(err)
	}
	c = e.client(t, acct)
	_, err = c.ObserveBucket(ctx, "absent-bucket")
	if err == nil || errors.Is(err, provider.ErrInvalidConfig) || !strings.Contains(err.Error(), "not accept") {
		t.Fatalf("a refused key minted just now: err = %v, want a transient 'not accepted yet' error", err)
	}
	e.clock.Add(spaces.AdminKeyPropagation)
	if _, err = c.ObserveBucket(ctx, "absent-bucket"); err == nil || errors.Is(err, provider.ErrInvalidConfig) {
		t.Fatalf("a refused key minted %s ago: err = %v, want a transient error that forgets the key", spaces.AdminKeyPropagation, err)
	}
	if _, err := c.ObserveBucket(ctx, "absent-bucket"); err != nil {
		t.Fatalf("after forgetting a revoked key: %v, want a new key minted and used", err)
	}
	if live := e.adminKeys(); len(live) != 1 || live[0].AccessKey == second {
		t.Fatalf("admin keys = %+v, want one new key", live)
	}

	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if live := e.adminKeys(); len(live) != 0 {
		t.Fatalf("after Release admin keys = %+v, want none", live)
	}
	var left []string
	for _, k := range e.fake.Keys() {
		left = append(left, k.AccessKey)
	}
	if !contains(left, otherKey) || !contains(left, stranger.AccessKeyID) {
		t.Fatalf("live keys %v: another provider's key %s or a stranger's %s was revoked", left, otherKey, stranger.AccessKeyID)
	}
}

// newEnvSharing is another provider object (another UID) on the same DigitalOcean account.
func newEnvSharing(e *env, uid string) *env {
	return &env{fake: e.fake, token: e.token, uid: uid, clock: e.clock}
}

// mintVia mints a full-access key as a process of e's provider would, and returns its access key.
func (e *env) mintVia(t *testing.T) string {
	t.Helper()
	before := map[string]bool{}
	for _, k := range e.adminKeys() {
		before[k.AccessKey] = true
	}
	if _, err := e.client(t, nil).ObserveBucket(context.Background(), "absent-bucket"); err != nil {
		t.Fatal(err)
	}
	for _, k := range e.adminKeys() {
		if !before[k.AccessKey] {
			return k.AccessKey
		}
	}
	t.Fatal("no key minted")
	return ""
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestGivenFullAccessKeyIsUsedAndNothingIsMinted: a user may hand the operator a full-access key in
// the credentials Secret; then no key is minted, Release revokes nothing, and a refused given key is
// a configuration error.
func TestGivenFullAccessKeyIsUsedAndNothingIsMinted(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakedigitalocean.Config{})
	godoClient := godo.NewFromToken(e.token)
	godoClient.BaseURL.Host = strings.TrimSuffix(strings.TrimPrefix(e.fake.URL(), "http://"), "/")
	godoClient.BaseURL.Scheme = "http"
	given, _, err := godoClient.SpacesKeys.Create(ctx, &godo.SpacesKeyCreateRequest{Name: "my-own-admin-key", Grants: []*godo.Grant{{Permission: godo.SpacesKeyFullAccess}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.AdminAccessKeyID, cfg.AdminSecretAccessKey = given.AccessKey, given.SecretKey
	c, err := spaces.New(cfg, e.account())
	if err != nil {
		t.Fatal(err)
	}
	bucket := freshBucket(t)
	if err := c.CreateBucket(ctx, provider.BucketRequest{Name: bucket, Owner: provider.Owner{Namespace: "n", Name: "x", UID: "u"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.requests(http.MethodPost, "/v2/spaces/keys"); n != 1 || len(e.fake.Keys()) != 1 {
		t.Fatalf("%d key creations, keys %+v; want only the user's key", n, e.fake.Keys())
	}
	cfg.AdminSecretAccessKey = "not-the-secret-at-all"
	bad, _ := spaces.New(cfg, e.account())
	if _, err := bad.ObserveBucket(ctx, bucket); !errors.Is(err, provider.ErrInvalidConfig) {
		t.Fatalf("a refused given key: err = %v, want ErrInvalidConfig", err)
	}
}

// TestAPIRefusalsAreClassified: each documented refusal becomes the error the controller turns into
// a condition reason.
func TestAPIRefusalsAreClassified(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		reason  string
		cfg     fakedigitalocean.Config
		scopes  []string
		badTok  bool
		wantErr error
	}{
		{"an unknown token is a configuration error", fakedigitalocean.Config{}, nil, true, provider.ErrInvalidConfig},
		{"a token without spaces_key:create_credentials lacks a permission", fakedigitalocean.Config{},
			[]string{fakedigitalocean.ScopeRead, fakedigitalocean.ScopeDelete}, false, provider.ErrPermissionDenied},
		{"the account's key limit is a quota", fakedigitalocean.Config{KeyLimit: 1}, nil, false, provider.ErrQuotaExceeded},
	}
	for _, tc := range cases {
		e := newEnv(t, tc.cfg, tc.scopes...)
		cfg := e.config()
		if tc.badTok {
			cfg.APIToken = "dop_v1_unknown"
		}
		// The user's own full-access key, so that the key limit of 1 is reached by the first issue.
		cfg.AdminAccessKeyID, cfg.AdminSecretAccessKey = srv.RootUser, srv.RootPassword
		c, err := spaces.New(cfg, e.account())
		if err != nil {
			t.Fatal(err)
		}
		if tc.cfg.KeyLimit == 1 {
			if _, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-first", Bucket: "b", Access: provider.ReadOnly}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-x", Bucket: "b", Access: provider.ReadOnly})
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %v", tc.reason, err, tc.wantErr)
		}
	}
}

// TestThrottlingHoldsBackTheWholeAccount: a 429 comes back as a RateLimitedError whose RetryAfter
// is DigitalOcean's RateLimit-Reset, and no client of the provider calls again before then.
func TestThrottlingHoldsBackTheWholeAccount(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakedigitalocean.Config{PerMinute: 3})
	acct := e.account()
	a, b := e.client(t, acct), e.client(t, acct)
	var err error
	for range 4 {
		if _, err = a.ListCredentials(ctx, "tfso-"); err != nil {
			break
		}
	}
	var rl *provider.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > 61*time.Second {
		t.Fatalf("fourth call in a minute with a limit of 3: err = %v, want RateLimitedError with RetryAfter within the minute", err)
	}
	before := len(e.fake.Requests())
	if _, err := b.ListCredentials(ctx, "tfso-"); !errors.As(err, &rl) {
		t.Fatalf("another client of the provider right after: err = %v, want RateLimitedError without calling", err)
	}
	if n := len(e.fake.Requests()) - before; n != 0 {
		t.Fatalf("%d requests reached DigitalOcean while the account was held back, want 0", n)
	}
}

// TestClientSideLimiterIsShared: two clients of one provider draw from one budget.
func TestClientSideLimiterIsShared(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakedigitalocean.Config{})
	acct := spaces.NewAccountWith(time.Now, ratelimit.New(2, time.Minute).WithMaxWait(0))
	a, b := e.client(t, acct), e.client(t, acct)
	if _, err := a.ListCredentials(ctx, "tfso-"); err != nil {
		t.Fatal(err)
	}
	before := len(e.fake.Requests())
	var rl *provider.RateLimitedError
	if _, err := b.ListCredentials(ctx, "tfso-"); !errors.As(err, &rl) || rl.RetryAfter <= 0 {
		t.Fatalf("second call of the provider: err = %v, want a client-side RateLimitedError", err)
	}
	if n := len(e.fake.Requests()) - before; n != 0 {
		t.Fatalf("%d requests sent past the client-side limit, want 0", n)
	}
}

func TestListCredentialsPagesThroughEveryKey(t *testing.T) {
	ctx := context.Background()
	// Pages of 4 stand in for pages of 200: the client must follow the links, not count.
	e := newEnv(t, fakedigitalocean.Config{MaxPerPage: 4})
	cfg := e.config()
	cfg.AdminAccessKeyID, cfg.AdminSecretAccessKey = srv.RootUser, srv.RootPassword
	c, err := spaces.New(cfg, e.account())
	if err != nil {
		t.Fatal(err)
	}
	const n = 11
	for i := range n {
		if _, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: fmt.Sprintf("tfso-page-%02d", i), Bucket: "b", Access: provider.ReadOnly}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-other", Bucket: "b", Access: provider.ReadOnly}); err != nil {
		t.Fatal(err)
	}
	before := e.requests(http.MethodGet, "/v2/spaces/keys")
	list, err := c.ListCredentials(ctx, "tfso-page-")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("ListCredentials found %d keys, want %d (every page)", len(list), n)
	}
	if pages := e.requests(http.MethodGet, "/v2/spaces/keys") - before; pages != 3 {
		t.Fatalf("%d list requests for %d keys, want 3 pages of 4", pages, n+1)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		reason  string
		scopes  []string
		wantErr error
	}{
		{"a full-access token passes", nil, nil},
		{"a token that cannot read keys lacks a permission", []string{fakedigitalocean.ScopeCreate, fakedigitalocean.ScopeDelete}, provider.ErrPermissionDenied},
		{"a token that cannot create keys cannot mint the full-access key", []string{fakedigitalocean.ScopeRead, fakedigitalocean.ScopeDelete}, provider.ErrPermissionDenied},
	}
	for _, tc := range cases {
		e := newEnv(t, fakedigitalocean.Config{}, tc.scopes...)
		err := e.client(t, nil).Check(ctx)
		if (tc.wantErr == nil && err != nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
			t.Errorf("%s: Check = %v, want %v", tc.reason, err, tc.wantErr)
		}
	}
}
