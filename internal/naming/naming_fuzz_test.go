package naming

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// s3Reserved lists the prefixes and suffixes S3 reserves for general purpose bucket names
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
var (
	s3ReservedPrefixes = []string{"xn--", "sthree-", "amzn-s3-demo-"}
	s3ReservedSuffixes = []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}
	bucketChars        = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*[a-z0-9]$`)
)

// bucketNameProblem says why name is not a bucket name every provider accepts (S3 general purpose
// buckets, R2, Spaces, MinIO), or "" when it is one. Dots are refused too: the default names never
// need them, R2 refuses them and they break virtual-hosted TLS on S3.
func bucketNameProblem(name string) string {
	switch {
	case len(name) < 3 || len(name) > 63:
		return "length outside 3-63"
	case !bucketChars.MatchString(name):
		return "not lowercase letters, digits and '-', starting and ending with a letter or digit"
	case strings.Contains(name, ".."):
		return "contains '..'"
	case net.ParseIP(name) != nil:
		return "is an IP address"
	}
	for _, p := range s3ReservedPrefixes {
		if strings.HasPrefix(name, p) {
			return "starts with the reserved prefix " + p
		}
	}
	for _, s := range s3ReservedSuffixes {
		if strings.HasSuffix(name, s) {
			return "ends with the reserved suffix " + s
		}
	}
	return ""
}

// FuzzDefaultBucketName: for ANY namespace and name (Kubernetes-valid or not; the function is
// total, and an invalid input must still not produce a name a provider refuses), the result is a
// valid bucket name, the same on every call. Distinct (namespace, name) pairs get distinct names
// whenever neither namespace contains '/': the hash is over "namespace/name", which is ambiguous
// only when the namespace holds a '/' ("a/b","c" and "a","b/c"), and Kubernetes namespaces are
// DNS labels, which never do. Kubernetes-valid pairs (namespace a DNS-1123 label, name a DNS-1123
// subdomain, as the API server enforces for custom resources) are a subset of that domain.
func FuzzDefaultBucketName(f *testing.F) {
	f.Add("team-a", "network", "team-a", "network2")
	f.Add("a-b", "c", "a", "b-c")
	f.Add("team-a", "Net.Work", "team-a", "net-work")
	f.Add(strings.Repeat("n", 63), strings.Repeat("m", 253), strings.Repeat("n", 63), strings.Repeat("m", 252))
	f.Add("ns", "...x", "ns", "x")
	f.Add("", "", "-", "-")
	f.Add("xn--abc", "x", "xn-abc", "x")
	f.Add("KUBE", "\u212a", "kube", "k") // the Kelvin sign lowercases to ASCII 'k'
	f.Add("192.168.1.1", "", "192", "168.1.1")
	f.Add("team", "state.s3alias", "team", "state--ol-s3")
	f.Add("sthree", "x", "sthree-dev", "network") // S3-reserved starts (found by review, now moved off)
	f.Add("amzn-s3-demo-team", "net", "tf", "sthree-x")
	f.Add("Ωmega", "名前", "ωmega", "x")
	f.Fuzz(func(t *testing.T, ns, name, ns2, name2 string) {
		// The cluster's salt, and none (the previous release's names, still recognised).
		for _, salt := range [][]byte{[]byte("a cluster's bucket-name salt...."), nil} {
			got := DefaultBucketName(salt, ns, name)
			if why := bucketNameProblem(got); why != "" {
				t.Fatalf("DefaultBucketName(%q, %q, %q) = %q: %s", salt, ns, name, got, why)
			}
			if again := DefaultBucketName(salt, ns, name); again != got {
				t.Fatalf("DefaultBucketName(%q, %q, %q) not deterministic: %q then %q", salt, ns, name, got, again)
			}
			got2 := DefaultBucketName(salt, ns2, name2)
			if why := bucketNameProblem(got2); why != "" {
				t.Fatalf("DefaultBucketName(%q, %q, %q) = %q: %s", salt, ns2, name2, got2, why)
			}
			if (ns != ns2 || name != name2) && !strings.Contains(ns, "/") && !strings.Contains(ns2, "/") && got == got2 {
				t.Fatalf("DefaultBucketName(%q, %q, %q) = DefaultBucketName(%q, %q) = %q", salt, ns, name, ns2, name2, got)
			}
		}
	})
}

// TestDefaultBucketNameSlashInNamespaceIsOutOfDomain: the one collision FuzzDefaultBucketName
// excludes ("a/b","c" and "a","b/c" hash the same "a/b/c") needs a '/' in the namespace, which is
// never a valid namespace.
func TestDefaultBucketNameSlashInNamespaceIsOutOfDomain(t *testing.T) {
	for _, ns := range []string{"a/b", "/", "a/"} {
		if len(validation.IsDNS1123Label(ns)) == 0 {
			t.Fatalf("%q is a valid namespace: the distinctness domain of FuzzDefaultBucketName is wrong", ns)
		}
	}
}

// maxCredentialSeconds bounds the times FuzzCredentialName checks the documented 31-character
// length at: 36^7 seconds after 1970 (the year 4453), past which the base-36 time takes 8 digits.
// Any clock the operator reads is far below; the character and prefix rules are checked for every
// int64.
const maxCredentialSeconds = 36 * 36 * 36 * 36 * 36 * 36 * 36

var (
	credentialPrefixRule = regexp.MustCompile(`^tfso-[a-z2-7]{18}-$`)
	minioAccountRule     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]*$`)
)

