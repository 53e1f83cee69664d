package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/naming"
)

// TestBucketCreateStartedAcceptsOnlyNamesTheOperatorDerives: an interrupted create (reason
// Creating) is finished for the salted names the operator derives and the spec's name; the
// previous release's unsalted name only when status records it (its own interrupted create), never
// another name status points at.
func TestBucketCreateStartedAcceptsOnlyNamesTheOperatorDerives(t *testing.T) {
	salt := testOwnershipKey.BucketNameSalt()
	policy := &v1alpha1.BucketNamingPolicy{Prefix: "acme-"}
	backend := func(status string) *v1alpha1.StateBackend {
		sb := &v1alpha1.StateBackend{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "net"}}
		sb.Status.BucketName = status
		sb.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionBucketReady, Reason: reasonCreating}}
		return sb
	}
	legacy := naming.DefaultBucketName(nil, "team-a", "net")
	legacyPrefixed := naming.PrefixedBucketName(nil, "acme-", "team-a", "net")
	cases := []struct {
		reason string
		sb     *v1alpha1.StateBackend
		policy *v1alpha1.BucketNamingPolicy
		name   string
		want   bool
	}{
		{"the salted default name", backend(""), nil, naming.DefaultBucketName(salt, "team-a", "net"), true},
		{"the salted name under the provider's prefix", backend(""), policy, naming.PrefixedBucketName(salt, "acme-", "team-a", "net"), true},
		{"the previous release's name, recorded in status", backend(legacy), nil, legacy, true},
		{"the previous release's prefixed name, recorded in status", backend(legacyPrefixed), policy, legacyPrefixed, true},
		{"the previous release's name not recorded in status", backend(""), nil, legacy, false},
		{"a foreign name status points at", backend("someone-elses"), nil, "someone-elses", false},
		{"the default name of another backend", backend(""), nil, naming.DefaultBucketName(salt, "team-a", "other"), false},
	}
	for _, tc := range cases {
		if got := bucketCreateStarted(tc.sb, tc.name, tc.policy, salt); got != tc.want {
			t.Errorf("%s: bucketCreateStarted(%q) = %v, want %v", tc.reason, tc.name, got, tc.want)
		}
	}
}
