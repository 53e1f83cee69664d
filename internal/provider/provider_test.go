package provider_test

import (
	"testing"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

func TestIsOperatorObject(t *testing.T) {
	cases := []struct {
		reason string
		key    string
		want   bool
	}{
		{"the ownership marker", ".tfstate-operator/owner.json", true},
		{"a probe object", provider.ProbeKey("0123456789abcdef0123456789abcdef"), true},
		{"state a runner put under the prefix", ".tfstate-operator/prod.tfstate", false},
		{"state under the probe folder with another name", ".tfstate-operator/probe/prod.tfstate", false},
		{"a probe id one character short", ".tfstate-operator/probe/0123456789abcdef0123456789abcde", false},
		{"a probe id one character long", ".tfstate-operator/probe/0123456789abcdef0123456789abcdef0", false},
		{"upper-case hex is not what the prober writes", ".tfstate-operator/probe/0123456789ABCDEF0123456789ABCDEF", false},
		{"a lock file beside a probe id", ".tfstate-operator/probe/0123456789abcdef0123456789abcdef.tflock", false},
		{"a key below a probe id", ".tfstate-operator/probe/0123456789abcdef0123456789abcdef/x", false},
		{"the marker's name elsewhere", "env/.tfstate-operator/owner.json", false},
		{"the marker's name with a suffix", ".tfstate-operator/owner.json.tflock", false},
		{"the prefix itself", ".tfstate-operator/", false},
		{"ordinary state", "network/terraform.tfstate", false},
	}
	for _, tc := range cases {
		if got := provider.IsOperatorObject(tc.key); got != tc.want {
			t.Errorf("%s: IsOperatorObject(%q) = %v, want %v", tc.reason, tc.key, got, tc.want)
		}
	}
}
