package e2e

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/tfstate-operator/tfstate-operator/internal/manager"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/kubetools"
)

// cluster is a bare control plane for install tests: an admin client and a kubeconfig file for
// kubectl.
type cluster struct {
	kube       client.Client
	kubeconfig string
	home       string
}

// startCluster starts kube-apiserver + etcd with the namespace the operator installs into,
// labelled to enforce the restricted Pod Security Standard, and the third-party CRDs hack/tools.sh
// fetched (ServiceMonitor, Flux's HelmRelease and sources), so objects of those kinds are checked
// against their real schemas.
// With ownCRDs, the operator's CRDs (config/crd/bases) are installed too.
func startCluster(t *testing.T, ownCRDs bool) (context.Context, *cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	crds := filepath.Join(assetsDir(), "crds")
	env := &envtest.Environment{
		BinaryAssetsDirectory: assetsDir(),
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
	}
	if ownCRDs {
		root, _ := RepoRoot()
		env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, filepath.Join(root, "config", "crd", "bases"))
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start control plane (run `make tools` for kube-apiserver, etcd and %s): %v", crds, err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c := &cluster{home: t.TempDir(), kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
	if err := os.WriteFile(c.kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	if c.kube, err = client.New(cfg, client.Options{Scheme: Scheme()}); err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: OperatorNamespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	}}}
	if err := c.kube.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return ctx, c
}

// dryRun submits every object for a server-side dry-run create: the API server validates it
// (schemas, CRD schemas, admission) and stores nothing. A Deployment's pod template is also submitted
// as a Pod, which Pod Security admission checks against the namespace's restricted level (for a
// Deployment it only warns).
func (c *cluster) dryRun(ctx context.Context, t *testing.T, reason string, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" {
			// A namespace a RoleBinding goes to (watchNamespaces) exists before the chart is installed.
			if err := c.kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		if err := c.kube.Create(ctx, o.DeepCopy(), client.DryRunAll); err != nil {
			t.Errorf("%s: server-side dry run of %s %s: %v", reason, o.GetKind(), o.GetName(), err)
		}
		if o.GetKind() != "Deployment" {
			continue
		}
		dep := toDeployment(t, o)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: dep.Namespace, Name: dep.Name + "-pod", Labels: dep.Spec.Template.Labels},
			Spec:       dep.Spec.Template.Spec,
		}
		if err := c.kube.Create(ctx, pod, client.DryRunAll); err != nil {
			t.Errorf("%s: the Deployment's pod is refused (Pod Security restricted): %v", reason, err)
		}
	}
}

func toDeployment(t *testing.T, o *unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	dep := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, dep); err != nil {
		t.Fatal(err)
	}
	return dep
}

func chartDir(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "charts", "tfstate-operator")
}

