package e2e

// The previous release: its source is checked in as test data (testdata/previous-release, made by
// hack/previous-release.sh), because CI clones without history. An upgrade test installs its chart,
// builds and runs its manager and applies its samples, then upgrades to the working tree with
// UpgradeTo, as `helm upgrade` does.

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/kubetools"
)

// PreviousReleaseSource is the previous release's source, relative to the repository root.
const PreviousReleaseSource = "internal/e2e/testdata/previous-release/source.tar.gz"

// StartPreviousRelease is StartWithValues for the previous release: its source is extracted under
// dir and its chart installed; until UpgradeTo, BuildOperator builds its manager and the
// Apply*Samples apply its samples.
func StartPreviousRelease(ctx context.Context, dir string, progress io.Writer, values map[string]string) (*Env, error) {
	repo, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	old := filepath.Join(dir, "previous-release")
	if err := extractTarGz(filepath.Join(repo, PreviousReleaseSource), old); err != nil {
		return nil, fmt.Errorf("extract the previous release: %w", err)
	}
	return startFrom(ctx, old, dir, progress, values)
}

// UpgradeTo upgrades the installed chart to the chart of the source tree at root (rendered with
// values) as `helm upgrade` does (Helm 4 applies server-side): every object the new chart renders
// is applied, CRDs first, taking ownership of the fields it sets, and every object of the installed
// release that the new chart no longer renders is deleted. Root becomes root, so BuildOperator then
// builds the new manager. Stop the operator first: the Deployment's rollout replaces its pod.
func (e *Env) UpgradeTo(ctx context.Context, root string, values map[string]string) error {
	if e.operator != nil {
		return errors.New("UpgradeTo: stop the operator first")
	}
	rel := ChartRelease(root)
	rel.Values = values
	objs, err := kubetools.Template(ctx, filepath.Join(e.Dir, "helm-home"), rel)
	if err != nil {
		return err
	}
	for _, crdPass := range []bool{true, false} {
		for _, o := range objs {
			if (o.GetKind() == "CustomResourceDefinition") != crdPass {
				continue
			}
			if ns := o.GetNamespace(); ns != "" {
				if err := e.ensureNamespace(ctx, ns); err != nil {
					return err
				}
			}
			if err := e.Kube.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner("helm"), client.ForceOwnership); err != nil {
				return fmt.Errorf("upgrade the chart: apply %s %s: %w", o.GetKind(), o.GetName(), err)
			}
		}
	}
	rendered := make(map[string]bool, len(objs))
	for _, o := range objs {
		rendered[objectKey(o)] = true
	}
	for _, o := range e.Chart {
		if rendered[objectKey(o)] {
			continue
		}
		if err := client.IgnoreNotFound(e.Kube.Delete(ctx, o.DeepCopy())); err != nil {
			return fmt.Errorf("upgrade the chart: delete %s %s, which the new chart no longer renders: %w", o.GetKind(), o.GetName(), err)
		}
	}
	if e.operatorLog != "" {
		// Keep the old manager's log apart; OperatorLog is the running manager's.
		if err := os.Rename(e.operatorLog, filepath.Join(e.Dir, "operator-before-upgrade.log")); err != nil {
			return err
		}
		e.operatorLog = ""
	}
	e.step("upgraded the chart from %s to %s (%d objects)", ChartRelease(e.Root).Chart, rel.Chart, len(objs))
	e.Root, e.Chart = root, objs
	return e.poll(ctx, 30*time.Second, func(ctx context.Context) bool {
		return e.Kube.List(ctx, &v1alpha1.StateBackendList{}) == nil &&
			e.Kube.List(ctx, &v1alpha1.ClusterStorageProviderList{}) == nil &&
			e.Kube.List(ctx, &v1alpha1.StorageProviderList{}) == nil
	}, func() string { return "the upgraded chart's CRDs are not served" })
}

// objectKey names a rendered object the way Helm tells a release's objects apart.
func objectKey(o *unstructured.Unstructured) string {
	return o.GroupVersionKind().GroupKind().String() + "/" + o.GetNamespace() + "/" + o.GetName()
}

// extractTarGz extracts the regular files and directories of the gzipped tarball src under dst,
// refusing any entry whose path would leave dst.
func extractTarGz(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		path := filepath.Join(dst, filepath.FromSlash(h.Name))
		if path != dst && !strings.HasPrefix(path, dst+string(filepath.Separator)) {
			return fmt.Errorf("entry %q leaves the extraction directory", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeFile(path, tr, h.FileInfo().Mode().Perm()); err != nil {
				return err
			}
		}
		// git archive's pax header (the commit id) and anything else carry no file.
	}
}

func writeFile(path string, r io.Reader, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
