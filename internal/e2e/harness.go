// Package e2e runs the operator the way a cluster does: a real kube-apiserver and etcd with the Helm
// chart (charts/tfstate-operator, rendered by the real helm binary) installed, a real MinIO, the real
// manager binary built from main.go running with the arguments of the chart's Deployment as the
// chart's ServiceAccount (impersonated, so it holds exactly the chart's RBAC), the sample manifests
// from config/samples, and real Terraform consuming the issued Secret. The API server writes an
// audit log, so a test can compare what the manager sent with what the chart grants. The
// end-to-end test and `make demo` (hack/demo) share it, so the demo shows exactly what is tested.
//
// Cloudflare R2 runs the same way against internal/testutil/fakecloudflare: the Cloudflare API
// served from the test process, with MinIO as R2's S3 data plane (StartCloudflare, ApplyR2Samples).
// DigitalOcean Spaces likewise against internal/testutil/fakedigitalocean (StartDigitalOcean,
// ApplySpacesSamples).
//
// An upgrade test starts from the previous release instead (StartPreviousRelease: its source is
// test data, see previous.go) and moves to the working tree with UpgradeTo.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakeaws"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakecloudflare"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakedigitalocean"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/tftest"
)

const (
	// OperatorNamespace is the chart's release namespace: it holds the operator's lease and (as the
	// samples name them) the providers' admin Secrets.
	OperatorNamespace = "tfstate-system"
	// ReleaseName is the chart's release name.
	ReleaseName = "tfstate-operator"
)

// R2AdminPermissions are the account permission groups the README asks of the R2 admin API token.
var R2AdminPermissions = []string{"Workers R2 Storage Write", "Account API Tokens Write"}

// Env is a running control plane, MinIO and (once started) operator.
type Env struct {
	// Root is the source tree whose chart is installed and whose main.go and config/samples
	// BuildOperator and the Apply*Samples use: the repository root, or a previous release's
	// extracted source until UpgradeTo.
	Root string
	// Dir is a scratch directory for kubeconfigs, logs and Terraform working directories.
	Dir string
	// Kube is an admin client of the control plane.
	Kube client.Client
	// MinIO is the S3 server every backend lives on.
	MinIO *miniotest.Server
	// Cloudflare is the fake Cloudflare API whose R2 buckets live on MinIO; nil until
	// StartCloudflare.
	Cloudflare *fakecloudflare.Server
	// DigitalOcean is the fake DigitalOcean API whose Spaces keys are MinIO identities; nil until
	// StartDigitalOcean.
	DigitalOcean *fakedigitalocean.Server
	// AWS is the fake AWS IAM/STS API and S3 front whose users' keys are MinIO identities; nil
	// until StartAWS.
	AWS *fakeaws.Server
	// Progress receives one line per step; io.Discard when nil.
	Progress io.Writer

	// Chart holds the objects `helm template` rendered and Start installed.
	Chart []*unstructured.Unstructured
	// OperatorUser is the user the manager runs as: the chart's ServiceAccount.
	OperatorUser string
	// MetricsURL and HealthURL are the manager's metrics and probe endpoints once it runs.
	MetricsURL, HealthURL string

	controlPlane *envtest.Environment
	auditLog     string
	operator     *exec.Cmd
	operatorDone chan error
	operatorLog  string
}

// Start brings up kube-apiserver + etcd, installs the Helm chart (CRDs, RBAC, ServiceAccount,
// Deployment, Service) as `helm template` renders it with the default values, and starts MinIO,
// all under dir.
func Start(ctx context.Context, dir string, progress io.Writer) (*Env, error) {
	return StartWithValues(ctx, dir, progress, nil)
}

// StartWithValues is Start with the chart rendered with these values (helm --set).
func StartWithValues(ctx context.Context, dir string, progress io.Writer, values map[string]string) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	return startFrom(ctx, root, dir, progress, values)
}

