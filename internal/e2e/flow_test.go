package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/tftest"
)

// The steps every provider's end-to-end test takes, in the order the tests take them.

// TestMain gives controller-runtime (envtest's logs) a logger: without one, a control plane
// started more than 30 s into the run prints a "log.SetLogger(...) was never called" stack.
func TestMain(m *testing.M) {
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	os.Exit(m.Run())
}

// startOperator starts, for one test, a control plane, MinIO and the operator built from main.go;
// all are stopped when the test ends.
func startOperator(t *testing.T) (context.Context, *Env) {
	t.Helper()
	return startOperatorWith(t, nil)
}

// startOperatorWith is startOperator with the chart rendered with these values.
func startOperatorWith(t *testing.T, values map[string]string) (context.Context, *Env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	progress := io.Discard
	if testing.Verbose() {
		progress = os.Stderr
	}
	env, err := StartWithValues(ctx, t.TempDir(), progress, values)
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
	return ctx, env
}

// backend is a StateBackend that became Ready: as applied and as observed, its Secret as a
// runner's environment, and S3 clients of MinIO (every provider's data plane here) with MinIO's
// root keys and with the issued keys.
type backend struct {
	env       *Env
	applied   *v1alpha1.StateBackend
	sb        *v1alpha1.StateBackend
	secretEnv map[string]string
	root      *minio.Client
	issued    *minio.Client
}

