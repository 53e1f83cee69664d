package fakecloudflare

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	cloudflare "github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/r2"
	"github.com/minio/minio-go/v7"
)

// anonymousGet is an unsigned GET of bucket/key on the S3 endpoint: what the public reads through
// an enabled r2.dev domain. It returns the HTTP status and body.
func anonymousGet(t *testing.T, f *fixture, bucket, key string) (int, string) {
	t.Helper()
	resp, err := http.Get(f.S3Endpoint() + "/" + bucket + "/" + key)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var managedDomainRE = regexp.MustCompile(`^pub-[0-9a-f]{32}\.r2\.dev$`)

// TestManagedDomain: the r2.dev domain starts disabled; enabling it makes the bucket's objects
// readable without credentials and disabling it ends that, both before the PUT answers; the SDK
// reads the answers; refusals as the other bucket calls.
func TestManagedDomain(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	bucket := uniq("public")
	createBucket(t, f, bucket)
	if _, err := f.s3.PutObject(ctx, bucket, "state", strings.NewReader("secret"), 6, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	path := "accounts/" + f.AccountID() + "/r2/buckets/" + bucket + "/domains/managed"
	managed := f.cf.R2.Buckets.Domains.Managed

	got, err := managed.List(ctx, bucket, r2.BucketDomainManagedListParams{AccountID: cloudflare.F(f.AccountID())})
	if err != nil {
		t.Fatal(err)
	}
	if got.Enabled || !managedDomainRE.MatchString(got.Domain) || got.Domain != "pub-"+got.BucketID+".r2.dev" {
		t.Fatalf("a new bucket's r2.dev domain = %+v, want disabled pub-<bucketId>.r2.dev", got)
	}
	if status, _ := anonymousGet(t, f, bucket, "state"); status != http.StatusForbidden {
		t.Fatalf("anonymous GET of a new bucket: HTTP %d, want 403", status)
	}

	on, err := managed.Update(ctx, bucket, r2.BucketDomainManagedUpdateParams{AccountID: cloudflare.F(f.AccountID()), Enabled: cloudflare.F(true)})
	if err != nil {
		t.Fatal(err)
	}
	if !on.Enabled || on.Domain != got.Domain || on.BucketID != got.BucketID {
		t.Fatalf("after enabling = %+v, want enabled %s", on, got.Domain)
	}
	if status, body := anonymousGet(t, f, bucket, "state"); status != http.StatusOK || body != "secret" {
		t.Fatalf("anonymous GET with r2.dev enabled: HTTP %d %q, want 200 secret", status, body)
	}
	if status, _ := anonymousGet(t, f, bucket, ""); status == http.StatusOK {
		t.Fatal("an enabled r2.dev domain lets anyone list the bucket; it serves objects only")
	}
	if _, enabled, ok := f.ManagedDomain(bucket); !enabled || !ok {
		t.Fatalf("ManagedDomain reports enabled=%v ok=%v, want true true", enabled, ok)
	}
	if got, err := managed.List(ctx, bucket, r2.BucketDomainManagedListParams{AccountID: cloudflare.F(f.AccountID())}); err != nil || !got.Enabled {
		t.Fatalf("GET after enabling = %+v, %v; want enabled", got, err)
	}

	resp, env := rawDo(t, f.Server, "PUT", path, f.adminValue, `{"enabled":false}`)
	if resp.StatusCode != http.StatusOK || env["result"].(map[string]any)["enabled"] != false {
		t.Fatalf("disable: HTTP %d %v", resp.StatusCode, env)
	}
	if status, _ := anonymousGet(t, f, bucket, "state"); status != http.StatusForbidden {
		t.Fatalf("anonymous GET after disabling: HTTP %d, want 403", status)
	}
	if resp, env := rawDo(t, f.Server, "PUT", path, f.adminValue, `{"enabled":false}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("disabling a disabled domain: HTTP %d %v, want 200", resp.StatusCode, env)
	}

	_, readValue, err := f.AddToken("reader", pgR2Read)
	if err != nil {
		t.Fatal(err)
	}
	_, tokensValue, err := f.AddToken("tokens", pgTokensWrite)
	if err != nil {
		t.Fatal(err)
	}
	absent := "accounts/" + f.AccountID() + "/r2/buckets/" + uniq("absent") + "/domains/managed"
	cases := []struct {
		reason       string
		method, path string
		token, body  string
		jurisdiction string
		wantStatus   int
		wantCode     int
	}{
		{"Workers R2 Storage Read may read the domain", "GET", path, readValue, "", "", 200, 0},
		{"but not change it", "PUT", path, readValue, `{"enabled":true}`, "", 403, codeAuthError},
		{"a token without R2 permissions may not read it", "GET", path, tokensValue, "", "", 403, codeAuthError},
		{"a missing bucket is 404 10006 on GET", "GET", absent, f.adminValue, "", "", 404, codeNoSuchBucket},
		{"and on PUT", "PUT", absent, f.adminValue, `{"enabled":false}`, "", 404, codeNoSuchBucket},
		{"a bucket of another jurisdiction is not found", "PUT", path, f.adminValue, `{"enabled":true}`, "eu", 404, codeNoSuchBucket},
		{"enabled is required", "PUT", path, f.adminValue, `{}`, "", 400, codeInvalidArgument},
		{"enabled must be a boolean", "PUT", path, f.adminValue, `{"enabled":"yes"}`, "", 400, codeInvalidArgument},
		{"the bucket name is validated", "GET", "accounts/" + f.AccountID() + "/r2/buckets/No_Such/domains/managed", f.adminValue, "", "", 400, codeInvalidBucket},
		{"DELETE is not a method of the resource", "DELETE", path, f.adminValue, "", "", 405, codeMethodNotAllow},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, f.URL()+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tc.token)
		if tc.jurisdiction != "" {
			req.Header.Set("cf-r2-jurisdiction", tc.jurisdiction)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env map[string]any
		dec := json.NewDecoder(resp.Body)
		dec.UseNumber()
		err = dec.Decode(&env)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: the answer is not JSON: %v", tc.reason, err)
		}
		code := firstCode(env)
		if resp.StatusCode != tc.wantStatus || code != tc.wantCode {
			t.Errorf("%s: HTTP %d code %d, want %d %d", tc.reason, resp.StatusCode, code, tc.wantStatus, tc.wantCode)
		}
	}
	if status, _ := anonymousGet(t, f, bucket, "state"); status != http.StatusForbidden {
		t.Fatalf("a refused PUT opened the bucket: HTTP %d", status)
	}

	t.Run("a deleted and recreated bucket starts private", func(t *testing.T) {
		if resp, env := rawDo(t, f.Server, "PUT", path, f.adminValue, `{"enabled":true}`); resp.StatusCode != http.StatusOK {
			t.Fatalf("enable: HTTP %d %v", resp.StatusCode, env)
		}
		if err := f.s3.RemoveObject(ctx, bucket, "state", minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if resp, env := rawDo(t, f.Server, "DELETE", "accounts/"+f.AccountID()+"/r2/buckets/"+bucket, f.adminValue, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("delete bucket: HTTP %d %v", resp.StatusCode, env)
		}
		createBucket(t, f, bucket)
		if _, err := f.s3.PutObject(ctx, bucket, "state", strings.NewReader("again"), 5, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if status, _ := anonymousGet(t, f, bucket, "state"); status != http.StatusForbidden {
			t.Fatalf("anonymous GET of the recreated bucket: HTTP %d, want 403", status)
		}
		if domain, enabled, ok := f.ManagedDomain(bucket); enabled || !ok || domain == got.Domain {
			t.Fatalf("recreated bucket's domain %q enabled=%v ok=%v; want a new, disabled one", domain, enabled, ok)
		}
	})
}
