package fakecloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	cloudflare "github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/option"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/minioadmin"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/minioidentity"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

var minioSrv *miniotest.Server

func TestMain(m *testing.M) {
	// cloudflare.NewClient reads these; the tests set every option explicitly.
	for _, k := range []string{"CLOUDFLARE_BASE_URL", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY",
		"CLOUDFLARE_EMAIL", "CLOUDFLARE_API_USER_SERVICE_KEY", "CLOUDFLARE_CUSTOM_HEADERS"} {
		os.Unsetenv(k)
	}
	os.Exit(miniotest.RunTests(m, &minioSrv))
}

// fixture is a fake with an admin token that may manage buckets and tokens.
type fixture struct {
	*Server
	adminID, adminValue string
	cf                  *cloudflare.Client // authenticated as the admin token
}

func newFake(t *testing.T, cfg Config) *fixture {
	t.Helper()
	cfg.MinIO = minioSrv
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	id, value, err := s.AddToken("admin", pgR2Write, pgTokensWrite)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{Server: s, adminID: id, adminValue: value, cf: s.client(value)}
}

func (s *Server) client(token string) *cloudflare.Client {
	return cloudflare.NewClient(option.WithBaseURL(s.URL()), option.WithAPIToken(token), option.WithMaxRetries(0))
}

// s3Client is an S3 client with R2-style credentials derived from a token.
func s3Client(t *testing.T, s *Server, id, value string) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(s.S3Endpoint(), "http://"), &minio.Options{
		Creds:  credentials.NewStaticV4(id, SecretAccessKey(value), ""),
		Region: "auto", // what R2 clients use
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// uniq returns a bucket name no other test uses (all tests share one MinIO).
func uniq(prefix string) string { return prefix + "-" + randomHex(4) }

// wantAPIError asserts that err is a *cloudflare.Error with the given status and first code.
func wantAPIError(t *testing.T, err error, status, code int) *cloudflare.Error {
	t.Helper()
	var apiErr *cloudflare.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v (%T), want *cloudflare.Error %d/%d", err, err, status, code)
	}
	if apiErr.StatusCode != status || len(apiErr.Errors) == 0 || apiErr.Errors[0].Code != int64(code) {
		t.Fatalf("got HTTP %d errors %+v, want HTTP %d code %d", apiErr.StatusCode, apiErr.Errors, status, code)
	}
	return apiErr
}

func wantS3Code(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("S3 call succeeded, want %s", code)
	}
	if got := minio.ToErrorResponse(err).Code; got != code {
		t.Fatalf("S3 error %q (%v), want %s", got, err, code)
	}
}

// rawDo sends a raw request to the fake (rel is relative to URL(), or an absolute path) and
// decodes the JSON answer.
func rawDo(t *testing.T, s *Server, method, rel, token string, body string) (*http.Response, map[string]any) {
	t.Helper()
	u := s.URL() + rel
	if strings.HasPrefix(rel, "/") { // an absolute path on the fake's host
		u = s.httpSrv.URL + rel
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", method, rel, raw)
	}
	return resp, out
}

