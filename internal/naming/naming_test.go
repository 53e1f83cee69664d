package naming

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"
)

var bucketRule = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

// testSalt stands for a cluster's ownership.Key.BucketNameSalt.
var testSalt = []byte("a cluster's bucket-name salt....")

// TestDefaultBucketNamesCannotBePredictedByAnotherTenant: the default name's hash is keyed with the
// cluster's salt. Another cluster (another key) gets another name for the same namespace and name,
// and without the salt the name is not the unkeyed one anyone can compute (the previous release's,
// which the nil salt still gives for recognising it).
func TestDefaultBucketNamesCannotBePredictedByAnotherTenant(t *testing.T) {
	cases := []struct {
		reason          string
		namespace, name string
		prefix          string
	}{
		{"a plain default name", "team-a", "network", ""},
		{"a name under a provider's prefix", "team-a", "network", "acme-"},
		{"a truncated name", strings.Repeat("n", 63), strings.Repeat("m", 253), ""},
	}
	other := []byte("another cluster's salt..........")
	for _, tc := range cases {
		salted := PrefixedBucketName(testSalt, tc.prefix, tc.namespace, tc.name)
		if PrefixedBucketName(other, tc.prefix, tc.namespace, tc.name) == salted {
			t.Errorf("%s: two salts give the same name %q", tc.reason, salted)
		}
		unkeyed := PrefixedBucketName(nil, tc.prefix, tc.namespace, tc.name)
		if unkeyed == salted {
			t.Errorf("%s: the salted name %q is the unkeyed one", tc.reason, salted)
		}
		if sum := sha256.Sum256([]byte(tc.namespace + "/" + tc.name)); !strings.HasSuffix(unkeyed, "-"+hex.EncodeToString(sum[:])[:8]) {
			t.Errorf("%s: the nil salt's name %q is not the previous release's", tc.reason, unkeyed)
		}
	}
}

func TestDefaultBucketName(t *testing.T) {
	cases := []struct {
		reason, namespace, name string
		wantPrefix              string
	}{
		{"plain names are kept readable", "team-a", "network", "team-a-network-"},
		{"dots and upper case become hyphens", "team-a", "Net.Work", "team-a-net-work-"},
		{"long names are truncated to 63 characters", strings.Repeat("n", 63), strings.Repeat("m", 253), strings.Repeat("n", 54)},
		{"leading separators are dropped", "ns", "...x", "ns-x-"},
		{"a namespace starting like S3's reserved sthree- is moved off it", "sthree", "x", "tf-sthree-x-"},
		{"so is one starting like amzn-s3-demo-", "amzn-s3-demo-team", "net", "tf-amzn-s3-demo-team-net-"},
	}
	for _, tc := range cases {
		got := DefaultBucketName(testSalt, tc.namespace, tc.name)
		if !bucketRule.MatchString(got) {
			t.Errorf("%s: %q breaks the S3/R2 bucket naming rules", tc.reason, got)
		}
		if !strings.HasPrefix(got, tc.wantPrefix) {
			t.Errorf("%s: got %q, want prefix %q", tc.reason, got, tc.wantPrefix)
		}
		if again := DefaultBucketName(testSalt, tc.namespace, tc.name); again != got {
			t.Errorf("%s: not deterministic: %q then %q", tc.reason, got, again)
		}
	}
	if DefaultBucketName(testSalt, "a-b", "c") == DefaultBucketName(testSalt, "a", "b-c") {
		t.Errorf("names that sanitise to the same text must not collide")
	}
}

