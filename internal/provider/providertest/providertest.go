// Package providertest is the conformance suite every provider.Client runs: the contracts written
// on the interface (idempotency, ErrBucketNameTaken, ErrBucketNotEmpty, revoke-twice), checked the
// same way against every store.
package providertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// Harness is what the suite needs from a store beyond provider.Client.
type Harness struct {
	Client provider.Client
	// PutObject writes an object directly, as a runner would.
	PutObject func(ctx context.Context, bucket, key string, data []byte) error
	// GetObject reads an object directly, with the store's admin (data-plane) access: whether an
	// object a runner wrote is still there.
	GetObject func(ctx context.Context, bucket, key string) ([]byte, error)
	// BucketName returns a fresh, valid bucket name unique to this run.
	BucketName func(t *testing.T) string
}

// Run runs the conformance suite.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("bucket lifecycle is idempotent", func(t *testing.T) {
		h := newHarness(t)
		ctx, c := context.Background(), h.Client
		name := h.BucketName(t)
		// The cluster and the seal are part of the marker: a store that drops the cluster lets
		// another cluster sharing the account take the bucket, one that drops the seal makes every
		// marker unverifiable. A seal is 43 base64url characters.
		owner := provider.Owner{Namespace: "team-a", Name: "net", UID: "uid-1", Cluster: "0b6f1c2e-9d8a-4e57-b3c1-5f2a7d9e4c10",
			Seal: "Qm9hcmQtc2VhbC0xMjM0NTY3ODkwYWJjZGVmZ2hpams"}

		if obs, err := c.ObserveBucket(ctx, name); err != nil || obs.Exists {
			t.Fatalf("observe before create = %+v, %v; want absent", obs, err)
		}
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: name, Owner: owner}); err != nil {
			t.Fatal(err)
		}
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: name, Owner: owner}); !errors.Is(err, provider.ErrBucketNameTaken) {
			t.Fatalf("second create: err = %v, want ErrBucketNameTaken", err)
		}
		obs, err := c.ObserveBucket(ctx, name)
		if err != nil || !obs.Exists || obs.Owner == nil || *obs.Owner != owner {
			t.Fatalf("observe after create = %+v (owner %+v), %v; want owned by %+v", obs, obs.Owner, err, owner)
		}
		other := provider.Owner{Namespace: "team-a", Name: "net", UID: "uid-2", Cluster: "cluster-b", Seal: "b_-" + strings.Repeat("x", 40)}
		for range 2 {
			if err := c.MarkBucket(ctx, name, other); err != nil {
				t.Fatal(err)
			}
		}
		if obs, _ := c.ObserveBucket(ctx, name); obs.Owner == nil || *obs.Owner != other {
			t.Fatalf("after MarkBucket owner = %+v, want %+v", obs.Owner, other)
		}
		// A marker written before the cluster and the seal were recorded still names its owner.
		legacy := provider.Owner{Namespace: "team-a", Name: "net", UID: "uid-3"}
		if err := c.MarkBucket(ctx, name, legacy); err != nil {
			t.Fatal(err)
		}
		if obs, _ := c.ObserveBucket(ctx, name); obs.Owner == nil || *obs.Owner != legacy {
			t.Fatalf("after MarkBucket without cluster and seal owner = %+v, want %+v", obs.Owner, legacy)
		}
		if c.Settings().Versioning {
			for range 2 {
				if err := c.EnableVersioning(ctx, name); err != nil {
					t.Fatal(err)
				}
			}
			if obs, _ := c.ObserveBucket(ctx, name); !obs.Versioning {
				t.Fatal("versioning not reported after EnableVersioning")
			}
		}
		for range 2 {
			if err := c.DeleteBucket(ctx, name); err != nil {
				t.Fatalf("delete of an empty bucket (twice): %v", err)
			}
		}
		if obs, _ := c.ObserveBucket(ctx, name); obs.Exists {
			t.Fatal("bucket still exists after DeleteBucket")
		}
	})

	t.Run("a non-empty bucket is never deleted, the operator's reserved objects do not count", func(t *testing.T) {
		h := newHarness(t)
		ctx, c := context.Background(), h.Client
		name := h.BucketName(t)
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: name, Owner: provider.Owner{Namespace: "a", Name: "b", UID: "c"}}); err != nil {
			t.Fatal(err)
		}
		if c.Settings().Versioning {
			if err := c.EnableVersioning(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.PutObject(ctx, name, provider.ProbeKey("0123456789abcdef0123456789abcdef"), []byte("p")); err != nil {
			t.Fatal(err)
		}
		if err := h.PutObject(ctx, name, "env/terraform.tfstate", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteBucket(ctx, name); !errors.Is(err, provider.ErrBucketNotEmpty) {
			t.Fatalf("DeleteBucket on a bucket with state: err = %v, want ErrBucketNotEmpty", err)
		}
		if obs, _ := c.ObserveBucket(ctx, name); !obs.Exists {
			t.Fatal("a non-empty bucket was deleted")
		}
	})

	t.Run("the operator's own objects, every version of them, do not make a bucket non-empty", func(t *testing.T) {
		h := newHarness(t)
		ctx, c := context.Background(), h.Client
		name := h.BucketName(t)
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: name, Owner: provider.Owner{Namespace: "a", Name: "b", UID: "c"}}); err != nil {
			t.Fatal(err)
		}
		if c.Settings().Versioning {
			if err := c.EnableVersioning(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		probe := provider.ProbeKey("fedcba9876543210fedcba9876543210")
		for range 2 { // two versions where the store keeps them
			if err := h.PutObject(ctx, name, probe, []byte("p")); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.DeleteBucket(ctx, name); err != nil {
			t.Fatalf("DeleteBucket on a bucket holding only the marker and a probe object: %v", err)
		}
		if obs, _ := c.ObserveBucket(ctx, name); obs.Exists {
			t.Fatal("bucket still exists after DeleteBucket")
		}
	})

	t.Run("state under the operator's reserved prefix is never deleted", func(t *testing.T) {
		// A tenant's key (or workspace prefix) may have put real state under ReservedPrefix:
		// only the exact objects the operator writes there are its own to remove.
		h := newHarness(t)
		ctx, c := context.Background(), h.Client
		name := h.BucketName(t)
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: name, Owner: provider.Owner{Namespace: "a", Name: "b", UID: "c"}}); err != nil {
			t.Fatal(err)
		}
		if c.Settings().Versioning {
			if err := c.EnableVersioning(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		const key = provider.ReservedPrefix + "prod.tfstate"
		state := []byte(`{"version":4,"resources":["prod"]}`)
		if err := h.PutObject(ctx, name, key, state); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteBucket(ctx, name); !errors.Is(err, provider.ErrBucketNotEmpty) {
			t.Fatalf("DeleteBucket on a bucket holding %s: err = %v, want ErrBucketNotEmpty", key, err)
		}
		if obs, err := c.ObserveBucket(ctx, name); err != nil || !obs.Exists {
			t.Fatalf("observe after the refused delete = %+v, %v; want the bucket kept", obs, err)
		}
		got, err := h.GetObject(ctx, name, key)
		if err != nil || !bytes.Equal(got, state) {
			t.Fatalf("%s after the refused delete = %q, %v; want the state kept as written", key, got, err)
		}
	})

	t.Run("credentials are listed by prefix and revoked idempotently", func(t *testing.T) {
		h := newHarness(t)
		ctx, c := context.Background(), h.Client
		name := h.BucketName(t)
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: name, Owner: provider.Owner{Namespace: "a", Name: "b", UID: "c"}}); err != nil {
			t.Fatal(err)
		}
		prefix := fmt.Sprintf("tfso-%x-", time.Now().UnixNano()&0xffffffff)
		var issued []provider.Credential
		for i, access := range []provider.Access{provider.ReadWrite, provider.ReadOnly} {
			cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: fmt.Sprintf("%s%d", prefix, i), Bucket: name, Access: access, Description: "conformance"})
			if err != nil {
				t.Fatal(err)
			}
			if cred.ID == "" || cred.AccessKeyID == "" || cred.SecretAccessKey == "" {
				t.Fatalf("issued credential lacks id or keys: id %q key %q", cred.ID, cred.AccessKeyID)
			}
			if !cred.ExpiresAt.IsZero() {
				t.Fatalf("a credential issued without an expiry reports one: %s", cred.ExpiresAt)
			}
			issued = append(issued, cred)
		}
		if c.Settings().Expiry {
			// A store that can make credentials expire is asked to, and lists when.
			expires := time.Now().Add(time.Hour).Truncate(time.Second)
			cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: prefix + "expiring", Bucket: name, Access: provider.ReadOnly, ExpiresAt: expires})
			if err != nil {
				t.Fatal(err)
			}
			list, err := c.ListCredentials(ctx, prefix+"expiring")
			if err != nil || len(list) != 1 || list[0].ExpiresAt.Sub(expires).Abs() > 2*time.Second || cred.ExpiresAt.Sub(expires).Abs() > 2*time.Second {
				t.Fatalf("an expiring credential: issued %v, listed %+v, %v; want it to expire at %s", cred.ExpiresAt, list, err, expires)
			}
			if err := c.RevokeCredential(ctx, cred.ID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-elsewhere-0", Bucket: name, Access: provider.ReadOnly}); err != nil {
			t.Fatal(err)
		}
		ids := func() []string {
			list, err := c.ListCredentials(ctx, prefix)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, l := range list {
				if !l.ExpiresAt.IsZero() {
					t.Fatalf("credential %s issued without an expiry is listed with one: %s", l.ID, l.ExpiresAt)
				}
				out = append(out, l.ID)
			}
			slices.Sort(out)
			return out
		}
		want := []string{issued[0].ID, issued[1].ID}
		slices.Sort(want)
		if got := ids(); !slices.Equal(got, want) {
			t.Fatalf("ListCredentials(%q) = %v, want exactly %v", prefix, got, want)
		}
		for range 2 {
			if err := c.RevokeCredential(ctx, issued[0].ID); err != nil {
				t.Fatalf("revoke (twice): %v", err)
			}
		}
		if got := ids(); !slices.Equal(got, []string{issued[1].ID}) {
			t.Fatalf("after revoke ListCredentials = %v, want %v", got, []string{issued[1].ID})
		}
	})
}