// startFrom is StartWithValues with the chart (and, later, the samples and the operator binary)
// taken from the source tree at root: the repository, or a previous release's extracted source.
func startFrom(ctx context.Context, root, dir string, progress io.Writer, values map[string]string) (*Env, error) {
	if progress == nil {
		progress = io.Discard
	}
	var err error
	e := &Env{Root: root, Dir: dir, Progress: progress}
	e.step("starting kube-apiserver and etcd (envtest binaries from %s)", assetsDir())
	if e.controlPlane, err = e.newControlPlane(); err != nil {
		return nil, err
	}
	cfg, err := e.controlPlane.Start()
	if err != nil {
		return nil, fmt.Errorf("start control plane (run `make tools` for kube-apiserver and etcd): %w", err)
	}
	scheme := Scheme()
	if e.Kube, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		e.Stop()
		return nil, err
	}
	if err := e.installChart(ctx, values); err != nil {
		e.Stop()
		return nil, err
	}
	e.step("starting MinIO")
	if e.MinIO, err = miniotest.Start(ctx, filepath.Join(dir, "minio")); err != nil {
		e.Stop()
		return nil, err
	}
	e.step("MinIO serves S3 at %s", e.MinIO.Endpoint)
	return e, nil
}

// Scheme knows the core types and tfstate.dev/v1alpha1.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

// StartCloudflare starts the fake Cloudflare API on 127.0.0.1, with MinIO as R2's data plane.
func (e *Env) StartCloudflare() (*fakecloudflare.Server, error) {
	cf, err := fakecloudflare.Start(fakecloudflare.Config{MinIO: e.MinIO})
	if err != nil {
		return nil, fmt.Errorf("start the fake Cloudflare API: %w", err)
	}
	e.Cloudflare = cf
	e.step("fake Cloudflare API at %s (account %s); R2's S3 endpoint is MinIO at %s", cf.URL(), cf.AccountID(), cf.S3Endpoint())
	return cf, nil
}

// StartDigitalOcean starts the fake DigitalOcean API on 127.0.0.1, with MinIO as Spaces' data plane.
func (e *Env) StartDigitalOcean() (*fakedigitalocean.Server, error) {
	do, err := fakedigitalocean.Start(fakedigitalocean.Config{MinIO: e.MinIO})
	if err != nil {
		return nil, fmt.Errorf("start the fake DigitalOcean API: %w", err)
	}
	e.DigitalOcean = do
	e.step("fake DigitalOcean API at %s; Spaces' S3 endpoint is MinIO at %s", do.URL(), do.S3Endpoint())
	return do, nil
}

// StartAWS starts the fake AWS IAM and STS APIs and S3 front on 127.0.0.1, with MinIO as S3's
// data plane. New access keys work only after keyPropagation, as IAM's do after a few seconds.
func (e *Env) StartAWS(ctx context.Context, keyPropagation time.Duration) (*fakeaws.Server, error) {
	f, err := fakeaws.New(ctx, fakeaws.Config{MinIO: e.MinIO, KeyPropagation: keyPropagation})
	if err != nil {
		return nil, fmt.Errorf("start the fake AWS APIs: %w", err)
	}
	e.AWS = f
	e.step("fake AWS IAM at %s, STS at %s; S3 is MinIO behind a front at %s", f.IAMEndpoint(), f.STSEndpoint(), f.S3Endpoint())
	return f, nil
}

// Stop stops the operator, the fake provider APIs, MinIO and the control plane. It is safe to
// call more than once.
func (e *Env) Stop() {
	e.StopOperator()
	if e.Cloudflare != nil {
		e.Cloudflare.Close()
		e.Cloudflare = nil
	}
	if e.DigitalOcean != nil {
		e.DigitalOcean.Close()
		e.DigitalOcean = nil
	}
	if e.AWS != nil {
		e.AWS.Close()
		e.AWS = nil
	}
	if e.MinIO != nil {
		e.MinIO.Stop()
		e.MinIO = nil
	}
	if e.controlPlane != nil {
		_ = e.controlPlane.Stop()
		e.controlPlane = nil
	}
}