func TestPrefixedBucketName(t *testing.T) {
	long := strings.Repeat("n", 63)
	cases := []struct {
		reason, prefix, namespace, name string
		want                            string // exact name, or "" to check wantPrefix only
		wantPrefix                      string
	}{
		{"no prefix gives the default name exactly", "", "team-a", "network", DefaultBucketName(testSalt, "team-a", "network"), ""},
		{"the prefix goes before the default name", "acme-", "team-a", "network", "acme-" + DefaultBucketName(testSalt, "team-a", "network"), ""},
		{"a prefix without a trailing hyphen is used as given", "acme", "team-a", "network", "acme" + DefaultBucketName(testSalt, "team-a", "network"), ""},
		{"long names are truncated in the namespace and name, never in the prefix", "acme-", long, strings.Repeat("m", 253), "", "acme-" + strings.Repeat("n", 49)},
		{"the longest prefix still leaves room for the namespace", strings.Repeat("p", MaxBucketPrefix), long, "x", "", strings.Repeat("p", MaxBucketPrefix) + strings.Repeat("n", 34)},
		{"a prefix beyond the API's limit is cut to it", strings.Repeat("p", 40), "ns", "x", "", strings.Repeat("p", MaxBucketPrefix) + "ns-x-"},
		{"upper case and dots in names are sanitised after the prefix", "acme-", "ns", "Net.Work", "", "acme-ns-net-work-"},
	}
	for _, tc := range cases {
		got := PrefixedBucketName(testSalt, tc.prefix, tc.namespace, tc.name)
		if !bucketRule.MatchString(got) {
			t.Errorf("%s: %q breaks the S3/R2 bucket naming rules", tc.reason, got)
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.reason, got, tc.want)
		}
		if !strings.HasPrefix(got, tc.wantPrefix) {
			t.Errorf("%s: got %q, want prefix %q", tc.reason, got, tc.wantPrefix)
		}
		if again := PrefixedBucketName(testSalt, tc.prefix, tc.namespace, tc.name); again != got {
			t.Errorf("%s: not deterministic: %q then %q", tc.reason, got, again)
		}
	}

	collisions := []struct {
		reason string
		a, b   [2]string
	}{
		{"names that sanitise to the same text stay apart", [2]string{"a-b", "c"}, [2]string{"a", "b-c"}},
		{"names that truncate to the same text stay apart", [2]string{strings.Repeat("n", 63), strings.Repeat("m", 200) + "1"}, [2]string{strings.Repeat("n", 63), strings.Repeat("m", 200) + "2"}},
		{"dots and hyphens stay apart", [2]string{"ns", "a.b"}, [2]string{"ns", "a-b"}},
	}
	for _, tc := range collisions {
		for _, prefix := range []string{"", "acme-", strings.Repeat("p", MaxBucketPrefix)} {
			if PrefixedBucketName(testSalt, prefix, tc.a[0], tc.a[1]) == PrefixedBucketName(testSalt, prefix, tc.b[0], tc.b[1]) {
				t.Errorf("%s (prefix %q): %v and %v collide", tc.reason, prefix, tc.a, tc.b)
			}
		}
	}
}

func TestRequiredBucketPrefix(t *testing.T) {
	cases := []struct {
		reason, prefix string
		perNamespace   bool
		namespace      string
		want           string
	}{
		{"the prefix alone without perNamespace", "acme-", false, "team-a", "acme-"},
		{"perNamespace adds the namespace and a hyphen", "acme-", true, "team-a", "acme-team-a-"},
		{"perNamespace without a prefix is the namespace alone", "", true, "team-a", "team-a-"},
		{"no policy requires nothing", "", false, "team-a", ""},
	}
	for _, tc := range cases {
		if got := RequiredBucketPrefix(tc.prefix, tc.perNamespace, tc.namespace); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.reason, got, tc.want)
		}
	}
	// A default name always fits its own policy when the namespace is not truncated.
	if got := PrefixedBucketName(testSalt, "acme-", "team-a", "network"); !strings.HasPrefix(got, RequiredBucketPrefix("acme-", true, "team-a")) {
		t.Errorf("default name %q does not fit the perNamespace policy it was made under", got)
	}
}

