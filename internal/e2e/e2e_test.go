package e2e

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakecloudflare"
)

// TestTerraformAppliesWithOnlyTheIssuedSecret is the operator's main job, end to end: the sample
// ClusterStorageProvider and StateBackend are applied to a real apiserver, the real manager binary
// provisions a bucket and a credential on a real MinIO, and real Terraform runs `init` + `apply` on
// `backend "s3" {}` with nothing but the Secret's data as environment. Deleting the StateBackend
// then revokes the credential and keeps the bucket with its state. The operator is installed by
// the Helm chart and runs as its ServiceAccount; the run proves the chart's RBAC both sufficient
// and no broader than what the manager uses.
func TestTerraformAppliesWithOnlyTheIssuedSecret(t *testing.T) {
	ctx, env := startOperator(t)
	applied, err := env.ApplySamples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := waitBackend(ctx, t, env, applied, env.MinIO.Endpoint, env.MinIO.RootUser)
	if b.sb.Status.Versioning != v1alpha1.VersioningEnabled || b.sb.Status.Locking != v1alpha1.LockingLockfile {
		t.Fatalf("versioning %q, locking %q: MinIO honours both, want Enabled and Lockfile", b.sb.Status.Versioning, b.sb.Status.Locking)
	}

	b.applyWithSecretOnly(ctx, t)
	// Terraform's S3-native lock is an object next to the state, written with If-None-Match and
	// deleted on unlock; the bucket is versioned, so the lock leaves versions behind as proof.
	if len(objectVersions(ctx, b.root, b.sb.Status.BucketName, applied.Spec.Key+".tflock")) == 0 {
		t.Fatalf("no version of %s.tflock in the bucket: Terraform did not lock the state", applied.Spec.Key)
	}
	b.backendFileSeesState(ctx, t)
	b.heldLockBlocksPlan(ctx, t)

	// The credential reaches its own bucket only.
	wantPutDenied(ctx, t, b.issued, b.makeOtherBucket(ctx, t), "the issued credential")

	// Day two: monitoring sees the operator's work, hand edits are reverted, and a team's own
	// StorageProvider is health-checked.
	b.metricsReport(ctx, t, "minio")
	b.handEditsAreReverted(ctx, t)
	namespacedProviderIsChecked(ctx, t, env, applied.Namespace)
	isolatedRunnerIgnoresProviderCredentials(ctx, t, env, applied)
	b.applyAcrossRotation(ctx, t)

	b.deleteKeepsStateRevokesKeys(ctx, t)
	logHoldsNoSecret(t, env, map[string]string{
		"issued secret key": b.secretEnv[backendconfig.EnvSecretAccessKey],
		"admin secret key":  env.MinIO.RootPassword,
	})
	// The operator ran as the chart's ServiceAccount: the run needed every permission the chart
	// grants (logHoldsNoSecret found no refusal, so it has none too few).
	everyGrantIsUsed(t, env)
}

