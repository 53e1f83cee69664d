package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// managerPackage is the manager process's main package, relative to the module root.
const managerPackage = "./hack/bench/manager"

// ManagerBinary is the manager process's binary, built once per bench run.
type ManagerBinary struct {
	Path string `json:"-"`
	// Build is the command that built it; Bytes its size; BuildSeconds how long the build took.
	Build        string  `json:"build"`
	Bytes        int64   `json:"bytes"`
	BuildSeconds float64 `json:"buildSeconds"`
}

// BuildManager builds hack/bench/manager as dir/manager with the flags of `make build` (static,
// trimmed paths, no symbol table or DWARF). The binary's own pages are part of the RSS measured,
// so they have to be those of a binary like bin/manager, not of the bench's, which links envtest.
func BuildManager(ctx context.Context, root, dir string) (ManagerBinary, error) {
	path := filepath.Join(dir, "manager")
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", path, managerPackage}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	b := ManagerBinary{Path: path, Build: `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" ` + managerPackage,
		BuildSeconds: took.Seconds()}
	if err != nil {
		return b, fmt.Errorf("build the manager process (%s in %s): %w\n%s", b.Build, root, err, out)
	}
	st, err := os.Stat(path)
	if err != nil {
		return b, err
	}
	b.Bytes = st.Size()
	return b, nil
}

// ModuleRoot is the directory of the go.mod at or above the working directory: where the
// manager is built from and the CRDs are.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory: run the bench from the repository")
		}
		dir = parent
	}
}
