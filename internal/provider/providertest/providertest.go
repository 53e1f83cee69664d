// Package providertest is the conformance suite every provider.Client runs: the contracts written
// on the interface (idempotency, ErrBucketNameTaken, ErrBucketNotEmpty, revoke-twice), checked the
// same way against every store.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// Harness is what the suite needs from a store beyond provider.Client.
type Harness struct {
	Client provider.Client
	// PutObject writes an object directly, as a runner would.
	PutObject func(ctx context.Context, bucket, key string, data []byte) error
	// BucketName returns a fresh, valid bucket name unique to this run.
	BucketName func(t *testing.T) string
}

// Run runs the conformance suite.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("bucket lifecycle is idempotent", func(t *testing.T) {
		h := newHarness(t)
		ctx, c := context.Background(), h.Client
		name := h.BucketName(t)
		owner := provider.Owner{Namespace: "team-a", Name: "net", UID: "uid-1"}

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
		other := provider.Owner{Namespace: "team-a", Name: "net", UID: "uid-2"}
		for range 2 {
			if err := c.MarkBucket(ctx, name, other); err != nil {
				t.Fatal(err)
			}
		}
		if obs, _ := c.ObserveBucket(ctx, name); obs.Owner == nil || *obs.Owner != other {
			t.Fatalf("after MarkBucket owner = %+v, want %+v", obs.Owner, other)
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
		if err := h.PutObject(ctx, name, provider.ReservedPrefix+"probe/x", []byte("p")); err != nil {
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
			issued = append(issued, cred)
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
