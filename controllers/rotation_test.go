package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

// requestRotation sets spec.credentials.rotationRequest.
func requestRotation(t *testing.T, key client.ObjectKey, request string) {
	t.Helper()
	sb := getBackend(t, key)
	patch := client.MergeFrom(sb.DeepCopy())
	sb.Spec.Credentials.RotationRequest = request
	must(t, k8s.Patch(context.Background(), sb, patch))
}

func liveIDs(tn *tenant) []string {
	var ids []string
	for _, c := range tn.store.LiveCredentials() {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestRotationKeepsTheOldCredentialForItsGrace: a requested rotation switches the Secret to a new
// credential at once and revokes the old one only after revokeAfter; status and events say so.
func TestRotationKeepsTheOldCredentialForItsGrace(t *testing.T) {
	tn := newTenant(t)
	const grace = 4 * time.Second
	key := tn.backend("rotated", func(sb *v1alpha1.StateBackend) {
		sb.Spec.Credentials = &v1alpha1.CredentialPolicy{RevokeAfter: &metav1.Duration{Duration: grace}}
	})
	first := waitReady(t, key).Status.Credential
	requestRotation(t, key, "2026-11-23")

	var rotatedAt time.Time
	eventually(t, 20*time.Second, func() error {
		sb := getBackend(t, key)
		secret := getSecret(t, tn.ns, "rotated")
		held := string(secret.Data[backendconfig.EnvAccessKeyID])
		if held == first.ID || sb.Status.Credential == nil || sb.Status.Credential.ID != held {
			return fmt.Errorf("Secret holds %s, status %+v: not switched yet", held, sb.Status.Credential)
		}
		if p := sb.Status.PreviousCredential; p == nil || p.ID != first.ID {
			return fmt.Errorf("previous credential %+v, want %s in its grace", p, first.ID)
		}
		if want := []string{first.ID, held}; !slices.Equal(liveIDs(tn), sortedCopy(want)) {
			return fmt.Errorf("live %v, want the new one and the old one in grace", liveIDs(tn))
		}
		if sb.Status.Credential.RotationRequest != "2026-11-23" {
			return fmt.Errorf("status.credential.rotationRequest %q", sb.Status.Credential.RotationRequest)
		}
		rotatedAt = time.Now()
		return nil
	})
	sb := waitReady(t, key)
	eventually(t, 20*time.Second, func() error {
		if ids := liveIDs(tn); len(ids) != 1 || ids[0] != sb.Status.Credential.ID {
			return fmt.Errorf("live %v, want only %s", ids, sb.Status.Credential.ID)
		}
		if p := getBackend(t, key).Status.PreviousCredential; p != nil {
			return fmt.Errorf("previous credential %+v still in status", p)
		}
		return nil
	})
	if early := time.Since(rotatedAt); early < grace/2 {
		t.Errorf("the old credential was revoked %s after the switch, want about %s", early, grace)
	}
	reasons := map[string]bool{}
	for _, e := range eventsFor(t, tn.ns, "rotated") {
		reasons[e.Reason] = true
	}
	if !reasons[v1alpha1.ReasonCredentialRotated] || !reasons["CredentialRevoked"] {
		t.Errorf("events %v, want CredentialRotated and CredentialRevoked", reasons)
	}
}

func sortedCopy(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestSecondRotationWithinGraceRevokesTheFirst: at most one credential is ever in grace.
func TestSecondRotationWithinGraceRevokesTheFirst(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("twice", func(sb *v1alpha1.StateBackend) {
		sb.Spec.Credentials = &v1alpha1.CredentialPolicy{RevokeAfter: &metav1.Duration{Duration: time.Hour}}
	})
	first := waitReady(t, key).Status.Credential.ID
	var second string
	for i, request := range []string{"one", "two"} {
		requestRotation(t, key, request)
		eventually(t, 20*time.Second, func() error {
			sb := getBackend(t, key)
			if sb.Status.Credential == nil || sb.Status.Credential.RotationRequest != request || sb.Status.PreviousCredential == nil {
				return fmt.Errorf("rotation %q not done: %+v", request, sb.Status.Credential)
			}
			if i == 0 {
				second = sb.Status.Credential.ID
			}
			return nil
		})
	}
	sb := waitReady(t, key)
	live := liveIDs(tn)
	if len(live) != 2 || slices.Contains(live, first) || !slices.Contains(live, second) || !slices.Contains(live, sb.Status.Credential.ID) {
		t.Fatalf("live %v after two rotations; want the current %s and the one in grace %s, not the first %s", live, sb.Status.Credential.ID, second, first)
	}
	if sb.Status.PreviousCredential.ID != second {
		t.Fatalf("previous credential %+v, want %s", sb.Status.PreviousCredential, second)
	}
}

// TestRotationSurvivesALostIssueReply: the issue call takes effect but its reply is lost. The next
// reconcile revokes the orphan, keeps the credential the Secret holds, and rotates again; the old
// credential still gets its grace.
func TestRotationSurvivesALostIssueReply(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("lost-reply", func(sb *v1alpha1.StateBackend) {
		sb.Spec.Credentials = &v1alpha1.CredentialPolicy{RevokeAfter: &metav1.Duration{Duration: time.Hour}}
	})
	first := waitReady(t, key).Status.Credential.ID
	tn.store.FailAfter(memory.OpIssueCredential, errors.New("connection reset after the call"))
	requestRotation(t, key, "after-a-crash")
	eventually(t, 30*time.Second, func() error {
		sb := getBackend(t, key)
		if tn.store.PendingFaults() != 0 || sb.Status.Credential == nil || sb.Status.Credential.RotationRequest != "after-a-crash" ||
			sb.Status.PreviousCredential == nil || sb.Status.PreviousCredential.ID != first {
			return fmt.Errorf("not rotated yet: credential %+v, previous %+v", sb.Status.Credential, sb.Status.PreviousCredential)
		}
		if live := liveIDs(tn); len(live) != 2 || !slices.Contains(live, first) || !slices.Contains(live, sb.Status.Credential.ID) {
			return fmt.Errorf("live %v: want the new credential and %s in grace, no orphan", live, first)
		}
		return nil
	})
	waitReady(t, key)
}

func TestRotationSchedule(t *testing.T) {
	issued := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	backend := func(policy *v1alpha1.CredentialPolicy, request string) *v1alpha1.StateBackend {
		return &v1alpha1.StateBackend{
			Spec:   v1alpha1.StateBackendSpec{Credentials: policy},
			Status: v1alpha1.StateBackendStatus{Credential: &v1alpha1.CredentialStatus{IssuedAt: &metav1.Time{Time: issued}, RotationRequest: request}},
		}
	}
	period := &metav1.Duration{Duration: 720 * time.Hour}
	cases := []struct {
		reason string
		sb     *v1alpha1.StateBackend
		now    time.Time
		due    bool
	}{
		{"no policy: never", backend(nil, ""), issued.Add(10000 * time.Hour), false},
		{"younger than the period", backend(&v1alpha1.CredentialPolicy{RotationPeriod: period}, ""), issued.Add(719 * time.Hour), false},
		{"as old as the period", backend(&v1alpha1.CredentialPolicy{RotationPeriod: period}, ""), issued.Add(720 * time.Hour), true},
		{"a new request", backend(&v1alpha1.CredentialPolicy{RotationRequest: "b"}, "a"), issued, true},
		{"the request already answered", backend(&v1alpha1.CredentialPolicy{RotationRequest: "a"}, "a"), issued, false},
		{"no request is not a new request", backend(&v1alpha1.CredentialPolicy{}, "a"), issued, false},
		{"an expiring credential before two thirds of its life", expiring(backend(nil, ""), 3*time.Hour), issued.Add(119 * time.Minute), false},
		{"an expiring credential at two thirds of its life, even without a policy", expiring(backend(nil, ""), 3*time.Hour), issued.Add(2 * time.Hour), true},
		{"an expiry before the issue (a store's 'never', MinIO's epoch) is no reason to rotate", expiring(backend(nil, ""), -time.Hour), issued.Add(time.Hour), false},
		{"expiry renews before a later rotation period", expiring(backend(&v1alpha1.CredentialPolicy{RotationPeriod: period}, ""), 3*time.Hour), issued.Add(2 * time.Hour), true},
	}
	for _, tc := range cases {
		if got := rotationDue(tc.sb, tc.now) != ""; got != tc.due {
			t.Errorf("%s: due = %v, want %v", tc.reason, got, tc.due)
		}
	}
	sb := backend(&v1alpha1.CredentialPolicy{RotationPeriod: period}, "")
	if at := wakeAt(sb); !at.Equal(issued.Add(720 * time.Hour)) {
		t.Errorf("wake at %s, want the next rotation", at)
	}
	sb.Status.PreviousCredential = &v1alpha1.RetiredCredentialStatus{RevokeAt: metav1.Time{Time: issued.Add(time.Hour)}}
	if at := wakeAt(sb); !at.Equal(issued.Add(time.Hour)) {
		t.Errorf("wake at %s, want the end of the grace period first", at)
	}
	sb = expiring(backend(&v1alpha1.CredentialPolicy{RotationPeriod: period}, ""), 30*time.Hour)
	if at := wakeAt(sb); !at.Equal(issued.Add(20 * time.Hour)) {
		t.Errorf("wake at %s, want the renewal of the expiring credential (20h)", at)
	}
}

func expiring(sb *v1alpha1.StateBackend, lifetime time.Duration) *v1alpha1.StateBackend {
	sb.Status.Credential.ExpiresAt = &metav1.Time{Time: sb.Status.Credential.IssuedAt.Add(lifetime)}
	return sb
}

// TestExpiringCredential: with expireAfter the store is asked for a credential that expires, and
// status shows when, and when it will be renewed (two thirds into its life).
func TestExpiringCredential(t *testing.T) {
	settings := memory.DefaultSettings()
	settings.Expiry = true
	tn := newTenantWith(t, settings)
	key := tn.backend("expiring", func(sb *v1alpha1.StateBackend) {
		sb.Spec.Credentials = &v1alpha1.CredentialPolicy{ExpireAfter: &metav1.Duration{Duration: 30 * time.Minute}}
	})
	st := waitReady(t, key).Status.Credential
	live := tn.store.LiveCredentials()
	if len(live) != 1 || st.ExpiresAt == nil || st.NextRotationAt == nil || live[0].ExpiresAt.Sub(st.ExpiresAt.Time).Abs() > time.Second {
		t.Fatalf("status %+v, live %+v; want an expiry at the store and in status", st, live)
	}
	if life := st.ExpiresAt.Sub(st.IssuedAt.Time); life < 29*time.Minute || life > 31*time.Minute {
		t.Errorf("expires %s after issue, want 30m", life)
	}
	if renew := st.NextRotationAt.Sub(st.IssuedAt.Time); renew < 19*time.Minute || renew > 21*time.Minute {
		t.Errorf("renewed %s after issue, want 20m (two thirds)", renew)
	}
}

func TestExpiryNeedsAProviderThatExpires(t *testing.T) {
	tn := newTenant(t) // the memory store's default settings: no expiry (like Spaces and AWS keys)
	key := tn.backend("expiring", func(sb *v1alpha1.StateBackend) {
		sb.Spec.Credentials = &v1alpha1.CredentialPolicy{ExpireAfter: &metav1.Duration{Duration: time.Hour}}
	})
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderInvalid)
	if n := tn.store.Calls(memory.OpIssueCredential); n != 0 {
		t.Errorf("%d credentials issued for a refused backend, want 0", n)
	}
}

// TestHundredRotationsLeaveOneLivePlusOneInGrace: with the clock moved past the rotation period
// again and again, every rotation ends with the Secret's credential live and at most one other (the
// one in its grace); after the last grace, exactly one.
func TestHundredRotationsLeaveOneLivePlusOneInGrace(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("churn", func(sb *v1alpha1.StateBackend) {
		sb.Spec.Credentials = &v1alpha1.CredentialPolicy{
			RotationPeriod: &metav1.Duration{Duration: time.Minute},
			RevokeAfter:    &metav1.Duration{Duration: 30 * time.Second},
		}
	})
	current := waitReady(t, key).Status.Credential.ID
	for i := range 100 {
		clockOffset.Add(int64(61 * time.Second))
		requestReconcile(t, key)
		eventually(t, 20*time.Second, func() error {
			sb := getBackend(t, key)
			if sb.Status.Credential == nil || sb.Status.Credential.ID == current || sb.Status.Credential.VerifiedAt == nil {
				return fmt.Errorf("rotation %d not done", i+1)
			}
			held := string(getSecret(t, tn.ns, "churn").Data[backendconfig.EnvAccessKeyID])
			if held != sb.Status.Credential.ID {
				return fmt.Errorf("rotation %d: the Secret holds %s, status %s", i+1, held, sb.Status.Credential.ID)
			}
			current = sb.Status.Credential.ID
			return nil
		})
		if live := liveIDs(tn); len(live) > 2 || !slices.Contains(live, current) {
			t.Fatalf("after rotation %d: live %v; want %s and at most one in grace", i+1, live, current)
		}
	}
	clockOffset.Add(int64(31 * time.Second))
	requestReconcile(t, key)
	eventually(t, 20*time.Second, func() error {
		if live := liveIDs(tn); len(live) != 1 || live[0] != current {
			return fmt.Errorf("live %v after the last grace, want only %s", live, current)
		}
		return nil
	})
	if n := tn.store.Calls(memory.OpIssueCredential); n != 101 {
		t.Errorf("%d credentials issued for 100 rotations, want 101", n)
	}
}
