package fakedigitalocean

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// frontS3 is a client of the fake's S3 front signed with the key.
func frontS3(t *testing.T, s *Server, accessKey, secretKey string) *minio.Client {
	t.Helper()
	u, _ := url.Parse(s.S3Endpoint())
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// aclCall sends GET or PUT /bucket?acl to the front, signed with the key (unsigned when
// accessKey is ""), with the canned ACL header when acl is set.
func aclCall(t *testing.T, s *Server, method, bucket, acl, accessKey, secretKey string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.S3Endpoint()+"/"+bucket+"?acl=", http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	if acl != "" {
		req.Header.Set("X-Amz-Acl", acl)
	}
	if accessKey != "" {
		req = signer.SignV4(*req, accessKey, secretKey, "", "us-east-1")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestBucketLimit: the front refuses a bucket beyond the account's limit with S3's 400
// TooManyBuckets, makes nothing for it, counts a deleted bucket out, and passes objects through.
func TestBucketLimit(t *testing.T) {
	s, tok := newFake(t, Config{BucketLimit: 2})
	ak, sk := createKey(t, s, tok, "admin", `[{"bucket":"","permission":"fullaccess"}]`)
	c := frontS3(t, s, ak, sk)
	ctx := context.Background()
	a, b, third := uniq(), uniq(), uniq()
	for _, name := range []string{a, b} {
		if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
			t.Fatalf("bucket %s under the limit: %v", name, err)
		}
	}
	err := c.MakeBucket(ctx, third, minio.MakeBucketOptions{})
	if e := minio.ToErrorResponse(err); e.StatusCode != http.StatusBadRequest || e.Code != "TooManyBuckets" {
		t.Fatalf("the third bucket of two: %d %q (%v), want 400 TooManyBuckets", e.StatusCode, e.Code, err)
	}
	if ok, _ := c.BucketExists(ctx, third); ok {
		t.Fatal("a refused bucket was made")
	}
	if err := put(c, a, "state", "{}"); err != nil {
		t.Fatalf("objects go through the front: %v", err)
	}
	if err := c.RemoveObject(ctx, a, "state", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveBucket(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(ctx, third, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("after a delete the account has room again: %v", err)
	}
}

// TestBucketACL: a bucket starts private, "public-read" adds a READ grant to AllUsers, "private"
// takes it away; a key without the right, an anonymous caller and an absent bucket are refused
// as MinIO refuses them, and nothing is recorded for them.
func TestBucketACL(t *testing.T) {
	s, tok := newFake(t, Config{})
	ak, sk := createKey(t, s, tok, "admin", `[{"bucket":"","permission":"fullaccess"}]`)
	ctx := context.Background()
	bucket := uniq()
	if err := frontS3(t, s, ak, sk).MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	rk, rs := createKey(t, s, tok, "reader", `[{"bucket":"`+bucket+`","permission":"readwrite"}]`)

	isPublic := func() bool {
		t.Helper()
		status, body := aclCall(t, s, http.MethodGet, bucket, "", ak, sk)
		if status != http.StatusOK || !strings.Contains(body, "<AccessControlPolicy") || !strings.Contains(body, "FULL_CONTROL") {
			t.Fatalf("get ACL: %d %s", status, body)
		}
		return strings.Contains(body, allUsers)
	}
	if isPublic() || s.BucketACL(bucket) != ACLPrivate {
		t.Fatal("a new bucket is public")
	}
	if status, body := aclCall(t, s, http.MethodPut, bucket, ACLPublicRead, rk, rs); status != http.StatusForbidden {
		t.Fatalf("a readwrite key sets an ACL: %d %s", status, body)
	}
	if status, _ := aclCall(t, s, http.MethodPut, bucket, ACLPublicRead, "", ""); status != http.StatusForbidden {
		t.Fatalf("an anonymous caller sets an ACL: %d", status)
	}
	if status, body := aclCall(t, s, http.MethodPut, uniq(), ACLPublicRead, ak, sk); status != http.StatusNotFound || !strings.Contains(body, "NoSuchBucket") {
		t.Fatalf("an ACL on an absent bucket: %d %s", status, body)
	}
	if isPublic() {
		t.Fatal("a refused ACL was recorded")
	}
	if status, body := aclCall(t, s, http.MethodPut, bucket, "public-read-write", ak, sk); status != http.StatusBadRequest {
		t.Fatalf("an ACL Spaces does not take: %d %s", status, body)
	}
	if status, body := aclCall(t, s, http.MethodPut, bucket, ACLPublicRead, ak, sk); status != http.StatusOK {
		t.Fatalf("set public-read: %d %s", status, body)
	}
	if !isPublic() || s.BucketACL(bucket) != ACLPublicRead {
		t.Fatal("public-read did not take")
	}
	if status, body := aclCall(t, s, http.MethodPut, bucket, ACLPrivate, ak, sk); status != http.StatusOK {
		t.Fatalf("set private: %d %s", status, body)
	}
	if isPublic() {
		t.Fatal("private did not take")
	}
}
