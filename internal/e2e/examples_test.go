package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/minio"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/kubetools"
)

// TestExamplesAreValid: every object in examples/ is validated by the API server (a dry run) where
// its kind is installed: core, batch, tfstate.dev, and Flux's HelmRelease and GitRepository from
// their projects' CRDs. Argo CD's Application and tofu-controller's Terraform (CRDs not fetched) are
// checked for what they must agree on with the operator and the chart.
func TestExamplesAreValid(t *testing.T) {
	ctx, c := startCluster(t, true)
	root, _ := RepoRoot()
	files, err := filepath.Glob(filepath.Join(root, "examples", "*", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	byKind := map[string][]*unstructured.Unstructured{}
	validated := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := kubetools.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, o := range objs {
			byKind[o.GetKind()] = append(byKind[o.GetKind()], o)
			if ns := o.GetNamespace(); ns != "" {
				if err := c.kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
					t.Fatal(err)
				}
			}
			err := c.kube.Create(ctx, o.DeepCopy(), client.DryRunAll)
			switch {
			case meta.IsNoMatchError(err):
				continue // a kind this API server does not serve: checked below
			case err != nil && !(o.GetKind() == "Namespace" && strings.Contains(err.Error(), "already exists")):
				t.Errorf("%s: %s %s: %v", filepath.Base(f), o.GetKind(), o.GetName(), err)
			}
			validated[o.GetKind()] = true
		}
	}
	for _, kind := range []string{"StateBackend", "Job", "ConfigMap", "HelmRelease", "GitRepository"} {
		if !validated[kind] {
			t.Errorf("no %s example was validated by the API server", kind)
		}
	}

	// The runner Job gets the backend from envFrom of the StateBackend's Secret, and nothing else.
	sb := &v1alpha1.StateBackend{}
	fromUnstructured(t, one(t, byKind, "StateBackend", "network"), sb)
	job := &batchv1.Job{}
	fromUnstructured(t, one(t, byKind, "Job"), job)
	ctr := job.Spec.Template.Spec.Containers[0]
	if len(ctr.Env) != 0 || len(ctr.EnvFrom) != 1 || ctr.EnvFrom[0].SecretRef == nil || ctr.EnvFrom[0].SecretRef.Name != sb.Name {
		t.Errorf("runner Job: env %v, envFrom %v; want only envFrom of Secret %q", ctr.Env, ctr.EnvFrom, sb.Name)
	}
	c.dryRun(ctx, t, "runner Job's pod", []*unstructured.Unstructured{podOf(t, job)})

	// tofu-controller: a backend without TF_CLI_ARGS_init (terraform-exec refuses it), its
	// ConfigMap's every argument key, and its Secret.
	flux := &v1alpha1.StateBackend{}
	fromUnstructured(t, one(t, byKind, "StateBackend", "network-flux"), flux)
	if !flux.Spec.OmitCLIArgs {
		t.Error("the tofu-controller backend must set omitCLIArgs")
	}
	tf := one(t, byKind, "Terraform")
	cm, _, _ := unstructured.NestedSlice(tf.Object, "spec", "backendConfigsFrom")
	envFrom, _, _ := unstructured.NestedSlice(tf.Object, "spec", "runnerPodTemplate", "spec", "envFrom")
	if len(cm) != 1 || len(envFrom) != 1 {
		t.Fatalf("tofu-controller Terraform: backendConfigsFrom %v, envFrom %v; want one each", cm, envFrom)
	}
	ref := cm[0].(map[string]any)
	if ref["kind"] != "ConfigMap" || ref["name"] != flux.Name+"-backend" {
		t.Errorf("tofu-controller Terraform reads %v, want ConfigMap %s-backend", ref, flux.Name)
	}
	if name, _, _ := unstructured.NestedString(envFrom[0].(map[string]any), "secretRef", "name"); name != flux.Name {
		t.Errorf("tofu-controller runner envFrom Secret %q, want %q", name, flux.Name)
	}
	store, err := minio.New(minio.Config{Endpoint: "http://minio.example:9000", AccessKeyID: "id", SecretAccessKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	have, err := backendconfig.ArgumentKeys(backendconfig.Input{Settings: store.Settings(), Bucket: "team-a-network", Key: flux.Spec.Key, UseLockfile: true, OmitCLIArgs: true})
	if err != nil {
		t.Fatal(err)
	}
	var selected []string
	for _, k := range ref["keys"].([]any) {
		selected = append(selected, k.(string))
	}
	if !slices.Equal(selected, have) {
		t.Errorf("tofu-controller Terraform selects ConfigMap keys %v; a MinIO backend's ConfigMap has the arguments %v", selected, have)
	}

	// Argo CD: the Application installs the chart from its path with values the chart's schema accepts.
	app := one(t, byKind, "Application")
	path, _, _ := unstructured.NestedString(app.Object, "spec", "source", "path")
	values, _, _ := unstructured.NestedMap(app.Object, "spec", "source", "helm", "valuesObject")
	if path != "charts/tfstate-operator" {
		t.Errorf("Argo CD Application path %q, want charts/tfstate-operator", path)
	}
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	withValues := ChartRelease(root)
	withValues.ValuesFiles = []string{valuesFile}
	writeYAML(t, valuesFile, values)
	if _, err := kubetools.Template(ctx, c.home, withValues); err != nil {
		t.Errorf("the Argo CD Application's values: %v", err)
	}
	// The Flux HelmRelease's values too.
	hr := one(t, byKind, "HelmRelease")
	hrValues, _, _ := unstructured.NestedMap(hr.Object, "spec", "values")
	writeYAML(t, valuesFile, hrValues)
	if _, err := kubetools.Template(ctx, c.home, withValues); err != nil {
		t.Errorf("the Flux HelmRelease's values: %v", err)
	}

	// argocd-cm carries the health script, verbatim, for each tfstate.dev kind.
	lua, err := os.ReadFile(filepath.Join(root, "examples", "argocd", "statebackend-health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	argocdCM := &corev1.ConfigMap{}
	fromUnstructured(t, one(t, byKind, "ConfigMap", "argocd-cm"), argocdCM)
	for _, kind := range []string{"StateBackend", "StorageProvider", "ClusterStorageProvider"} {
		if got := argocdCM.Data["resource.customizations.health.tfstate.dev_"+kind]; got != string(lua) {
			t.Errorf("argocd-cm's health check for %s differs from statebackend-health.lua", kind)
		}
	}
}

// one returns the only example of kind (named name, when given).
func one(t *testing.T, byKind map[string][]*unstructured.Unstructured, kind string, name ...string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range byKind[kind] {
		if len(name) == 0 || o.GetName() == name[0] {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d examples of %s %v, want 1", len(found), kind, name)
	}
	return found[0]
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatal(err)
	}
}

// podOf is the Job's pod, placed in OperatorNamespace: the namespace startCluster labels to enforce
// Pod Security restricted, which the example must pass.
func podOf(t *testing.T, job *batchv1.Job) *unstructured.Unstructured {
	t.Helper()
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: OperatorNamespace, Name: job.Name},
		Spec:       job.Spec.Template.Spec,
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pod)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: raw}
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
