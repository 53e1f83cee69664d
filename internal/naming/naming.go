// Package naming derives the deterministic names of what the operator creates, so that a reconcile
// that crashed can find what it made by name instead of remembering it.
package naming

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	// maxBucketName is the S3/R2 limit.
	maxBucketName = 63
	// credentialPrefix starts every credential name the operator issues.
	credentialPrefix = "tfso-"
)

// DefaultBucketName is the bucket a StateBackend gets when spec.bucketName is unset:
// "<namespace>-<name>-<hash8>", lowercased, with every character outside [a-z0-9-] replaced by '-',
// truncated to fit 63 characters. The hash of "namespace/name" keeps names that sanitise or truncate
// to the same text apart ("a-b"/"c" and "a"/"b-c"). It is keyed with salt (the cluster's secret,
// ownership.Key.BucketNameSalt), so that another tenant cannot compute a victim's default name and
// create that bucket first; a nil salt gives the previous release's unkeyed names, which the
// controller only recognises, never hands out.
func DefaultBucketName(salt []byte, namespace, name string) string {
	return PrefixedBucketName(salt, "", namespace, name)
}

// MaxBucketPrefix is the longest prefix PrefixedBucketName keeps (the API's limit on a provider's
// bucketNaming.prefix), so that a prefixed name still has room for the namespace and the hash.
const MaxBucketPrefix = 20

// PrefixedBucketName is DefaultBucketName under a provider's naming prefix:
// "<prefix><namespace>-<name>-<hash8>", truncated (in the namespace and name, never the prefix or
// the hash) to fit 63 characters. The prefix must already be a valid start of a bucket name
// (lowercase letters, digits and hyphens, starting with a letter or digit); one longer than
// MaxBucketPrefix is cut to it. The hash is of "namespace/name" alone (keyed with salt), so distinct
// pairs get distinct names under every prefix, and "" gives DefaultBucketName's names exactly.
func PrefixedBucketName(salt []byte, prefix, namespace, name string) string {
	if len(prefix) > MaxBucketPrefix {
		prefix = prefix[:MaxBucketPrefix]
	}
	suffix := "-" + nameHash(salt, namespace+"/"+name)
	base := sanitize(namespace + "-" + name)
	if prefix == "" && reservedStart(base+suffix) {
		// S3 refuses names starting like this; a namespace "sthree-dev" must still get a bucket.
		prefix = "tf-"
	}
	if max := maxBucketName - len(prefix) - len(suffix); len(base) > max {
		base = strings.TrimRight(base[:max], "-")
	}
	if base == "" {
		base = "tfstate"
	}
	return prefix + base + suffix
}

// nameHash is 8 hex characters of HMAC-SHA256(salt, s), or of SHA-256(s) without a salt.
func nameHash(salt []byte, s string) string {
	var sum []byte
	if salt == nil {
		h := sha256.Sum256([]byte(s))
		sum = h[:]
	} else {
		m := hmac.New(sha256.New, salt)
		m.Write([]byte(s))
		sum = m.Sum(nil)
	}
	return hex.EncodeToString(sum)[:8]
}

// reservedBucketStarts are the name prefixes S3 reserves ("xn--" cannot survive sanitize, which
// collapses runs of '-', but is listed for completeness).
var reservedBucketStarts = []string{"xn--", "sthree-", "amzn-s3-demo-"}

