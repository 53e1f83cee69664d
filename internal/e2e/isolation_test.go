package e2e

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/tftest"
)

// isolatedRunnerIgnoresProviderCredentials: a backend with spec.isolation gets a Secret of shared
// credentials and config files only. A runner that mounts it and uses the ConfigMap's backend file
// applies with real Terraform while its environment holds other AWS keys (those its AWS provider
// would use): the state credential never reaches the environment, and the environment's keys do not
// reach the backend.
func isolatedRunnerIgnoresProviderCredentials(ctx context.Context, t *testing.T, env *Env, like *v1alpha1.StateBackend) {
	t.Helper()
	mount := filepath.Join(env.Dir, "isolated-mount")
	sb := &v1alpha1.StateBackend{
		ObjectMeta: metav1.ObjectMeta{Namespace: like.Namespace, Name: like.Name + "-isolated"},
		Spec: v1alpha1.StateBackendSpec{
			ProviderRef: like.Spec.ProviderRef,
			Key:         "isolated/terraform.tfstate",
			Isolation:   &v1alpha1.IsolationOptions{MountPath: mount},
		},
	}
	if err := env.CreateStateBackend(ctx, sb); err != nil {
		t.Fatal(err)
	}
	ready, err := env.WaitReady(ctx, types.NamespacedName{Namespace: sb.Namespace, Name: sb.Name}, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	secret, cm := &corev1.Secret{}, &corev1.ConfigMap{}
	if err := env.Kube.Get(ctx, types.NamespacedName{Namespace: sb.Namespace, Name: ready.Status.SecretName}, secret); err != nil {
		t.Fatal(err)
	}
	if err := env.Kube.Get(ctx, types.NamespacedName{Namespace: sb.Namespace, Name: ready.Status.ConfigMapName}, cm); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(secret.Data)); !slices.Equal(keys, []string{backendconfig.SecretConfigFile, backendconfig.SecretCredentialsFile}) {
		t.Fatalf("isolated Secret keys %v, want only the credentials and config files", keys)
	}
	// The runner: the Secret mounted as files, the backend file, and its AWS provider's own keys.
	if err := os.MkdirAll(mount, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range secret.Data {
		if err := os.WriteFile(filepath.Join(mount, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(env.Dir, "terraform-isolated")
	if err := tftest.WriteModule(dir, map[string]string{"main.tf": Module, backendconfig.ConfigMapBackendFile: cm.Data[backendconfig.ConfigMapBackendFile]}); err != nil {
		t.Fatal(err)
	}
	providerEnv := map[string]string{
		"AWS_ACCESS_KEY_ID":     "AKIAPROVIDERONLY0000",
		"AWS_SECRET_ACCESS_KEY": "the-aws-providers-own-secret-not-the-states",
		"AWS_REGION":            "eu-west-1",
	}
	for _, args := range [][]string{
		{"init", "-input=false", "-no-color", "-backend-config=" + backendconfig.ConfigMapBackendFile},
		{"apply", "-auto-approve", "-input=false", "-no-color"},
	} {
		if out, err := tftest.Run(ctx, dir, providerEnv, args...); err != nil {
			t.Fatalf("terraform %s with the isolated Secret mounted: %v\n%s", args[0], err, out)
		}
	}
	root, err := env.RootS3()
	if err != nil {
		t.Fatal(err)
	}
	if state, err := readObject(ctx, root, ready.Status.BucketName, sb.Spec.Key); err != nil || !strings.Contains(state, `"terraform_data"`) {
		t.Fatalf("state of the isolated backend at %s/%s: %v", ready.Status.BucketName, sb.Spec.Key, err)
	}
	if err := env.Kube.Delete(ctx, ready); err != nil {
		t.Fatal(err)
	}
	if err := env.WaitGone(ctx, ready, time.Minute); err != nil {
		t.Fatal(err)
	}
}
