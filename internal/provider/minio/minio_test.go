package minio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/minio"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/providertest"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

var srv *miniotest.Server

func TestMain(m *testing.M) { os.Exit(miniotest.RunTests(m, &srv)) }

func newClient(t *testing.T) *minio.Client {
	t.Helper()
	c, err := minio.New(minio.Config{Endpoint: srv.Endpoint, AccessKeyID: srv.RootUser, SecretAccessKey: srv.RootPassword})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func s3As(t *testing.T, ak, sk string) *miniogo.Client {
	t.Helper()
	c, err := miniogo.New(srv.Host, &miniogo.Options{Creds: credentials.NewStaticV4(ak, sk, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var bucketSeq atomic.Int64

func freshBucket(*testing.T) string { return fmt.Sprintf("conformance-%d", bucketSeq.Add(1)) }

func TestConformance(t *testing.T) {
	root := func(t *testing.T) *miniogo.Client { return s3As(t, srv.RootUser, srv.RootPassword) }
	providertest.Run(t, func(t *testing.T) providertest.Harness {
		return providertest.Harness{
			Client: newClient(t),
			PutObject: func(ctx context.Context, bucket, key string, data []byte) error {
				_, err := root(t).PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), miniogo.PutObjectOptions{})
				return err
			},
			BucketName: freshBucket,
		}
	})
}

// TestIssuedCredentialReachesItsOwnBucketOnly: real S3 enforcement of the inline policy.
func TestIssuedCredentialReachesItsOwnBucketOnly(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	own, other := freshBucket(t), freshBucket(t)
	for _, b := range []string{own, other} {
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: b, Owner: provider.Owner{Namespace: "n", Name: b, UID: b}}); err != nil {
			t.Fatal(err)
		}
	}
	root := s3As(t, srv.RootUser, srv.RootPassword)
	if _, err := root.PutObject(ctx, other, "state", strings.NewReader("theirs"), 6, miniogo.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	rw, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-rw-1", Bucket: own, Access: provider.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-ro-1", Bucket: own, Access: provider.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	rwc, roc := s3As(t, rw.AccessKeyID, rw.SecretAccessKey), s3As(t, ro.AccessKeyID, ro.SecretAccessKey)

	put := func(cl *miniogo.Client, bucket, key string) error {
		_, err := cl.PutObject(ctx, bucket, key, strings.NewReader("state"), 5, miniogo.PutObjectOptions{})
		return err
	}
	get := func(cl *miniogo.Client, bucket, key string) error {
		o, err := cl.GetObject(ctx, bucket, key, miniogo.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer o.Close()
		_, err = io.ReadAll(o)
		return err
	}
	list := func(cl *miniogo.Client, bucket string) error {
		for o := range cl.ListObjects(ctx, bucket, miniogo.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				return o.Err
			}
		}
		return nil
	}
	cases := []struct {
		reason  string
		call    func() error
		allowed bool
	}{
		{"read-write writes its own bucket", func() error { return put(rwc, own, "a/terraform.tfstate") }, true},
		{"read-write reads its own bucket", func() error { return get(rwc, own, "a/terraform.tfstate") }, true},
		{"read-write lists its own bucket", func() error { return list(rwc, own) }, true},
		{"read-write deletes in its own bucket (lock files)", func() error { return rwc.RemoveObject(ctx, own, "a/terraform.tfstate", miniogo.RemoveObjectOptions{}) }, true},
		{"read-write is denied writes to another bucket", func() error { return put(rwc, other, "x") }, false},
		{"read-write is denied reads of another bucket", func() error { return get(rwc, other, "state") }, false},
		{"read-write is denied listing another bucket", func() error { return list(rwc, other) }, false},
		{"read-write cannot create buckets", func() error { return rwc.MakeBucket(ctx, "sneaky-bucket", miniogo.MakeBucketOptions{}) }, false},
		{"read-only lists its own bucket", func() error { return list(roc, own) }, true},
		{"read-only is denied PutObject", func() error { return put(roc, own, "b/terraform.tfstate") }, false},
		{"read-only is denied reads of another bucket", func() error { return get(roc, other, "state") }, false},
	}
	for _, tc := range cases {
		err := tc.call()
		if tc.allowed && err != nil {
			t.Errorf("%s: %v", tc.reason, err)
		}
		if !tc.allowed && (err == nil || miniogo.ToErrorResponse(err).Code != "AccessDenied") {
			t.Errorf("%s: err = %v, want AccessDenied", tc.reason, err)
		}
	}

	// Revocation takes effect at once.
	if err := c.RevokeCredential(ctx, rw.ID); err != nil {
		t.Fatal(err)
	}
	if err := put(rwc, own, "after-revoke"); err == nil {
		t.Fatal("a revoked credential still writes")
	}
}

// TestDeleteNeverEmptiesABucket: a bucket with state (even only old versions) keeps every object.
func TestDeleteNeverEmptiesABucket(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	root := s3As(t, srv.RootUser, srv.RootPassword)
	name := freshBucket(t)
	if err := c.CreateBucket(ctx, provider.BucketRequest{Name: name, Owner: provider.Owner{Namespace: "n", Name: "x", UID: "u"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.EnableVersioning(ctx, name); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"env/terraform.tfstate", "env/terraform.tfstate", provider.ReservedPrefix + "probe"} {
		if _, err := root.PutObject(ctx, name, k, strings.NewReader("v"), 1, miniogo.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	versions := func() []string {
		var out []string
		for o := range root.ListObjects(ctx, name, miniogo.ListObjectsOptions{Recursive: true, WithVersions: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			out = append(out, o.Key+"@"+o.VersionID)
		}
		slices.Sort(out)
		return out
	}
	before := versions()
	if err := c.DeleteBucket(ctx, name); !errors.Is(err, provider.ErrBucketNotEmpty) {
		t.Fatalf("err = %v, want ErrBucketNotEmpty", err)
	}
	if after := versions(); !slices.Equal(before, after) {
		t.Fatalf("objects changed by a refused delete:\nbefore %v\nafter  %v", before, after)
	}

	// Only old versions left (the current object deleted by a user): still state, still kept.
	if err := root.RemoveObject(ctx, name, "env/terraform.tfstate", miniogo.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteBucket(ctx, name); !errors.Is(err, provider.ErrBucketNotEmpty) {
		t.Fatalf("bucket with only old versions: err = %v, want ErrBucketNotEmpty", err)
	}
}

func TestObserveReportsOwnerAndForeignBuckets(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	root := s3As(t, srv.RootUser, srv.RootPassword)
	foreign := freshBucket(t)
	if err := root.MakeBucket(ctx, foreign, miniogo.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	obs, err := c.ObserveBucket(ctx, foreign)
	if err != nil || !obs.Exists || obs.Owner != nil || obs.Versioning {
		t.Fatalf("foreign bucket observed as %+v, %v; want existing, unowned, unversioned", obs, err)
	}
}

func TestBadConfigIsInvalidConfig(t *testing.T) {
	cases := []struct {
		reason string
		cfg    minio.Config
	}{
		{"an endpoint without scheme", minio.Config{Endpoint: "127.0.0.1:9000"}},
		{"an endpoint with a path", minio.Config{Endpoint: "http://127.0.0.1:9000/minio"}},
		{"a CA bundle without certificates", minio.Config{Endpoint: "https://127.0.0.1:9000", CABundle: "not pem"}},
	}
	for _, tc := range cases {
		if _, err := minio.New(tc.cfg); !errors.Is(err, provider.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", tc.reason, err)
		}
	}
	c, err := minio.New(minio.Config{Endpoint: srv.Endpoint, AccessKeyID: srv.RootUser, SecretAccessKey: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ObserveBucket(context.Background(), "anything"); !errors.Is(err, provider.ErrInvalidConfig) {
		t.Errorf("wrong admin secret on S3: err = %v, want ErrInvalidConfig", err)
	}
	if _, err := c.ListCredentials(context.Background(), "tfso-"); !errors.Is(err, provider.ErrInvalidConfig) {
		t.Errorf("wrong admin secret on the admin API: err = %v, want ErrInvalidConfig", err)
	}
}
