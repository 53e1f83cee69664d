package minio_test

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/tfstate-operator/tfstate-operator/internal/minioadmin"
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
		GetObject: func(ctx context.Context, bucket, key string) ([]byte, error) {
			o, err := root.GetObject(ctx, bucket, key, miniogo.GetObjectOptions{})
			if err != nil {
				return nil, err
			}
			defer o.Close()
			return io.ReadAll(o)
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

// TestBucketAccessRepair: a bucket made public with `mc anonymous set download` is closed again.
func TestBucketAccessRepair(t *testing.T) {
	providertest.RunBucketAccessRepair(t, func(t *testing.T) providertest.AccessHarness {
		dp := providertest.MinIODataPlane{Host: srv.Host, RootUser: srv.RootUser, RootPassword: srv.RootPassword}
		return providertest.AccessHarness{Harness: harness(t), Expose: dp.ExposeWithBucketPolicy, AnonymousGet: dp.AnonymousGet}
	})
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

func adminClient(t *testing.T) *minioadmin.Client {
	t.Helper()
	c, err := minioadmin.New(srv.Endpoint, srv.RootUser, srv.RootPassword, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// grantHarness widens a service account the way an administrator would in the console: by
// replacing its inline policy through the admin API.
func grantHarness(t *testing.T) providertest.GrantHarness {
	admin := adminClient(t)
	return providertest.GrantHarness{
		S3Harness: s3Harness(t),
		Widen: func(t *testing.T, cred provider.Credential, own, other string) {
			t.Helper()
			wide := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":[` +
				`"arn:aws:s3:::` + own + `","arn:aws:s3:::` + own + `/*","arn:aws:s3:::` + other + `","arn:aws:s3:::` + other + `/*"]}]}`
			if err := admin.UpdateServiceAccount(context.Background(), cred.ID, minioadmin.UpdateServiceAccountRequest{NewPolicy: []byte(wide)}); err != nil {
				t.Fatalf("widen the service account out of band: %v", err)
			}
		},
	}
}

func TestGrantRepair(t *testing.T) { providertest.RunGrantRepair(t, grantHarness) }

// TestGrantRepairOfAnInheritingAccount: an account without an inline policy inherits everything the
// admin identity may do, and MinIO reports root's inherited policy as empty; RepairGrant must give
// it the bucket's policy rather than compare that empty text.
func TestGrantRepairOfAnInheritingAccount(t *testing.T) {
	ctx := context.Background()
	c, admin := newClient(t), adminClient(t)
	own, other := freshBucket(t), freshBucket(t)
	for _, b := range []string{own, other} {
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: b, Owner: provider.Owner{Namespace: "n", Name: b, UID: b}}); err != nil {
			t.Fatal(err)
		}
	}
	req := provider.CredentialRequest{Name: "tfso-inheriting", Bucket: own, Access: provider.ReadWrite}
	creds, err := admin.AddServiceAccount(ctx, minioadmin.AddServiceAccountRequest{Name: req.Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.RevokeCredential(ctx, creds.AccessKey) })
	for _, want := range []bool{true, false} {
		if got, err := c.RepairGrant(ctx, creds.AccessKey, req); err != nil || got != want {
			t.Fatalf("RepairGrant = %v, %v; want %v, nil", got, err, want)
		}
	}
	_, err = s3As(t, creds.AccessKey, creds.SecretKey).PutObject(ctx, other, "k", strings.NewReader("x"), 1, miniogo.PutObjectOptions{})
	if code := miniogo.ToErrorResponse(err).Code; code != "AccessDenied" {
		t.Fatalf("after repair, writing another bucket: err = %v, want AccessDenied", err)
	}
}

func TestSamePolicy(t *testing.T) {
	const b = "state"
	rw, ro := minio.Policy(b, provider.ReadWrite), minio.Policy(b, provider.ReadOnly)
	cases := []struct {
		reason string
		want   []byte
		live   string
		same   bool
	}{
		{"the policy as issued", rw, string(rw), true},
		{"MinIO's echo: indented, statements, actions and resources in another order", rw, `{
		 "Version": "2012-10-17",
		 "Statement": [
		  {"Effect": "Allow", "Action": ["s3:DeleteObject", "s3:PutObject", "s3:GetObject"], "Resource": ["arn:aws:s3:::state/*"]},
		  {"Resource": ["arn:aws:s3:::state"], "Action": ["s3:GetBucketLocation", "s3:ListBucket"], "Effect": "Allow"}
		 ]}`, true},
		{`"Action": "x" is ["x"], and "Resource" likewise`, ro, `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":"arn:aws:s3:::state"},
			{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::state/*"}]}`, true},
		{"a Sid, an Id and a repeated statement grant nothing more", ro, `{"Version":"2012-10-17","ID":"x","Statement":[
			{"Sid":"list","Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::state"]},
			{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::state/*"]},
			{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::state/*"]}]}`, true},
		{"an extra statement on another bucket", rw, strings.TrimSuffix(string(rw), `]}`) +
			`,{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::other/*"]}]}`, false},
		{"the same grant on another bucket", rw, string(minio.Policy("other", provider.ReadWrite)), false},
		{"read-only where read-write was issued", rw, string(ro), false},
		{"read-write where read-only was issued", ro, string(rw), false},
		{"an extra resource in a statement", ro, strings.Replace(string(ro), `"arn:aws:s3:::state/*"`, `"arn:aws:s3:::state/*","arn:aws:s3:::other/*"`, 1), false},
		{"a condition narrows or widens the statement", ro, strings.Replace(string(ro), `"Effect":"Allow","Action":["s3:GetObject"]`,
			`"Effect":"Allow","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}},"Action":["s3:GetObject"]`, 1), false},
		{"deny instead of allow", ro, strings.ReplaceAll(string(ro), "Allow", "Deny"), false},
		{"the empty policy MinIO reports for an account inheriting root's", rw, `{"Version":"","Statement":null}`, false},
	}
	for _, tc := range cases {
		if !json.Valid([]byte(tc.live)) {
			t.Fatalf("%s: the case's policy is not JSON, so it proves nothing: %s", tc.reason, tc.live)
		}
		if got := minio.SamePolicy(tc.want, []byte(tc.live)); got != tc.same {
			t.Errorf("%s: SamePolicy = %v, want %v\nlive: %s", tc.reason, got, tc.same, tc.live)
		}
	}

	unparsable := []struct {
		reason string
		live   string
	}{
		{"no policy text at all", ``},
		{"a truncated document", `{"Version":`},
		{"an action that is not a string", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[1],"Resource":"*"}]}`},
	}
	for _, tc := range unparsable {
		if minio.SamePolicy(rw, []byte(tc.live)) {
			t.Errorf("%s: SamePolicy = true, want false (drift, so the policy is rewritten)", tc.reason)
		}
	}
}
