package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/awss3"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakeaws"
)

// TestAWSTerraformAppliesWithOnlyTheIssuedSecret is the same job on AWS S3: the AWS samples are
// applied with the provider pointed at a fake IAM/STS whose users' keys are MinIO identities holding
// the very policy the operator wrote, and at an S3 front of MinIO that records what MinIO lacks
// (public-access blocks, ownership controls). The operator's own identity may use only the actions
// the README lists. New keys take a moment to work, as on IAM. Real Terraform then uses the
// issued key, inside the sample's key prefix, workspaces included.
func TestAWSTerraformAppliesWithOnlyTheIssuedSecret(t *testing.T) {
	ctx, env := startOperator(t)
	// Longer than the probe's own 10 s window, so that status must say the operator is waiting.
	f, err := env.StartAWS(ctx, 12*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	actions := readmeAWSPermissions(t, env.Root)
	applied, admin, err := env.ApplyAWSSamples(ctx, actions)
	if err != nil {
		t.Fatal(err)
	}
	if applied.Spec.KeyPrefix == "" {
		t.Fatal("the AWS sample has no keyPrefix: the prefix-scoped path would go untested")
	}
	sawPropagating := waitReasonSeen(ctx, t, env, applied, v1alpha1.ReasonCredentialPropagating)
	b := waitBackend(ctx, t, env, applied, f.S3Endpoint(), admin[0])
	st := b.sb.Status
	if !sawPropagating {
		t.Error("the backend never showed CredentialPropagating while IAM's new key did not work yet")
	}
	if st.Versioning != v1alpha1.VersioningEnabled || st.Locking != v1alpha1.LockingLockfile || st.Region != "us-east-1" {
		t.Fatalf("versioning %q, locking %q, region %q; want Enabled, Lockfile, us-east-1", st.Versioning, st.Locking, st.Region)
	}
	bucketIsHardened(ctx, t, f, b)
	userOnlyFor(t, f, b, provider.ReadWrite)

	// AWS itself: encrypt, no skip flags, no checksum variables; the endpoints of the overrides.
	args := b.secretEnv[backendconfig.EnvCLIArgsInit]
	for _, want := range []string{"-backend-config=encrypt=true", "-backend-config=workspace_key_prefix=" + applied.Spec.KeyPrefix + "/env", "-backend-config=use_lockfile=true"} {
		if !strings.Contains(args, want) {
			t.Errorf("%s = %q, want %s", backendconfig.EnvCLIArgsInit, args, want)
		}
	}
	if strings.Contains(args, "skip_") {
		t.Errorf("%s = %q: skip_* flags on AWS", backendconfig.EnvCLIArgsInit, args)
	}
	if _, ok := b.secretEnv[backendconfig.EnvRequestChecksum]; ok {
		t.Errorf("the Secret sets %s on AWS", backendconfig.EnvRequestChecksum)
	}
	if got := b.secretEnv[backendconfig.EnvEndpointSTS]; got != f.STSEndpoint() {
		t.Errorf("%s = %q, want the STS override %s", backendconfig.EnvEndpointSTS, got, f.STSEndpoint())
	}

	b.applyWithSecretOnly(ctx, t)
	b.backendFileSeesState(ctx, t)
	b.heldLockBlocksPlan(ctx, t)
	wantPutDenied(ctx, t, b.issued, b.makeOtherBucket(ctx, t), "the issued key")

	// The key prefix: writes outside it are denied; a new workspace keeps its state inside it.
	if _, err := b.issued.PutObject(ctx, st.BucketName, "elsewhere/terraform.tfstate", strings.NewReader("{}"), 2, minio.PutObjectOptions{}); s3Code(err) != "AccessDenied" {
		t.Fatalf("the issued key writing outside its prefix: %v, want AccessDenied", err)
	}
	for _, args := range [][]string{{"workspace", "new", "-no-color", "dev"}, {"apply", "-auto-approve", "-input=false", "-no-color"}} {
		if out, err := env.Terraform(ctx, "apply", b.secretEnv, args...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	wsKey := applied.Spec.KeyPrefix + "/env/dev/" + applied.Spec.Key
	if state, err := readObject(ctx, b.root, st.BucketName, wsKey); err != nil || !strings.Contains(state, `"terraform_data"`) {
		t.Fatalf("workspace dev's state at %s: %v", wsKey, err)
	}
	if out, err := env.Terraform(ctx, "apply", b.secretEnv, "workspace", "select", "-no-color", "default"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	// A ReadOnly backend on the same provider: its own bucket and a read-only IAM user.
	rb := b.addReader(ctx, t, f.S3Endpoint(), admin[0])
	userOnlyFor(t, f, rb, provider.ReadOnly)

	b.applyAcrossRotation(ctx, t)

	// Deleting the writer deletes its users (the current one and st's, in its grace: keys, policy,
	// user, in IAM's order), and only its.
	before := len(f.Requests())
	b.deleteKeepsStateRevokesKeys(ctx, t)
	if findUser(f, st.Credential.ID) != nil || findUser(f, b.sb.Status.Credential.ID) != nil || findUser(f, rb.sb.Status.Credential.ID) == nil {
		t.Fatalf("after deleting the writer, users %v: want %s gone and the reader's %s kept", userNames(f), st.Credential.ID, rb.sb.Status.Credential.ID)
	}
	var deletes []string
	for _, r := range f.Requests()[before:] {
		if r.Service == "iam" && r.Code == "" && strings.HasPrefix(r.Action, "Delete") && r.Params.Get("UserName") == st.Credential.ID {
			deletes = append(deletes, r.Action)
		}
	}
	if want := []string{"DeleteAccessKey", "DeleteUserPolicy", "DeleteUser"}; !slices.Equal(deletes, want) {
		t.Errorf("IAM deletes for the writer's user: %v, want %v", deletes, want)
	}
	logHoldsNoSecret(t, env, map[string]string{
		"issued secret key":     b.secretEnv[backendconfig.EnvSecretAccessKey],
		"read-only secret key":  rb.secretEnv[backendconfig.EnvSecretAccessKey],
		"operator's AWS secret": admin[1],
	})
}

// readmeAWSPermissions are the IAM, STS and S3 actions the README's AWS permissions table lists:
// the test's operator identity may use these and no other (S3 ones as far as MinIO and the fake's
// front enforce them), so the table is proven sufficient.
func readmeAWSPermissions(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)
	start := strings.Index(section, "### AWS S3")
	if start < 0 {
		t.Fatal("README has no AWS S3 section")
	}
	section = section[start:]
	if end := strings.Index(section, "**2. A StateBackend**"); end > 0 {
		section = section[:end]
	}
	var actions []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `iam:") || strings.HasPrefix(line, "| `sts:") || strings.HasPrefix(line, "| `s3:") {
			cell := strings.Split(line, "|")[1]
			actions = append(actions, regexp.MustCompile(`(?:iam|sts|s3):[A-Za-z]+`).FindAllString(cell, -1)...)
		}
	}
	if len(actions) < 5 {
		t.Fatalf("found only %v in the README's AWS permissions table", actions)
	}
	return actions
}

// waitReasonSeen polls applied's Ready reason until it is Ready and reports whether reason was
// seen on the way.
func waitReasonSeen(ctx context.Context, t *testing.T, env *Env, applied *v1alpha1.StateBackend, reason string) bool {
	t.Helper()
	seen := false
	sb := &v1alpha1.StateBackend{}
	_ = env.poll(ctx, 2*time.Minute, func(ctx context.Context) bool {
		if err := env.Kube.Get(ctx, types.NamespacedName{Namespace: applied.Namespace, Name: applied.Name}, sb); err != nil {
			return false
		}
		c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionReady)
		if c != nil && c.Reason == reason {
			seen = true
		}
		return c != nil && c.Status == "True"
	}, func() string { return "conditions: " + describeConditions(sb.Status.Conditions) })
	return seen
}

// bucketIsHardened checks the bucket has what AWS advises for state: public access blocked,
// bucket-owner-enforced ownership, default encryption, versioning, and the owner tags.
func bucketIsHardened(ctx context.Context, t *testing.T, f *fakeaws.Server, b *backend) {
	t.Helper()
	bucket := b.sb.Status.BucketName
	got := f.Bucket(bucket)
	if p := got.PublicAccessBlock; p == nil || !p.BlockPublicAcls || !p.IgnorePublicAcls || !p.BlockPublicPolicy || !p.RestrictPublicBuckets {
		t.Errorf("bucket %s public access block %+v, want all four on", bucket, p)
	}
	if got.ObjectOwnership != "BucketOwnerEnforced" {
		t.Errorf("bucket %s object ownership %q, want BucketOwnerEnforced", bucket, got.ObjectOwnership)
	}
	enc, err := b.root.GetBucketEncryption(ctx, bucket)
	if err != nil || len(enc.Rules) != 1 || enc.Rules[0].Apply.SSEAlgorithm != "AES256" {
		t.Errorf("bucket %s default encryption %+v, %v; want SSE-S3 (AES256)", bucket, enc, err)
	}
	if v, err := b.root.GetBucketVersioning(ctx, bucket); err != nil || !v.Enabled() {
		t.Errorf("bucket %s versioning %+v, %v; want Enabled", bucket, v, err)
	}
	tags, err := b.root.GetBucketTagging(ctx, bucket)
	if err != nil || tags.ToMap()[awss3.TagOwnerUID] != string(b.sb.UID) || tags.ToMap()[awss3.TagManagedBy] != "tfstate-operator" {
		t.Errorf("bucket %s tags %v, %v; want the owner tags of %s", bucket, tags, err, b.sb.UID)
	}
}

// userOnlyFor checks that IAM holds, for the credential status names, one user under the IAM path
// whose one inline policy is awss3.Policy's text for the backend and whose one key the Secret holds.
func userOnlyFor(t *testing.T, f *fakeaws.Server, b *backend, access provider.Access) {
	t.Helper()
	u := findUser(f, b.sb.Status.Credential.ID)
	if u == nil {
		t.Fatalf("IAM holds no user %q (users %v)", b.sb.Status.Credential.ID, userNames(f))
	}
	want := string(awss3.Policy(awss3.PolicyRequest{Partition: "aws", Bucket: b.sb.Status.BucketName, Access: access, KeyPrefix: b.applied.Spec.KeyPrefix}))
	if u.Path != awss3.DefaultIAMPath || len(u.Policies) != 1 || u.Policies[awss3.PolicyName] != want {
		t.Errorf("user %s: path %q, policies %v; want %s and exactly %s = %s", u.Name, u.Path, u.Policies, awss3.DefaultIAMPath, awss3.PolicyName, want)
	}
	if len(u.AccessKeys) != 1 || u.AccessKeys[0].ID != b.secretEnv[backendconfig.EnvAccessKeyID] {
		t.Errorf("user %s: access keys %+v, want exactly the Secret's", u.Name, u.AccessKeys)
	}
}

func findUser(f *fakeaws.Server, name string) *fakeaws.User {
	for _, u := range f.Users() {
		if u.Name == name {
			return &u
		}
	}
	return nil
}

func userNames(f *fakeaws.Server) []string {
	var out []string
	for _, u := range f.Users() {
		out = append(out, u.Name)
	}
	return out
}
