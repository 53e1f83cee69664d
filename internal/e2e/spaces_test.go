package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakedigitalocean"
)

// TestSpacesTerraformAppliesWithOnlyTheIssuedSecret is the same job on DigitalOcean Spaces: the
// Spaces samples are applied with the provider pointed at a fake DigitalOcean API whose Spaces keys
// are MinIO identities limited to their grants, so the real operator binary mints its full-access
// key and bucket-granted keys through the DigitalOcean API, creates a versioned bucket over S3,
// and real Terraform uses the issued key. Deleting the provider revokes the full-access key.
func TestSpacesTerraformAppliesWithOnlyTheIssuedSecret(t *testing.T) {
	ctx, env := startOperator(t)
	do, err := env.StartDigitalOcean()
	if err != nil {
		t.Fatal(err)
	}
	applied, token, err := env.ApplySpacesSamples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := waitBackend(ctx, t, env, applied, do.S3Endpoint(), "")
	st := b.sb.Status
	if st.Versioning != v1alpha1.VersioningEnabled || st.Locking != v1alpha1.LockingLockfile || st.Region != "us-east-1" {
		t.Fatalf("versioning %q, locking %q, region %q; want Enabled, Lockfile (the conditional-write probe passed), us-east-1",
			st.Versioning, st.Locking, st.Region)
	}
	if v, err := b.root.GetBucketVersioning(ctx, st.BucketName); err != nil || !v.Enabled() {
		t.Fatalf("bucket %s versioning = %+v, %v; want Enabled", st.BucketName, v, err)
	}

	// The operator's own key is the only full-access one, and it is not the Secret's.
	admin := fullAccessKeys(do)
	if len(admin) != 1 || admin[0].AccessKey == b.secretEnv[backendconfig.EnvAccessKeyID] || !strings.HasPrefix(admin[0].Name, "tfso-admin-") {
		t.Fatalf("full-access keys %+v: want exactly the operator's own (tfso-admin-...), not the Secret's", admin)
	}
	keyOnlyFor(t, do, b, fakedigitalocean.PermissionReadWrite)
	// DigitalOcean's Terraform-backend guide: the four skip_* flags, skip_s3_checksum, region
	// us-east-1 and the regional endpoint; plus path style and S3 locking.
	b.wantS3CompatibleSettings(t, "us-east-1", "Spaces has SSE-C only")

	b.applyWithSecretOnly(ctx, t)
	b.backendFileSeesState(ctx, t)
	b.heldLockBlocksPlan(ctx, t)
	wantPutDenied(ctx, t, b.issued, b.makeOtherBucket(ctx, t), "the issued key")

	// A ReadOnly backend on the same provider: its own bucket and a read-only key.
	rb := b.addReader(ctx, t, do.S3Endpoint(), admin[0].AccessKey)
	keyOnlyFor(t, do, rb, fakedigitalocean.PermissionRead)
	if _, err := readObject(ctx, rb.issued, st.BucketName, applied.Spec.Key); s3Code(err) != "AccessDenied" {
		t.Fatalf("the reader's key reading the writer's state: %v, want AccessDenied", err)
	}

	b.applyAcrossRotation(ctx, t)

	// Deleting the writer revokes its keys (the current one and the one in grace), and only its.
	b.deleteKeepsStateRevokesKeys(ctx, t)
	if findKey(do, b.sb.Status.Credential.ID) != nil || findKey(do, rb.sb.Status.Credential.ID) == nil {
		t.Fatalf("after deleting the writer, keys %+v: want the writer's %s gone and the reader's %s live",
			do.Keys(), b.sb.Status.Credential.ID, rb.sb.Status.Credential.ID)
	}
	secrets := map[string]string{
		"issued secret key":             b.secretEnv[backendconfig.EnvSecretAccessKey],
		"read-only secret key":          rb.secretEnv[backendconfig.EnvSecretAccessKey],
		"DigitalOcean API token":        token,
		"operator's full-access secret": do.SecretOf(admin[0].AccessKey),
	}

	// The provider, deleted while the reader uses it, waits; once the reader is gone it goes, and
	// its full-access key with it.
	csp := &v1alpha1.ClusterStorageProvider{}
	if err := env.Kube.Get(ctx, types.NamespacedName{Name: applied.Spec.ProviderRef.Name}, csp); err != nil {
		t.Fatal(err)
	}
	if err := env.Kube.Delete(ctx, csp); err != nil {
		t.Fatal(err)
	}
	if err := env.poll(ctx, time.Minute, func(ctx context.Context) bool {
		if err := env.Kube.Get(ctx, types.NamespacedName{Name: csp.Name}, csp); err != nil {
			return false
		}
		c := meta.FindStatusCondition(csp.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Reason == v1alpha1.ReasonProviderInUse
	}, func() string { return "provider conditions: " + describeConditions(csp.Status.Conditions) }); err != nil {
		t.Fatal(err)
	}
	if len(fullAccessKeys(do)) != 1 {
		t.Fatal("the full-access key was revoked while a StateBackend still uses the provider")
	}
	if err := env.Kube.Delete(ctx, rb.sb); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitGone(ctx, csp, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if keys := do.Keys(); len(keys) != 0 {
		t.Fatalf("keys left after every backend and the provider were deleted: %+v", keys)
	}
	logHoldsNoSecret(t, env, secrets)
}

func fullAccessKeys(do *fakedigitalocean.Server) []fakedigitalocean.Key {
	var out []fakedigitalocean.Key
	for _, k := range do.Keys() {
		for _, g := range k.Grants {
			if g.Permission == fakedigitalocean.PermissionFullAccess {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

func findKey(do *fakedigitalocean.Server, accessKey string) *fakedigitalocean.Key {
	for _, k := range do.Keys() {
		if k.AccessKey == accessKey {
			return &k
		}
	}
	return nil
}

// keyOnlyFor checks that DigitalOcean holds the key the Secret carries, named for the backend, with
// one grant: permission on b's bucket.
func keyOnlyFor(t *testing.T, do *fakedigitalocean.Server, b *backend, permission string) {
	t.Helper()
	k := findKey(do, b.secretEnv[backendconfig.EnvAccessKeyID])
	want := fakedigitalocean.Grant{Bucket: b.sb.Status.BucketName, Permission: permission}
	if k == nil || k.Name != b.sb.Status.Credential.Name || len(k.Grants) != 1 || k.Grants[0] != want {
		t.Fatalf("key %+v for the Secret's %s: want %q with the one grant %+v", k, b.secretEnv[backendconfig.EnvAccessKeyID], b.sb.Status.Credential.Name, want)
	}
}
