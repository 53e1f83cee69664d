package fakedigitalocean

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
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