// BuildOperator compiles Root's main.go into the scratch directory as the Dockerfile does (static,
// trimmed paths): the binary the e2e test runs is the binary that ships, and the builds share Go's
// cache. -mod=readonly (go build's default, stated so that an inherited GOFLAGS=-mod=mod cannot
// change it) builds with the tree's own go.sum, as a release is built.
func (e *Env) BuildOperator(ctx context.Context) (string, error) {
	out := filepath.Join(e.Dir, "manager")
	if e.Root != e.Dir && strings.HasPrefix(e.Root, e.Dir+string(filepath.Separator)) {
		out = filepath.Join(e.Root, "manager") // a release extracted under Dir: one binary each
	}
	e.step("building the operator from %s", filepath.Join(e.Root, "main.go"))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS="+readonlyGOFLAGS(os.Getenv("GOFLAGS")))
	cmd.Dir = e.Root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, b)
	}
	return out, nil
}

// readonlyGOFLAGS is goflags with any -mod setting replaced by -mod=readonly.
func readonlyGOFLAGS(goflags string) string {
	flags := slices.DeleteFunc(strings.Fields(goflags), func(f string) bool { return strings.HasPrefix(f, "-mod=") })
	return strings.Join(append(flags, "-mod=readonly"), " ")
}

// StartOperator runs binary against the control plane as the chart's Deployment would: with the
// container's arguments (the probe and metrics addresses moved to free ports on 127.0.0.1, the
// retry interval shortened for the test) and as the chart's ServiceAccount, by impersonation, so
// it holds exactly the chart's RBAC. It returns once the chart's readiness probe path answers.
func (e *Env) StartOperator(ctx context.Context, binary string) error {
	dep, err := e.chartDeployment()
	if err != nil {
		return err
	}
	kubeconfigPath, err := e.impersonatingKubeconfig(dep)
	if err != nil {
		return err
	}
	container := dep.Spec.Template.Spec.Containers[0]
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	probeAddr, err := freeAddr()
	if err != nil {
		return err
	}
	e.MetricsURL, e.HealthURL = "http://"+metricsAddr, "http://"+probeAddr
	args := append(slices.Clone(container.Args),
		"--kubeconfig="+kubeconfigPath,
		"--metrics-bind-address="+metricsAddr,
		"--health-probe-bind-address="+probeAddr,
		"--retry-interval=2s",
	)
	// The test's MinIO and fakes listen on 127.0.0.1, where a team's StorageProvider may only point
	// when the operator allows it. The chart passes the setting (a release before it has no such
	// flag, and refuses unknown ones): the test turns it on where the chart has it.
	for i, a := range args {
		if strings.HasPrefix(a, "--allow-local-endpoints") {
			args[i] = "--allow-local-endpoints=true"
		}
	}
	e.operatorLog = filepath.Join(e.Dir, "operator.log")
	logFile, err := os.Create(e.operatorLog)
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start operator: %w", err)
	}
	e.operator = cmd
	e.operatorDone = make(chan error, 1)
	go func() { e.operatorDone <- cmd.Wait(); logFile.Close() }()
	e.step("operator running as %s with the chart's RBAC and its Deployment's arguments (log: %s)", e.OperatorUser, e.operatorLog)

	readiness := e.HealthURL + container.ReadinessProbe.HTTPGet.Path
	return e.poll(ctx, 30*time.Second, func(ctx context.Context) bool {
		_, err := httpGet(ctx, readiness)
		return err == nil
	}, func() string { return fmt.Sprintf("the chart's readiness probe %s does not answer 200", readiness) })
}

// StopOperator stops the operator process, if running.
func (e *Env) StopOperator() {
	if e.operator == nil {
		return
	}
	_ = e.operator.Process.Signal(os.Interrupt)
	select {
	case <-e.operatorDone:
	case <-time.After(10 * time.Second):
		_ = e.operator.Process.Kill()
		<-e.operatorDone
	}
	e.operator = nil
}

// OperatorLog returns what the operator printed so far.
func (e *Env) OperatorLog() string {
	if e.operatorLog == "" {
		return ""
	}
	b, _ := os.ReadFile(e.operatorLog)
	return string(b)
}

