package controllers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

// providerCalls counts every call the store saw, by op.
func providerCalls(store *memory.Store) map[memory.Op]int {
	out := map[memory.Op]int{}
	for _, op := range memory.AllOps {
		out[op] = store.Calls(op)
	}
	return out
}

// callsSince is what was called after before, by op (ops not called are left out).
func callsSince(store *memory.Store, before map[memory.Op]int) map[memory.Op]int {
	out := map[memory.Op]int{}
	for op, n := range providerCalls(store) {
		if d := n - before[op]; d != 0 {
			out[op] = d
		}
	}
	return out
}

// TestSteadyReconcileCallsNoProvider: reconciles of a Ready backend that are not a drift check
// (an unrelated annotation, the operator's own Secret write, a resync) make no provider call and
// write nothing, not even status.
func TestSteadyReconcileCallsNoProvider(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", nil)
	waitReady(t, key)
	time.Sleep(500 * time.Millisecond) // the reconciles woken by the operator's own writes
	before := providerCalls(tn.store)
	for range 3 {
		bumpAnnotation(t, key)
	}
	rv := getBackend(t, key).ResourceVersion
	time.Sleep(time.Second)
	if got := callsSince(tn.store, before); len(got) != 0 {
		t.Errorf("unrelated updates of a Ready backend called the provider: %v", got)
	}
	if sb := getBackend(t, key); sb.ResourceVersion != rv {
		t.Errorf("the StateBackend was written (resourceVersion %s → %s) by a reconcile that had nothing to do", rv, sb.ResourceVersion)
	}
}

// TestDriftChecksTakeTurns: each drift interval a Ready backend gets exactly one provider read,
// and no write; the checks take turns, so within three intervals the grant, the bucket's public
// access and the bucket itself have each been read once.
func TestDriftChecksTakeTurns(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", nil)
	waitReady(t, key)
	time.Sleep(500 * time.Millisecond)
	seen := map[memory.Op]int{}
	for turn := range 6 {
		before := providerCalls(tn.store)
		// The suite's drift interval is a minute, plus up to a fifth.
		clockOffset.Add(int64(75 * time.Second))
		bumpAnnotation(t, key)
		var got map[memory.Op]int
		eventually(t, 10*time.Second, func() error {
			if got = callsSince(tn.store, before); len(got) == 0 {
				return fmt.Errorf("turn %d: no drift check yet", turn)
			}
			return nil
		})
		time.Sleep(300 * time.Millisecond) // anything more would show now
		got = callsSince(tn.store, before)
		if len(got) != 1 {
			t.Fatalf("turn %d: calls %v, want exactly one read", turn, got)
		}
		for op, n := range got {
			if n != 1 || (op != memory.OpRepairGrant && op != memory.OpRepairBucket && op != memory.OpObserveBucket) {
				t.Fatalf("turn %d: calls %v, want one RepairGrant, RepairBucketAccess or ObserveBucket", turn, got)
			}
			seen[op]++
		}
	}
	for _, op := range []memory.Op{memory.OpRepairGrant, memory.OpRepairBucket, memory.OpObserveBucket} {
		if seen[op] != 2 {
			t.Errorf("over six intervals %s was read %d times, want 2 (checks take turns): %v", op, seen[op], seen)
		}
	}
	assertOneLiveCredential(t, tn, key)
}