// TestMinIOKeyLimits pins why tokens become MinIO users rather than service accounts: MinIO
// refuses a service account with R2-shaped keys (32-hex access key, 64-hex secret key) but
// accepts a user with them.
func TestMinIOKeyLimits(t *testing.T) {
	ctx := context.Background()
	accessKey, secretKey := randomHex(16), SecretAccessKey("cfat_example")
	if len(accessKey) != 32 || len(secretKey) != 64 {
		t.Fatalf("key lengths %d/%d", len(accessKey), len(secretKey))
	}
	admin, err := minioadmin.New(minioSrv.Endpoint, minioSrv.RootUser, minioSrv.RootPassword, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		reason    string
		accessKey string
		secretKey string
		wantCode  string // "" = accepted
	}{
		{"a 32-character access key exceeds the service-account maximum of 20", accessKey, randomHex(10), "XMinioAdminInvalidAccessKey"},
		{"a 64-character secret key exceeds the service-account maximum of 40", randomHex(8), secretKey, "XMinioAdminInvalidSecretKey"},
		{"20 and 40 characters are the service-account maxima", randomHex(10), randomHex(20), ""},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			creds, err := admin.AddServiceAccount(ctx, minioadmin.AddServiceAccountRequest{AccessKey: tc.accessKey, SecretKey: tc.secretKey})
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("AddServiceAccount: %v", err)
				}
				_ = admin.DeleteServiceAccount(ctx, creds.AccessKey)
				return
			}
			var e *minioadmin.Error
			if !errors.As(err, &e) || e.Code != tc.wantCode {
				t.Fatalf("AddServiceAccount err = %v, want %s", err, tc.wantCode)
			}
		})
	}

	t.Run("a user takes 32-hex and 64-hex keys and authenticates S3 calls with them", func(t *testing.T) {
		bucket := uniq("keylimits")
		root, _ := minio.New(minioSrv.Host, &minio.Options{Creds: credentials.NewStaticV4(minioSrv.RootUser, minioSrv.RootPassword, "")})
		if err := root.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		policy := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]}]}`)
		if err := (minioidentity.Identities{Admin: admin, Prefix: identityPrefix}).Put(ctx, accessKey, secretKey, policy); err != nil {
			t.Fatalf("Put: %v", err)
		}
		user, _ := minio.New(minioSrv.Host, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Region: "auto"})
		if _, err := user.PutObject(ctx, bucket, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("PutObject with the user's keys: %v", err)
		}
		if err := (minioidentity.Identities{Admin: admin, Prefix: identityPrefix}).Delete(ctx, accessKey); err != nil {
			t.Fatal(err)
		}
		_, err = user.PutObject(ctx, bucket, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		wantS3Code(t, err, "InvalidAccessKeyId")
		if err := (minioidentity.Identities{Admin: admin, Prefix: identityPrefix}).Delete(ctx, accessKey); err != nil {
			t.Fatalf("deleting an absent identity: %v", err)
		}
	})
}

// TestEnvelope checks the raw JSON shape of an error and of a success answer.
func TestEnvelope(t *testing.T) {
	f := newFake(t, Config{})
	cases := []struct {
		reason     string
		method     string
		rel        string
		token      string
		body       string
		wantStatus int
		wantCode   int // 0 = success
	}{
		{"a missing bucket is a 404 error envelope with code 10006", "GET", "accounts/" + f.AccountID() + "/r2/buckets/absent-bucket", f.adminValue, "", 404, codeNoSuchBucket},
		{"verify succeeds with a result object", "GET", "accounts/" + f.AccountID() + "/tokens/verify", f.adminValue, "", 200, 0},
		{"no Authorization header is 400 code 9106", "GET", "accounts/" + f.AccountID() + "/tokens/verify", "", "", 400, codeMissingAuth},
		{"an unknown token is 401 code 1000", "GET", "accounts/" + f.AccountID() + "/tokens/verify", "cfat_unknown", "", 401, codeInvalidToken},
		{"an unknown path is 404 with the envelope", "GET", "accounts/" + f.AccountID() + "/nothing/here", f.adminValue, "", 404, codeNoRoute},
		{"a path outside /client/v4 is 404 with the envelope", "GET", "/elsewhere", f.adminValue, "", 404, codeNoRoute},
		{"a known path with another method is 405", "PUT", "accounts/" + f.AccountID() + "/r2/buckets", f.adminValue, "", 405, codeMethodNotAllow},
		{"bad JSON is 400", "POST", "accounts/" + f.AccountID() + "/r2/buckets", f.adminValue, `{"name":`, 400, codeMalformedJSON},
		{"bad JSON on token create is 400", "POST", "accounts/" + f.AccountID() + "/tokens", f.adminValue, `[`, 400, codeMalformedJSON},
		{"a wrongly typed field is 400", "POST", "accounts/" + f.AccountID() + "/tokens", f.adminValue, `{"name":7}`, 400, codeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			resp, env := rawDo(t, f.Server, tc.method, tc.rel, tc.token, tc.body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.wantStatus, env)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			for _, k := range []string{"success", "errors", "messages", "result"} {
				if _, ok := env[k]; !ok {
					t.Errorf("envelope lacks %q: %v", k, env)
				}
			}
			if msgs, ok := env["messages"].([]any); !ok || len(msgs) != 0 {
				t.Errorf("messages = %#v, want []", env["messages"])
			}
			errs, ok := env["errors"].([]any)
			if !ok {
				t.Fatalf("errors = %#v, want an array", env["errors"])
			}
			if tc.wantCode == 0 {
				if env["success"] != true || len(errs) != 0 {
					t.Fatalf("success envelope = %v", env)
				}
				result, ok := env["result"].(map[string]any)
				if !ok || result["id"] != f.adminID || result["status"] != "active" {
					t.Fatalf("result = %#v", env["result"])
				}
				return
			}
			if env["success"] != false || env["result"] != nil || len(errs) != 1 {
				t.Fatalf("error envelope = %v", env)
			}
			e := errs[0].(map[string]any)
			if code, _ := e["code"].(json.Number).Int64(); code != int64(tc.wantCode) {
				t.Fatalf("code %v, want %d", e["code"], tc.wantCode)
			}
			if msg, _ := e["message"].(string); msg == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	f := newFake(t, Config{})
	_, _ = rawDo(t, f.Server, "GET", "accounts/"+f.AccountID()+"/r2/buckets?per_page=7", f.adminValue, "")
	reqs := f.Requests()
	last := reqs[len(reqs)-1]
	if last.Method != "GET" || last.Path != "/client/v4/accounts/"+f.AccountID()+"/r2/buckets" ||
		last.Query.Get("per_page") != "7" || last.Status != 200 || last.TokenID != f.adminID || last.Jurisdiction != "" {
		t.Fatalf("recorded %+v", last)
	}
	if !strings.HasPrefix(f.URL(), "http://127.0.0.1:") || !strings.HasSuffix(f.URL(), "/client/v4/") {
		t.Fatalf("URL() = %q", f.URL())
	}
}