// ApplySamples creates the MinIO admin Secret and the objects in config/samples, pointing the
// ClusterStorageProvider at the test's MinIO. It returns the StateBackend as applied.
func (e *Env) ApplySamples(ctx context.Context) (*v1alpha1.StateBackend, error) {
	admin := map[string][]byte{
		"accessKeyID":     []byte(e.MinIO.RootUser),
		"secretAccessKey": []byte(e.MinIO.RootPassword),
	}
	return e.applySamples(ctx, "clusterstorageprovider_minio.yaml", "statebackend.yaml", admin, func(spec *v1alpha1.StorageProviderSpec) string {
		spec.MinIO.Endpoint = e.MinIO.Endpoint
		return spec.MinIO.Endpoint
	})
}

// R2AdminToken is the admin API token ApplyR2Samples gives the operator.
type R2AdminToken struct{ ID, Value string }

// ApplyR2Samples makes an admin API token with R2AdminPermissions on the fake Cloudflare API
// (StartCloudflare first), puts it in the Secret that config/samples/clusterstorageprovider_r2.yaml
// refers to, and applies that provider, pointed at the fake (account id, API base URL and S3
// endpoint), and config/samples/statebackend_r2.yaml. It returns the StateBackend as applied.
func (e *Env) ApplyR2Samples(ctx context.Context) (*v1alpha1.StateBackend, R2AdminToken, error) {
	return e.applyR2Samples(ctx, "statebackend_r2.yaml")
}

// ApplyR2Provider is ApplyR2Samples without the sample StateBackend: the provider only.
func (e *Env) ApplyR2Provider(ctx context.Context) (R2AdminToken, error) {
	_, tok, err := e.applyR2Samples(ctx, "")
	return tok, err
}

// applyR2Samples is ApplyR2Samples with the sample StateBackend in sbFile ("": none).
func (e *Env) applyR2Samples(ctx context.Context, sbFile string) (*v1alpha1.StateBackend, R2AdminToken, error) {
	cf := e.Cloudflare
	if cf == nil {
		return nil, R2AdminToken{}, errors.New("ApplyR2Samples needs the fake Cloudflare API: call StartCloudflare first")
	}
	var tok R2AdminToken
	var err error
	if tok.ID, tok.Value, err = cf.AddToken("tfstate-operator admin", R2AdminPermissions...); err != nil {
		return nil, R2AdminToken{}, err
	}
	admin := map[string][]byte{"apiToken": []byte(tok.Value)}
	sb, err := e.applySamples(ctx, "clusterstorageprovider_r2.yaml", sbFile, admin, func(spec *v1alpha1.StorageProviderSpec) string {
		spec.CloudflareR2.AccountID = cf.AccountID()
		spec.CloudflareR2.APIBaseURL = cf.URL()
		spec.CloudflareR2.S3Endpoint = cf.S3Endpoint()
		return fmt.Sprintf("API %s, S3 %s", spec.CloudflareR2.APIBaseURL, spec.CloudflareR2.S3Endpoint)
	})
	return sb, tok, err
}

// SpacesTokenScopes are the scopes the README asks of the DigitalOcean API token.
var SpacesTokenScopes = []string{fakedigitalocean.ScopeCreate, fakedigitalocean.ScopeRead, fakedigitalocean.ScopeDelete, fakedigitalocean.ScopeUpdate}