func render(ctx context.Context, t *testing.T, home string, values map[string]string) []*unstructured.Unstructured {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	rel := ChartRelease(root)
	rel.Values = values
	objs, err := kubetools.Template(ctx, home, rel)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestHelmChartInstallsCleanly renders the chart with the real helm binary under several value sets,
// checks what each set must change, and has the API server validate every rendered object.
func TestHelmChartInstallsCleanly(t *testing.T) {
	ctx, c := startCluster(t, false)
	for _, tc := range []struct {
		reason string
		values map[string]string
		check  func(t *testing.T, objs []*unstructured.Unstructured, dep *appsv1.Deployment)
	}{
		{
			reason: "defaults: CRDs kept on uninstall, leader election, restricted pod, probes, metrics Service",
			check: func(t *testing.T, objs []*unstructured.Unstructured, dep *appsv1.Deployment) {
				crds := kubetools.OfKind(objs, "CustomResourceDefinition")
				if len(crds) != 3 {
					t.Fatalf("%d CRDs rendered, want 3", len(crds))
				}
				for _, crd := range crds {
					if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
						t.Errorf("CRD %s lacks helm.sh/resource-policy: keep", crd.GetName())
					}
				}
				chartCRDsMatchConfig(t, crds)
				ctr := dep.Spec.Template.Spec.Containers[0]
				for _, arg := range []string{"--leader-elect=true", "--leader-election-namespace=" + OperatorNamespace, "--operator-namespace=" + OperatorNamespace, "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081"} {
					if !slices.Contains(ctr.Args, arg) {
						t.Errorf("manager args %q lack %s", ctr.Args, arg)
					}
				}
				memoryLimitFromContainer(t, ctr)
				pod, sc := dep.Spec.Template.Spec.SecurityContext, ctr.SecurityContext
				if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
					sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
					t.Errorf("pod security context %+v, container %+v: want non-root, seccomp RuntimeDefault, read-only root, no escalation, all capabilities dropped", pod, sc)
				}
				if ctr.LivenessProbe == nil || ctr.ReadinessProbe == nil || ctr.Resources.Requests == nil || ctr.Resources.Limits == nil {
					t.Errorf("container lacks probes or resources: %+v", ctr)
				}
				if kubetools.Find(objs, "Service", ReleaseName+"-metrics") == nil || len(kubetools.OfKind(objs, "ServiceMonitor")) != 0 {
					t.Error("want a metrics Service and no ServiceMonitor by default")
				}
			},
		},
		{
			reason: "ServiceMonitor on: validated against the Prometheus Operator's CRD",
			values: map[string]string{"metrics.serviceMonitor.enabled": "true", "metrics.serviceMonitor.labels": `{"release":"kube-prometheus-stack"}`},
			check: func(t *testing.T, objs []*unstructured.Unstructured, _ *appsv1.Deployment) {
				sm := kubetools.OfKind(objs, "ServiceMonitor")
				if len(sm) != 1 || sm[0].GetLabels()["release"] != "kube-prometheus-stack" {
					t.Fatalf("ServiceMonitors %v, want one labelled release=kube-prometheus-stack", sm)
				}
			},
		},
		{
			reason: "crds.enabled=false renders no CRD; crds.keep=false drops the keep policy",
			values: map[string]string{"crds.enabled": "false"},
			check: func(t *testing.T, objs []*unstructured.Unstructured, _ *appsv1.Deployment) {
				if n := len(kubetools.OfKind(objs, "CustomResourceDefinition")); n != 0 {
					t.Errorf("%d CRDs rendered with crds.enabled=false", n)
				}
				for _, crd := range kubetools.OfKind(render(ctx, t, c.home, map[string]string{"crds.keep": "false"}), "CustomResourceDefinition") {
					if _, ok := crd.GetAnnotations()["helm.sh/resource-policy"]; ok {
						t.Errorf("CRD %s keeps the resource policy with crds.keep=false", crd.GetName())
					}
				}
			},
		},
		{
			reason: "workload identity, watch namespaces, extra env, replicas, pinned digest",
			values: map[string]string{
				"serviceAccount.annotations": `{"eks.amazonaws.com/role-arn":"arn:aws:iam::123456789012:role/tfstate"}`,
				"watchNamespaces":            `["team-a","team-b"]`,
				"extraEnv":                   `[{"name":"HTTPS_PROXY","value":"http://proxy:3128"}]`,
				"replicaCount":               "2",
				"image.digest":               `"sha256:` + strings.Repeat("a", 64) + `"`,
			},
			check: func(t *testing.T, objs []*unstructured.Unstructured, dep *appsv1.Deployment) {
				sa := kubetools.OfKind(objs, "ServiceAccount")
				if len(sa) != 1 || sa[0].GetAnnotations()["eks.amazonaws.com/role-arn"] == "" {
					t.Errorf("ServiceAccount %v lacks the IRSA annotation", sa)
				}
				ctr := dep.Spec.Template.Spec.Containers[0]
				if !slices.Contains(ctr.Args, "--watch-namespaces=team-a,team-b") {
					t.Errorf("args %q lack --watch-namespaces=team-a,team-b", ctr.Args)
				}
				// The manager role is bound in the watched namespaces and the release's, never
				// cluster-wide; cluster-wide only its cluster-scoped rules.
				var bound []string
				for _, rb := range kubetools.OfKind(objs, "RoleBinding") {
					if ref, _, _ := unstructured.NestedString(rb.Object, "roleRef", "name"); strings.HasSuffix(ref, "-manager") {
						bound = append(bound, rb.GetNamespace())
					}
				}
				slices.Sort(bound)
				if want := []string{"team-a", "team-b", "tfstate-system"}; !slices.Equal(bound, want) {
					t.Errorf("the manager role is bound in %v, want %v", bound, want)
				}
				for _, crb := range kubetools.OfKind(objs, "ClusterRoleBinding") {
					if ref, _, _ := unstructured.NestedString(crb.Object, "roleRef", "name"); !strings.HasSuffix(ref, "-manager-cluster") {
						t.Errorf("ClusterRoleBinding %s binds %s cluster-wide", crb.GetName(), ref)
					}
				}
				for _, cr := range kubetools.OfKind(objs, "ClusterRole") {
					if !strings.HasSuffix(cr.GetName(), "-manager-cluster") {
						continue
					}
					rules, _, _ := unstructured.NestedSlice(cr.Object, "rules")
					for _, r := range rules {
						res, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "resources")
						for _, name := range res {
							if name == "secrets" || name == "configmaps" || name == "statebackends" {
								t.Errorf("the cluster-wide role grants %s", name)
							}
						}
					}
				}
				memoryLimitFromContainer(t, ctr)
				if len(ctr.Env) != 2 || ctr.Env[1].Name != "HTTPS_PROXY" || *dep.Spec.Replicas != 2 || !strings.HasSuffix(ctr.Image, "@sha256:"+strings.Repeat("a", 64)) {
					t.Errorf("env %v, replicas %d, image %s: want the memory limit and HTTPS_PROXY, 2, pinned digest", ctr.Env, *dep.Spec.Replicas, ctr.Image)
				}
			},
		},
	} {
		objs := render(ctx, t, c.home, tc.values)
		deps := kubetools.OfKind(objs, "Deployment")
		if len(deps) != 1 {
			t.Fatalf("%s: %d Deployments rendered", tc.reason, len(deps))
		}
		tc.check(t, objs, toDeployment(t, deps[0]))
		c.dryRun(ctx, t, tc.reason, objs)
	}
}