// TestDriftCheckFindsWhatTheFullPathRepairs: a drift check that finds its aspect broken sends the
// backend through the full path at once: a credential revoked behind the operator's back is
// replaced, versioning turned off is turned on again.
func TestDriftCheckFindsWhatTheFullPathRepairs(t *testing.T) {
	cases := []struct {
		reason   string
		breakIt  func(tn *tenant, sb *v1alpha1.StateBackend, accessKey string)
		repaired func(tn *tenant, sb *v1alpha1.StateBackend, accessKey string) error
	}{
		{
			reason:  "the credential was revoked outside the operator",
			breakIt: func(tn *tenant, _ *v1alpha1.StateBackend, ak string) { tn.store.RevokeOutOfBand(ak) },
			repaired: func(tn *tenant, sb *v1alpha1.StateBackend, ak string) error {
				held := string(getSecret(tn.t, tn.ns, sb.Status.SecretName).Data[backendconfig.EnvAccessKeyID])
				if held == ak {
					return errors.New("the Secret still holds the revoked key")
				}
				if _, _, ok := tn.store.CredentialScope(held); !ok {
					return fmt.Errorf("the Secret's key %s is not live", held)
				}
				return nil
			},
		},
		{
			reason: "the bucket's versioning was turned off",
			breakIt: func(tn *tenant, sb *v1alpha1.StateBackend, _ string) {
				b, _ := tn.store.Bucket(sb.Status.BucketName)
				tn.store.PutBucket(sb.Status.BucketName, b.Owner) // same marker, no versioning
			},
			repaired: func(tn *tenant, sb *v1alpha1.StateBackend, _ string) error {
				if b, _ := tn.store.Bucket(sb.Status.BucketName); !b.Versioning {
					return errors.New("versioning is still off")
				}
				return nil
			},
		},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			tn := newTenant(t)
			key := tn.backend("state", nil)
			sb := waitReady(t, key)
			ak := string(getSecret(t, tn.ns, sb.Status.SecretName).Data[backendconfig.EnvAccessKeyID])
			tc.breakIt(tn, sb, ak)
			// Every check has had its turn after three intervals.
			for range 3 {
				clockOffset.Add(int64(75 * time.Second))
				bumpAnnotation(t, key)
				time.Sleep(300 * time.Millisecond)
			}
			eventually(t, 20*time.Second, func() error { return tc.repaired(tn, sb, ak) })
			waitReady(t, key)
			assertOneLiveCredential(t, tn, key)
		})
	}
}

// TestSecretChangedBySomeoneElseTakesTheFullPath: keys written into the Secret by someone else are
// not trusted by the steady path (the digest annotation no longer matches): the full path lists the
// provider's credentials, finds the Secret holds none of them and issues a new one.
func TestSecretChangedBySomeoneElseTakesTheFullPath(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", nil)
	sb := waitReady(t, key)
	secret := getSecret(t, tn.ns, sb.Status.SecretName)
	old := string(secret.Data[backendconfig.EnvAccessKeyID])
	lists := tn.store.Calls(memory.OpListCredentials)

	secret.Data[backendconfig.EnvAccessKeyID] = []byte("AKIAPLANTEDBYHAND")
	must(t, k8s.Update(context.Background(), secret))
	eventually(t, 20*time.Second, func() error {
		held := string(getSecret(t, tn.ns, sb.Status.SecretName).Data[backendconfig.EnvAccessKeyID])
		if held == "AKIAPLANTEDBYHAND" || held == old {
			return fmt.Errorf("the Secret holds %s", held)
		}
		return nil
	})
	if tn.store.Calls(memory.OpListCredentials) == lists {
		t.Error("the changed Secret did not send the backend through the full path")
	}
	waitReady(t, key)
	assertOneLiveCredential(t, tn, key)
}

// TestRequestedReconcileIsAnswered: the reconcile-requested-at annotation gets a full check (the
// credential listing included) and is recorded as handled; the same value again is not a new
// request.
func TestRequestedReconcileIsAnswered(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("state", nil)
	waitReady(t, key)
	time.Sleep(500 * time.Millisecond)
	before := providerCalls(tn.store)
	requestReconcile(t, key)
	waitHandled(t, key)
	if got := callsSince(tn.store, before); got[memory.OpListCredentials] != 1 || got[memory.OpRepairGrant] != 1 || got[memory.OpObserveBucket] != 1 {
		t.Errorf("a requested reconcile made %v, want the full path's reads (ListCredentials, RepairGrant, ObserveBucket once each)", got)
	}
	before = providerCalls(tn.store)
	bumpAnnotation(t, key)
	time.Sleep(time.Second)
	if got := callsSince(tn.store, before); len(got) != 0 {
		t.Errorf("a handled request was answered again: %v", got)
	}
}

// TestCreationCallsAreFew: a new backend costs one observe, the create, versioning, the issue and
// the probe: no listing of credentials that cannot exist, no second observe of a bucket it just
// created, no repair of a bucket nobody else has seen.
func TestCreationCallsAreFew(t *testing.T) {
	tn := newTenant(t)
	before := providerCalls(tn.store)
	key := tn.backend("state", nil)
	waitReady(t, key)
	time.Sleep(500 * time.Millisecond)
	got := callsSince(tn.store, before)
	want := map[memory.Op]int{
		memory.OpObserveBucket: 1, memory.OpCreateBucket: 1, memory.OpEnableVersioning: 1,
		memory.OpIssueCredential: 1, memory.OpProbe: 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("creating a backend called %v, want %v", got, want)
	}
}