// ApplySpacesSamples makes an API token with SpacesTokenScopes on the fake DigitalOcean API
// (StartDigitalOcean first), puts it in the Secret that
// config/samples/clusterstorageprovider_spaces.yaml refers to, and applies that provider, pointed at
// the fake (API base URL and S3 endpoint), and config/samples/statebackend_spaces.yaml. It returns
// the StateBackend as applied and the token.
func (e *Env) ApplySpacesSamples(ctx context.Context) (*v1alpha1.StateBackend, string, error) {
	do := e.DigitalOcean
	if do == nil {
		return nil, "", errors.New("ApplySpacesSamples needs the fake DigitalOcean API: call StartDigitalOcean first")
	}
	token := do.AddToken("tfstate-operator", SpacesTokenScopes...)
	sb, err := e.applySamples(ctx, "clusterstorageprovider_spaces.yaml", "statebackend_spaces.yaml", map[string][]byte{"accessToken": []byte(token)},
		func(spec *v1alpha1.StorageProviderSpec) string {
			spec.DigitalOceanSpaces.APIBaseURL = do.URL()
			spec.DigitalOceanSpaces.S3Endpoint = do.S3Endpoint()
			return fmt.Sprintf("API %s, S3 %s", spec.DigitalOceanSpaces.APIBaseURL, spec.DigitalOceanSpaces.S3Endpoint)
		})
	return sb, token, err
}

// ApplyAWSSamples makes an admin principal on the fake AWS APIs (StartAWS first) allowed exactly
// the IAM and STS actions in iamActions, puts its keys in the Secret that
// config/samples/clusterstorageprovider_aws.yaml refers to, and applies that provider, pointed at
// the fake (region us-east-1, MinIO's, and the S3, IAM and STS endpoints), and
// config/samples/statebackend_aws.yaml. It returns the StateBackend as applied and the admin keys.
func (e *Env) ApplyAWSSamples(ctx context.Context, iamActions []string) (*v1alpha1.StateBackend, [2]string, error) {
	f := e.AWS
	if f == nil {
		return nil, [2]string{}, errors.New("ApplyAWSSamples needs the fake AWS APIs: call StartAWS first")
	}
	ak, sk, err := f.AddPrincipal("tfstate-operator", iamActions...)
	if err != nil {
		return nil, [2]string{}, err
	}
	sb, err := e.applySamples(ctx, "clusterstorageprovider_aws.yaml", "statebackend_aws.yaml",
		map[string][]byte{"accessKeyID": []byte(ak), "secretAccessKey": []byte(sk)},
		func(spec *v1alpha1.StorageProviderSpec) string {
			p := spec.AWSS3
			p.Region = "us-east-1" // MinIO's region
			p.S3Endpoint, p.IAMEndpoint, p.STSEndpoint = f.S3Endpoint(), f.IAMEndpoint(), f.STSEndpoint()
			return fmt.Sprintf("region %s, S3 %s, IAM %s, STS %s", p.Region, p.S3Endpoint, p.IAMEndpoint, p.STSEndpoint)
		})
	return sb, [2]string{ak, sk}, err
}

// applySamples creates the admin Secret the sample ClusterStorageProvider in cspFile refers to,
// holding admin; then that provider, after point has aimed it at the test's servers (it returns
// where, for the progress line); then the sample StateBackend in sbFile, unless sbFile is "".
func (e *Env) applySamples(ctx context.Context, cspFile, sbFile string, admin map[string][]byte, point func(*v1alpha1.StorageProviderSpec) string) (*v1alpha1.StateBackend, error) {
	csp := &v1alpha1.ClusterStorageProvider{}
	if err := e.decodeFile(filepath.Join("config", "samples", cspFile), csp); err != nil {
		return nil, err
	}
	ref := csp.Spec.CredentialsSecretRef
	if err := e.ensureNamespace(ctx, ref.Namespace); err != nil {
		return nil, err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name}, Data: admin}
	if err := e.Kube.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create admin Secret: %w", err)
	}
	where := point(&csp.Spec)
	if err := e.Kube.Create(ctx, csp); err != nil {
		return nil, fmt.Errorf("create ClusterStorageProvider: %w", err)
	}
	e.step("applied ClusterStorageProvider %q -> %s (admin keys in Secret %s/%s)", csp.Name, where, ref.Namespace, ref.Name)
	if sbFile == "" {
		return nil, nil
	}
	sb := &v1alpha1.StateBackend{}
	if err := e.decodeFile(filepath.Join("config", "samples", sbFile), sb); err != nil {
		return nil, err
	}
	if err := e.CreateStateBackend(ctx, sb); err != nil {
		return nil, err
	}
	return sb, nil
}

