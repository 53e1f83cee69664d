package spaces_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
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
	// consoleToken is a full-access token of its own, for changes made behind the provider's back
	// (as an administrator in DigitalOcean's console would), never through the Client under test.
	consoleToken string
	uid          string
	clock        *clock
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
	return &env{
		fake:         f,
		token:        f.AddToken("tfstate-operator", scopes...),
		consoleToken: f.AddToken("console"),
		uid:          fmt.Sprintf("provider-uid-%d", seq.Add(1)),
		clock:        &clock{now: time.Now()},
	}
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
	return e.s3Harness(t, nil).Harness
}

// s3Harness is a client of acct (nil: an account of its own) with the test's MinIO as data plane.
func (e *env) s3Harness(t *testing.T, acct *spaces.Account) providertest.S3Harness {
	return providertest.S3Harness{
		Harness: providertest.Harness{Client: e.client(t, acct), PutObject: data().PutObject(t), GetObject: data().GetObject(t), BucketName: freshBucket},
		S3:      data().S3,
	}
}

// console sends a request to the fake's API with the console token and fails the test unless it
// answers wantStatus.
func (e *env) console(t *testing.T, method, rel string, body any, wantStatus int) []byte {
	t.Helper()
	payload, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, e.fake.URL()+rel, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.consoleToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("console %s %s: %d %s, want %d", method, rel, resp.StatusCode, reply, wantStatus)
	}
	return reply
}

// editInConsole replaces a key's name and grants behind the provider's back.
func (e *env) editInConsole(t *testing.T, accessKey, name string, grants ...fakedigitalocean.Grant) {
	t.Helper()
	if grants == nil {
		grants = []fakedigitalocean.Grant{} // a PUT replaces the grants: none is an empty list
	}
	e.console(t, http.MethodPut, "v2/spaces/keys/"+accessKey, map[string]any{"name": name, "grants": grants}, http.StatusOK)
}

// key is what the fake holds for accessKey (nil when none).
func (e *env) key(accessKey string) *fakedigitalocean.Key {
	for _, k := range e.fake.Keys() {
		if k.AccessKey == accessKey {
			return &k
		}
	}
	return nil
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Harness { return newEnv(t, fakedigitalocean.Config{}).harness(t) })
}

// TestQuotas: the account's documented caps, set low in the fake, are quota refusals.
func TestQuotas(t *testing.T) {
	providertest.RunQuotas(t, func(t *testing.T) providertest.QuotaHarness {
		return providertest.QuotaHarness{Harness: newEnv(t, fakedigitalocean.Config{BucketLimit: 3, KeyLimit: 4}).harness(t), BucketLimit: 3, CredentialLimit: 4}
	})
}

// TestRotation runs 100 rotations; the limits are raised so that the test does not wait a minute
// for DigitalOcean's 250 requests per minute (TestThrottling* cover those).
func TestRotation(t *testing.T) {
	providertest.RunRotation(t, func(t *testing.T) providertest.S3Harness {
		e := newEnv(t, fakedigitalocean.Config{PerMinute: 100000, PerHour: 1000000})
		return e.s3Harness(t, spaces.NewAccountWith(e.clock.Now, ratelimit.New(100000, time.Minute)))
	})
}

// TestEnforcement: the keys the provider issues, enforced by real S3 behind the fake.
func TestEnforcement(t *testing.T) {
	providertest.RunEnforcement(t, func(t *testing.T) providertest.S3Harness {
		return newEnv(t, fakedigitalocean.Config{}).s3Harness(t, nil)
	})
}

// TestGrantRepair: a key widened in the console to read and write another bucket is narrowed back
// in place, with the same keys, as S3 enforces.
// TestBucketAccessRepair: a Space made public with a bucket policy over the S3 API is closed again.
func TestBucketAccessRepair(t *testing.T) {
	providertest.RunBucketAccessRepair(t, func(t *testing.T) providertest.AccessHarness {
		e := newEnv(t, fakedigitalocean.Config{})
		return providertest.AccessHarness{Harness: e.harness(t), Expose: data().ExposeWithBucketPolicy, AnonymousGet: data().AnonymousGet}
	})
}

// TestBucketACLRepair: a Space whose file listing was made public in the control panel (the
// "public-read" bucket ACL) is made private again. MinIO has no ACLs, so the fake's record of the
// ACL, which its S3 front answers GetBucketAcl from, is what is checked.
func TestBucketACLRepair(t *testing.T) {
	providertest.RunBucketAccessRepair(t, func(t *testing.T) providertest.AccessHarness {
		e := newEnv(t, fakedigitalocean.Config{})
		return providertest.AccessHarness{
			Harness: e.harness(t),
			Expose: func(t *testing.T, bucket string) {
				e.fake.SetBucketACLInConsole(bucket, fakedigitalocean.ACLPublicRead)
			},
			Exposed: func(t *testing.T, bucket string) bool {
				return e.fake.BucketACL(bucket) != fakedigitalocean.ACLPrivate
			},
		}
	})
}

