// Package ownership owns the cluster's ownership key and what it proves: the seal on a bucket's
// ownership marker, the salt of default bucket names, and the decision (Judge) whether a marked
// bucket belongs to a StateBackend.
//
// On stores without bucket tags (Cloudflare R2, DigitalOcean Spaces) the marker is an object in the
// bucket, which the tenant's own read-write credential can rewrite. A marker is the operator's word
// only when its seal, an HMAC with a key only the operator holds, verifies: no credential the
// operator issues can forge one. The key lives in a Secret in the operator's own namespace, never in
// a tenant's (see Ensure).
package ownership

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// KeySize is the length of an ownership key in bytes.
const KeySize = 32

// ErrInvalidKey: the key material is not KeySize bytes.
var ErrInvalidKey = errors.New("invalid ownership key")

// Key is the cluster's ownership key. The zero Key seals nothing: every seal it makes is empty and
// none verifies.
type Key struct {
	b []byte
}

// NewKey wraps key material of KeySize bytes.
func NewKey(b []byte) (Key, error) {
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(b), KeySize)
	}
	return Key{b: append([]byte(nil), b...)}, nil
}

// sealVersion starts what a seal authenticates, so that a later encoding never verifies as this one.
const sealVersion = "tfstate-operator/owner/v1"

// Seal is the seal of a marker of bucket naming owner (its Seal ignored): base64url without
// padding of HMAC-SHA256 over the version and every field, each preceded by its length, so that no
// two distinct markers share an encoding. The zero Key gives "".
func (k Key) Seal(bucket string, owner provider.Owner) string {
	if len(k.b) == 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(k.mac(sealVersion, bucket, owner.Namespace, owner.Name, owner.UID, owner.Cluster))
}

// Verify says whether marker's seal was made with this key for bucket and marker's other fields.
func (k Key) Verify(bucket string, marker provider.Owner) bool {
	if len(k.b) == 0 || marker.Seal == "" {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(marker.Seal)
	return err == nil && hmac.Equal(got, k.mac(sealVersion, bucket, marker.Namespace, marker.Name, marker.UID, marker.Cluster))
}

// Sealed is owner with Seal set for bucket.
func (k Key) Sealed(bucket string, owner provider.Owner) provider.Owner {
	owner.Seal = k.Seal(bucket, owner)
	return owner
}

// BucketNameSalt is mixed into default bucket names (naming.DefaultBucketName) so that another
// tenant cannot compute a victim's default name and create that bucket first. It is derived from
// the key, never the key itself (bucket names are public).
func (k Key) BucketNameSalt() []byte {
	if len(k.b) == 0 {
		return nil
	}
	return k.mac("tfstate-operator/bucket-names/v1")
}

func (k Key) mac(fields ...string) []byte {
	m := hmac.New(sha256.New, k.b)
	var n [8]byte
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	return m.Sum(nil)
}