// TestR2TerraformAppliesWithOnlyTheIssuedSecret is the same job on Cloudflare R2: the R2 samples
// (an EU backend) are applied with the provider pointed at a fake Cloudflare API whose buckets and
// token identities live on a real MinIO, so the real operator binary makes buckets and
// bucket-scoped account tokens through the Cloudflare API, and real Terraform uses the token's
// derived S3 keys. R2 keeps no object versions, so locking is shown with a held lock instead. The
// chart is installed with watchNamespaces=[team-a], so the operator runs with Secrets and ConfigMaps
// granted in team-a and its own namespace only (RoleBindings), and the whole flow works with that.
func TestR2TerraformAppliesWithOnlyTheIssuedSecret(t *testing.T) {
	ctx, env := startOperatorWith(t, map[string]string{"watchNamespaces": `["team-a"]`})
	operatorReachesSecretsOnlyIn(ctx, t, env, []string{"team-a", OperatorNamespace}, "team-z")
	cf, err := env.StartCloudflare()
	if err != nil {
		t.Fatal(err)
	}
	applied, admin, err := env.ApplyR2Samples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if applied.Spec.CloudflareR2 == nil || applied.Spec.CloudflareR2.Jurisdiction != v1alpha1.R2JurisdictionEU {
		t.Fatalf("config/samples/statebackend_r2.yaml: spec.cloudflareR2 = %+v, want jurisdiction eu", applied.Spec.CloudflareR2)
	}
	b := waitBackend(ctx, t, env, applied, cf.S3Endpoint(), admin.ID)
	st := b.sb.Status
	if st.Jurisdiction != v1alpha1.R2JurisdictionEU || st.Versioning != v1alpha1.VersioningUnsupported ||
		st.Locking != v1alpha1.LockingLockfile || st.Region != "auto" {
		t.Fatalf("jurisdiction %q, versioning %q, locking %q, region %q; want eu, Unsupported (R2 keeps no versions), Lockfile (conditional writes are honoured), auto",
			st.Jurisdiction, st.Versioning, st.Locking, st.Region)
	}
	// The bucket was created in the EU. (The token below names eu too, and the fake's grant on a
	// bucket counts only in the bucket's own jurisdiction, so Terraform's success proves both.)
	if !bucketCreatedIn(cf, "eu") {
		t.Fatal("no successful bucket create with cf-r2-jurisdiction eu among the fake's requests")
	}

	// The Secret holds a token's S3 keys: the token may write objects in this one bucket only.
	tokenOnlyFor(t, cf, b, "Workers R2 Storage Bucket Item Write")
	secretKey := b.secretEnv[backendconfig.EnvSecretAccessKey]
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(secretKey) || secretKey == fakecloudflare.SecretAccessKey(admin.Value) {
		t.Fatalf("%s is not a SHA-256 hex of a token value of its own (%d characters)", backendconfig.EnvSecretAccessKey, len(secretKey))
	}
	b.wantS3CompatibleSettings(t, "auto", "R2 refuses the SSE headers")

	b.applyWithSecretOnly(ctx, t)
	b.backendFileSeesState(ctx, t)
	b.heldLockBlocksPlan(ctx, t)
	wantPutDenied(ctx, t, b.issued, b.makeOtherBucket(ctx, t), "the issued token")

	// A ReadOnly backend on the same provider: its own bucket (in the writer's jurisdiction) and a
	// read-only token.
	rb := b.addReader(ctx, t, cf.S3Endpoint(), admin.ID)
	if rst := rb.sb.Status; rst.Jurisdiction != v1alpha1.R2JurisdictionEU || rst.Versioning != v1alpha1.VersioningUnsupported {
		t.Fatalf("reader: jurisdiction %q, versioning %q; want eu, Unsupported", rst.Jurisdiction, rst.Versioning)
	}
	tokenOnlyFor(t, cf, rb, "Workers R2 Storage Bucket Item Read")
	const published = `{"version":4,"outputs":{}}`
	if _, err := rb.root.PutObject(ctx, rb.sb.Status.BucketName, rb.applied.Spec.Key, strings.NewReader(published), int64(len(published)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := readObject(ctx, rb.issued, rb.sb.Status.BucketName, rb.applied.Spec.Key); err != nil || got != published {
		t.Fatalf("the read-only token reading %s: %q, %v", rb.applied.Spec.Key, got, err)
	}
	var listed []string
	for o := range rb.issued.ListObjects(ctx, rb.sb.Status.BucketName, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("the read-only token listing its bucket: %v", o.Err)
		}
		listed = append(listed, o.Key)
	}
	if !slices.Contains(listed, rb.applied.Spec.Key) {
		t.Fatalf("the read-only token lists %q, want %s among them", listed, rb.applied.Spec.Key)
	}

	sessionToken := b.temporarySessionApplies(ctx, t)
	b.applyAcrossRotation(ctx, t)

	// Deleting the writer revokes its token, and only its token.
	b.deleteKeepsStateRevokesKeys(ctx, t)
	if tok := findToken(cf, b.sb.Status.Credential.ID); tok != nil {
		t.Fatalf("token %s (%s) still held by Cloudflare after its StateBackend was deleted", tok.ID, tok.Name)
	}
	if findToken(cf, rb.sb.Status.Credential.ID) == nil {
		t.Fatal("deleting the writer revoked the reader's token")
	}

	logHoldsNoSecret(t, env, map[string]string{
		"issued secret key":           secretKey,
		"read-only secret key":        rb.secretEnv[backendconfig.EnvSecretAccessKey],
		"admin API token":             admin.Value,
		"admin token's S3 secret key": fakecloudflare.SecretAccessKey(admin.Value),
		"session token":               sessionToken,
	})
}

// temporarySessionApplies applies a StateBackend beside b with temporary credentials: its Secret
// holds R2 session keys and AWS_SESSION_TOKEN, and real Terraform applies with nothing else. It
// returns the session token (which must never reach the log).
func (b *backend) temporarySessionApplies(ctx context.Context, t *testing.T) string {
	t.Helper()
	sessions := &v1alpha1.StateBackend{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.applied.Namespace, Name: b.applied.Name + "-sessions"},
		Spec: v1alpha1.StateBackendSpec{
			ProviderRef:  b.applied.Spec.ProviderRef,
			Key:          b.applied.Spec.Key,
			CloudflareR2: b.applied.Spec.CloudflareR2,
			Credentials:  &v1alpha1.CredentialPolicy{Temporary: true, ExpireAfter: &metav1.Duration{Duration: time.Hour}},
		},
	}
	if err := b.env.CreateStateBackend(ctx, sessions); err != nil {
		t.Fatal(err)
	}
	sb, err := b.env.WaitReady(ctx, types.NamespacedName{Namespace: sessions.Namespace, Name: sessions.Name}, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	secretEnv, err := b.env.SecretEnv(ctx, sb.Namespace, sb.Status.SecretName)
	if err != nil {
		t.Fatal(err)
	}
	token := secretEnv[backendconfig.EnvSessionToken]
	if token == "" || secretEnv[backendconfig.EnvAccessKeyID] == sb.Status.Credential.ID || sb.Status.Credential.ExpiresAt == nil {
		t.Fatalf("temporary backend: session token set %v, access key is the parent token id %v, expiry %v; want session keys with a token and an expiry",
			token != "", secretEnv[backendconfig.EnvAccessKeyID] == sb.Status.Credential.ID, sb.Status.Credential.ExpiresAt)
	}
	out, err := b.env.TerraformApply(ctx, "sessions", secretEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Apply complete!") {
		t.Fatalf("terraform apply with session keys did not complete:\n%s", out)
	}
	return token
}

// tokenOnlyFor checks that Cloudflare holds the token whose id is b's access key id, that it is not
// an admin token, and that its only policy allows the one permission group on b's bucket alone.
func tokenOnlyFor(t *testing.T, cf *fakecloudflare.Server, b *backend, group string) {
	t.Helper()
	id := b.secretEnv[backendconfig.EnvAccessKeyID]
	tok := findToken(cf, id)
	if tok == nil {
		t.Fatalf("Cloudflare holds no token %s (the Secret's %s)", id, backendconfig.EnvAccessKeyID)
	}
	resource := "com.cloudflare.edge.r2.bucket." + cf.AccountID() + "_" + string(b.sb.Status.Jurisdiction) + "_" + b.sb.Status.BucketName
	if tok.Admin || !tok.OnlyAllows(group, resource) {
		t.Fatalf("token %s: admin %v, policies %+v; want only allow %q on %s", id, tok.Admin, tok.Policies, group, resource)
	}
}

func findToken(cf *fakecloudflare.Server, id string) *fakecloudflare.Token {
	for _, tok := range cf.Tokens() {
		if tok.ID == id {
			return &tok
		}
	}
	return nil
}

// bucketCreatedIn reports whether the fake created a bucket in jurisdiction.
func bucketCreatedIn(cf *fakecloudflare.Server, jurisdiction string) bool {
	path := "/client/v4/accounts/" + cf.AccountID() + "/r2/buckets"
	for _, r := range cf.Requests() {
		if r.Method == "POST" && r.Path == path && r.Jurisdiction == jurisdiction && r.Status == 200 {
			return true
		}
	}
	return false
}

func objectVersions(ctx context.Context, c *minio.Client, bucket, key string) []string {
	var ids []string
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: key, WithVersions: true, Recursive: true}) {
		if o.Err == nil && o.Key == key {
			ids = append(ids, o.VersionID)
		}
	}
	return slices.Compact(ids)
}

// operatorReachesSecretsOnlyIn asks the API server (SubjectAccessReview) what the operator's
// ServiceAccount may do with Secrets: everything it needs in the namespaces given, nothing in
// another one or cluster-wide.
func operatorReachesSecretsOnlyIn(ctx context.Context, t *testing.T, env *Env, namespaces []string, other string) {
	t.Helper()
	can := func(verb, ns string) bool {
		t.Helper()
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               env.OperatorUser,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + OperatorNamespace},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: "secrets"},
		}}
		if err := env.Kube.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		return sar.Status.Allowed
	}
	for _, ns := range namespaces {
		for _, verb := range []string{"get", "create", "update", "delete"} {
			if !can(verb, ns) {
				t.Errorf("the operator may not %s Secrets in %s, which it serves", verb, ns)
			}
		}
	}
	for _, verb := range []string{"get", "list", "create"} {
		if can(verb, other) {
			t.Errorf("the operator may %s Secrets in %s, which it does not serve", verb, other)
		}
		if can(verb, "") {
			t.Errorf("the operator may %s Secrets cluster-wide", verb)
		}
	}
}
