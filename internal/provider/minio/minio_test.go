package minio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

func harness(t *testing.T) providertest.Harness {
	root := s3As(t, srv.RootUser, srv.RootPassword)
	return providertest.Harness{
		Client: newClient(t),
		PutObject: func(ctx context.Context, bucket, key string, data []byte) error {
			_, err := root.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), miniogo.PutObjectOptions{})
			return err
		},
		BucketName: freshBucket,
	}
}

func TestConformance(t *testing.T) { providertest.Run(t, harness) }

// TestEnforcement: real S3 enforcement of the inline policy.
func s3Harness(t *testing.T) providertest.S3Harness {
	return providertest.S3Harness{
		Harness: harness(t),
		S3: func(t *testing.T, cred provider.Credential) *miniogo.Client {
			return s3As(t, cred.AccessKeyID, cred.SecretAccessKey)
		},
	}
}

func TestEnforcement(t *testing.T) { providertest.RunEnforcement(t, s3Harness) }

func TestRotation(t *testing.T) { providertest.RunRotation(t, s3Harness) }

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
