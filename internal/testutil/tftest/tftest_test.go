package tftest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := Run(ctx, t.TempDir(), nil, "version")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "v1.") {
		t.Errorf("%s version printed %q, want it to contain v1.", bin, out)
	}
}

// TestRunEnvironment runs a real module whose only input is a TF_VAR_ variable: it must come from
// env, never from this process.
func TestRunEnvironment(t *testing.T) {
	module := map[string]string{"main.tf": `
variable "greeting" {
  type = string
}

output "greeting" {
  value = var.greeting
}
`}
	t.Setenv("TF_VAR_greeting", "from the parent process")
	cases := []struct {
		name, reason string
		env          map[string]string
		wantErr      bool
		wantOut      string
	}{
		{
			name: "variable passed in env", reason: "env reaches Terraform",
			env: map[string]string{"TF_VAR_greeting": "from env"}, wantOut: `greeting = "from env"`,
		},
		{
			name: "variable only in the parent", reason: "the parent's environment is not inherited, and TF_INPUT=0 makes the missing variable an error instead of a prompt",
			env: nil, wantErr: true, wantOut: "No value for required variable",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			if err := WriteModule(dir, module); err != nil {
				t.Fatal(err)
			}
			var all string
			var err error
			for _, args := range [][]string{{"init", "-no-color"}, {"apply", "-auto-approve", "-no-color"}} {
				var out string
				out, err = Run(ctx, dir, tc.env, args...)
				all += out
				if err != nil {
					break
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v (%s)\n%s", err, tc.wantErr, tc.reason, all)
			}
			if !strings.Contains(all, tc.wantOut) {
				t.Errorf("output lacks %q (%s):\n%s", tc.wantOut, tc.reason, all)
			}
			if strings.Contains(all, "from the parent process") {
				t.Errorf("the parent's TF_VAR_greeting reached Terraform:\n%s", all)
			}
		})
	}
}

func TestEnviron(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "parent-key")
	t.Setenv("AWS_PROFILE", "parent-profile")
	t.Setenv("TF_PLUGIN_CACHE_DIR", "/parent/cache")
	t.Setenv("TF_CLI_CONFIG_FILE", "/parent/terraformrc")
	got := environ("/m/.home", map[string]string{"AWS_ACCESS_KEY_ID": "secret-key", "AWS_REGION": "us-east-1"})
	want := []string{
		"AWS_ACCESS_KEY_ID=secret-key",
		"AWS_REGION=us-east-1",
		"HOME=/m/.home",
		"PATH=" + os.Getenv("PATH"),
		"TF_INPUT=0",
		"TF_IN_AUTOMATION=1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("environ =\n%q\nwant exactly\n%q", got, want)
	}
}

func TestWriteModule(t *testing.T) {
	cases := []struct {
		name, reason string
		files        map[string]string
		wantErr      bool
	}{
		{name: "nested files", reason: "modules may have subdirectories", files: map[string]string{"main.tf": "# main\n", "modules/a/a.tf": "# a\n"}},
		{name: "escaping path", reason: "a module file never lands outside the module", files: map[string]string{"../evil.tf": ""}, wantErr: true},
		{name: "absolute path", reason: "same", files: map[string]string{"/tmp/evil.tf": ""}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "module")
			err := WriteModule(dir, tc.files)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v (%s)", err, tc.wantErr, tc.reason)
			}
			if tc.wantErr {
				return
			}
			for name, content := range tc.files {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil || string(b) != content {
					t.Errorf("%s = %q, %v; want %q", name, b, err, content)
				}
			}
		})
	}
}