// waitBackend waits for applied's ClusterStorageProvider to pass its health check and for applied
// to be Ready, then checks what the status and Secret hold on every provider: the bucket, the S3
// endpoint runners use, the Secret, and a credential of the backend's own (not adminKeyID) whose
// id status shows.
func waitBackend(ctx context.Context, t *testing.T, env *Env, applied *v1alpha1.StateBackend, endpoint, adminKeyID string) *backend {
	t.Helper()
	csp, err := env.WaitProviderReady(ctx, applied.Spec.ProviderRef.Name, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(csp.Status.Conditions, v1alpha1.ConditionReady); c.Reason != v1alpha1.ReasonReady {
		t.Fatalf("ClusterStorageProvider %s Ready condition reason %q, want %q", csp.Name, c.Reason, v1alpha1.ReasonReady)
	}
	sb, err := env.WaitReady(ctx, types.NamespacedName{Namespace: applied.Namespace, Name: applied.Name}, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	wantBucket, wantSecret := applied.Spec.BucketName, applied.Spec.SecretName
	if wantBucket == "" {
		wantBucket = sb.Status.BucketName // derived; must merely be there
	}
	if wantSecret == "" {
		wantSecret = applied.Name
	}
	// Status tells a platform engineer where the backend is, without secrets.
	if sb.Status.BucketName == "" || sb.Status.BucketName != wantBucket || sb.Status.Endpoint != endpoint ||
		sb.Status.SecretName != wantSecret || sb.Status.Credential == nil || sb.Status.Credential.ID == "" {
		t.Fatalf("status = %+v, want bucket %q, endpoint %q, secret %q and a credential id", sb.Status, wantBucket, endpoint, wantSecret)
	}
	b := &backend{env: env, applied: applied, sb: sb}
	if b.secretEnv, err = env.SecretEnv(ctx, sb.Namespace, sb.Status.SecretName); err != nil {
		t.Fatal(err)
	}
	switch keyID := b.secretEnv[backendconfig.EnvAccessKeyID]; {
	case keyID == adminKeyID:
		t.Fatal("the Secret holds the admin key, want a credential of its own")
	case keyID == sb.Status.Credential.ID:
	case keyID != "" && sb.Status.Credential.ID == sb.Status.Credential.Name:
		// AWS: the id is the IAM user's name; the AWS test checks the user holds this key.
	default:
		t.Fatalf("the Secret's %s is %q, status.credential.id %q", backendconfig.EnvAccessKeyID, keyID, sb.Status.Credential.ID)
	}
	if got := b.secretEnv[backendconfig.EnvEndpointS3]; got != endpoint {
		t.Fatalf("the Secret's %s is %q, want %q", backendconfig.EnvEndpointS3, got, endpoint)
	}
	if b.root, err = env.RootS3(); err != nil {
		t.Fatal(err)
	}
	if b.issued, err = env.S3(b.secretEnv[backendconfig.EnvAccessKeyID], b.secretEnv[backendconfig.EnvSecretAccessKey]); err != nil {
		t.Fatal(err)
	}
	return b
}

// addReader applies a ReadOnly StateBackend beside b on the same provider and waits for it: it
// must get a bucket of its own, no locking (a read-only credential cannot lock), and neither its
// credential nor b's may write into its bucket.
func (b *backend) addReader(ctx context.Context, t *testing.T, endpoint, adminKeyID string) *backend {
	t.Helper()
	reader := &v1alpha1.StateBackend{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.applied.Namespace, Name: b.applied.Name + "-reader"},
		Spec: v1alpha1.StateBackendSpec{
			ProviderRef:    b.applied.Spec.ProviderRef,
			Key:            b.applied.Spec.Key,
			KeyPrefix:      b.applied.Spec.KeyPrefix,
			Access:         v1alpha1.AccessReadOnly,
			CloudflareR2:   b.applied.Spec.CloudflareR2,
			DeletionPolicy: v1alpha1.DeletionPolicyRetain,
		},
	}
	if err := b.env.CreateStateBackend(ctx, reader); err != nil {
		t.Fatal(err)
	}
	rb := waitBackend(ctx, t, b.env, reader, endpoint, adminKeyID)
	if got := rb.sb.Status; got.BucketName == b.sb.Status.BucketName || got.Locking != v1alpha1.LockingNotApplicable {
		t.Fatalf("reader: bucket %q (writer's %q), locking %q; want a bucket of its own, NotApplicable", got.BucketName, b.sb.Status.BucketName, got.Locking)
	}
	if args := rb.secretEnv[backendconfig.EnvCLIArgsInit]; strings.Contains(args, "use_lockfile") {
		t.Fatalf("reader's %s = %q: a read-only credential cannot lock, want no use_lockfile", backendconfig.EnvCLIArgsInit, args)
	}
	wantPutDenied(ctx, t, rb.issued, rb.sb.Status.BucketName, "the read-only credential")
	wantPutDenied(ctx, t, b.issued, rb.sb.Status.BucketName, "the writer's credential in the reader's bucket")
	return rb
}

// applyWithSecretOnly runs real `terraform init` + `apply` on `backend "s3" {}` with nothing but
// the Secret's data as environment, and finds the applied resource in the state object at the
// spec's key.
func (b *backend) applyWithSecretOnly(ctx context.Context, t *testing.T) {
	t.Helper()
	if args := b.secretEnv[backendconfig.EnvCLIArgsInit]; !strings.Contains(args, "-backend-config=use_lockfile=true") {
		t.Fatalf("%s = %q, want use_lockfile=true", backendconfig.EnvCLIArgsInit, args)
	}
	out, err := b.env.TerraformApply(ctx, "apply", b.secretEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Apply complete!") {
		t.Fatalf("terraform apply did not complete:\n%s", out)
	}
	state, err := readObject(ctx, b.root, b.sb.Status.BucketName, b.applied.Spec.Key)
	if err != nil {
		t.Fatalf("state object %s/%s: %v", b.sb.Status.BucketName, b.applied.Spec.Key, err)
	}
	if !strings.Contains(state, `"terraform_data"`) {
		t.Fatalf("state object does not hold the applied resource:\n%s", state)
	}
}

// backendFileSeesState: the ConfigMap's backend file is the same backend. A runner that takes the
// settings from the file (no TF_CLI_ARGS_init, no endpoint variable; credentials only) sees the
// applied state.
func (b *backend) backendFileSeesState(ctx context.Context, t *testing.T) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := b.env.Kube.Get(ctx, types.NamespacedName{Namespace: b.sb.Namespace, Name: b.sb.Status.ConfigMapName}, cm); err != nil {
		t.Fatal(err)
	}
	fileDir := filepath.Join(b.env.Dir, "terraform-backend-file")
	if err := tftest.WriteModule(fileDir, map[string]string{"main.tf": Module, backendconfig.ConfigMapBackendFile: cm.Data[backendconfig.ConfigMapBackendFile]}); err != nil {
		t.Fatal(err)
	}
	credsOnly := maps.Clone(b.secretEnv)
	delete(credsOnly, backendconfig.EnvCLIArgsInit)
	delete(credsOnly, backendconfig.EnvEndpointS3)
	delete(credsOnly, backendconfig.EnvEndpointSTS)
	if out, err := tftest.Run(ctx, fileDir, credsOnly, "init", "-input=false", "-no-color", "-backend-config="+backendconfig.ConfigMapBackendFile); err != nil {
		t.Fatalf("terraform init with the ConfigMap's backend file: %v\n%s", err, out)
	}
	if out, err := tftest.Run(ctx, fileDir, credsOnly, "plan", "-input=false", "-no-color", "-detailed-exitcode"); err != nil {
		t.Fatalf("plan through the backend file does not see the applied state (exit 2 = changes): %v\n%s", err, out)
	}
}