// S3Harness is what RunEnforcement needs: a store with a real S3 API.
type S3Harness struct {
	Harness
	// S3 returns a client of the store's S3 API signed with an issued credential's keys.
	S3 func(t *testing.T, cred provider.Credential) *miniogo.Client
}

// RunEnforcement checks, through the store's own S3 API, that issued credentials can do what their
// access allows in their own bucket and nothing anywhere else, and stop working once revoked. Every
// provider with a real S3 data plane runs it (the in-memory store has none).
func RunEnforcement(t *testing.T, newHarness func(t *testing.T) S3Harness) {
	t.Run("an issued credential reaches its own bucket only, as its access allows", func(t *testing.T) {
		h := newHarness(t)
		ctx, c := context.Background(), h.Client
		own, other := h.BucketName(t), h.BucketName(t)
		for _, b := range []string{own, other} {
			if err := c.CreateBucket(ctx, provider.BucketRequest{Name: b, Owner: provider.Owner{Namespace: "n", Name: b, UID: b}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.PutObject(ctx, other, "state", []byte("theirs")); err != nil {
			t.Fatal(err)
		}
		issue := func(name string, a provider.Access) *miniogo.Client {
			cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: name, Bucket: own, Access: a, Description: "enforcement"})
			if err != nil {
				t.Fatal(err)
			}
			return h.S3(t, cred)
		}
		prefix := fmt.Sprintf("tfso-%x-", time.Now().UnixNano()&0xffffffff)
		rw, ro := issue(prefix+"rw", provider.ReadWrite), issue(prefix+"ro", provider.ReadOnly)

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
			{"read-write writes its own bucket", func() error { return put(rw, own, "a/terraform.tfstate") }, true},
			{"read-write reads its own bucket", func() error { return get(rw, own, "a/terraform.tfstate") }, true},
			{"read-write lists its own bucket", func() error { return list(rw, own) }, true},
			{"read-write deletes in its own bucket (lock files)", func() error {
				if err := put(rw, own, "a/terraform.tfstate.tflock"); err != nil {
					return err
				}
				return rw.RemoveObject(ctx, own, "a/terraform.tfstate.tflock", miniogo.RemoveObjectOptions{})
			}, true},
			{"read-write is denied writes to another bucket", func() error { return put(rw, other, "x") }, false},
			{"read-write is denied reads of another bucket", func() error { return get(rw, other, "state") }, false},
			{"read-write is denied listing another bucket", func() error { return list(rw, other) }, false},
			{"read-write cannot create buckets", func() error { return rw.MakeBucket(ctx, "sneaky-"+own, miniogo.MakeBucketOptions{}) }, false},
			{"read-write cannot delete its bucket", func() error { return rw.RemoveBucket(ctx, own) }, false},
			{"read-only lists its own bucket", func() error { return list(ro, own) }, true},
			{"read-only reads its own bucket", func() error { return get(ro, own, "a/terraform.tfstate") }, true},
			{"read-only is denied PutObject", func() error { return put(ro, own, "b/terraform.tfstate") }, false},
			{"read-only is denied DeleteObject", func() error { return ro.RemoveObject(ctx, own, "b", miniogo.RemoveObjectOptions{}) }, false},
			{"read-only is denied reads of another bucket", func() error { return get(ro, other, "state") }, false},
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

		// Revocation takes effect at once: the key is refused, not merely narrowed.
		live, err := c.ListCredentials(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range live {
			if err := c.RevokeCredential(ctx, l.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := get(rw, own, "a/terraform.tfstate"); err == nil {
			t.Fatal("a revoked credential still reads its bucket")
		}
	})
}

// MinIODataPlane is the S3 side of a provider under test whose data plane is a MinIO server (the
// fakes of the provider APIs keep their buckets there): S3 clients with its root keys or with
// issued keys, for the Harness and S3Harness fields.
type MinIODataPlane struct {
	Host, RootUser, RootPassword string
	// Region is what the provider's clients sign with.
	Region string
}

// Client is an S3 client of the data plane signed with the keys.
func (m MinIODataPlane) Client(t *testing.T, accessKeyID, secretAccessKey string) *miniogo.Client {
	t.Helper()
	return m.S3(t, provider.Credential{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey})
}

// S3 is Client with an issued credential's keys and session token, if any (S3Harness.S3).
func (m MinIODataPlane) S3(t *testing.T, cred provider.Credential) *miniogo.Client {
	t.Helper()
	c, err := miniogo.New(m.Host, &miniogo.Options{Creds: credentials.NewStaticV4(cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken), Region: m.Region})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// PutObject writes with the root keys, as a runner would (Harness.PutObject).
func (m MinIODataPlane) PutObject(t *testing.T) func(ctx context.Context, bucket, key string, data []byte) error {
	root := m.Client(t, m.RootUser, m.RootPassword)
	return func(ctx context.Context, bucket, key string, data []byte) error {
		_, err := root.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), miniogo.PutObjectOptions{})
		return err
	}
}

// GetObject reads with the root keys (Harness.GetObject).
func (m MinIODataPlane) GetObject(t *testing.T) func(ctx context.Context, bucket, key string) ([]byte, error) {
	root := m.Client(t, m.RootUser, m.RootPassword)
	return func(ctx context.Context, bucket, key string) ([]byte, error) {
		o, err := root.GetObject(ctx, bucket, key, miniogo.GetObjectOptions{})
		if err != nil {
			return nil, err
		}
		defer o.Close()
		return io.ReadAll(o)
	}
}

// AnonymousGet reads bucket/key with no credentials at all, as the public would
// (AccessHarness.AnonymousGet); an error unless the data plane answers 200.
func (m MinIODataPlane) AnonymousGet(t *testing.T, bucket, key string) error {
	t.Helper()
	resp, err := http.Get("http://" + m.Host + "/" + bucket + "/" + key)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("anonymous GET %s/%s: HTTP %d", bucket, key, resp.StatusCode)
	}
	return nil
}

// ExposeWithBucketPolicy opens bucket to anonymous reads with a bucket policy written with the
// root keys, as `mc anonymous set download` (or an S3 console) would (AccessHarness.Expose on
// stores with bucket policies).
func (m MinIODataPlane) ExposeWithBucketPolicy(t *testing.T, bucket string) {
	t.Helper()
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, bucket)
	if err := m.Client(t, m.RootUser, m.RootPassword).SetBucketPolicy(context.Background(), bucket, policy); err != nil {
		t.Fatalf("exposing %s out of band: %v", bucket, err)
	}
}

// RunRotation drives a store the way the controller rotates a backend's credential 100 times: a
// new credential is issued, the one before it stays live for its grace, and the one before that is
// revoked. Listing never shows more than the current one plus the one in grace, the current one
// works on S3, and revoked ones are refused.
func RunRotation(t *testing.T, newHarness func(t *testing.T) S3Harness) {
	t.Run("100 rotations leave one live credential plus at most one in grace", func(t *testing.T) {
		h := newHarness(t)
		ctx, c := context.Background(), h.Client
		bucket := h.BucketName(t)
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: bucket, Owner: provider.Owner{Namespace: "n", Name: bucket, UID: bucket}}); err != nil {
			t.Fatal(err)
		}
		prefix := fmt.Sprintf("tfso-%x-", time.Now().UnixNano()&0xffffffff)
		var current, inGrace, firstRevoked *provider.Credential
		for i := range 100 {
			cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: fmt.Sprintf("%s%d", prefix, i), Bucket: bucket, Access: provider.ReadWrite})
			if err != nil {
				t.Fatalf("rotation %d: %v", i, err)
			}
			if inGrace != nil {
				if err := c.RevokeCredential(ctx, inGrace.ID); err != nil {
					t.Fatalf("rotation %d: revoke: %v", i, err)
				}
				if firstRevoked == nil {
					firstRevoked = inGrace
				}
			}
			inGrace, current = current, &cred
			live, err := c.ListCredentials(ctx, prefix)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{current.ID}
			if inGrace != nil {
				want = append(want, inGrace.ID)
			}
			var got []string
			for _, l := range live {
				got = append(got, l.ID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("after rotation %d: live %v, want %v", i, got, want)
			}
		}
		list := func(cred *provider.Credential) error {
			for o := range h.S3(t, *cred).ListObjects(ctx, bucket, miniogo.ListObjectsOptions{MaxKeys: 1}) {
				if o.Err != nil {
					return o.Err
				}
			}
			return nil
		}
		if err := list(current); err != nil {
			t.Fatalf("the current credential after 100 rotations: %v", err)
		}
		if err := list(firstRevoked); err == nil {
			t.Fatal("a credential revoked 98 rotations ago still lists the bucket")
		}
	})
}

