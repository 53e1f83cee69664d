package e2e

import (
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/tftest"
)

// TestTerraformAppliesWithOnlyTheIssuedSecret is the operator's main job, end to end: the sample
// ClusterStorageProvider and StateBackend are applied to a real apiserver, the real manager binary
// provisions a bucket and a credential on a real MinIO, and real Terraform runs `init` + `apply` on
// `backend "s3" {}` with nothing but the Secret's data as environment. Deleting the StateBackend
// then revokes the credential and keeps the bucket with its state.
func TestTerraformAppliesWithOnlyTheIssuedSecret(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	progress := io.Discard
	if testing.Verbose() {
		progress = os.Stderr
	}
	env, err := Start(ctx, t.TempDir(), progress)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Stop)
	bin, err := env.BuildOperator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.StartOperator(ctx, bin); err != nil {
		t.Fatal(err)
	}
	applied, err := env.ApplySamples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: applied.Namespace, Name: applied.Name}
	sb, err := env.WaitReady(ctx, key, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	// Status tells a platform engineer where the backend is, without secrets.
	if sb.Status.BucketName != applied.Spec.BucketName || sb.Status.Endpoint != env.MinIO.Endpoint ||
		sb.Status.SecretName != applied.Spec.SecretName || sb.Status.Credential == nil || sb.Status.Credential.ID == "" {
		t.Fatalf("status = %+v, want bucket %q, endpoint %q, secret %q and a credential id",
			sb.Status, applied.Spec.BucketName, env.MinIO.Endpoint, applied.Spec.SecretName)
	}
	if sb.Status.Versioning != v1alpha1.VersioningEnabled || sb.Status.Locking != v1alpha1.LockingLockfile {
		t.Fatalf("versioning %q, locking %q: MinIO honours both, want Enabled and Lockfile", sb.Status.Versioning, sb.Status.Locking)
	}

	secretEnv, err := env.SecretEnv(ctx, applied.Namespace, sb.Status.SecretName)
	if err != nil {
		t.Fatal(err)
	}
	if secretEnv["AWS_ACCESS_KEY_ID"] == env.MinIO.RootUser {
		t.Fatal("the Secret holds the admin key, want a credential of its own")
	}
	if !strings.Contains(secretEnv["TF_CLI_ARGS_init"], "use_lockfile=true") {
		t.Fatalf("TF_CLI_ARGS_init = %q, want use_lockfile=true", secretEnv["TF_CLI_ARGS_init"])
	}
	out, err := env.TerraformApply(ctx, "apply", secretEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Apply complete!") {
		t.Fatalf("terraform apply did not complete:\n%s", out)
	}

	admin, err := minio.New(env.MinIO.Host, &minio.Options{Creds: credentials.NewStaticV4(env.MinIO.RootUser, env.MinIO.RootPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	state, err := readObject(ctx, admin, sb.Status.BucketName, applied.Spec.Key)
	if err != nil {
		t.Fatalf("state object %s/%s: %v", sb.Status.BucketName, applied.Spec.Key, err)
	}
	if !strings.Contains(state, `"terraform_data"`) {
		t.Fatalf("state object does not hold the applied resource:\n%s", state)
	}
	// Terraform's S3-native lock is an object next to the state, written with If-None-Match and
	// deleted on unlock; the bucket is versioned, so the lock leaves versions behind as proof.
	lockVersions := objectVersions(ctx, admin, sb.Status.BucketName, applied.Spec.Key+".tflock")
	if len(lockVersions) == 0 {
		t.Fatalf("no version of %s.tflock in the bucket: Terraform did not lock the state", applied.Spec.Key)
	}

	// The ConfigMap's backend file is the same backend: a runner that takes the settings from the
	// file (no TF_CLI_ARGS_init, no endpoint variable; credentials only) sees the applied state.
	cm := &corev1.ConfigMap{}
	if err := env.Kube.Get(ctx, types.NamespacedName{Namespace: sb.Namespace, Name: sb.Status.ConfigMapName}, cm); err != nil {
		t.Fatal(err)
	}
	fileDir := filepath.Join(env.Dir, "terraform-backend-file")
	if err := tftest.WriteModule(fileDir, map[string]string{"main.tf": Module, backendconfig.ConfigMapBackendFile: cm.Data[backendconfig.ConfigMapBackendFile]}); err != nil {
		t.Fatal(err)
	}
	credsOnly := maps.Clone(secretEnv)
	delete(credsOnly, backendconfig.EnvCLIArgsInit)
	delete(credsOnly, backendconfig.EnvEndpointS3)
	if out, err := tftest.Run(ctx, fileDir, credsOnly, "init", "-input=false", "-no-color", "-backend-config="+backendconfig.ConfigMapBackendFile); err != nil {
		t.Fatalf("terraform init with the ConfigMap's backend file: %v\n%s", err, out)
	}
	if out, err := tftest.Run(ctx, fileDir, credsOnly, "plan", "-input=false", "-no-color", "-detailed-exitcode"); err != nil {
		t.Fatalf("plan through the backend file does not see the applied state (exit 2 = changes): %v\n%s", err, out)
	}

	// The credential reaches its own bucket only.
	const otherBucket = "someone-elses-bucket"
	if err := admin.MakeBucket(ctx, otherBucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	issued, err := minio.New(env.MinIO.Host, &minio.Options{Creds: credentials.NewStaticV4(secretEnv["AWS_ACCESS_KEY_ID"], secretEnv["AWS_SECRET_ACCESS_KEY"], "")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := issued.PutObject(ctx, otherBucket, "x", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err == nil {
		t.Fatal("the issued credential wrote to a bucket that is not its own")
	}

	// Deleting the StateBackend revokes the credential and keeps the bucket and its state (Retain).
	if err := env.Kube.Delete(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitGone(ctx, sb, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := readObject(ctx, admin, sb.Status.BucketName, applied.Spec.Key); err != nil {
		t.Fatalf("state lost after deleting the StateBackend with deletionPolicy Retain: %v", err)
	}
	if _, err := readObject(ctx, issued, sb.Status.BucketName, applied.Spec.Key); err == nil {
		t.Fatal("the credential still reads the state after the StateBackend was deleted")
	}

	// Secrets never reach the operator's log.
	opLog := env.OperatorLog()
	if opLog == "" {
		t.Fatal("empty operator log: cannot check it for secrets")
	}
	for what, secret := range map[string]string{"issued secret key": secretEnv["AWS_SECRET_ACCESS_KEY"], "admin secret key": env.MinIO.RootPassword} {
		if strings.Contains(opLog, secret) {
			t.Errorf("the operator log contains the %s", what)
		}
	}
}

func readObject(ctx context.Context, c *minio.Client, bucket, key string) (string, error) {
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", err
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	return string(b), err
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