// chartCRDsMatchConfig: the chart installs exactly the CRDs in config/crd/bases (hack/chartgen only
// adds labels and the keep policy). `make test` also fails when `make manifests` changes them.
func chartCRDsMatchConfig(t *testing.T, crds []*unstructured.Unstructured) {
	t.Helper()
	root, _ := RepoRoot()
	for _, u := range crds {
		var fromChart, fromConfig apiextensionsv1.CustomResourceDefinition
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &fromChart); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", fromChart.Spec.Group+"_"+fromChart.Spec.Names.Plural+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &fromConfig); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromChart.Spec, fromConfig.Spec) {
			t.Errorf("the chart's CRD %s differs from config/crd/bases: run `make manifests`", fromChart.Name)
		}
	}
}

// TestHelmChartLintsAndRejectsBadValues: `helm lint --strict` passes, and values.schema.json turns
// typos and bad values into errors rather than silently ignoring them.
func TestHelmChartLintsAndRejectsBadValues(t *testing.T) {
	helm, err := kubetools.Helm()
	if err != nil {
		t.Fatal(err)
	}
	ctx, home := context.Background(), t.TempDir()
	if out, err := kubetools.Run(ctx, home, helm, "lint", "--strict", chartDir(t)); err != nil {
		t.Fatalf("helm lint --strict: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		reason, set, wantInError string
	}{
		{"a misspelt top-level key", "replicas=2", "replicas"},
		{"a misspelt nested key", "metrics.servicemonitor.enabled=true", "servicemonitor"},
		{"an unknown log level", `logLevel="verbose"`, "logLevel"},
		{"a duration Go cannot parse", `controller.retryInterval="30 seconds"`, "retryInterval"},
		{"a namespace name Kubernetes refuses", `watchNamespaces=["Team_A"]`, "watchNamespaces"},
	} {
		_, err := kubetools.Run(ctx, home, helm, "template", ReleaseName, chartDir(t), "--set-json", tc.set)
		if err == nil || !strings.Contains(err.Error(), tc.wantInError) {
			t.Errorf("%s (--set-json %s): %v, want a schema error naming %s", tc.reason, tc.set, err, tc.wantInError)
		}
	}
}

// TestKustomizeDefaultAppliesCleanly: `kubectl apply -k config/default` (the real kubectl, with its
// built-in kustomize) installs into a fresh cluster, and a second apply changes nothing.
func TestKustomizeDefaultAppliesCleanly(t *testing.T) {
	ctx, c := startCluster(t, false)
	kubectl, err := kubetools.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := RepoRoot()
	apply := func() string {
		out, err := kubetools.Run(ctx, c.home, kubectl, "--kubeconfig", c.kubeconfig, "apply", "--server-side", "--field-manager=kustomize-test", "-k", filepath.Join(root, "config", "default"))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	first := apply()
	for _, want := range []string{
		"customresourcedefinition.apiextensions.k8s.io/statebackends.tfstate.dev serverside-applied",
		"clusterrole.rbac.authorization.k8s.io/tfstate-operator-manager serverside-applied",
		"role.rbac.authorization.k8s.io/tfstate-operator-manager serverside-applied",
		"deployment.apps/tfstate-operator serverside-applied",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("kubectl apply -k config/default printed:\n%s\nwant a line %q", first, want)
		}
	}
	dep := &appsv1.Deployment{}
	if err := c.kube.Get(ctx, client.ObjectKey{Namespace: OperatorNamespace, Name: "tfstate-operator"}, dep); err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, "ghcr.io/tfstate-operator/tfstate-operator:") {
		t.Errorf("kustomize did not set the image: %s", img)
	}
	// Without --operator-namespace the operator cannot tell its own namespace from a tenant's, and
	// a ClusterStorageProvider could read its credentials from any namespace.
	if args := dep.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--operator-namespace="+OperatorNamespace) {
		t.Errorf("manager args %q lack --operator-namespace=%s", args, OperatorNamespace)
	}
	memoryLimitFromContainer(t, dep.Spec.Template.Spec.Containers[0])
	// Applying the same manifests again changes nothing: no object's resourceVersion moves.
	before := dep.ResourceVersion
	apply()
	if err := c.kube.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
		t.Fatal(err)
	}
	if dep.ResourceVersion != before {
		t.Errorf("a second apply of the same manifests changed the Deployment (resourceVersion %s -> %s)", before, dep.ResourceVersion)
	}
}

// memoryLimitFromContainer checks that the manager learns its container's memory limit (it sets the
// Go memory limit and bounds the MinIO client's memory-hard key derivations from it), and that the
// container has one.
func memoryLimitFromContainer(t *testing.T, ctr corev1.Container) {
	t.Helper()
	if _, ok := ctr.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Errorf("the manager container has no memory limit: %+v", ctr.Resources)
	}
	for _, e := range ctr.Env {
		if e.Name != manager.MemoryLimitEnv {
			continue
		}
		if f := e.ValueFrom; f == nil || f.ResourceFieldRef == nil || f.ResourceFieldRef.Resource != "limits.memory" ||
			(f.ResourceFieldRef.ContainerName != "" && f.ResourceFieldRef.ContainerName != ctr.Name) {
			t.Errorf("%s = %+v, want the container's limits.memory (a resourceFieldRef)", e.Name, e.ValueFrom)
		}
		return
	}
	t.Errorf("the manager container's environment %+v lacks %s", ctr.Env, manager.MemoryLimitEnv)
}