func TestGrantRepair(t *testing.T) {
	providertest.RunGrantRepair(t, func(t *testing.T) providertest.GrantHarness {
		e := newEnv(t, fakedigitalocean.Config{})
		return providertest.GrantHarness{
			S3Harness: e.s3Harness(t, nil),
			Widen: func(t *testing.T, cred provider.Credential, own, other string) {
				e.editInConsole(t, cred.ID, cred.Name,
					fakedigitalocean.Grant{Bucket: own, Permission: fakedigitalocean.PermissionReadWrite},
					fakedigitalocean.Grant{Bucket: other, Permission: fakedigitalocean.PermissionReadWrite})
			},
		}
	})
}

// TestSameGrants: which grants a key may hold and still be exactly what IssueCredential gave it.
func TestSameGrants(t *testing.T) {
	g := func(bucket string, p godo.SpacesKeyPermission) *godo.Grant {
		return &godo.Grant{Bucket: bucket, Permission: p}
	}
	rw, ro := provider.ReadWrite, provider.ReadOnly
	cases := []struct {
		reason string
		access provider.Access
		prefix string
		have   []*godo.Grant
		same   bool
	}{
		{"a read-write key as issued", rw, "", []*godo.Grant{g("state", godo.SpacesKeyReadWrite)}, true},
		{"a read-only key as issued", ro, "", []*godo.Grant{g("state", godo.SpacesKeyRead)}, true},
		{"a repeated grant allows nothing more", rw, "", []*godo.Grant{g("state", godo.SpacesKeyReadWrite), g("state", godo.SpacesKeyReadWrite)}, true},
		{"the key prefix plays no part: Spaces keys cannot be confined to one", rw, "env/", []*godo.Grant{g("state", godo.SpacesKeyReadWrite)}, true},
		{"another bucket beside its own, in any order", rw, "", []*godo.Grant{g("other", godo.SpacesKeyRead), g("state", godo.SpacesKeyReadWrite)}, false},
		{"moved to another bucket", rw, "", []*godo.Grant{g("other", godo.SpacesKeyReadWrite)}, false},
		{"a read-only key that may write", ro, "", []*godo.Grant{g("state", godo.SpacesKeyReadWrite)}, false},
		{"a read-only key with read and readwrite on its bucket", ro, "", []*godo.Grant{g("state", godo.SpacesKeyRead), g("state", godo.SpacesKeyReadWrite)}, false},
		{"a read-write key cut to read: runners could not write state", rw, "", []*godo.Grant{g("state", godo.SpacesKeyRead)}, false},
		{"fullaccess beside the issued grant (it wins over every scoped grant)", rw, "", []*godo.Grant{g("state", godo.SpacesKeyReadWrite), g("", godo.SpacesKeyFullAccess)}, false},
		{"fullaccess naming its bucket is still every bucket", rw, "", []*godo.Grant{g("state", godo.SpacesKeyFullAccess)}, false},
		{"a permission this code does not know", rw, "", []*godo.Grant{g("state", "admin")}, false},
		{"a null grant is not understood", rw, "", []*godo.Grant{nil, g("state", godo.SpacesKeyReadWrite)}, false},
		{"no grants (an empty list)", rw, "", []*godo.Grant{}, false},
		{"no grants (absent)", rw, "", nil, false},
	}
	for _, tc := range cases {
		want := spaces.Grants(provider.CredentialRequest{Name: "tfso-x", Bucket: "state", Access: tc.access, KeyPrefix: tc.prefix})
		if got := spaces.SameGrants(tc.have, want); got != tc.same {
			t.Errorf("%s: SameGrants = %v, want %v", tc.reason, got, tc.same)
		}
	}
}