// CreateStateBackend creates sb (and its namespace).
func (e *Env) CreateStateBackend(ctx context.Context, sb *v1alpha1.StateBackend) error {
	if err := e.ensureNamespace(ctx, sb.Namespace); err != nil {
		return err
	}
	if err := e.Kube.Create(ctx, sb); err != nil {
		return fmt.Errorf("create StateBackend: %w", err)
	}
	bucket := fmt.Sprintf("%q", sb.Spec.BucketName)
	if sb.Spec.BucketName == "" {
		bucket = "derived from namespace and name"
	}
	e.step("applied StateBackend %s/%s (bucket %s, key %q, access %s)", sb.Namespace, sb.Name, bucket, sb.Spec.Key, sb.Spec.Access)
	return nil
}

// WaitReady waits until the StateBackend's Ready condition is True for its current generation.
func (e *Env) WaitReady(ctx context.Context, key types.NamespacedName, timeout time.Duration) (*v1alpha1.StateBackend, error) {
	sb := &v1alpha1.StateBackend{}
	if err := e.waitConditionReady(ctx, "StateBackend", key, sb, &sb.Status.Conditions, timeout); err != nil {
		return sb, err
	}
	e.step("StateBackend %s is Ready: bucket %s, Secret %s, credential %s, versioning %s, locking %s",
		key, sb.Status.BucketName, sb.Status.SecretName, credentialID(sb), sb.Status.Versioning, sb.Status.Locking)
	return sb, nil
}

// WaitProviderReady waits until the ClusterStorageProvider's Ready condition (its health check) is
// True for its current generation.
func (e *Env) WaitProviderReady(ctx context.Context, name string, timeout time.Duration) (*v1alpha1.ClusterStorageProvider, error) {
	csp := &v1alpha1.ClusterStorageProvider{}
	if err := e.waitConditionReady(ctx, "ClusterStorageProvider", types.NamespacedName{Name: name}, csp, &csp.Status.Conditions, timeout); err != nil {
		return csp, err
	}
	e.step("ClusterStorageProvider %s is Ready: %s", name, meta.FindStatusCondition(csp.Status.Conditions, v1alpha1.ConditionReady).Message)
	return csp, nil
}

// waitConditionReady reads key into obj, whose status conditions are *conditions, until its Ready
// condition is True for its current generation.
func (e *Env) waitConditionReady(ctx context.Context, kind string, key types.NamespacedName, obj client.Object, conditions *[]metav1.Condition, timeout time.Duration) error {
	return e.poll(ctx, timeout, func(ctx context.Context) bool {
		if e.Kube.Get(ctx, key, obj) != nil {
			return false
		}
		c := meta.FindStatusCondition(*conditions, v1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == obj.GetGeneration()
	}, func() string {
		return fmt.Sprintf("%s %s not Ready; conditions: %s", kind, key, describeConditions(*conditions))
	})
}

// poll calls done every 250ms until it reports true. After timeout it gives up with an error
// saying what failed (from failure) and ending with the operator log's tail.
func (e *Env) poll(ctx context.Context, timeout time.Duration, done func(context.Context) bool, failure func() string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !done(ctx) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s (waited %s); operator log:\n%s", failure(), timeout, tail(e.OperatorLog(), 40))
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

// SecretEnv returns the Secret's data as environment variables: what `envFrom` gives a pod.
func (e *Env) SecretEnv(ctx context.Context, namespace, name string) (map[string]string, error) {
	s := &corev1.Secret{}
	if err := e.Kube.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, s); err != nil {
		return nil, err
	}
	env := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		env[k] = string(v)
	}
	return env, nil
}

// WaitGone waits until the object no longer exists.
func (e *Env) WaitGone(ctx context.Context, obj client.Object, timeout time.Duration) error {
	key := client.ObjectKeyFromObject(obj)
	return e.poll(ctx, timeout, func(ctx context.Context) bool {
		return apierrors.IsNotFound(e.Kube.Get(ctx, key, obj))
	}, func() string { return fmt.Sprintf("%s still exists", key) })
}

