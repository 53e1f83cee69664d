// Command demo runs the operator's main job end to end on this machine and prints what it did: a
// local kube-apiserver + etcd, a MinIO server, the operator binary built from main.go (with only the
// RBAC in config/rbac), the samples in config/samples, and a real `terraform init` + `apply` whose
// only backend settings are the issued Secret's data. `make demo` runs it; `make tools` first builds
// the binaries it needs. Everything lives in a temporary directory removed at the end (-keep keeps it).
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tfstate-operator/tfstate-operator/internal/e2e"
)

func main() {
	keep := flag.Bool("keep", false, "keep the scratch directory (Terraform workdir, operator log, MinIO data)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "demo failed: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, keep bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "tfstate-demo-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Printf("==> scratch directory: %s (kept)\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	env, err := e2e.Start(ctx, dir, os.Stdout)
	if err != nil {
		return err
	}
	defer env.Stop()
	bin, err := env.BuildOperator(ctx)
	if err != nil {
		return err
	}
	if err := env.StartOperator(ctx, bin); err != nil {
		return err
	}
	applied, err := env.ApplySamples(ctx)
	if err != nil {
		return err
	}
	sb, err := env.WaitReady(ctx, types.NamespacedName{Namespace: applied.Namespace, Name: applied.Name}, 2*time.Minute)
	if err != nil {
		return err
	}

	secretEnv, err := env.SecretEnv(ctx, sb.Namespace, sb.Status.SecretName)
	if err != nil {
		return err
	}
	fmt.Printf("==> Secret %s/%s holds (values of secret keys hidden):\n", sb.Namespace, sb.Status.SecretName)
	for _, k := range slices.Sorted(maps.Keys(secretEnv)) {
		v := secretEnv[k]
		if k == "AWS_SECRET_ACCESS_KEY" || k == "AWS_SESSION_TOKEN" {
			v = "<" + fmt.Sprint(len(v)) + " characters>"
		}
		fmt.Printf("    %s=%s\n", k, v)
	}
	cm := &corev1.ConfigMap{}
	if err := env.Kube.Get(ctx, types.NamespacedName{Namespace: sb.Namespace, Name: sb.Status.ConfigMapName}, cm); err == nil {
		fmt.Printf("==> ConfigMap %s/%s (no secrets) holds keys %s; its backend file:\n", cm.Namespace, cm.Name, strings.Join(slices.Sorted(maps.Keys(cm.Data)), ", "))
		for k, v := range cm.Data {
			if strings.HasSuffix(k, ".tfbackend") {
				fmt.Print(indent(v))
			}
		}
	}

	out, err := env.TerraformApply(ctx, "demo", secretEnv)
	if err != nil {
		return err
	}
	fmt.Print(indent(lastLines(out, 8)))

	admin, err := minio.New(env.MinIO.Host, &minio.Options{Creds: credentials.NewStaticV4(env.MinIO.RootUser, env.MinIO.RootPassword, "")})
	if err != nil {
		return err
	}
	fmt.Printf("==> objects in bucket %s (all versions):\n", sb.Status.BucketName)
	for o := range admin.ListObjects(ctx, sb.Status.BucketName, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			return o.Err
		}
		kind := fmt.Sprintf("%d bytes", o.Size)
		if o.IsDeleteMarker {
			kind = "delete marker"
		}
		fmt.Printf("    %s  version %s  %s\n", o.Key, o.VersionID, kind)
	}

	fmt.Printf("==> deleting StateBackend %s/%s (deletionPolicy %s)\n", sb.Namespace, sb.Name, sb.Spec.DeletionPolicy)
	if err := env.Kube.Delete(ctx, sb); err != nil {
		return err
	}
	if err := env.WaitGone(ctx, sb, time.Minute); err != nil {
		return err
	}
	if _, err := admin.StatObject(ctx, sb.Status.BucketName, applied.Spec.Key, minio.StatObjectOptions{}); err != nil {
		return fmt.Errorf("state object gone after delete: %w", err)
	}
	issued, _ := minio.New(env.MinIO.Host, &minio.Options{Creds: credentials.NewStaticV4(secretEnv["AWS_ACCESS_KEY_ID"], secretEnv["AWS_SECRET_ACCESS_KEY"], "")})
	_, statErr := issued.StatObject(ctx, sb.Status.BucketName, applied.Spec.Key, minio.StatObjectOptions{})
	fmt.Printf("==> bucket %s and its state are retained; the revoked credential now gets: %v\n", sb.Status.BucketName, statErr)
	if statErr == nil {
		return fmt.Errorf("the credential still works after the StateBackend was deleted")
	}
	fmt.Println("==> demo complete: terraform apply succeeded against the provisioned backend")
	return nil
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
