package e2e

// The upgrade from the previous release (testdata/previous-release): what the old manager made must
// be exactly where it was once the new one runs.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/minioadmin"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakedigitalocean"
)

// TestUpgradeFromThePreviousReleaseKeepsEveryBucketSecretAndCredential installs the previous
// release (its chart, its manager built from its source, its samples) and has it provision, on
// MinIO: a backend with spec.bucketName, one with the default bucket name (Terraform applies real
// state with its Secret), a reader of that one's bucket (spec.bucketFrom), and one deleted with
// deletionPolicy Retain; on R2 and Spaces (where the ownership marker is an object in the bucket)
// and AWS, one backend each with the default name. Then it upgrades as `helm upgrade` does (the new chart's
// CRDs, RBAC and Deployment arguments, the old manager stopped, the new one started), asks every
// backend for a full check against its provider, and requires that nothing moved: every backend on
// its bucket, no bucket added or removed, every Secret byte-identical, the same credentials recorded
// and listed by the providers, none issued or revoked, each old Secret still working, and Terraform
// planning no change from the state the old release's Secret wrote. A re-created backend then takes
// back the retained bucket.
func TestUpgradeFromThePreviousReleaseKeepsEveryBucketSecretAndCredential(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	progress := io.Discard
	if testing.Verbose() {
		progress = os.Stderr
	}
	env, err := StartPreviousRelease(ctx, t.TempDir(), progress, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Stop)
	oldManager, err := env.BuildOperator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.StartOperator(ctx, oldManager); err != nil {
		t.Fatal(err)
	}

	// What the previous release made for its users.
	backends := provisionWithThePreviousRelease(ctx, t, env)
	retained := retainAndDelete(ctx, t, env, "scratch")
	app := backends[1] // see provisionWithThePreviousRelease
	if out, err := env.TerraformApply(ctx, "app", app.secretEnv); err != nil || !strings.Contains(out, "Apply complete!") {
		t.Fatalf("terraform apply with the previous release's Secret: %v\n%s", err, out)
	}
	before := takeSnapshot(ctx, t, env, backends)

	// The upgrade.
	env.StopOperator()
	repo, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.UpgradeTo(ctx, repo, nil); err != nil {
		t.Fatal(err)
	}
	newManager, err := env.BuildOperator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.StartOperator(ctx, newManager); err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		fullCheck(ctx, t, env, b.key(), "after-upgrade")
	}

	after := takeSnapshot(ctx, t, env, backends)
	before.wantKeptBy(t, after)
	for _, b := range backends {
		oldSecretStillWorks(ctx, t, env, b)
	}
	// The reader's old Secret still reads the state app's wrote.
	reader := backends[2]
	if c, err := env.S3(reader.secretEnv[backendconfig.EnvAccessKeyID], reader.secretEnv[backendconfig.EnvSecretAccessKey]); err != nil {
		t.Fatal(err)
	} else if state, err := readObject(ctx, c, reader.sb.Status.BucketName, app.applied.Spec.Key); err != nil || !strings.Contains(state, `"terraform_data"`) {
		t.Errorf("the reader's previous Secret reading %s after the upgrade: %v (holds the applied resource: %v)", app.applied.Spec.Key, err, strings.Contains(state, `"terraform_data"`))
	}
	// The state the old release's Secret wrote is there and unchanged (exit code 0: no changes).
	if out, err := env.Terraform(ctx, "app", app.secretEnv, "plan", "-detailed-exitcode", "-input=false", "-no-color"); err != nil {
		t.Fatalf("terraform plan with the previous release's Secret after the upgrade: %v\n%s", err, out)
	}

	retained.reclaim(ctx, t, env)
	if got := bucketNames(ctx, t, env); !slices.Equal(got, before.buckets) {
		t.Fatalf("buckets after re-creating %s: %q, want the same as before the upgrade %q", retained.name, got, before.buckets)
	}
}