// heldLockBlocksPlan: while another runner holds the state lock (its <key>.tflock object, put
// here with MinIO's root keys), `terraform plan` with the Secret fails to acquire the lock; once
// the lock is released, the same plan succeeds and finds no changes.
func (b *backend) heldLockBlocksPlan(ctx context.Context, t *testing.T) {
	t.Helper()
	bucket, lockKey := b.sb.Status.BucketName, b.applied.Spec.Key+".tflock"
	const holder = "other-runner@ci"
	lock := fmt.Sprintf(`{"ID":"6f1b0a52-3c8e-4c41-9d1e-2b7f1c0e9a10","Operation":"OperationTypeApply","Info":"","Who":%q,"Version":"1.10.0","Created":%q,"Path":%q}`,
		holder, time.Now().UTC().Format(time.RFC3339), bucket+"/"+b.applied.Spec.Key)
	if _, err := b.root.PutObject(ctx, bucket, lockKey, strings.NewReader(lock), int64(len(lock)), minio.PutObjectOptions{ContentType: "application/json"}); err != nil {
		t.Fatal(err)
	}
	plan := []string{"plan", "-input=false", "-no-color", "-lock-timeout=1s", "-detailed-exitcode"}
	out, err := b.env.Terraform(ctx, "apply", b.secretEnv, plan...)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "Error acquiring the state lock") || !strings.Contains(out, holder) {
		t.Fatalf("terraform plan while %s holds %s: %v, want exit 1 naming the lock and its holder:\n%s", holder, lockKey, err, out)
	}
	if err := b.root.RemoveObject(ctx, bucket, lockKey, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if out, err := b.env.Terraform(ctx, "apply", b.secretEnv, plan...); err != nil {
		t.Fatalf("terraform plan after the lock was released (exit 2 = changes): %v\n%s", err, out)
	}
}