// FuzzCredentialName: for any cluster, UID and time, the name starts with CredentialPrefix(cluster,
// uid), which is "tfso-", 18 base-32 characters and '-'; the rest is the time in base 36, and
// ParseCredentialName reads the cluster, backend and time back; the name is deterministic and keeps
// to MinIO's service-account rules (a letter first, letters, digits, '_' and '-', at most 31
// characters for times in 1970..4453). Another UID's or another cluster's prefix never matches it
// (listing by prefix finds one backend's credentials of one cluster only), nor does the previous
// release's prefix or any provider's AdminKeyPrefix, and distinct (cluster, uid, second) triples
// get distinct names.
func FuzzCredentialName(f *testing.F) {
	f.Add("kube-system-uid", "6f1c2b9e-3a57-4d0e-9a55-1b2c3d4e5f60", int64(1795348800), "kube-system-uid", "6f1c2b9e-3a57-4d0e-9a55-1b2c3d4e5f61", int64(1795348800))
	f.Add("a", "uid", int64(0), "b", "uid", int64(0))
	f.Add("", "", int64(-1), "", "admin", int64(maxCredentialSeconds-1))
	f.Add("c", "x", int64(maxCredentialSeconds), "c", "x", int64(-9223372036854775808))
	f.Fuzz(func(t *testing.T, cluster, uid string, sec int64, cluster2, uid2 string, sec2 int64) {
		at := time.Unix(sec, 0)
		name := CredentialName(cluster, uid, at)
		prefix := CredentialPrefix(cluster, uid)
		if !credentialPrefixRule.MatchString(prefix) {
			t.Fatalf("CredentialPrefix(%q, %q) = %q, want tfso-<18 base32>-", cluster, uid, prefix)
		}
		if !strings.HasPrefix(prefix, ClusterCredentialPrefix(cluster)) {
			t.Fatalf("CredentialPrefix(%q, %q) = %q does not start with the cluster's %q", cluster, uid, prefix, ClusterCredentialPrefix(cluster))
		}
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			t.Fatalf("CredentialName(%q, %q, %d) = %q does not start with CredentialPrefix %q", cluster, uid, sec, name, prefix)
		}
		if back, err := strconv.ParseInt(rest, 36, 64); err != nil || back != sec {
			t.Fatalf("CredentialName(%q, %q, %d) = %q: suffix %q is not the time in base 36 (%d, %v)", cluster, uid, sec, name, rest, back, err)
		}
		if sec >= 0 {
			p, ok := ParseCredentialName(name)
			if want := (ParsedCredentialName{ClusterPrefix: ClusterCredentialPrefix(cluster), BackendTag: BackendTag(uid), IssuedAt: at}); !ok || p != want {
				t.Fatalf("ParseCredentialName(%q) = %+v, %v, want %+v", name, p, ok, want)
			}
		}
		if !minioAccountRule.MatchString(name) {
			t.Fatalf("CredentialName(%q, %q, %d) = %q breaks MinIO's service-account name characters", cluster, uid, sec, name)
		}
		if sec >= 0 && sec < maxCredentialSeconds && len(name) > 31 {
			t.Fatalf("CredentialName(%q, %q, %d) = %q has %d characters, want at most 31", cluster, uid, sec, name, len(name))
		}
		if again := CredentialName(cluster, uid, at); again != name {
			t.Fatalf("CredentialName(%q, %q, %d) not deterministic: %q then %q", cluster, uid, sec, name, again)
		}
		legacy := LegacyCredentialPrefix(uid) + strconv.FormatInt(sec, 36)
		if strings.HasPrefix(name, LegacyCredentialPrefix(uid)) || strings.HasPrefix(legacy, prefix) {
			t.Fatalf("the previous release's prefix %q and %q overlap (%q, %q)", LegacyCredentialPrefix(uid), prefix, name, legacy)
		}
		if _, ok := ParseCredentialName(legacy); ok {
			t.Fatalf("ParseCredentialName takes the previous release's name %q as a cluster's", legacy)
		}

		name2 := CredentialName(cluster2, uid2, time.Unix(sec2, 0))
		for _, admin := range []string{AdminKeyPrefix(uid), AdminKeyPrefix(uid2)} {
			if strings.HasPrefix(name, admin) || strings.HasPrefix(name2, admin) || strings.HasPrefix(admin, prefix) {
				t.Fatalf("admin key prefix %q and credential prefix %q overlap (%q, %q)", admin, prefix, name, name2)
			}
			if _, ok := ParseCredentialName(admin + "x"); ok {
				t.Fatalf("ParseCredentialName takes the admin key %q as a credential", admin+"x")
			}
		}
		// 30 bits of cluster and 60 of backend: a collision would take a fuzzer billions of years.
		if uid != uid2 || cluster != cluster2 {
			if strings.HasPrefix(name2, prefix) || strings.HasPrefix(name, CredentialPrefix(cluster2, uid2)) {
				t.Fatalf("(%q, %q) and (%q, %q) share a credential prefix: %q, %q", cluster, uid, cluster2, uid2, name, name2)
			}
		}
		if (uid != uid2 || cluster != cluster2 || sec != sec2) && name == name2 {
			t.Fatalf("CredentialName(%q, %q, %d) = CredentialName(%q, %q, %d) = %q", cluster, uid, sec, cluster2, uid2, sec2, name)
		}
	})
}
