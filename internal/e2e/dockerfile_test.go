package e2e

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileBuildsAStaticBinary: no Docker engine runs here, so the Dockerfile's parts are
// checked one by one. Its build step, run as written, yields a static Linux binary (distroless/static
// has no libc to link against), and its COPY lines bring in every directory of this module that the
// manager is built from.
func TestDockerfileBuildsAStaticBinary(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(b)
	build := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 GOOS=\$\{TARGETOS\} GOARCH=\$\{TARGETARCH\} go build .* -o /out/manager \.)$`).FindStringSubmatch(dockerfile)
	if build == nil {
		t.Fatal("no `RUN CGO_ENABLED=0 ... go build ... -o /out/manager .` step in the Dockerfile")
	}
	for _, want := range []string{"FROM gcr.io/distroless/static", "USER 65532:65532", `ENTRYPOINT ["/manager"]`} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}

	// Every package of this module the manager imports must be inside a copied path.
	copied := regexp.MustCompile(`(?m)^COPY (\S+)/ `).FindAllStringSubmatch(dockerfile, -1)
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range strings.Fields(string(out)) {
		rel, _ := filepath.Rel(root, dir)
		ok := rel == "."
		for _, c := range copied {
			ok = ok || rel == c[1] || strings.HasPrefix(rel, c[1]+"/")
		}
		if !ok {
			t.Errorf("the manager imports %s, which the Dockerfile does not COPY", rel)
		}
	}

	// Run the build step as the Dockerfile writes it, for linux/amd64.
	outDir := t.TempDir()
	script := strings.ReplaceAll(build[1], "/out/manager", filepath.Join(outDir, "manager"))
	cmd := exec.CommandContext(context.Background(), "sh", "-c", script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TARGETOS=linux", "TARGETARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	f, err := elf.Open(filepath.Join(outDir, "manager"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the manager binary is dynamically linked: it would not start on distroless/static")
		}
	}
	if f.Machine != elf.EM_X86_64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		t.Errorf("binary for machine %v, OS ABI %v; want linux/amd64", f.Machine, f.OSABI)
	}
}
