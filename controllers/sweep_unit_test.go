package controllers

import (
	"slices"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/naming"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// TestOrphans: the sweep's decision, one listed credential at a time.
func TestOrphans(t *testing.T) {
	const cluster = "this-cluster"
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	old := now.Add(-2 * time.Hour)
	rec := newSweepRecords()
	rec.backends[naming.BackendTag("uid-live")] = true
	rec.record(naming.CredentialName(cluster, "uid-gone-by-name", old), "")
	rec.record("", "id-recorded")
	for _, tc := range []struct {
		reason string
		cred   provider.CredentialInfo
		swept  bool
	}{
		{"a credential of a StateBackend that no longer exists, recorded by none, older than the minimum age", cred("id-1", naming.CredentialName(cluster, "uid-gone", old)), true},
		{"exactly the minimum age", cred("id-2", naming.CredentialName(cluster, "uid-gone", now.Add(-time.Hour))), true},
		{"younger than the minimum age: its StateBackend may be too new for the cache", cred("id-3", naming.CredentialName(cluster, "uid-gone", now.Add(-time.Hour+time.Second))), false},
		{"issued in the future (a clock ahead): never old enough", cred("id-4", naming.CredentialName(cluster, "uid-gone", now.Add(time.Hour))), false},
		{"an existing StateBackend's credential, even one its Secret does not hold: its own reconcile revokes that", cred("id-5", naming.CredentialName(cluster, "uid-live", old)), false},
		{"another cluster's credential in the same account", cred("id-6", naming.CredentialName("another-cluster", "uid-gone", old)), false},
		{"the previous release's name carries no cluster: it may be another cluster's", cred("id-7", naming.LegacyCredentialPrefix("uid-gone")+strconv.FormatInt(old.Unix(), 36)), false},
		{"a provider's minted admin key", cred("id-8", naming.AdminKeyPrefix("provider-uid")+"abc"), false},
		{"a key named by hand", cred("id-9", "deploy-key"), false},
		{"a name some existing StateBackend records", cred("id-10", naming.CredentialName(cluster, "uid-gone-by-name", old)), false},
		{"an id some existing StateBackend records", cred("id-recorded", naming.CredentialName(cluster, "uid-gone", old.Add(time.Second))), false},
	} {
		got := orphans([]provider.CredentialInfo{tc.cred}, naming.ClusterCredentialPrefix(cluster), rec, now, time.Hour, 10)
		if swept := len(got) == 1; swept != tc.swept {
			t.Errorf("%s: swept = %v, want %v (%q)", tc.reason, swept, tc.swept, tc.cred.Name)
		}
	}
}

// TestOrphansAreBoundedOldestFirst: one sweep revokes at most its limit, the oldest first, so the
// rest wait for the next sweep and the account sees a bounded number of calls.
func TestOrphansAreBoundedOldestFirst(t *testing.T) {
	const cluster = "c"
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var listed []provider.CredentialInfo
	for i := range 5 {
		at := now.Add(-time.Duration(i+2) * time.Hour)
		listed = append(listed, cred("id-"+strconv.Itoa(i), naming.CredentialName(cluster, "uid-"+strconv.Itoa(i), at)))
	}
	got := orphans(listed, naming.ClusterCredentialPrefix(cluster), newSweepRecords(), now, time.Hour, 3)
	ids := make([]string, 0, len(got))
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if want := []string{"id-4", "id-3", "id-2"}; !slices.Equal(ids, want) {
		t.Errorf("swept %v, want the three oldest %v", ids, want)
	}
}

// TestSweepSchedule: a provider is swept at once when this process has not swept it yet, then not
// again until one interval has passed; a forgotten (deleted) provider starts over.
func TestSweepSchedule(t *testing.T) {
	var s sweepSchedule
	const uid = types.UID("provider-1")
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		reason   string
		at       time.Time
		done     bool
		forget   bool
		wantDue  bool
		wantWait time.Duration
	}{
		{reason: "never swept by this process", at: t0, wantDue: true, done: true},
		{reason: "a minute later", at: t0.Add(time.Minute), wantDue: false, wantWait: 59 * time.Minute},
		{reason: "one interval later", at: t0.Add(time.Hour), wantDue: true, done: true},
		{reason: "forgotten when the provider is deleted", at: t0.Add(time.Hour + time.Second), forget: true, wantDue: true},
	}
	for _, st := range steps {
		if st.forget {
			s.forget(uid)
		}
		due, wait := s.due(uid, st.at, time.Hour)
		if due != st.wantDue || wait != st.wantWait {
			t.Errorf("%s: due, wait = %v, %s, want %v, %s", st.reason, due, wait, st.wantDue, st.wantWait)
		}
		if st.done {
			s.done(uid, st.at)
		}
	}
	if due, _ := s.due("another-provider", t0.Add(time.Minute), time.Hour); !due {
		t.Error("each provider has its own schedule: another provider is due although this one was just swept")
	}
}