// provisionWithThePreviousRelease applies, with the previous release running, the backends the
// upgrade must keep and waits until each is Ready: the samples' MinIO backend (spec.bucketName) and
// Spaces backend (default name); on MinIO a default-named backend "app" and its reader "app-reader"
// (spec.bucketFrom); on R2 a default-named backend "network-r2" from the R2 sample; on AWS the AWS
// sample's backend (default name, an IAM user). app is [1], its reader [2].
func provisionWithThePreviousRelease(ctx context.Context, t *testing.T, env *Env) []*backend {
	t.Helper()
	named, err := env.ApplySamples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if named.Spec.BucketName == "" {
		t.Fatal("the previous release's MinIO sample backend sets no spec.bucketName; the test needs one that does")
	}
	if _, err := env.StartCloudflare(); err != nil {
		t.Fatal(err)
	}
	if _, err := env.ApplyR2Provider(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := env.StartDigitalOcean(); err != nil {
		t.Fatal(err)
	}
	spaces, _, err := env.ApplySpacesSamples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.StartAWS(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	repo, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The permissions today's README asks for: the operator's identity keeps them across the upgrade.
	aws, _, err := env.ApplyAWSSamples(ctx, readmeAWSPermissions(t, repo))
	if err != nil {
		t.Fatal(err)
	}
	r2 := &v1alpha1.StateBackend{}
	if err := env.decodeFile("config/samples/statebackend_r2.yaml", r2); err != nil {
		t.Fatal(err)
	}
	r2.Name += "-r2" // beside the MinIO sample's backend of the same name
	app := minioBackend(named, "app", func(sb *v1alpha1.StateBackend) {})
	reader := minioBackend(named, "app-reader", func(sb *v1alpha1.StateBackend) {
		sb.Spec.Access = v1alpha1.AccessReadOnly
		sb.Spec.Key = app.Spec.Key
		sb.Spec.BucketFrom = &v1alpha1.BucketReference{Name: app.Name}
	})
	applied := []*v1alpha1.StateBackend{named, app, reader, r2, spaces, aws}
	for _, sb := range applied[1:4] {
		if err := env.CreateStateBackend(ctx, sb); err != nil {
			t.Fatal(err)
		}
	}
	var out []*backend
	for _, sb := range applied {
		out = append(out, readyBackend(ctx, t, env, sb))
	}
	if out[2].sb.Status.BucketName != out[1].sb.Status.BucketName {
		t.Fatalf("the reader's bucket %q, want app's %q", out[2].sb.Status.BucketName, out[1].sb.Status.BucketName)
	}
	return out
}

// minioBackend is a StateBackend named name beside like (its namespace and provider), with the
// default bucket name and deletionPolicy Retain, changed by edit.
func minioBackend(like *v1alpha1.StateBackend, name string, edit func(*v1alpha1.StateBackend)) *v1alpha1.StateBackend {
	sb := &v1alpha1.StateBackend{
		ObjectMeta: metav1.ObjectMeta{Namespace: like.Namespace, Name: name},
		Spec: v1alpha1.StateBackendSpec{
			ProviderRef:    like.Spec.ProviderRef,
			Key:            name + "/terraform.tfstate",
			Access:         v1alpha1.AccessReadWrite,
			DeletionPolicy: v1alpha1.DeletionPolicyRetain,
		},
	}
	edit(sb)
	return sb
}

// readyBackend waits for sb to be Ready and reads its Secret.
func readyBackend(ctx context.Context, t *testing.T, env *Env, sb *v1alpha1.StateBackend) *backend {
	t.Helper()
	got, err := env.WaitReady(ctx, client.ObjectKeyFromObject(sb), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{env: env, applied: sb, sb: got}
	if b.secretEnv, err = env.SecretEnv(ctx, got.Namespace, got.Status.SecretName); err != nil {
		t.Fatal(err)
	}
	if got.Status.BucketName == "" || got.Status.Credential == nil || got.Status.Credential.ID == "" || b.secretEnv[backendconfig.EnvAccessKeyID] == "" {
		t.Fatalf("%s is Ready without a bucket, a credential or keys in its Secret: status %+v", b.key(), got.Status)
	}
	return b
}

func (b *backend) key() types.NamespacedName {
	return types.NamespacedName{Namespace: b.sb.Namespace, Name: b.sb.Name}
}

// retainedBucket is the bucket of a StateBackend deleted with deletionPolicy Retain, holding state.
type retainedBucket struct {
	like         *v1alpha1.StateBackend
	name, bucket string
	stateKey     string
}

// stateObject stands for the state a runner left in the retained bucket.
const stateObject = `{"version":4,"terraform_version":"1.10.0","serial":1,"lineage":"upgrade-test","outputs":{},"resources":[]}`

// retainAndDelete makes a default-named MinIO backend with the previous release, puts state in its
// bucket and deletes it: the bucket stays, with the previous release's ownership marker.
func retainAndDelete(ctx context.Context, t *testing.T, env *Env, name string) *retainedBucket {
	t.Helper()
	like := &v1alpha1.StateBackend{}
	if err := env.decodeFile("config/samples/statebackend.yaml", like); err != nil {
		t.Fatal(err)
	}
	sb := minioBackend(like, name, func(*v1alpha1.StateBackend) {})
	if err := env.CreateStateBackend(ctx, sb); err != nil {
		t.Fatal(err)
	}
	b := readyBackend(ctx, t, env, sb)
	r := &retainedBucket{like: like, name: name, bucket: b.sb.Status.BucketName, stateKey: sb.Spec.Key}
	root, err := env.RootS3()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.PutObject(ctx, r.bucket, r.stateKey, strings.NewReader(stateObject), int64(len(stateObject)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.Kube.Delete(ctx, b.sb); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitGone(ctx, b.sb, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := root.BucketExists(ctx, r.bucket); err != nil || !ok {
		t.Fatalf("bucket %s of the StateBackend deleted with Retain: exists %v, %v", r.bucket, ok, err)
	}
	return r
}

// reclaim re-creates the deleted StateBackend after the upgrade, naming its retained bucket, and
// requires it to take that bucket back with the state in it. The bucket carries the previous
// release's marker (this namespace/name, another uid, no seal), and a re-created backend's default
// name is not that bucket's (default names are salted), so the backend names the bucket in
// spec.bucketName and consents to adoption (spec.adoptExistingBucket, with the provider's
// allowBucketAdoption): the recovery path for a retained bucket from before the upgrade. Today's
// release reclaims it on the marker alone; one that verifies a seal adopts it with that consent.
func (r *retainedBucket) reclaim(ctx context.Context, t *testing.T, env *Env) {
	t.Helper()
	csp := &v1alpha1.ClusterStorageProvider{}
	if err := env.Kube.Get(ctx, types.NamespacedName{Name: r.like.Spec.ProviderRef.Name}, csp); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(csp.DeepCopy())
	csp.Spec.AllowBucketAdoption = true
	if err := env.Kube.Patch(ctx, csp, patch); err != nil {
		t.Fatal(err)
	}
	sb := minioBackend(r.like, r.name, func(sb *v1alpha1.StateBackend) {
		sb.Spec.BucketName = r.bucket
		sb.Spec.AdoptExistingBucket = true
	})
	if err := env.CreateStateBackend(ctx, sb); err != nil {
		t.Fatal(err)
	}
	b := readyBackend(ctx, t, env, sb)
	if b.sb.Status.BucketName != r.bucket {
		t.Fatalf("re-created %s: bucket %q, want the retained %q", b.key(), b.sb.Status.BucketName, r.bucket)
	}
	issued, err := env.S3(b.secretEnv[backendconfig.EnvAccessKeyID], b.secretEnv[backendconfig.EnvSecretAccessKey])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readObject(ctx, issued, r.bucket, r.stateKey); err != nil || got != stateObject {
		t.Fatalf("the re-created %s's credential reading the retained state %s: %v (state intact: %v)", b.key(), r.stateKey, err, got == stateObject)
	}
}

// fullCheck asks for a full check of the StateBackend against its provider (the
// reconcile-requested-at annotation) and waits until the running manager has answered it and the
// backend is Ready for its current generation.
func fullCheck(ctx context.Context, t *testing.T, env *Env, key types.NamespacedName, request string) {
	t.Helper()
	sb := &v1alpha1.StateBackend{}
	if err := env.Kube.Get(ctx, key, sb); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(sb.DeepCopy())
	metav1.SetMetaDataAnnotation(&sb.ObjectMeta, v1alpha1.AnnotationReconcileRequestedAt, request)
	if err := env.Kube.Patch(ctx, sb, patch); err != nil {
		t.Fatal(err)
	}
	if err := env.poll(ctx, 3*time.Minute, func(ctx context.Context) bool {
		return env.Kube.Get(ctx, key, sb) == nil && sb.Status.LastHandledReconcileAt == request &&
			sb.Status.ObservedGeneration == sb.Generation && isReady(sb)
	}, func() string {
		return fmt.Sprintf("%s: lastHandledReconcileAt %q (want %q), observedGeneration %d of %d; conditions: %s", key,
			sb.Status.LastHandledReconcileAt, request, sb.Status.ObservedGeneration, sb.Generation, describeConditions(sb.Status.Conditions))
	}); err != nil {
		t.Fatal(err)
	}
}

func isReady(sb *v1alpha1.StateBackend) bool {
	for _, c := range sb.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return c.Status == metav1.ConditionTrue && c.ObservedGeneration == sb.Generation
		}
	}
	return false
}

// snapshot is what the upgrade must keep: each backend's bucket, Secret and credential, every
// bucket, and every backend credential the providers list.
type snapshot struct {
	backends map[types.NamespacedName]kept
	buckets  []string
	// credentials maps "<provider>:<id>" to the credential's name, for every credential a backend
	// may hold (the operator's own admin keys are left out).
	credentials map[string]string
}

// kept is one backend's share of a snapshot. secretHash stands for the Secret's data: values are
// compared, never printed.
type kept struct {
	bucket, secretName, secretHash, credentialID, credentialName string
}

func takeSnapshot(ctx context.Context, t *testing.T, env *Env, backends []*backend) snapshot {
	t.Helper()
	s := snapshot{backends: map[types.NamespacedName]kept{}, buckets: bucketNames(ctx, t, env), credentials: providerCredentials(ctx, t, env)}
	for _, b := range backends {
		sb := &v1alpha1.StateBackend{}
		if err := env.Kube.Get(ctx, b.key(), sb); err != nil {
			t.Fatal(err)
		}
		secret := &corev1.Secret{}
		if err := env.Kube.Get(ctx, types.NamespacedName{Namespace: sb.Namespace, Name: sb.Status.SecretName}, secret); err != nil {
			t.Fatal(err)
		}
		k := kept{bucket: sb.Status.BucketName, secretName: sb.Status.SecretName, secretHash: hashData(secret.Data)}
		if c := sb.Status.Credential; c != nil {
			k.credentialID, k.credentialName = c.ID, c.Name
		}
		s.backends[b.key()] = k
	}
	return s
}

// wantKeptBy fails unless after keeps everything s recorded: per backend the same bucket, Secret
// data and credential (and that credential still listed by its provider), the same buckets, and
// the same credentials listed: none revoked, none issued.
func (s snapshot) wantKeptBy(t *testing.T, after snapshot) {
	t.Helper()
	for key, was := range s.backends {
		now := after.backends[key]
		if now.bucket != was.bucket || now.secretName != was.secretName {
			t.Errorf("%s: bucket %q, Secret %q after the upgrade; was %q, %q", key, now.bucket, now.secretName, was.bucket, was.secretName)
		}
		if now.secretHash != was.secretHash {
			t.Errorf("%s: the Secret's data changed in the upgrade (sha256 %s, was %s)", key, now.secretHash, was.secretHash)
		}
		if now.credentialID != was.credentialID || now.credentialName != was.credentialName {
			t.Errorf("%s: credential %s (%s) after the upgrade; was %s (%s)", key, now.credentialID, now.credentialName, was.credentialID, was.credentialName)
		}
		if !after.lists(was.credentialID) {
			t.Errorf("%s: its credential %s (%s) is no longer listed by its provider", key, was.credentialID, was.credentialName)
		}
	}
	if !slices.Equal(after.buckets, s.buckets) {
		t.Errorf("buckets after the upgrade %q, before %q", after.buckets, s.buckets)
	}
	if !maps.Equal(after.credentials, s.credentials) {
		t.Errorf("credentials the providers list after the upgrade %v, before %v: the upgrade issued or revoked some", after.credentials, s.credentials)
	}
}

// lists reports whether a provider lists the credential with this id.
func (s snapshot) lists(id string) bool {
	for k := range s.credentials {
		if _, got, _ := strings.Cut(k, ":"); got == id {
			return true
		}
	}
	return false
}

// hashData is a SHA-256 over a Secret's data, keys in order.
func hashData(data map[string][]byte) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "%d:%s=%d:", len(k), k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// bucketNames lists every bucket on MinIO, the data plane of every provider here.
func bucketNames(ctx context.Context, t *testing.T, env *Env) []string {
	t.Helper()
	root, err := env.RootS3()
	if err != nil {
		t.Fatal(err)
	}
	buckets, err := root.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range buckets {
		names = append(names, b.Name)
	}
	slices.Sort(names)
	return names
}

// providerCredentials lists the credentials a backend may hold on each provider: MinIO's service
// accounts of the admin identity, R2's account API tokens other than the admin token, AWS's IAM
// users with their access keys, and Spaces keys other than the operator's own full-access key.
func providerCredentials(ctx context.Context, t *testing.T, env *Env) map[string]string {
	t.Helper()
	out := map[string]string{}
	admin, err := minioadmin.New(env.MinIO.Endpoint, env.MinIO.RootUser, env.MinIO.RootPassword, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := admin.ListServiceAccounts(ctx, env.MinIO.RootUser)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		out["minio:"+a.AccessKey] = a.Name
	}
	for _, tok := range env.Cloudflare.Tokens() {
		if !tok.Admin {
			out["r2:"+tok.ID] = tok.Name
		}
	}
	for _, u := range env.AWS.Users() {
		// A backend's credential is an IAM user (status records its name); a rotation would add
		// an access key, so the keys count too.
		var keys []string
		for _, k := range u.AccessKeys {
			keys = append(keys, k.ID)
		}
		out["aws:"+u.Name] = u.Path + u.Name + " " + strings.Join(keys, ",")
	}
	for _, k := range env.DigitalOcean.Keys() {
		if !slices.ContainsFunc(k.Grants, func(g fakedigitalocean.Grant) bool { return g.Permission == fakedigitalocean.PermissionFullAccess }) {
			out["spaces:"+k.AccessKey] = k.Name
		}
	}
	return out
}

// oldSecretStillWorks lists b's bucket (under its spec.keyPrefix, where the credential is scoped to
// it) with the keys the previous release put in its Secret.
func oldSecretStillWorks(ctx context.Context, t *testing.T, env *Env, b *backend) {
	t.Helper()
	c, err := env.S3(b.secretEnv[backendconfig.EnvAccessKeyID], b.secretEnv[backendconfig.EnvSecretAccessKey])
	if err != nil {
		t.Fatal(err)
	}
	opts := minio.ListObjectsOptions{Recursive: true, MaxKeys: 1}
	if p := b.applied.Spec.KeyPrefix; p != "" {
		opts.Prefix = p + "/"
	}
	for o := range c.ListObjects(ctx, b.sb.Status.BucketName, opts) {
		if o.Err != nil {
			t.Errorf("%s: the previous release's Secret listing bucket %s after the upgrade: %v", b.key(), b.sb.Status.BucketName, o.Err)
		}
		break
	}
}
