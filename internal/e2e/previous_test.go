package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

func TestReadonlyGOFLAGSReplacesOnlyTheModFlag(t *testing.T) {
	for _, tc := range []struct{ reason, in, want string }{
		{"nothing set: go build's own default, stated", "", "-mod=readonly"},
		{"an inherited -mod=mod would let go build rewrite the old go.sum", "-mod=mod", "-mod=readonly"},
		{"other flags are the developer's and stay", "-buildvcs=false -mod=vendor -tags=x", "-buildvcs=false -tags=x -mod=readonly"},
	} {
		if got := readonlyGOFLAGS(tc.in); got != tc.want {
			t.Errorf("%s: readonlyGOFLAGS(%q) = %q, want %q", tc.reason, tc.in, got, tc.want)
		}
	}
}

func TestExtractTarGzRefusesEntriesLeavingTheDirectory(t *testing.T) {
	for _, tc := range []struct {
		reason, name string
		ok           bool
	}{
		{"a file of the tree", "controllers/phases.go", true},
		{"a parent-relative path would write outside the extraction directory", "../escaped.go", false},
		{"a path that climbs out after entering", "api/../../escaped.go", false},
	} {
		dir := t.TempDir()
		src := filepath.Join(dir, "src.tar.gz")
		if err := os.WriteFile(src, tarGz(t, tc.name, "package x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := extractTarGz(src, filepath.Join(dir, "out"))
		if (err == nil) != tc.ok {
			t.Errorf("%s: extracting %q: %v", tc.reason, tc.name, err)
		}
		if _, statErr := os.Stat(filepath.Join(dir, "escaped.go")); statErr == nil {
			t.Errorf("%s: %q was written outside the extraction directory", tc.reason, tc.name)
		}
	}
}

func tarGz(t *testing.T, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