func TestCredentialName(t *testing.T) {
	uid := "6f1c2b9e-3a57-4d0e-9a55-1b2c3d4e5f60"
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	name := CredentialName("cluster", uid, at)
	if !strings.HasPrefix(name, CredentialPrefix("cluster", uid)) {
		t.Fatalf("name %q does not start with the backend's prefix %q", name, CredentialPrefix("cluster", uid))
	}
	if len(name) > 32 || !regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]*$`).MatchString(name) {
		t.Fatalf("name %q breaks MinIO's service-account name rules", name)
	}
	if CredentialName("cluster", uid, at.Add(time.Second)) == name {
		t.Fatalf("names issued at different times must differ")
	}
	if strings.HasPrefix(CredentialName("cluster", "another-uid", at), CredentialPrefix("cluster", uid)) {
		t.Fatalf("another backend's credentials must not match this backend's prefix")
	}
}

// TestCredentialNamesCarryTheCluster (issue 19, escape 3): two clusters sharing one storage account
// list and revoke only their own credentials, so the cluster is part of every name the operator
// issues, and the previous release's names (which carry none) are told apart from both.
func TestCredentialNamesCarryTheCluster(t *testing.T) {
	const uid = "6f1c2b9e-3a57-4d0e-9a55-1b2c3d4e5f60"
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	a, b := CredentialName("cluster-a", uid, at), CredentialName("cluster-b", uid, at)
	for _, tc := range []struct {
		reason, name, prefix string
	}{
		{"cluster b's prefix must not match cluster a's credential", a, CredentialPrefix("cluster-b", uid)},
		{"cluster a's prefix must not match cluster b's credential", b, CredentialPrefix("cluster-a", uid)},
		{"the previous release's prefix must not match a new name", a, LegacyCredentialPrefix(uid)},
	} {
		if strings.HasPrefix(tc.name, tc.prefix) {
			t.Errorf("%s: %q starts with %q", tc.reason, tc.name, tc.prefix)
		}
	}
	if !strings.HasPrefix(a, CredentialPrefix("cluster-a", uid)) {
		t.Errorf("%q does not start with its own prefix %q", a, CredentialPrefix("cluster-a", uid))
	}
}

// TestParseCredentialName: only names CredentialName made are read; the orphan sweep leaves every
// other name alone.
func TestParseCredentialName(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	own := CredentialName("cluster-a", "uid-1", at)
	for _, tc := range []struct {
		reason, name string
		ok           bool
	}{
		{"a name this release makes", own, true},
		{"another cluster's name has the same shape (its prefix tells it apart)", CredentialName("cluster-b", "uid-1", at), true},
		{"the previous release's name carries no cluster", LegacyCredentialPrefix("uid-1") + "tpoc00", false},
		{"a provider's minted admin key", AdminKeyPrefix("provider-uid") + "tpoc00", false},
		{"a key named by hand with the operator's prefix", "tfso-handmade-key", false},
		{"a name cut short", own[:len(own)-7], false},
		{"a name with something after the time", own + "-x", false},
		{"a time with a leading zero is not one CredentialName writes", own[:len(own)-6] + "0" + own[len(own)-6:], false},
		{"zero with a leading zero", own[:len(own)-6] + "00", false},
		{"upper case is not base 32 here", strings.ToUpper(own), false},
	} {
		p, ok := ParseCredentialName(tc.name)
		if ok != tc.ok {
			t.Errorf("%s: ParseCredentialName(%q) ok = %v, want %v", tc.reason, tc.name, ok, tc.ok)
		}
		if tc.name == own && (p.ClusterPrefix != ClusterCredentialPrefix("cluster-a") || p.BackendTag != BackendTag("uid-1") || !p.IssuedAt.Equal(at)) {
			t.Errorf("%s: ParseCredentialName(%q) = %+v", tc.reason, own, p)
		}
	}
}

func TestLabelValue(t *testing.T) {
	long := strings.Repeat("a", 45) + "-.b" + strings.Repeat("c", 200)
	cases := []struct {
		reason, name string
		want         func(string) bool
	}{
		{"a name that fits is its own label value, as before, so existing objects keep matching", "network", func(v string) bool { return v == "network" }},
		{"63 characters still fit", strings.Repeat("n", 63), func(v string) bool { return v == strings.Repeat("n", 63) }},
		{"64 characters are hashed", strings.Repeat("n", 64), func(v string) bool {
			return v != strings.Repeat("n", 64) && strings.HasPrefix(v, strings.Repeat("n", 46)+"-")
		}},
		{"a cut that would end in separators is trimmed before the hash", long, func(v string) bool {
			return strings.HasPrefix(v, strings.Repeat("a", 45)+"-") && !strings.Contains(v, "-.")
		}},
	}
	labelRule := regexp.MustCompile(`^[a-z0-9A-Z]([-a-z0-9A-Z_.]{0,61}[a-z0-9A-Z])?$`)
	for _, tc := range cases {
		v := LabelValue(tc.name)
		if !labelRule.MatchString(v) || !tc.want(v) {
			t.Errorf("%s: LabelValue(%q) = %q", tc.reason, tc.name, v)
		}
	}
	if a, b := LabelValue(strings.Repeat("x", 100)+"1"), LabelValue(strings.Repeat("x", 100)+"2"); a == b {
		t.Errorf("long names that differ only after the cut share the label value %q", a)
	}
}
