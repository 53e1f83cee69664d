package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

// r2Provider creates a ClusterStorageProvider with a cloudflareR2 block over the tenant's store and
// returns its name.
func (tn *tenant) r2Provider(jurisdiction v1alpha1.R2Jurisdiction) string {
	tn.t.Helper()
	name := tn.provider + "-r2"
	must(tn.t, k8s.Create(context.Background(), &v1alpha1.ClusterStorageProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.StorageProviderSpec{
			CloudflareR2:         &v1alpha1.CloudflareR2Provider{AccountID: strings.Repeat("ab", 16), Jurisdiction: jurisdiction},
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: operatorNamespace, Name: tn.provider},
		},
	}))
	return name
}

func TestJurisdictionIsRecordedAndNeverMoves(t *testing.T) {
	tn := newTenant(t)
	r2 := tn.r2Provider(v1alpha1.R2JurisdictionEU)
	byDefault := tn.backend("by-default", func(sb *v1alpha1.StateBackend) { sb.Spec.ProviderRef.Name = r2 })
	chosen := tn.backend("chosen", func(sb *v1alpha1.StateBackend) {
		sb.Spec.ProviderRef.Name = r2
		sb.Spec.CloudflareR2 = &v1alpha1.CloudflareR2BackendOptions{Jurisdiction: v1alpha1.R2JurisdictionFedRAMP}
	})
	cases := []struct {
		reason string
		key    client.ObjectKey
		want   v1alpha1.R2Jurisdiction
	}{
		{"a backend without a choice takes the provider's default", byDefault, v1alpha1.R2JurisdictionEU},
		{"a backend's own choice wins over the provider's default", chosen, v1alpha1.R2JurisdictionFedRAMP},
	}
	for _, tc := range cases {
		if got := waitReady(t, tc.key).Status.Jurisdiction; got != tc.want {
			t.Errorf("%s: status.jurisdiction = %q, want %q", tc.reason, got, tc.want)
		}
	}

	// The provider's default changes: existing buckets stay where they are.
	csp := &v1alpha1.ClusterStorageProvider{}
	must(t, k8s.Get(context.Background(), client.ObjectKey{Name: r2}, csp))
	csp.Spec.CloudflareR2.Jurisdiction = v1alpha1.R2JurisdictionDefault
	listed := tn.store.Calls(memory.OpListCredentials)
	must(t, k8s.Update(context.Background(), csp))
	// The provider watch reconciles both backends again; wait until they reached the credential
	// phase, and for the status patch that ends those reconciles.
	eventually(t, 20*time.Second, func() error {
		if n := tn.store.Calls(memory.OpListCredentials); n < listed+2 {
			return fmt.Errorf("%d credential listings since the provider changed, want 2", n-listed)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	sb := waitReady(t, byDefault)
	if sb.Status.Jurisdiction != v1alpha1.R2JurisdictionEU {
		t.Fatalf("after the provider's default changed, status.jurisdiction = %q, want eu (the bucket's)", sb.Status.Jurisdiction)
	}
	if n := len(tn.store.BucketNames()); n != 2 {
		t.Fatalf("%d buckets after the provider change, want 2: %v", n, tn.store.BucketNames())
	}
}

func TestR2OptionsOnAMinIOProviderAreRefused(t *testing.T) {
	tn := newTenant(t)
	key := tn.backend("wrong-kind", func(sb *v1alpha1.StateBackend) {
		sb.Spec.CloudflareR2 = &v1alpha1.CloudflareR2BackendOptions{Jurisdiction: v1alpha1.R2JurisdictionEU}
	})
	sb := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderInvalid)
	if c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "jurisdiction") {
		t.Errorf("message %q does not say what is wrong", c.Message)
	}
	if n := tn.store.Calls(memory.OpCreateBucket); n != 0 {
		t.Errorf("%d CreateBucket calls for a refused backend, want 0", n)
	}
}

// TestRateLimitedProviderIsRetriedAfterRetryAfter: a provider's 429 is not retried by the
// workqueue's one-second backoff but after the time the provider named, with a stable reason.
func TestRateLimitedProviderIsRetriedAfterRetryAfter(t *testing.T) {
	tn := newTenant(t)
	const retryAfter = 4 * time.Second
	tn.store.FailBefore(memory.OpIssueCredential, &provider.RateLimitedError{RetryAfter: retryAfter, Err: errors.New("429 from the fake")})
	key := tn.backend("throttled", nil)
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderRateLimited)
	refusedAt := time.Now()
	sb := waitReady(t, key)
	if waited := time.Since(refusedAt); waited < retryAfter/2 {
		t.Errorf("Ready %s after the 429, want the retry to wait about %s", waited, retryAfter)
	}
	if n := tn.store.Calls(memory.OpIssueCredential); n != 2 {
		t.Errorf("%d IssueCredential calls, want 2 (the throttled one and one retry after Retry-After)", n)
	}
	assertOneLiveCredential(t, tn, client.ObjectKeyFromObject(sb))
}