func reservedStart(s string) bool {
	for _, p := range reservedBucketStarts {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// RequiredBucketPrefix is what an explicit bucket name must start with under a provider's naming
// policy: the prefix, followed with perNamespace by the StateBackend's namespace and '-'.
func RequiredBucketPrefix(prefix string, perNamespace bool, namespace string) string {
	if perNamespace {
		return prefix + namespace + "-"
	}
	return prefix
}

func sanitize(s string) string {
	var b strings.Builder
	lastDash := true // drop leading dashes
	for _, r := range strings.ToLower(s) {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		switch {
		case ok:
			b.WriteRune(r)
			lastDash = false
		case !lastDash:
			b.WriteByte('-')
			lastDash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// Credential names carry the cluster and the backend as hashes in lowercase base32 (letters and the
// digits 2-7), which packs more bits per character than hex into MinIO's 32-character limit:
//
//	tfso-<cluster: 6><backend: 12>-<issue time in base 36>
//
// 30 bits tell clusters sharing an account apart, 60 bits tell one cluster's backends apart. The
// previous release named credentials "tfso-<16 hex>-<time>" (LegacyCredentialPrefix): 16 characters
// before the dash where these have 18, so neither prefix ever matches the other's names, and the
// providers' admin keys ("tfso-admin-...") match neither.
const (
	clusterTagLen = 6
	backendTagLen = 12
)

var tagEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// credentialNameRule is the shape of every name CredentialName makes.
var credentialNameRule = regexp.MustCompile(`^tfso-([a-z2-7]{6})([a-z2-7]{12})-([0-9a-z]{1,13})$`)

func tag(domain, s string, n int) string {
	sum := sha256.Sum256([]byte(domain + "\x00" + s))
	return tagEncoding.EncodeToString(sum[:])[:n]
}

func clusterTag(cluster string) string {
	return tag("tfstate-operator cluster", cluster, clusterTagLen)
}

// BackendTag is the part of a credential name that names the StateBackend with this UID.
func BackendTag(uid string) string { return tag("tfstate-operator backend", uid, backendTagLen) }

// ClusterCredentialPrefix starts the name of every credential the operator of this cluster
// issues, and no other cluster's unless their 30-bit tags collide (odds of about 1 in a billion for
// two clusters sharing an account): what the orphan sweep lists. It also starts a few names of the
// previous release's (whose hex may begin with the same letters), so a listing by it is parsed with
// ParseCredentialName before anything is revoked.
func ClusterCredentialPrefix(cluster string) string {
	return credentialPrefix + clusterTag(cluster)
}

// CredentialPrefix is the name prefix of every credential issued for the StateBackend with this UID
// in this cluster. Listing by it finds every credential of that backend, including one issued by a
// reconcile that crashed before writing the Secret, and none of another cluster sharing the account.
func CredentialPrefix(cluster, uid string) string {
	return ClusterCredentialPrefix(cluster) + BackendTag(uid) + "-"
}

// LegacyCredentialPrefix is the name prefix of the credentials the previous release issued for the
// StateBackend with this UID: "tfso-" and 16 hex characters of the UID's hash. Such names carry no
// cluster: the backend still lists and revokes them as its own, the orphan sweep never touches them.
func LegacyCredentialPrefix(uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return credentialPrefix + hex.EncodeToString(sum[:])[:16] + "-"
}

// CredentialName is the name of a credential issued at time t: CredentialPrefix plus t in base 36
// (seconds), 30 characters until 2038 and 31 after, letters, digits and '-' only, starting with a
// letter, so that it fits every provider's naming rules (MinIO service accounts: 32 characters).
func CredentialName(cluster, uid string, t time.Time) string {
	return CredentialPrefix(cluster, uid) + strconv.FormatInt(t.Unix(), 36)
}

// ParsedCredentialName is what a name CredentialName made says about its credential.
type ParsedCredentialName struct {
	// ClusterPrefix is ClusterCredentialPrefix of the cluster that issued it.
	ClusterPrefix string
	// BackendTag is BackendTag of the StateBackend it was issued for.
	BackendTag string
	// IssuedAt is when it was issued, to the second.
	IssuedAt time.Time
}

// ParseCredentialName reads a name CredentialName made; ok is false for any other name (the previous
// release's, a provider's admin key, a key named by hand), which the orphan sweep leaves alone.
func ParseCredentialName(name string) (ParsedCredentialName, bool) {
	m := credentialNameRule.FindStringSubmatch(name)
	if m == nil {
		return ParsedCredentialName{}, false
	}
	sec, err := strconv.ParseInt(m[3], 36, 64)
	if err != nil || strconv.FormatInt(sec, 36) != m[3] {
		// Only the time as CredentialName writes it: "…-0" or "…-00tpoc" was not made by it.
		return ParsedCredentialName{}, false
	}
	return ParsedCredentialName{ClusterPrefix: credentialPrefix + m[1], BackendTag: m[2], IssuedAt: time.Unix(sec, 0)}, true
}

// AdminKeyPrefix is the name prefix of the keys the operator mints for a provider object itself
// (DigitalOcean Spaces' full-access key): "tfso-admin-" and 16 hex characters of the hash of the
// provider's UID. Keys of other providers, clusters and tools never share it, so listing by it
// finds exactly this provider's keys, including one left by a crashed process.
func AdminKeyPrefix(providerUID string) string {
	sum := sha256.Sum256([]byte(providerUID))
	return credentialPrefix + "admin-" + hex.EncodeToString(sum[:])[:16] + "-"
}

// maxLabelValue is Kubernetes' limit on a label value.
const maxLabelValue = 63

// LabelValue is name as a label value: name itself when it fits (at most 63 characters, as every
// name did before this function existed, so existing objects keep their labels), else its first
// 46 characters, trimmed to end in a letter or digit, "-" and 16 hex characters of the SHA-256 of
// the whole name, so that long names sharing a start stay apart. name must be a DNS subdomain
// (an object name), whose characters are all valid in a label value.
func LabelValue(name string) string {
	if len(name) <= maxLabelValue {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	head := strings.TrimRight(name[:maxLabelValue-17], "-.")
	return head + "-" + hex.EncodeToString(sum[:])[:16]
}
