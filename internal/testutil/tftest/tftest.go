// Package tftest runs a real Terraform (or OpenTofu) binary for tests, with an environment built
// from scratch: a test that proves "the Secret's variables are enough" must not pass because the
// developer's shell happens to export AWS_PROFILE, AWS_ACCESS_KEY_ID or a Terraform CLI config.
package tftest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/testutil/toolcache"
)

// interruptGrace is how long a cancelled run may take to stop after SIGINT (Terraform releases its
// state lock on interrupt) before it is killed.
const interruptGrace = 30 * time.Second

// Binary returns the Terraform binary: $TFSTATE_TERRAFORM when set, else terraform on PATH, else
// tofu on PATH, else terraform or tofu in the tools cache that `make tools` (hack/tools.sh) fills.
func Binary() (string, error) {
	if p := os.Getenv("TFSTATE_TERRAFORM"); p != "" {
		if toolcache.IsExecutable(p) {
			return filepath.Abs(p)
		}
		return "", fmt.Errorf("TFSTATE_TERRAFORM=%s is not an executable file: run `make tools` (hack/tools.sh terraform) or unset it", p)
	}
	for _, name := range []string{"terraform", "tofu"} {
		if p, err := exec.LookPath(name); err == nil {
			return filepath.Abs(p)
		}
	}
	for _, name := range []string{"terraform", "tofu"} {
		if p := toolcache.Find(name); p != "" {
			return p, nil
		}
	}
	return "", errors.New("no terraform or tofu binary: run `make tools` (hack/tools.sh terraform), or set TFSTATE_TERRAFORM")
}

// Run runs the binary with args in dir and returns its combined output. The environment is exactly
// env plus PATH (from this process), HOME=<dir>/.home (created; so no ~/.terraformrc, credentials
// file or plugin cache of the developer's is read), TF_IN_AUTOMATION=1 and TF_INPUT=0; nothing else
// is inherited (no AWS_*, no TF_CLI_CONFIG_FILE, no TF_PLUGIN_CACHE_DIR). A key in env overrides
// these defaults. Cancelling ctx interrupts Terraform, then kills it after a grace period.
func Run(ctx context.Context, dir string, env map[string]string, args ...string) (output string, err error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	home := filepath.Join(dir, ".home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = environ(home, env)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = interruptGrace
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return string(out), nil
}

// environ builds Run's environment, sorted so that runs are reproducible.
func environ(home string, env map[string]string) []string {
	all := map[string]string{
		"PATH":             os.Getenv("PATH"),
		"HOME":             home,
		"TF_IN_AUTOMATION": "1",
		"TF_INPUT":         "0",
	}
	for k, v := range env {
		all[k] = v
	}
	out := make([]string, 0, len(all))
	for k, v := range all {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// WriteModule writes files (relative path → content) under dir, creating directories as needed.
// Paths must stay inside dir.
func WriteModule(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, content := range files {
		if !filepath.IsLocal(name) {
			return fmt.Errorf("module file %q is not a relative path inside the module", name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