func TestProviderConditionReportsCredentialsAndPermissions(t *testing.T) {
	tn := newTenant(t)
	waitProvider := func(name string, status metav1.ConditionStatus, reason string) *metav1.Condition {
		t.Helper()
		var c *metav1.Condition
		eventually(t, 20*time.Second, func() error {
			csp := &v1alpha1.ClusterStorageProvider{}
			if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, csp); err != nil {
				return err
			}
			c = meta.FindStatusCondition(csp.Status.Conditions, v1alpha1.ConditionReady)
			if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != csp.Generation {
				return fmt.Errorf("provider %s Ready = %+v, want %s/%s", name, c, status, reason)
			}
			return nil
		})
		return c
	}
	waitProvider(tn.provider, metav1.ConditionTrue, v1alpha1.ReasonReady)

	// A token without a permission: the provider says which one, before any backend trips over it.
	tn.store.CheckError = fmt.Errorf("the API token needs the permission Account API Tokens Write: %w", provider.ErrPermissionDenied)
	r2 := tn.r2Provider(v1alpha1.R2JurisdictionDefault)
	c := waitProvider(r2, metav1.ConditionFalse, v1alpha1.ReasonProviderPermissionDenied)
	if !strings.Contains(c.Message, "Account API Tokens Write") {
		t.Errorf("message %q does not name the missing permission", c.Message)
	}

	// A provider whose credentials Secret does not exist.
	must(t, k8s.Create(context.Background(), &v1alpha1.ClusterStorageProvider{
		ObjectMeta: metav1.ObjectMeta{Name: tn.provider + "-nosecret"},
		Spec: v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9"},
			CredentialsSecretRef: &v1alpha1.SecretReference{Namespace: operatorNamespace, Name: "no-such-secret"},
		},
	}))
	waitProvider(tn.provider+"-nosecret", metav1.ConditionFalse, v1alpha1.ReasonCredentialsNotFound)
}

