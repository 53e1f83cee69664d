package fakecloudflare

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// bucketToken creates a token with Item Write on bucket (default jurisdiction) and returns its id
// and value.
func bucketToken(t *testing.T, f *fixture, name, bucket string, extra string) (string, string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"policies":[{"effect":"allow","permission_groups":[{"id":%q}],"resources":{%q:"*"}}]%s}`,
		name, PermissionGroupID(pgItemWrite), scopeR2Bucket+"."+f.AccountID()+"_default_"+bucket, extra)
	resp, env := rawDo(t, f.Server, "POST", "accounts/"+f.AccountID()+"/tokens", f.adminValue, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create token: %d %v", resp.StatusCode, env)
	}
	res := env["result"].(map[string]any)
	return res["id"].(string), res["value"].(string)
}

func createBucket(t *testing.T, f *fixture, name string) {
	t.Helper()
	if resp, env := rawDo(t, f.Server, "POST", "accounts/"+f.AccountID()+"/r2/buckets", f.adminValue, fmt.Sprintf(`{"name":%q}`, name)); resp.StatusCode != http.StatusOK {
		t.Fatalf("create bucket: %d %v", resp.StatusCode, env)
	}
}

// TestUpdateToken: PUT replaces a token's policies and keeps its value; the S3 identity follows
// at once; bad bodies are refused like on create.
func TestUpdateToken(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	own, other := uniq("own"), uniq("other")
	createBucket(t, f, own)
	createBucket(t, f, other)
	id, value := bucketToken(t, f, "t", own, "")
	s3 := s3Client(t, f.Server, id, value)
	put := func(bucket string) error {
		_, err := s3.PutObject(ctx, bucket, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		return err
	}
	wantS3Code(t, put(other), "AccessDenied")

	widened := fmt.Sprintf(`[{"id":"echoed-from-a-get","effect":"allow","permission_groups":[{"id":%q}],"resources":{%q:"*",%q:"*"}}]`,
		PermissionGroupID(pgItemWrite), scopeR2Bucket+"."+f.AccountID()+"_default_"+own, scopeR2Bucket+"."+f.AccountID()+"_default_"+other)
	if status, err := f.UpdateTokenPolicies(f.adminValue, id, []byte(widened)); err != nil || status != http.StatusOK {
		t.Fatalf("update: %d %v", status, err)
	}
	if err := put(other); err != nil {
		t.Fatalf("after widening, the same keys write the other bucket: %v", err)
	}
	var got Token
	for _, tok := range f.Tokens() {
		if tok.ID == id {
			got = tok
		}
	}
	if len(got.Policies) != 1 || len(got.Policies[0].Resources) != 2 || got.Policies[0].ID == "echoed-from-a-get" {
		t.Fatalf("token after update = %+v, want one policy on two buckets with a fresh policy id", got)
	}

	cases := []struct {
		reason     string
		id, body   string
		wantStatus int
		wantCode   int
	}{
		{"an unknown token is 404 1003", "0123456789abcdef0123456789abcdef", `{"name":"x","policies":[]}`, 404, codeTokenNotFound},
		{"no policies is refused", id, `{"name":"x","policies":[]}`, 400, codeBadRequest},
		{"no name is refused", id, `{"policies":` + widened + `}`, 400, codeBadRequest},
		{"an unknown status is refused", id, `{"name":"x","status":"paused","policies":` + widened + `}`, 400, codeBadRequest},
	}
	for _, tc := range cases {
		resp, env := rawDo(t, f.Server, "PUT", "accounts/"+f.AccountID()+"/tokens/"+tc.id, f.adminValue, tc.body)
		code := firstCode(env)
		if resp.StatusCode != tc.wantStatus || code != tc.wantCode {
			t.Errorf("%s: HTTP %d code %d, want %d %d", tc.reason, resp.StatusCode, code, tc.wantStatus, tc.wantCode)
		}
	}

	t.Run("a disabled token's keys are refused", func(t *testing.T) {
		body := `{"name":"t","status":"disabled","policies":` + widened + `}`
		if resp, env := rawDo(t, f.Server, "PUT", "accounts/"+f.AccountID()+"/tokens/"+id, f.adminValue, body); resp.StatusCode != http.StatusOK {
			t.Fatalf("disable: %d %v", resp.StatusCode, env)
		}
		if err := put(own); err == nil {
			t.Fatal("a disabled token still writes")
		}
	})
}

// TestTemporaryCredentialsEndpoint: the documented request shape, its refusals, and session keys
// that real S3 accepts only with their session token.
func TestTemporaryCredentialsEndpoint(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	own, other := uniq("own"), uniq("other")
	createBucket(t, f, own)
	createBucket(t, f, other)
	parent, _ := bucketToken(t, f, "parent", own, "")
	path := "accounts/" + f.AccountID() + "/r2/temp-access-credentials"
	body := func(bucket, parentID, permission string, ttl any) string {
		return fmt.Sprintf(`{"bucket":%q,"parentAccessKeyId":%q,"permission":%q,"ttlSeconds":%v}`, bucket, parentID, permission, ttl)
	}
	cases := []struct {
		reason     string
		body       string
		wantStatus int
		wantCode   int
	}{
		{"object-read-write within the parent's bucket is granted", body(own, parent, "object-read-write", 3600), 200, 0},
		{"object-read-only is within a write parent", body(own, parent, "object-read-only", 900), 200, 0},
		{"another bucket exceeds the parent", body(other, parent, "object-read-only", 900), 403, codeAuthError},
		{"admin permission exceeds a bucket-item parent", body(own, parent, "admin-read-write", 900), 403, codeAuthError},
		{"an unknown permission is refused", body(own, parent, "everything", 900), 400, codeInvalidArgument},
		{"a ttl over seven days is refused", body(own, parent, "object-read-only", 604801), 400, codeInvalidArgument},
		{"a zero ttl is refused", body(own, parent, "object-read-only", 0), 400, codeInvalidArgument},
		{"an unknown parent is refused", body(own, "0123456789abcdef0123456789abcdef", "object-read-only", 900), 400, codeInvalidArgument},
		{"a missing bucket is 404", body(uniq("absent"), parent, "object-read-only", 900), 404, codeNoSuchBucket},
		{"required fields are required", `{"bucket":"` + own + `"}`, 400, codeInvalidArgument},
	}
	var keys map[string]any
	for _, tc := range cases {
		resp, env := rawDo(t, f.Server, "POST", path, f.adminValue, tc.body)
		code := firstCode(env)
		if resp.StatusCode != tc.wantStatus || code != tc.wantCode {
			t.Errorf("%s: HTTP %d code %d, want %d %d", tc.reason, resp.StatusCode, code, tc.wantStatus, tc.wantCode)
		}
		if keys == nil && resp.StatusCode == 200 {
			keys = env["result"].(map[string]any)
		}
	}
	if keys == nil {
		t.Fatal("no temporary credential was granted")
	}
	s3 := func(token string) *minio.Client {
		c, err := minio.New(strings.TrimPrefix(f.S3Endpoint(), "http://"), &minio.Options{
			Creds:  credentials.NewStaticV4(keys["accessKeyId"].(string), keys["secretAccessKey"].(string), token),
			Region: "auto",
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := s3(keys["sessionToken"].(string)).PutObject(ctx, own, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("session keys with their token: %v", err)
	}
	if _, err := s3("").PutObject(ctx, own, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err == nil {
		t.Fatal("session keys without their token were accepted")
	}
	if got := f.TemporaryCredentials(); len(got) != 2 || got[0].Parent != parent || got[0].TTL != time.Hour {
		t.Fatalf("recorded = %+v", got)
	}
}

// firstCode is the first error code of an envelope (0: none).
func firstCode(env map[string]any) int {
	errs, _ := env["errors"].([]any)
	if len(errs) == 0 {
		return 0
	}
	n, _ := errs[0].(map[string]any)["code"].(json.Number).Int64()
	return int(n)
}
