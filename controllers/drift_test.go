package controllers

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

// hasEvent reports whether the backend has an event of this type and reason.
func hasEvent(t *testing.T, ns, name, typ, reason string) bool {
	t.Helper()
	return slices.ContainsFunc(eventsFor(t, ns, name), func(e eventsv1.Event) bool { return e.Type == typ && e.Reason == reason })
}

// TestDriftGrantChangedOutOfBand: what the store lets the Secret's credential do is changed behind
// the operator's back (another bucket, more access); the next reconcile puts it back with the keys
// unchanged, proves it again and says so in a warning event.
func TestDriftGrantChangedOutOfBand(t *testing.T) {
	cases := []struct {
		reason string
		access v1alpha1.Access
		bucket func(own string) string
		grant  provider.Access
	}{
		{"a read-write credential moved to another bucket", v1alpha1.AccessReadWrite, func(string) string { return "someone-elses-bucket" }, provider.ReadWrite},
		{"a read-only credential given write access", v1alpha1.AccessReadOnly, func(own string) string { return own }, provider.ReadWrite},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			tn := newTenant(t)
			key := tn.backend("state", func(sb *v1alpha1.StateBackend) { sb.Spec.Access = tc.access })
			sb := waitReady(t, key)
			secret := getSecret(t, tn.ns, sb.Status.SecretName)
			ak := string(secret.Data[backendconfig.EnvAccessKeyID])
			probes := tn.store.Calls(memory.OpProbe)

			tn.store.SetGrantOutOfBand(ak, tc.bucket(sb.Status.BucketName), tc.grant)
			requestReconcile(t, key)
			eventually(t, 20*time.Second, func() error {
				bucket, a, ok := tn.store.CredentialScope(ak)
				if !ok || bucket != sb.Status.BucketName || a != access(sb) {
					return fmt.Errorf("%s: credential scope is %s on %q (live %v)", tc.reason, a, bucket, ok)
				}
				if !hasEvent(t, tn.ns, key.Name, corev1.EventTypeWarning, v1alpha1.ReasonCredentialGrantRepaired) {
					return errors.New("no CredentialGrantRepaired event")
				}
				return nil
			})
			waitReady(t, key)
			if got := string(getSecret(t, tn.ns, sb.Status.SecretName).Data[backendconfig.EnvAccessKeyID]); got != ak {
				t.Errorf("%s: the Secret's key changed from %s to %s; a repair keeps it", tc.reason, ak, got)
			}
			if tn.store.Calls(memory.OpProbe) == probes {
				t.Errorf("%s: the repaired credential was not proven again", tc.reason)
			}
			assertOneLiveCredential(t, tn, key)
		})
	}
}

// TestDriftGrantThatCannotBeNarrowed: a store that cannot narrow a widened credential back (a
// Spaces key made fullaccess) has it replaced, and the widened one revoked at once, not after a
// grace.
func TestDriftGrantThatCannotBeNarrowed(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", func(sb *v1alpha1.StateBackend) {
		sb.Spec.Credentials = &v1alpha1.CredentialPolicy{} // a grace exists for rotations; not for this
	})
	sb := waitReady(t, key)
	first := string(getSecret(t, tn.ns, sb.Status.SecretName).Data[backendconfig.EnvAccessKeyID])

	tn.store.FailBefore(memory.OpRepairGrant, fmt.Errorf("key %s holds fullaccess: %w", first, provider.ErrCredentialTooBroad))
	requestReconcile(t, key)
	eventually(t, 20*time.Second, func() error {
		live := tn.store.LiveCredentials()
		if len(live) != 1 || live[0].AccessKeyID == first {
			return fmt.Errorf("live credentials %+v, want one that is not %s", live, first)
		}
		return nil
	})
	waitReady(t, key)
	assertOneLiveCredential(t, tn, key)
	if p := getBackend(t, key).Status.PreviousCredential; p != nil {
		t.Errorf("the widened credential was kept in grace (%+v); it must be revoked at once", p)
	}
	if !hasEvent(t, tn.ns, key.Name, corev1.EventTypeWarning, v1alpha1.ReasonCredentialGrantRepaired) {
		t.Error("no warning event names the replacement")
	}
}

// TestDriftBucketOpenedToThePublic: a bucket of ours made public outside the operator (a public
// bucket policy, r2.dev access) is closed again at the next reconcile, with a warning event.
func TestDriftBucketOpenedToThePublic(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", nil)
	sb := waitReady(t, key)

	tn.store.ExposeOutOfBand(sb.Status.BucketName)
	requestReconcile(t, key)
	eventually(t, 20*time.Second, func() error {
		if b, _ := tn.store.Bucket(sb.Status.BucketName); b.Public {
			return errors.New("the bucket is still public")
		}
		if !hasEvent(t, tn.ns, key.Name, corev1.EventTypeWarning, v1alpha1.ReasonBucketAccessRepaired) {
			return errors.New("no BucketAccessRepaired event")
		}
		return nil
	})
	waitReady(t, key)
}