// TestRepairGrantRestoresGrantsOnly: the repair replaces the grants whole and nothing else: the
// key's name (renamed in the console) and keys stay, and a key as issued costs one read, no write.
func TestRepairGrantRestoresGrantsOnly(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakedigitalocean.Config{})
	c := e.client(t, nil)
	req := provider.CredentialRequest{Name: "tfso-repair", Bucket: "state", Access: provider.ReadOnly}
	cred, err := c.IssueCredential(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := "/v2/spaces/keys/" + cred.ID
	cases := []struct {
		reason string
		// rename and grants are set in the console first, unless rename is "".
		rename       string
		grants       []fakedigitalocean.Grant
		wantRepaired bool
		wantUpdates  int
	}{
		{"as issued: one read, no write", "", nil, false, 0},
		{"renamed and widened: write on its bucket, another bucket, in any order", "renamed-in-console", []fakedigitalocean.Grant{
			{Bucket: "other", Permission: fakedigitalocean.PermissionReadWrite},
			{Bucket: "state", Permission: fakedigitalocean.PermissionReadWrite},
			{Bucket: "state", Permission: fakedigitalocean.PermissionRead},
		}, true, 1},
		{"every grant removed: its own comes back", "renamed-again", []fakedigitalocean.Grant{}, true, 1},
		{"right after a repair: nothing to do", "", nil, false, 0},
	}
	wantName := req.Name
	for _, tc := range cases {
		if tc.rename != "" {
			e.editInConsole(t, cred.ID, tc.rename, tc.grants...)
			wantName = tc.rename // the repair keeps whatever the key is called now
		}
		updates := e.requests(http.MethodPut, keyPath)
		repaired, err := c.RepairGrant(ctx, cred.ID, req)
		if err != nil || repaired != tc.wantRepaired {
			t.Fatalf("%s: RepairGrant = %v, %v; want %v, nil", tc.reason, repaired, err, tc.wantRepaired)
		}
		if n := e.requests(http.MethodPut, keyPath) - updates; n != tc.wantUpdates {
			t.Errorf("%s: %d updates sent, want %d", tc.reason, n, tc.wantUpdates)
		}
		want := &fakedigitalocean.Key{Name: wantName, AccessKey: cred.ID, Grants: []fakedigitalocean.Grant{{Bucket: "state", Permission: fakedigitalocean.PermissionRead}}}
		got := e.key(cred.ID)
		if got != nil {
			got.CreatedAt = time.Time{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: DigitalOcean holds %+v, want %+v", tc.reason, got, want)
		}
	}
}

// TestRepairGrantRefusalsAreClassified: each way a repair fails becomes the error the controller
// acts on, and none of them changes the key.
func TestRepairGrantRefusalsAreClassified(t *testing.T) {
	ctx := context.Background()
	req := provider.CredentialRequest{Name: "tfso-refused", Bucket: "state", Access: provider.ReadWrite}
	widen := func(t *testing.T, e *env, accessKey string) {
		e.editInConsole(t, accessKey, req.Name,
			fakedigitalocean.Grant{Bucket: "state", Permission: fakedigitalocean.PermissionReadWrite},
			fakedigitalocean.Grant{Bucket: "other", Permission: fakedigitalocean.PermissionReadWrite})
	}
	cases := []struct {
		reason string
		scopes []string
		token  string // the repairing client's token; "" = the env's
		// prepare changes things behind the provider's back and returns the id to repair.
		prepare func(t *testing.T, e *env, issued provider.Credential) string
		wantIs  error
		wantAs  bool // a RateLimitedError
	}{
		{"a key deleted out of band is not found", nil, "", func(t *testing.T, e *env, issued provider.Credential) string {
			e.console(t, http.MethodDelete, "v2/spaces/keys/"+issued.ID, nil, http.StatusNoContent)
			return issued.ID
		}, provider.ErrCredentialNotFound, false},
		{"an empty id names no key", nil, "", func(*testing.T, *env, provider.Credential) string { return "" }, provider.ErrCredentialNotFound, false},
		{"a fullaccess key is not narrowed in place: too broad, for the caller to revoke", nil, "", func(t *testing.T, e *env, _ provider.Credential) string {
			var created struct {
				Key struct {
					AccessKey string `json:"access_key"`
				}
			}
			reply := e.console(t, http.MethodPost, "v2/spaces/keys", map[string]any{
				"name": req.Name, "grants": []fakedigitalocean.Grant{{Bucket: "", Permission: fakedigitalocean.PermissionFullAccess}},
			}, http.StatusCreated)
			if err := json.Unmarshal(reply, &created); err != nil {
				t.Fatal(err)
			}
			return created.Key.AccessKey
		}, provider.ErrCredentialTooBroad, false},
		{"a token without spaces_key:update lacks a permission", []string{fakedigitalocean.ScopeRead, fakedigitalocean.ScopeCreate, fakedigitalocean.ScopeDelete}, "",
			func(t *testing.T, e *env, issued provider.Credential) string {
				widen(t, e, issued.ID)
				return issued.ID
			},
			provider.ErrPermissionDenied, false},
		{"an unknown token is a configuration error", nil, "dop_v1_unknown",
			func(t *testing.T, e *env, issued provider.Credential) string {
				widen(t, e, issued.ID)
				return issued.ID
			},
			provider.ErrInvalidConfig, false},
		{"a 429 is a RateLimitedError", nil, "", func(t *testing.T, e *env, issued provider.Credential) string {
			widen(t, e, issued.ID)
			e.fake.InjectThrottle(1)
			return issued.ID
		}, nil, true},
	}
	for _, tc := range cases {
		e := newEnv(t, fakedigitalocean.Config{}, tc.scopes...)
		issued, err := e.client(t, nil).IssueCredential(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		id := tc.prepare(t, e, issued)
		cfg := e.config()
		if tc.token != "" {
			cfg.APIToken = tc.token
		}
		c, err := spaces.New(cfg, e.account())
		if err != nil {
			t.Fatal(err)
		}
		before := e.fake.Keys()
		repaired, err := c.RepairGrant(ctx, id, req)
		var rl *provider.RateLimitedError
		switch {
		case repaired || err == nil:
			t.Errorf("%s: RepairGrant = %v, %v; want an error", tc.reason, repaired, err)
		case tc.wantIs != nil && !errors.Is(err, tc.wantIs):
			t.Errorf("%s: err = %v, want %v", tc.reason, err, tc.wantIs)
		case tc.wantAs && (!errors.As(err, &rl) || rl.RetryAfter <= 0):
			t.Errorf("%s: err = %v, want a RateLimitedError with a RetryAfter", tc.reason, err)
		}
		if after := e.fake.Keys(); !reflect.DeepEqual(after, before) {
			t.Errorf("%s: the refused repair changed the keys: %+v, was %+v", tc.reason, after, before)
		}
	}
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

// TestListingWhileKeysAreCreated: DigitalOcean lists keys newest first, so a key created by anyone
// between two pages of a listing pushes the last key of one page onto the next; the listing still
// holds each key once.
func TestListingWhileKeysAreCreated(t *testing.T) {
	var e *env
	var once sync.Once
	e = newEnv(t, fakedigitalocean.Config{MaxPerPage: 2, OnList: func(page int) {
		if page == 2 && e != nil {
			once.Do(func() {
				e.console(t, http.MethodPost, "v2/spaces/keys", map[string]any{"name": "someone-else", "grants": []fakedigitalocean.Grant{}}, http.StatusCreated)
			})
		}
	}})
	c := e.client(t, nil)
	ctx := context.Background()
	bucket := freshBucket(t)
	if err := c.CreateBucket(ctx, provider.BucketRequest{Name: bucket, Owner: provider.Owner{Namespace: "n", Name: bucket, UID: bucket}}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: fmt.Sprintf("tfso-list-%d", i), Bucket: bucket, Access: provider.ReadOnly}); err != nil {
			t.Fatal(err)
		}
	}
	listed, err := c.ListCredentials(ctx, "tfso-list-")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range listed {
		if seen[l.ID] {
			t.Errorf("key %s (%s) listed twice", l.ID, l.Name)
		}
		seen[l.ID] = true
	}
	if len(seen) != 4 {
		t.Errorf("listed %d distinct keys, want the 4 issued", len(seen))
	}
}

// TestANewFullAccessKeyThatHasNotPropagated: with new keys refused on S3 for a while (the fake's
// KeyPropagation), the first bucket call after minting the full-access key is a transient error,
// not a refused configuration, and the same key works once it propagated: no second key is minted.
func TestANewFullAccessKeyThatHasNotPropagated(t *testing.T) {
	e := newEnv(t, fakedigitalocean.Config{KeyPropagation: 2 * time.Second})
	c := e.client(t, nil)
	ctx := context.Background()
	bucket := freshBucket(t)
	err := c.CreateBucket(ctx, provider.BucketRequest{Name: bucket, Owner: provider.Owner{Namespace: "n", Name: bucket, UID: bucket}})
	if err == nil {
		t.Fatal("a bucket was made with a key that has not propagated: the fake's delay did not take, the test proves nothing")
	}
	if errors.Is(err, provider.ErrInvalidConfig) || errors.Is(err, provider.ErrPermissionDenied) {
		t.Fatalf("a key not yet propagated reads as terminal: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for err != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the bucket was never made: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
		err = c.CreateBucket(ctx, provider.BucketRequest{Name: bucket, Owner: provider.Owner{Namespace: "n", Name: bucket, UID: bucket}})
	}
	if keys := e.adminKeys(); len(keys) != 1 {
		t.Errorf("%d full-access keys, want the one minted", len(keys))
	}
}
