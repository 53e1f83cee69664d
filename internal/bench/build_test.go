package bench

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
)

// The manager process's memory is only production-like while its binary links what bin/manager
// links, plus the emulator: not envtest, not this harness.
func TestManagerProcessLinksNeitherEnvtestNorTheHarness(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", managerPackage)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", managerPackage, err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasSuffix(pkg, "/internal/bench") || strings.Contains(pkg, "/pkg/envtest") {
			t.Errorf("%s imports %s", managerPackage, pkg)
		}
	}
}

func TestReadStatsLine(t *testing.T) {
	cases := []struct {
		reason, in, want string
		fails            bool
	}{
		{"the first line names the endpoint", "stats http://127.0.0.1:4242\nmore\n", "http://127.0.0.1:4242", false},
		{"a process that dies first has no line", "", "", true},
		{"anything else is not the protocol", "panic: boom\n", "", true},
	}
	for _, tc := range cases {
		got, err := readStatsLine(bufio.NewReader(strings.NewReader(tc.in)))
		if (err != nil) != tc.fails || got != tc.want {
			t.Errorf("%s: got %q, %v", tc.reason, got, err)
		}
	}
}