// makeOtherBucket creates, with MinIO's root keys, a bucket no StateBackend owns.
func (b *backend) makeOtherBucket(ctx context.Context, t *testing.T) string {
	t.Helper()
	const other = "someone-elses-bucket"
	if err := b.root.MakeBucket(ctx, other, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return other
}

// deleteKeepsStateRevokesKeys deletes the StateBackend (deletionPolicy Retain): the bucket keeps
// its state, and the issued keys are refused.
func (b *backend) deleteKeepsStateRevokesKeys(ctx context.Context, t *testing.T) {
	t.Helper()
	if b.sb.Spec.DeletionPolicy != v1alpha1.DeletionPolicyRetain {
		t.Fatalf("deletionPolicy %q, want Retain", b.sb.Spec.DeletionPolicy)
	}
	if err := b.env.Kube.Delete(ctx, b.sb); err != nil {
		t.Fatal(err)
	}
	if err := b.env.WaitGone(ctx, b.sb, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := readObject(ctx, b.root, b.sb.Status.BucketName, b.applied.Spec.Key); err != nil {
		t.Fatalf("state lost after deleting the StateBackend with deletionPolicy Retain: %v", err)
	}
	_, err := readObject(ctx, b.issued, b.sb.Status.BucketName, b.applied.Spec.Key)
	if code := s3Code(err); code != "InvalidAccessKeyId" {
		t.Fatalf("reading the state with the deleted StateBackend's keys: %v (code %q), want InvalidAccessKeyId", err, code)
	}
}

// wantS3CompatibleSettings checks the Secret of a backend on an S3-compatible store (not AWS): the
// region, and in TF_CLI_ARGS_init path style, the four skip_* flags, skip_s3_checksum and
// use_lockfile, but no encrypt (why says why the store refuses it).
func (b *backend) wantS3CompatibleSettings(t *testing.T, region, why string) {
	t.Helper()
	if r := b.secretEnv[backendconfig.EnvRegion]; r != region {
		t.Errorf("%s = %q, want %s", backendconfig.EnvRegion, r, region)
	}
	initArgs := b.secretEnv[backendconfig.EnvCLIArgsInit]
	for _, flag := range []string{"use_path_style", "skip_credentials_validation", "skip_region_validation",
		"skip_requesting_account_id", "skip_metadata_api_check", "skip_s3_checksum", "use_lockfile"} {
		if !strings.Contains(initArgs, "-backend-config="+flag+"=true") {
			t.Errorf("%s = %q, want %s=true", backendconfig.EnvCLIArgsInit, initArgs, flag)
		}
	}
	if strings.Contains(initArgs, "encrypt") {
		t.Errorf("%s = %q: %s, want no encrypt", backendconfig.EnvCLIArgsInit, initArgs, why)
	}
}

// wantPutDenied checks that c may not write to bucket: S3 answers AccessDenied.
func wantPutDenied(ctx context.Context, t *testing.T, c *minio.Client, bucket, who string) {
	t.Helper()
	_, err := c.PutObject(ctx, bucket, "written-by-"+strings.ReplaceAll(who, " ", "-"), strings.NewReader("x"), 1, minio.PutObjectOptions{})
	if code := s3Code(err); code != "AccessDenied" {
		t.Fatalf("%s writing to bucket %s: %v (code %q), want AccessDenied", who, bucket, err, code)
	}
}

// logHoldsNoSecret checks that none of secrets (what -> value) reached anything the operator writes
// where more readers than the Secret's see it: its log; every Event in every namespace (core/v1 and
// events.k8s.io/v1: message, note, reason, annotations, the whole object); the status of every
// StateBackend, ClusterStorageProvider and StorageProvider; every ConfigMap it manages (data,
// annotations, the whole object); and its metrics endpoint while it runs. A secret is looked for
// as is and base64-encoded (as a []byte field marshals). It also fails on any refusal by the
// operator's RBAC in its log, and on an orphan sweep that failed (each provider is swept right
// after the operator starts; a sweep that cannot read what it needs must show).
func logHoldsNoSecret(t *testing.T, env *Env, secrets map[string]string) {
	t.Helper()
	opLog := env.OperatorLog()
	if opLog == "" {
		t.Fatal("empty operator log: cannot check it for secrets")
	}
	// The operator runs with exactly the shipped RBAC: anything it was refused shows a gap in it.
	for _, line := range strings.Split(opLog, "\n") {
		if strings.Contains(line, "forbidden") {
			t.Errorf("the operator was refused something by its RBAC: %s", line)
		}
		if strings.Contains(line, "orphan sweep failed") {
			t.Errorf("an orphan sweep failed: %s", line)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	places := append([]leakPlace{{"the operator log", opLog}}, operatorOutputs(ctx, t, env)...)
	for what, secret := range secrets {
		if secret == "" {
			t.Errorf("no %s to look for in what the operator writes", what)
			continue
		}
		encoded := base64.StdEncoding.EncodeToString([]byte(secret))
		for _, p := range places {
			if strings.Contains(p.text, secret) {
				t.Errorf("%s contains the %s", p.name, what)
			} else if strings.Contains(p.text, encoded) {
				t.Errorf("%s contains the %s, base64-encoded", p.name, what)
			}
		}
	}
}

// leakPlace is text the operator wrote somewhere readable, and where.
type leakPlace struct{ name, text string }

// operatorOutputs collects, with the admin client, what logHoldsNoSecret scans besides the log.
// A list that fails is an error: a scan that silently saw nothing would prove nothing.
func operatorOutputs(ctx context.Context, t *testing.T, env *Env) []leakPlace {
	t.Helper()
	var out []leakPlace
	add := func(name string, obj any, fields ...string) {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // keep '+', '&', '<' and '>' of a secret as they are
		if err := enc.Encode(obj); err != nil {
			t.Errorf("marshal %s: %v", name, err)
		}
		for _, f := range fields {
			b.WriteString("\n" + f)
		}
		out = append(out, leakPlace{name, b.String()})
	}
	list := func(what string, l client.ObjectList, opts ...client.ListOption) bool {
		if err := env.Kube.List(ctx, l, opts...); err != nil {
			t.Errorf("list %s to check them for secrets: %v", what, err)
			return false
		}
		return true
	}
	counts := map[string]int{}

	coreEvents := &corev1.EventList{}
	if list("core/v1 Events", coreEvents) {
		for _, e := range coreEvents.Items {
			fields := append([]string{e.Message, e.Reason, e.Action}, slices.Collect(maps.Values(e.Annotations))...)
			add(fmt.Sprintf("core/v1 Event %s/%s (%s)", e.Namespace, e.Name, e.Reason), e, fields...)
		}
		counts["core/v1 Events"] = len(coreEvents.Items)
	}
	events := &eventsv1.EventList{}
	if list("events.k8s.io/v1 Events", events) {
		for _, e := range events.Items {
			fields := append([]string{e.Note, e.Reason, e.Action, e.DeprecatedSource.Component}, slices.Collect(maps.Values(e.Annotations))...)
			add(fmt.Sprintf("events.k8s.io/v1 Event %s/%s (%s)", e.Namespace, e.Name, e.Reason), e, fields...)
		}
		counts["events.k8s.io/v1 Events"] = len(events.Items)
	}
	backends := &v1alpha1.StateBackendList{}
	if list("StateBackends", backends) {
		for _, sb := range backends.Items {
			add(fmt.Sprintf("the status of StateBackend %s/%s", sb.Namespace, sb.Name), sb.Status)
		}
		counts["StateBackends"] = len(backends.Items)
	}
	clusterProviders := &v1alpha1.ClusterStorageProviderList{}
	if list("ClusterStorageProviders", clusterProviders) {
		for _, p := range clusterProviders.Items {
			add("the status of ClusterStorageProvider "+p.Name, p.Status)
		}
		counts["ClusterStorageProviders"] = len(clusterProviders.Items)
	}
	providers := &v1alpha1.StorageProviderList{}
	if list("StorageProviders", providers) {
		for _, p := range providers.Items {
			add(fmt.Sprintf("the status of StorageProvider %s/%s", p.Namespace, p.Name), p.Status)
		}
		counts["StorageProviders"] = len(providers.Items)
	}
	// The operator labels every ConfigMap (and Secret) it writes; only the Secrets may hold keys.
	configMaps := &corev1.ConfigMapList{}
	if list("ConfigMaps", configMaps, client.MatchingLabels{"app.kubernetes.io/managed-by": "tfstate-operator"}) {
		for _, cm := range configMaps.Items {
			fields := append(slices.Collect(maps.Values(cm.Data)), slices.Collect(maps.Values(cm.Annotations))...)
			for _, v := range cm.BinaryData {
				fields = append(fields, string(v))
			}
			add(fmt.Sprintf("ConfigMap %s/%s", cm.Namespace, cm.Name), cm, fields...)
		}
		counts["operator ConfigMaps"] = len(configMaps.Items)
	}
	// The metrics endpoint answers only while the operator runs.
	if env.operator != nil && env.MetricsURL != "" {
		if text, err := httpGet(ctx, env.MetricsURL+"/metrics"); err != nil {
			t.Errorf("scrape the operator's metrics to check them for secrets: %v", err)
		} else {
			out = append(out, leakPlace{"the operator's metrics", text})
			counts["metrics bytes"] = len(text)
		}
	}
	t.Logf("checked for secrets: the operator log and %v", counts)
	return out
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

// s3Code is the S3 error code of err ("" for nil or a non-S3 error).
func s3Code(err error) string {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.Code
	}
	return ""
}

// applyAcrossRotation: a `terraform apply` that holds the state lock while the credential is
// rotated (spec.credentials.rotationRequest) completes with the key it started with, because the
// replaced credential keeps working for revokeAfter; the Secret meanwhile holds the new one. b then
// describes the new credential.
func (b *backend) applyAcrossRotation(ctx context.Context, t *testing.T) {
	t.Helper()
	dir := filepath.Join(b.env.Dir, "terraform-rotation")
	slow := Module + `
resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 15"
  }
}
`
	if err := tftest.WriteModule(dir, map[string]string{"main.tf": slow}); err != nil {
		t.Fatal(err)
	}
	started := b.secretEnv
	if out, err := tftest.Run(ctx, dir, started, "init", "-input=false", "-no-color"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = tftest.Run(ctx, dir, started, "apply", "-auto-approve", "-input=false", "-no-color")
		done <- err
	}()
	bucket, lockKey := b.sb.Status.BucketName, b.applied.Spec.Key+".tflock"
	if err := b.env.poll(ctx, time.Minute, func(ctx context.Context) bool {
		_, err := b.root.StatObject(ctx, bucket, lockKey, minio.StatObjectOptions{})
		return err == nil
	}, func() string { return "terraform apply never took the state lock " + lockKey }); err != nil {
		t.Fatal(err)
	}

	sb := &v1alpha1.StateBackend{}
	if err := b.env.Kube.Get(ctx, types.NamespacedName{Namespace: b.sb.Namespace, Name: b.sb.Name}, sb); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(sb.DeepCopy())
	sb.Spec.Credentials = &v1alpha1.CredentialPolicy{RevokeAfter: &metav1.Duration{Duration: 10 * time.Minute}, RotationRequest: "during-apply"}
	if err := b.env.Kube.Patch(ctx, sb, patch); err != nil {
		t.Fatal(err)
	}
	var rotated map[string]string
	if err := b.env.poll(ctx, time.Minute, func(ctx context.Context) bool {
		env, err := b.env.SecretEnv(ctx, b.sb.Namespace, b.sb.Status.SecretName)
		if err != nil || env[backendconfig.EnvAccessKeyID] == started[backendconfig.EnvAccessKeyID] {
			return false
		}
		rotated = env
		return true
	}, func() string { return "the Secret was not switched to a new credential" }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("terraform apply ended before the rotation finished (%v); the test proves nothing:\n%s", err, out)
	default:
	}
	if err := <-done; err != nil || !strings.Contains(out, "Apply complete!") {
		t.Fatalf("terraform apply holding the lock across a rotation: %v\n%s", err, out)
	}
	if err := b.env.Kube.Get(ctx, types.NamespacedName{Namespace: b.sb.Namespace, Name: b.sb.Name}, sb); err != nil {
		t.Fatal(err)
	}
	if p := sb.Status.PreviousCredential; p == nil || p.RevokeAt.Time.Before(time.Now()) {
		t.Fatalf("status.previousCredential %+v, want the replaced credential in its grace", p)
	}
	issued, err := b.env.S3(rotated[backendconfig.EnvAccessKeyID], rotated[backendconfig.EnvSecretAccessKey])
	if err != nil {
		t.Fatal(err)
	}
	b.sb, b.secretEnv, b.issued = sb, rotated, issued
}