// GrantHarness is what RunGrantRepair needs: a store with a real S3 API and a way to edit a
// credential's grant behind the Client's back.
type GrantHarness struct {
	S3Harness
	// Widen changes what cred may do through the store's own admin API, as an administrator
	// editing it in the console would, never through the Client under test: afterwards cred may
	// read and write objects in both own and other.
	Widen func(t *testing.T, cred provider.Credential, own, other string)
}

// RunGrantRepair checks RepairGrant: a grant as issued is left alone, a grant widened out of band
// is detected and restored with the keys unchanged (proved on S3), a second repair finds nothing,
// and a revoked credential is reported as not found.
func RunGrantRepair(t *testing.T, newHarness func(t *testing.T) GrantHarness) {
	for _, access := range []provider.Access{provider.ReadWrite, provider.ReadOnly} {
		t.Run(fmt.Sprintf("a %s grant widened out of band is restored in place", access), func(t *testing.T) {
			h := newHarness(t)
			ctx, c := context.Background(), h.Client
			own, other := h.BucketName(t), h.BucketName(t)
			for _, b := range []string{own, other} {
				if err := c.CreateBucket(ctx, provider.BucketRequest{Name: b, Owner: provider.Owner{Namespace: "n", Name: b, UID: b}}); err != nil {
					t.Fatal(err)
				}
			}
			req := provider.CredentialRequest{Name: fmt.Sprintf("tfso-%x-grant", time.Now().UnixNano()&0xffffffff), Bucket: own, Access: access, Description: "grant repair"}
			cred, err := c.IssueCredential(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			s3 := h.S3(t, cred)
			put := func(bucket string) error {
				_, err := s3.PutObject(ctx, bucket, "drift/probe", strings.NewReader("x"), 1, miniogo.PutObjectOptions{})
				return err
			}
			repair := func(want bool) {
				t.Helper()
				got, err := c.RepairGrant(ctx, cred.ID, req)
				if err != nil {
					t.Fatalf("RepairGrant: %v", err)
				}
				if got != want {
					t.Fatalf("RepairGrant reported repaired=%v, want %v", got, want)
				}
			}

			repair(false) // as issued: nothing to do, nothing changed
			h.Widen(t, cred, own, other)
			if err := put(other); err != nil {
				t.Fatalf("the out-of-band edit did not take (the test proves nothing): writing the other bucket: %v", err)
			}
			repair(true)
			if err := put(other); miniogo.ToErrorResponse(err).Code != "AccessDenied" {
				t.Errorf("after repair, writing the other bucket: err = %v, want AccessDenied", err)
			}
			err = put(own)
			switch {
			case access == provider.ReadWrite && err != nil:
				t.Errorf("after repair, the read-write credential writing its own bucket: %v (the same keys must keep working)", err)
			case access == provider.ReadOnly && miniogo.ToErrorResponse(err).Code != "AccessDenied":
				t.Errorf("after repair, the read-only credential writing its own bucket: err = %v, want AccessDenied", err)
			}
			for o := range s3.ListObjects(ctx, own, miniogo.ListObjectsOptions{MaxKeys: 1}) {
				if o.Err != nil {
					t.Errorf("after repair, listing its own bucket: %v", o.Err)
				}
			}
			repair(false)

			if err := c.RevokeCredential(ctx, cred.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := c.RepairGrant(ctx, cred.ID, req); !errors.Is(err, provider.ErrCredentialNotFound) {
				t.Errorf("RepairGrant of a revoked credential: err = %v, want ErrCredentialNotFound", err)
			}
		})
	}
}

// AccessHarness is what RunBucketAccessRepair needs: a way to open a bucket to the public behind
// the Client's back, and to try an anonymous read.
type AccessHarness struct {
	Harness
	// Expose opens bucket to anonymous reads through the store's own API, as someone clicking
	// "public" in a console would, never through the Client under test.
	Expose func(t *testing.T, bucket string)
	// AnonymousGet reads bucket/key without credentials, the way the public would; nil on stores
	// whose test double cannot serve anonymous requests (the provider's own tests then check the
	// setting itself).
	AnonymousGet func(t *testing.T, bucket, key string) error
	// Exposed reports, from the store's side, whether bucket is open to the public; used when
	// AnonymousGet is nil.
	Exposed func(t *testing.T, bucket string) bool
}

// RunBucketAccessRepair checks RepairBucketAccess: a bucket as created is left alone, a bucket
// opened to the public out of band is closed again (proved by an anonymous read where the store
// serves one), a second repair finds nothing, and an absent bucket is no error.
func RunBucketAccessRepair(t *testing.T, newHarness func(t *testing.T) AccessHarness) {
	t.Run("a bucket opened to the public out of band is closed again", func(t *testing.T) {
		h := newHarness(t)
		ctx, c := context.Background(), h.Client
		bucket := h.BucketName(t)
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: bucket, Owner: provider.Owner{Namespace: "n", Name: bucket, UID: bucket}}); err != nil {
			t.Fatal(err)
		}
		if err := h.PutObject(ctx, bucket, "network/terraform.tfstate", []byte(`{"secrets":"in state"}`)); err != nil {
			t.Fatal(err)
		}
		public := func() bool {
			t.Helper()
			if h.AnonymousGet != nil {
				return h.AnonymousGet(t, bucket, "network/terraform.tfstate") == nil
			}
			return h.Exposed(t, bucket)
		}
		repair := func(want bool) {
			t.Helper()
			got, err := c.RepairBucketAccess(ctx, bucket)
			if err != nil {
				t.Fatalf("RepairBucketAccess: %v", err)
			}
			if got != want {
				t.Fatalf("RepairBucketAccess reported repaired=%v, want %v", got, want)
			}
		}

		repair(false)
		if public() {
			t.Fatal("a bucket as created is readable by anyone")
		}
		h.Expose(t, bucket)
		if !public() {
			t.Fatal("the out-of-band exposure did not take (the test proves nothing)")
		}
		repair(true)
		if public() {
			t.Fatal("after repair the state is still readable by anyone")
		}
		repair(false)

		if got, err := c.RepairBucketAccess(ctx, h.BucketName(t)); err != nil || got {
			t.Errorf("RepairBucketAccess of an absent bucket = %v, %v; want false, nil", got, err)
		}
	})
}

