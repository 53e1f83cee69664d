package ownership

import "github.com/tfstate-operator/tfstate-operator/internal/provider"

// Verdict is what a bucket's marker means for the StateBackend that wants the bucket.
type Verdict int

const (
	// Unmarked: the bucket carries no marker. Today's rules apply: an interrupted create of a name
	// the operator derives is finished, an adoption with consent is made, anything else is refused.
	Unmarked Verdict = iota
	// Ours: the marker names the backend, uid and this cluster included, with a seal that verifies.
	Ours
	// Reseal: the marker names the backend, uid included, in this cluster or in none, but its seal
	// is missing or does not verify: a bucket of the previous release, or one sealed with a key that
	// was lost and regenerated. A StateBackend's UID is not visible to other tenants, so a squatter
	// cannot write it; the bucket is sealed again.
	Reseal
	// Reclaim: a sealed marker of this cluster names the backend's namespace and name with another
	// uid: the bucket an earlier StateBackend of the same name retained (deletionPolicy Retain).
	Reclaim
	// Unverified: the marker names the backend's namespace and name with another uid, and its seal
	// does not verify: a retained bucket of the previous release or of a lost key, or a forgery.
	// It is treated like an unmarked bucket that exists: refused unless adoption is consented to.
	Unverified
	// OwnedByOther: the marker names another StateBackend. Never adopted.
	OwnedByOther
	// OwnedByOtherCluster: the marker names another cluster (two clusters sharing one storage
	// account, or a restored cluster that did not keep its identity). Never adopted.
	OwnedByOtherCluster
)

var verdictNames = [...]string{"Unmarked", "Ours", "Reseal", "Reclaim", "Unverified", "OwnedByOther", "OwnedByOtherCluster"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "Verdict(?)"
}

// Holds says the backend may keep using (and delete) the bucket: the marker names it, uid included.
func (v Verdict) Holds() bool { return v == Ours || v == Reseal }

// Judge decides what marker (nil: none) on bucket means for want, the marker the backend would
// write (its namespace, name, uid and this cluster; want.Seal is ignored). A marker naming another
// cluster is refused whatever its seal: another cluster's key is never this one's, and a cluster
// that takes over another's buckets says so with --cluster-id (and the copied key).
func Judge(key Key, bucket string, marker *provider.Owner, want provider.Owner) Verdict {
	switch {
	case marker == nil:
		return Unmarked
	case marker.Cluster != "" && marker.Cluster != want.Cluster:
		return OwnedByOtherCluster
	case marker.Namespace != want.Namespace || marker.Name != want.Name:
		return OwnedByOther
	}
	sealed := marker.Cluster == want.Cluster && key.Verify(bucket, *marker)
	switch {
	case marker.UID == want.UID && sealed:
		return Ours
	case marker.UID == want.UID:
		return Reseal
	case sealed:
		return Reclaim
	default:
		return Unverified
	}
}