// S3 is a client of MinIO's S3 API with the given keys; RootS3 one with MinIO's root keys.
func (e *Env) S3(accessKeyID, secretAccessKey string) (*minio.Client, error) {
	return minio.New(e.MinIO.Host, &minio.Options{Creds: credentials.NewStaticV4(accessKeyID, secretAccessKey, "")})
}

// RootS3 is a client of MinIO's S3 API with MinIO's root keys: what sees every bucket.
func (e *Env) RootS3() (*minio.Client, error) {
	return e.S3(e.MinIO.RootUser, e.MinIO.RootPassword)
}

func (e *Env) ensureNamespace(ctx context.Context, name string) error {
	err := e.Kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

func (e *Env) decodeFile(rel string, into any) error {
	b, err := os.ReadFile(filepath.Join(e.Root, rel))
	if err != nil {
		return err
	}
	// Skip leading comment-only documents; each file here holds one object.
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		return fmt.Errorf("decode %s: %w", rel, err)
	}
	return nil
}

func (e *Env) step(format string, args ...any) {
	fmt.Fprintf(e.Progress, "==> "+format+"\n", args...)
}

// Module is the Terraform configuration the test and the demo apply: a partial s3 backend whose every
// setting comes from the environment (the Secret), and a built-in resource, so no provider plugin is
// downloaded.
const Module = `terraform {
  backend "s3" {}
}

resource "terraform_data" "demo" {
  input = "state kept in a tfstate-operator backend"
}

output "demo" {
  value = terraform_data.demo.output
}
`

// TerraformApply runs `terraform init` and `terraform apply` on Module in a fresh directory with
// exactly env as the backend's environment (tftest adds only PATH and a private HOME).
func (e *Env) TerraformApply(ctx context.Context, name string, env map[string]string) (string, error) {
	if err := tftest.WriteModule(e.terraformDir(name), map[string]string{"main.tf": Module}); err != nil {
		return "", err
	}
	var all strings.Builder
	for _, args := range [][]string{
		{"init", "-input=false", "-no-color"},
		{"apply", "-auto-approve", "-input=false", "-no-color"},
	} {
		out, err := e.Terraform(ctx, name, env, args...)
		all.WriteString(out)
		if err != nil {
			return all.String(), fmt.Errorf("%w\n%s", err, out)
		}
	}
	return all.String(), nil
}

// Terraform runs terraform with args in the directory TerraformApply(ctx, name, ...) set up, with
// exactly env as the backend's environment. Errors wrap *exec.ExitError: the exit code counts for
// -detailed-exitcode.
func (e *Env) Terraform(ctx context.Context, name string, env map[string]string, args ...string) (string, error) {
	e.step("terraform %s (environment: only the Secret's %d keys)", strings.Join(args, " "), len(env))
	out, err := tftest.Run(ctx, e.terraformDir(name), env, args...)
	if err != nil {
		return out, fmt.Errorf("terraform %s: %w", args[0], err)
	}
	return out, nil
}

func (e *Env) terraformDir(name string) string { return filepath.Join(e.Dir, "terraform-"+name) }

// RepoRoot finds the directory holding this module's go.mod, from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.HasPrefix(b, []byte("module github.com/tfstate-operator/tfstate-operator\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the tfstate-operator repository")
		}
		dir = parent
	}
}

// assetsDir is where hack/tools.sh caches kube-apiserver and etcd.
func assetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	if d := os.Getenv("TFSTATE_TOOLS_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "tfstate-operator", "tools")
}

func credentialID(sb *v1alpha1.StateBackend) string {
	if sb.Status.Credential == nil {
		return "<none>"
	}
	return sb.Status.Credential.ID
}

func describeConditions(conditions []metav1.Condition) string {
	var parts []string
	for _, c := range conditions {
		parts = append(parts, fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	if len(parts) == 0 {
		return "<none>"
	}
	return strings.Join(parts, "; ")
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