// TestShorter: the provider's requeue is cut to the next sweep, and zero still means none.
func TestShorter(t *testing.T) {
	for _, tc := range []struct {
		reason     string
		a, b, want time.Duration
	}{
		{"the sweep comes sooner", 10 * time.Minute, time.Minute, time.Minute},
		{"the check comes sooner", time.Minute, 10 * time.Minute, time.Minute},
		{"no requeue asked: the sweep's", 0, time.Hour, time.Hour},
		{"no sweep due: the check's", time.Minute, 0, time.Minute},
	} {
		if got := shorter(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: shorter(%s, %s) = %s, want %s", tc.reason, tc.a, tc.b, got, tc.want)
		}
	}
}

func cred(id, name string) provider.CredentialInfo {
	return provider.CredentialInfo{ID: id, Name: name, AccessKeyID: id}
}

// TestLegacyToReplace: a credential the previous release issued that is replaced at once stays
// recorded (grace over) until its revocation is seen through, so that a failed revocation is
// retried by a listing of the previous release's prefix.
func TestLegacyToReplace(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	sb := func(prev *v1alpha1.RetiredCredentialStatus) *v1alpha1.StateBackend {
		return &v1alpha1.StateBackend{ObjectMeta: metav1.ObjectMeta{UID: "uid-1"}, Status: v1alpha1.StateBackendStatus{PreviousCredential: prev}}
	}
	legacy := &provider.CredentialInfo{ID: "AK1", Name: naming.LegacyCredentialPrefix("uid-1") + "sb4k2g"}
	current := &provider.CredentialInfo{ID: "AK2", Name: naming.CredentialName(testClusterID, "uid-1", now)}
	for _, tc := range []struct {
		reason  string
		sb      *v1alpha1.StateBackend
		current *provider.CredentialInfo
		want    bool
	}{
		{"the previous release's credential, replaced: recorded, its grace over", sb(nil), legacy, true},
		{"this release's credential: its own prefix is always listed", sb(nil), current, false},
		{"nothing to replace", sb(nil), nil, false},
		{"a rotation's previous credential is recorded already", sb(&v1alpha1.RetiredCredentialStatus{Name: legacy.Name, ID: "AK0"}), legacy, false},
	} {
		got := legacyToReplace(tc.sb, tc.current, now)
		if (got != nil) != tc.want {
			t.Errorf("%s: legacyToReplace = %+v, want recorded %v", tc.reason, got, tc.want)
			continue
		}
		if got != nil && (got.ID != tc.current.ID || got.Name != tc.current.Name || !got.RevokeAt.Time.Equal(now)) {
			t.Errorf("%s: legacyToReplace = %+v, want %s (%s) due now", tc.reason, got, tc.current.Name, tc.current.ID)
		}
		if got != nil && !mayHoldLegacyCredential(&v1alpha1.StateBackend{ObjectMeta: metav1.ObjectMeta{UID: "uid-1"}, Status: v1alpha1.StateBackendStatus{PreviousCredential: got}}, "") {
			t.Errorf("%s: once recorded, the previous release's prefix is not listed", tc.reason)
		}
	}
}