// QuotaHarness is what RunQuotas needs: a store whose account caps are set low enough to reach.
type QuotaHarness struct {
	Harness
	// BucketLimit is the most buckets the account may hold, as the store's fake is configured (the
	// real caps: Spaces 100, AWS 10,000, R2 1,000,000 per account).
	BucketLimit int
	// CredentialLimit is the most credentials the account may hold (R2 tokens, Spaces keys, IAM
	// users), counting any the Client keeps for itself (Spaces' full-access key).
	CredentialLimit int
}

// RunQuotas checks that an account's documented caps read as provider.ErrQuotaExceeded, the
// terminal ProviderQuotaExceeded of a StateBackend, whatever words the refusal carries: neither a
// name conflict nor an error retried forever.
func RunQuotas(t *testing.T, newHarness func(t *testing.T) QuotaHarness) {
	t.Run("a bucket beyond the account's cap is a quota refusal", func(t *testing.T) {
		h := newHarness(t)
		ctx, c := context.Background(), h.Client
		for i := range h.BucketLimit {
			if err := c.CreateBucket(ctx, provider.BucketRequest{Name: h.BucketName(t), Owner: provider.Owner{Namespace: "q", Name: "b", UID: fmt.Sprint(i)}}); err != nil {
				t.Fatalf("bucket %d of %d: %v", i+1, h.BucketLimit, err)
			}
		}
		err := c.CreateBucket(ctx, provider.BucketRequest{Name: h.BucketName(t), Owner: provider.Owner{Namespace: "q", Name: "b", UID: "over"}})
		if !errors.Is(err, provider.ErrQuotaExceeded) || errors.Is(err, provider.ErrBucketNameTaken) {
			t.Fatalf("bucket %d of a cap of %d: err = %v, want ErrQuotaExceeded", h.BucketLimit+1, h.BucketLimit, err)
		}
	})
	t.Run("a credential beyond the account's cap is a quota refusal", func(t *testing.T) {
		h := newHarness(t)
		ctx, c := context.Background(), h.Client
		bucket := h.BucketName(t)
		if err := c.CreateBucket(ctx, provider.BucketRequest{Name: bucket, Owner: provider.Owner{Namespace: "q", Name: "c", UID: "c"}}); err != nil {
			t.Fatal(err)
		}
		issued := 0
		for i := range h.CredentialLimit + 1 {
			_, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: fmt.Sprintf("tfso-quota-%d", i), Bucket: bucket, Access: provider.ReadWrite})
			if err == nil {
				issued++
				continue
			}
			if !errors.Is(err, provider.ErrQuotaExceeded) {
				t.Fatalf("credential %d of a cap of %d: err = %v, want ErrQuotaExceeded", i+1, h.CredentialLimit, err)
			}
			// The Client may hold one of the account's credentials itself.
			if issued < h.CredentialLimit-1 {
				t.Fatalf("refused as over the cap after %d credentials of %d", issued, h.CredentialLimit)
			}
			return
		}
		t.Fatalf("%d credentials issued against a cap of %d", issued, h.CredentialLimit)
	})
}
