// Package kubetools runs the real helm and kubectl binaries that hack/tools.sh builds, for tests that
// install the operator the way its users do: `helm template`/`helm lint` on charts/tfstate-operator
// and `kubectl apply -k config/default`.
package kubetools

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/tfstate-operator/tfstate-operator/internal/testutil/toolcache"
)

// Binary returns the tool's path: $envVar when set, else name in the tools cache hack/tools.sh fills.
// The tools are pinned there (helm and kubectl at known versions), so PATH is not searched.
func Binary(name, envVar string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		if toolcache.IsExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s is not an executable file", envVar, p)
	}
	if p := toolcache.Find(name); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("no %s binary: run `make tools` (hack/tools.sh %s), or set %s", name, name, envVar)
}

// Helm is the helm binary ($TFSTATE_HELM or the tools cache).
func Helm() (string, error) { return Binary("helm", "TFSTATE_HELM") }

// Kubectl is the kubectl binary ($TFSTATE_KUBECTL or the tools cache).
func Kubectl() (string, error) { return Binary("kubectl", "TFSTATE_KUBECTL") }

// Run runs bin with args and an environment of PATH and a private HOME only (no kubeconfig, helm
// repository or plugin of the developer's leaks in), returning stdout; a failure carries stderr.
func Run(ctx context.Context, home, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "XDG_DATA_HOME=" + filepath.Join(home, ".local")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// Release is how a chart is rendered: `helm template <Name> <Chart> -n <Namespace>` with Values
// (--set-json path=value, in order) and ValuesFiles.
type Release struct {
	Name, Namespace, Chart string
	Values                 map[string]string
	ValuesFiles            []string
}

// Template renders the release with the real helm binary and decodes every object.
func Template(ctx context.Context, home string, rel Release) ([]*unstructured.Unstructured, error) {
	helm, err := Helm()
	if err != nil {
		return nil, err
	}
	args := []string{"template", rel.Name, rel.Chart, "--namespace", rel.Namespace}
	keys := make([]string, 0, len(rel.Values))
	for k := range rel.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--set-json", k+"="+rel.Values[k])
	}
	for _, f := range rel.ValuesFiles {
		args = append(args, "--values", f)
	}
	out, err := Run(ctx, home, helm, args...)
	if err != nil {
		return nil, err
	}
	return Decode(out)
}

// Decode splits a multi-document YAML stream into objects, skipping empty documents.
func Decode(b []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// Find returns the rendered object of kind and name, or nil.
func Find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// OfKind returns the rendered objects of kind.
func OfKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}
