package providers

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakecloudflare"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

var minioSrv *miniotest.Server

func TestMain(m *testing.M) { os.Exit(miniotest.RunTests(m, &minioSrv)) }

// r2Admin are the permissions the README asks of the operator's Cloudflare API token.
var r2Admin = []string{"Workers R2 Storage Write", "Account API Tokens Write"}

// r2Fixture is one fake Cloudflare account with two admin tokens of it: the platform's (in a
// ClusterStorageProvider) and a tenant's (in a StorageProvider that names the same account id).
type r2Fixture struct {
	fake                   *fakecloudflare.Server
	platformID, tenantID   string
	platform, tenant       Source
	platformTok, tenantTok string
}

func newR2Fixture(t *testing.T) *r2Fixture {
	t.Helper()
	fake, err := fakecloudflare.Start(fakecloudflare.Config{MinIO: minioSrv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	f := &r2Fixture{fake: fake}
	if f.platformID, f.platformTok, err = fake.AddToken("platform", r2Admin...); err != nil {
		t.Fatal(err)
	}
	if f.tenantID, f.tenantTok, err = fake.AddToken("tenant", r2Admin...); err != nil {
		t.Fatal(err)
	}
	spec := func(perFiveMinutes int32) *v1alpha1.StorageProviderSpec {
		return &v1alpha1.StorageProviderSpec{CloudflareR2: &v1alpha1.CloudflareR2Provider{
			AccountID:              fake.AccountID(),
			APIBaseURL:             fake.URL(),
			S3Endpoint:             fake.S3Endpoint(),
			RequestsPerFiveMinutes: perFiveMinutes,
		}}
	}
	f.platform = Source{UID: "platform-uid", Spec: spec(1200), Credentials: map[string][]byte{CloudflareAPIToken: []byte(f.platformTok)}}
	f.tenant = Source{UID: "tenant-uid", Namespace: "team-a", Spec: spec(10), Credentials: map[string][]byte{CloudflareAPIToken: []byte(f.tenantTok)}}
	return f
}

// answeredFor counts the requests the fake answered for the token id.
func (f *r2Fixture) answeredFor(tokenID string) int {
	n := 0
	for _, r := range f.fake.Requests() {
		if r.TokenID == tokenID {
			n++
		}
	}
	return n
}

func (f *r2Fixture) client(t *testing.T, factory *Factory, src Source) provider.Client {
	t.Helper()
	c, err := factory.New(context.Background(), src, provider.Placement{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// observe makes one Cloudflare API call (a bucket that does not exist: one GET).
func observe(c provider.Client) error {
	_, err := c.ObserveBucket(context.Background(), "no-such-bucket")
	return err
}

func TestTenantCloudflareTokenDoesNotShareThePlatformsRateLimiter(t *testing.T) {
	t.Run("a 429 answered to the tenant's token does not hold back the platform's calls", func(t *testing.T) {
		f := newR2Fixture(t)
		factory := NewFactory()
		tenant, platform := f.client(t, factory, f.tenant), f.client(t, factory, f.platform)
		f.fake.InjectThrottle(1, time.Minute)
		var rl *provider.RateLimitedError
		if err := observe(tenant); !errors.As(err, &rl) {
			t.Fatalf("the tenant's call under an injected 429: %v, want a RateLimitedError", err)
		}
		before := f.answeredFor(f.platformID)
		if err := observe(platform); err != nil {
			t.Fatalf("the platform's call after the tenant's 429: %v (blocked by the tenant's limiter)", err)
		}
		if n := f.answeredFor(f.platformID) - before; n != 1 {
			t.Fatalf("the fake answered %d requests of the platform's token, want 1", n)
		}
		if err := observe(tenant); !errors.As(err, &rl) {
			t.Fatalf("the tenant's next call: %v, want its own limiter still blocked", err)
		}
	})
	t.Run("a tenant's StorageProvider holding the platform's token still has its own limiter", func(t *testing.T) {
		f := newR2Fixture(t)
		f.tenant.Namespace = "team-a"
		f.tenant.Credentials = f.platform.Credentials
		factory := NewFactory()
		tenant, platform := f.client(t, factory, f.tenant), f.client(t, factory, f.platform)
		f.fake.InjectThrottle(1, time.Minute)
		var rl *provider.RateLimitedError
		if err := observe(tenant); !errors.As(err, &rl) {
			t.Fatalf("the tenant's call under an injected 429: %v, want a RateLimitedError", err)
		}
		if err := observe(platform); err != nil {
			t.Fatalf("the platform's call after the tenant's 429: %v (blocked by the tenant's limiter)", err)
		}
	})
	t.Run("the tenant's requestsPerFiveMinutes does not become the platform's", func(t *testing.T) {
		f := newR2Fixture(t)
		factory := NewFactory()
		// The tenant's provider is seen first and asks for 10 calls per five minutes: one call now,
		// the next in half a minute, longer than a reconcile may wait.
		tenant := f.client(t, factory, f.tenant)
		if err := observe(tenant); err != nil {
			t.Fatal(err)
		}
		platform := f.client(t, factory, f.platform)
		for i := range 3 {
			if err := observe(platform); err != nil {
				t.Fatalf("the platform's call %d (1,200 per five minutes): %v", i+1, err)
			}
		}
		if n := f.answeredFor(f.platformID); n != 3 {
			t.Fatalf("the fake answered %d requests of the platform's token, want 3", n)
		}
	})
}

func TestCloudflareLimiterIsSharedOnlyByOneTokenInOneScope(t *testing.T) {
	p := func(account, base string) *v1alpha1.CloudflareR2Provider {
		return &v1alpha1.CloudflareR2Provider{AccountID: account, APIBaseURL: base}
	}
	const account, other = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	type use struct {
		namespace string
		p         *v1alpha1.CloudflareR2Provider
		token     string
	}
	cases := []struct {
		reason string
		a, b   use
		shared bool
	}{
		{"two cluster providers of one account and token share the account's limit", use{"", p(account, ""), "tok"}, use{"", p(account, ""), "tok"}, true},
		{"two StorageProviders of one namespace, account and token share it", use{"team-a", p(account, ""), "tok"}, use{"team-a", p(account, ""), "tok"}, true},
		{"a tenant naming the platform's account with its own token does not", use{"team-a", p(account, ""), "tenant"}, use{"", p(account, ""), "platform"}, false},
		{"a tenant holding the platform's very token still does not share with a cluster provider", use{"team-a", p(account, ""), "tok"}, use{"", p(account, ""), "tok"}, false},
		{"two tenants with one token do not share either", use{"team-a", p(account, ""), "tok"}, use{"team-b", p(account, ""), "tok"}, false},
		{"another account does not", use{"", p(account, ""), "tok"}, use{"", p(other, ""), "tok"}, false},
		{"another API endpoint does not", use{"", p(account, ""), "tok"}, use{"", p(account, "http://127.0.0.1:1/"), "tok"}, false},
	}
	for _, tc := range cases {
		f := NewFactory()
		a, b := f.r2Account(tc.a.namespace, tc.a.p, tc.a.token), f.r2Account(tc.b.namespace, tc.b.p, tc.b.token)
		if (a == b) != tc.shared {
			t.Errorf("%s: shared = %v, want %v", tc.reason, a == b, tc.shared)
		}
	}
	f := NewFactory()
	f.r2Account("", p(account, ""), "secret-token-value")
	for key := range f.r2Accounts {
		if strings.Contains(key, "secret-token-value") {
			t.Fatalf("the limiter key %q holds the token", key)
		}
	}
}
