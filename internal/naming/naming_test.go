package naming

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var bucketRule = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

func TestDefaultBucketName(t *testing.T) {
	cases := []struct {
		reason, namespace, name string
		wantPrefix              string
	}{
		{"plain names are kept readable", "team-a", "network", "team-a-network-"},
		{"dots and upper case become hyphens", "team-a", "Net.Work", "team-a-net-work-"},
		{"long names are truncated to 63 characters", strings.Repeat("n", 63), strings.Repeat("m", 253), strings.Repeat("n", 54)},
		{"leading separators are dropped", "ns", "...x", "ns-x-"},
	}
	for _, tc := range cases {
		got := DefaultBucketName(tc.namespace, tc.name)
		if !bucketRule.MatchString(got) {
			t.Errorf("%s: %q breaks the S3/R2 bucket naming rules", tc.reason, got)
		}
		if !strings.HasPrefix(got, tc.wantPrefix) {
			t.Errorf("%s: got %q, want prefix %q", tc.reason, got, tc.wantPrefix)
		}
		if again := DefaultBucketName(tc.namespace, tc.name); again != got {
			t.Errorf("%s: not deterministic: %q then %q", tc.reason, got, again)
		}
	}
	if DefaultBucketName("a-b", "c") == DefaultBucketName("a", "b-c") {
		t.Errorf("names that sanitise to the same text must not collide")
	}
}

func TestCredentialName(t *testing.T) {
	uid := "6f1c2b9e-3a57-4d0e-9a55-1b2c3d4e5f60"
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	name := CredentialName(uid, at)
	if !strings.HasPrefix(name, CredentialPrefix(uid)) {
		t.Fatalf("name %q does not start with the backend's prefix %q", name, CredentialPrefix(uid))
	}
	if len(name) > 32 || !regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]*$`).MatchString(name) {
		t.Fatalf("name %q breaks MinIO's service-account name rules", name)
	}
	if CredentialName(uid, at.Add(time.Second)) == name {
		t.Fatalf("names issued at different times must differ")
	}
	if strings.HasPrefix(CredentialName("another-uid", at), CredentialPrefix(uid)) {
		t.Fatalf("another backend's credentials must not match this backend's prefix")
	}
}
