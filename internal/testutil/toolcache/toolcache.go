// Package toolcache finds the binaries hack/tools.sh caches outside the repository.
package toolcache

import (
	"os"
	"path/filepath"
)

// Dirs are where hack/tools.sh may have cached binaries, most specific first: $TFSTATE_TOOLS_DIR,
// $KUBEBUILDER_ASSETS (the Makefile points it at the same cache), then the default cache paths.
func Dirs() []string {
	var dirs []string
	for _, env := range []string{"TFSTATE_TOOLS_DIR", "KUBEBUILDER_ASSETS"} {
		if d := os.Getenv(env); d != "" {
			dirs = append(dirs, d)
		}
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		dirs = append(dirs, filepath.Join(d, "tfstate-operator", "tools"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cache", "tfstate-operator", "tools"))
	}
	return dirs
}

// Find returns the first executable name in Dirs, or "".
func Find(name string) string {
	for _, dir := range Dirs() {
		if p := filepath.Join(dir, name); IsExecutable(p) {
			return p
		}
	}
	return ""
}

// IsExecutable reports whether p is a regular file with an execute bit.
func IsExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}