// TestDeletedProviderWaitsForItsBackends: a provider carries a finalizer; deleted while a
// StateBackend uses it (which needs it to revoke its credential when deleted), it stays, says why,
// and goes once the backend has gone, after its minted keys were released.
func TestDeletedProviderWaitsForItsBackends(t *testing.T) {
	ctx := context.Background()
	tn := newTenant(t)
	key := tn.backend("user", nil)
	waitReady(t, key)
	csp := &v1alpha1.ClusterStorageProvider{}
	eventually(t, 10*time.Second, func() error {
		must(t, k8s.Get(ctx, client.ObjectKey{Name: tn.provider}, csp))
		if !slices.Contains(csp.Finalizers, ProviderFinalizer) {
			return fmt.Errorf("finalizers %v, want %s", csp.Finalizers, ProviderFinalizer)
		}
		return nil
	})
	must(t, k8s.Delete(ctx, csp))
	eventually(t, 10*time.Second, func() error {
		must(t, k8s.Get(ctx, client.ObjectKey{Name: tn.provider}, csp))
		c := meta.FindStatusCondition(csp.Status.Conditions, v1alpha1.ConditionReady)
		if c == nil || c.Reason != v1alpha1.ReasonProviderInUse || !strings.Contains(c.Message, tn.ns+"/user") {
			return fmt.Errorf("Ready = %+v, want ProviderInUse naming %s/user", c, tn.ns)
		}
		return nil
	})
	if _, ok := released.Load(string(csp.UID)); ok {
		t.Fatal("the provider's keys were released while a StateBackend still uses it")
	}
	// The backend still reconciles (its provider is there), and its deletion revokes its credential.
	sb := &v1alpha1.StateBackend{}
	must(t, k8s.Get(ctx, key, sb))
	must(t, k8s.Delete(ctx, sb))
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(ctx, client.ObjectKey{Name: tn.provider}, &v1alpha1.ClusterStorageProvider{}); err == nil {
			return errors.New("the provider is still there")
		}
		return nil
	})
	if n, ok := released.Load(string(csp.UID)); !ok || n.(*atomic.Int32).Load() != 1 {
		t.Fatalf("Release calls for the deleted provider: %v, want 1", n)
	}
	if live, _ := tn.store.ListCredentials(ctx, ""); len(live) != 0 {
		t.Fatalf("live credentials after the backend and its provider were deleted: %+v", live)
	}
}

func TestKeyPrefixNeedsAProviderThatScopesByPrefix(t *testing.T) {
	tn := newTenant(t) // the memory store's default settings: no prefix scoping (like R2 and Spaces)
	key := tn.backend("prefixed", func(sb *v1alpha1.StateBackend) { sb.Spec.KeyPrefix = "network" })
	sb := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderInvalid)
	if c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "keyPrefix") {
		t.Errorf("message %q does not say what is wrong", c.Message)
	}
	if n := tn.store.Calls(memory.OpCreateBucket) + tn.store.Calls(memory.OpIssueCredential); n != 0 {
		t.Errorf("%d bucket or credential calls for a refused backend, want 0", n)
	}
}

// TestKeyPrefixConfinesTheCredentialAndItsWorkspaces: on a store that scopes by prefix, the
// credential is issued for spec.keyPrefix, and workspaces default to a prefix inside it (Terraform's
// own default, env:, would lie outside what the credential reaches).
func TestKeyPrefixConfinesTheCredentialAndItsWorkspaces(t *testing.T) {
	settings := memory.DefaultSettings()
	settings.PrefixScoping = true
	tn := newTenantWith(t, settings)
	cases := []struct {
		reason, name, workspaceKeyPrefix, wantArg string
	}{
		{"no workspaceKeyPrefix: <keyPrefix>/env", "default-ws", "", "-backend-config=workspace_key_prefix=network/env"},
		{"the spec's workspaceKeyPrefix is kept", "own-ws", "network/workspaces", "-backend-config=workspace_key_prefix=network/workspaces"},
	}
	for _, tc := range cases {
		key := tn.backend(tc.name, func(sb *v1alpha1.StateBackend) {
			sb.Spec.KeyPrefix, sb.Spec.WorkspaceKeyPrefix = "network", tc.workspaceKeyPrefix
		})
		sb := waitReady(t, key)
		secret := getSecret(t, sb.Namespace, sb.Status.SecretName)
		if got := tn.store.CredentialKeyPrefix(string(secret.Data[backendconfig.EnvAccessKeyID])); got != "network" {
			t.Errorf("%s: credential confined to %q, want network", tc.reason, got)
		}
		if args := string(secret.Data[backendconfig.EnvCLIArgsInit]); !strings.Contains(args, tc.wantArg) {
			t.Errorf("%s: %s = %q, want %s", tc.reason, backendconfig.EnvCLIArgsInit, args, tc.wantArg)
		}
	}
}
