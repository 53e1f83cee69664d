package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/ownership"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// The steady path. A Ready backend whose spec, status and Secret still agree needs nothing from the
// provider: reconciles woken by its own writes, by a resync or by an unrelated annotation cost no
// provider call. It is checked against the provider once per drift interval with one read, the
// checks taking turns (grant, public access, bucket), so a provider's rate limit is spent on new
// backends and not on polling old ones: 1,000 backends cost 1,000 reads per drift interval. Drift
// that a check finds, a spec change, a due rotation, a Secret changed by someone else or the
// reconcile-requested-at annotation send the backend through the full path, which observes
// everything; so does a change of the provider's spec.

// AnnotationCredentialDigest records on the Secret a digest of the credential it was written with,
// so the steady path can tell, without asking the provider, that nobody replaced the keys since.
// It is a truncated SHA-256 of high-entropy keys and reveals nothing of them.
const AnnotationCredentialDigest = "tfstate.dev/credential-digest"

func credentialDigest(c provider.Credential) string {
	h := sha256.New()
	for _, part := range []string{c.AccessKeyID, c.SecretAccessKey, c.SessionToken} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// AnnotationRenderDigest records on the Secret a digest of what its contents and the ConfigMap's
// were rendered from (bucket, key, provider settings, locking, isolation, ...). The operator caches
// only the metadata of its Secrets: with the resourceVersions recorded in status, it tells the steady
// path that both objects still hold what the current spec renders, without reading them.
const AnnotationRenderDigest = "tfstate.dev/render-digest"

// renderDigest is a truncated SHA-256 of the render input. The input holds no secret material.
func renderDigest(in backendconfig.Input) string {
	b, err := json.Marshal(in)
	if err != nil {
		return "" // never equal to a recorded digest: the steady path reads the objects
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// driftCheck is one provider read that verifies one aspect of a Ready backend.
type driftCheck string

const (
	// checkGrant: the Secret's credential still exists and may do exactly what it was issued for.
	checkGrant driftCheck = "grant"
	// checkBucketAccess: the bucket has not been opened to the public.
	checkBucketAccess driftCheck = "bucket-access"
	// checkBucket: the bucket still exists, is ours and keeps versions.
	checkBucket driftCheck = "bucket"
)

// driftChecks are the checks a backend takes turns with: a reader (spec.bucketFrom) checks only its
// credential, as the owner checks the bucket.
func driftChecks(sb *v1alpha1.StateBackend) []driftCheck {
	if sb.Spec.BucketFrom != nil {
		return []driftCheck{checkGrant}
	}
	return []driftCheck{checkGrant, checkBucketAccess, checkBucket}
}

// driftSchedule remembers, per backend, when its next drift check is due and which check it is. It
// lives in memory: after a restart each backend's first check is placed at random within one
// interval, so a restart does not check every backend at once.
type driftSchedule struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]*driftEntry
}

type driftEntry struct {
	due  time.Time
	turn int
	// provider is the provider version (UID and generation) the backend was last fully checked
	// with.
	provider string
}

// entry returns the backend's schedule. An unknown backend (the operator restarted) has its first
// check placed at random within interval from now, and its provider taken as checked.
func (d *driftSchedule) entry(key types.NamespacedName, now time.Time, interval time.Duration, providerVersion string) driftEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return *d.lookup(key, func() *driftEntry {
		return &driftEntry{due: now.Add(time.Duration(rand.Int64N(int64(interval) + 1))), provider: providerVersion}
	})
}

// lookup returns the backend's entry, made by fresh when there is none; d.mu must be held.
func (d *driftSchedule) lookup(key types.NamespacedName, fresh func() *driftEntry) *driftEntry {
	if d.entries == nil {
		d.entries = map[types.NamespacedName]*driftEntry{}
	}
	e, ok := d.entries[key]
	if !ok {
		e = fresh()
		d.entries[key] = e
	}
	return e
}

// checked schedules the next check one jittered interval from now and moves to the next check when advance is set. A non-empty
// providerVersion records the provider the backend was fully checked with.
func (d *driftSchedule) checked(key types.NamespacedName, now time.Time, interval time.Duration, advance bool, providerVersion string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.lookup(key, func() *driftEntry { return &driftEntry{} })
	if advance {
		e.turn++
	}
	if providerVersion != "" {
		e.provider = providerVersion
	}
	e.due = now.Add(jitter(interval))
}

// postpone moves the backend's current check to after, without advancing the turn.
func (d *driftSchedule) postpone(key types.NamespacedName, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.entries[key]; ok {
		e.due = at
	}
}

func (d *driftSchedule) forget(key types.NamespacedName) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.entries, key)
}

// jitter is d plus up to a fifth of d: checks of backends created together drift apart, and two
// checks of one backend are never less than d apart, so no drift interval holds two reads.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// steadySecret decides whether the backend may take the steady path: Ready for its current
// generation with a proven credential, nothing due (rotation, end of a grace, a requested
// reconcile), the provider's settings unchanged, and the Secret holding exactly the credential the
// operator wrote into it. The Secret's metadata comes from the cache; when it is still at the
// version recorded in status and rendered from the current input, its contents are not read
// (secret nil, steady true). Otherwise it is read from the API server and checked: secret is
// returned for reconcileSteady to re-render. steady false: the full path decides.
func (r *StateBackendReconciler) steadySecret(ctx context.Context, s *scope) (secret *corev1.Secret, steady bool, err error) {
	sb, base := s.sb, s.base
	for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionBucketReady, v1alpha1.ConditionCredentialReady} {
		c := meta.FindStatusCondition(base.Status.Conditions, typ)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != sb.Generation {
			return nil, false, nil
		}
	}
	st := base.Status.Credential
	now := r.Now()
	switch {
	case st == nil || st.VerifiedAt == nil || base.Status.Locking == "" || base.Status.BucketName == "":
		return nil, false, nil
	case sb.Annotations[v1alpha1.AnnotationReconcileRequestedAt] != base.Status.LastHandledReconcileAt:
		return nil, false, nil
	case rotationDue(sb, now) != "":
		return nil, false, nil
	case base.Status.PreviousCredential != nil && !now.Before(base.Status.PreviousCredential.RevokeAt.Time):
		return nil, false, nil
	case sb.Status.Endpoint != base.Status.Endpoint || sb.Status.Region != base.Status.Region || sb.Status.Jurisdiction != base.Status.Jurisdiction:
		// The provider's settings changed: the full path re-renders and re-proves.
		return nil, false, nil
	case sb.Spec.BucketFrom == nil && (r.bucketName(sb, s.bucketNaming) != base.Status.BucketName || refusedBucketName(sb, s.bucketNaming) != ""):
		return nil, false, nil
	}
	if e := r.drift.entry(client.ObjectKeyFromObject(sb), now, r.DriftInterval, s.providerVersion); e.provider != s.providerVersion {
		return nil, false, nil // the provider's spec changed since the last full check
	}
	key := types.NamespacedName{Namespace: sb.Namespace, Name: secretName(sb)}
	m, err := r.cachedMetadata(ctx, "Secret", key)
	if m == nil || err != nil {
		return nil, false, err
	}
	if !metav1.IsControlledBy(m, sb) || m.Annotations[AnnotationCredentialID] != st.ID ||
		m.Annotations[AnnotationCredentialAccess] != string(access(sb)) || m.Annotations[AnnotationBucket] != sb.Status.BucketName {
		return nil, false, nil
	}
	if m.ResourceVersion == base.Status.SecretResourceVersion && m.Annotations[AnnotationRenderDigest] == renderDigest(r.renderInput(s)) {
		return nil, true, nil
	}
	// Changed since the operator wrote it (or written by an older operator): read it.
	secret = &corev1.Secret{}
	if err := r.APIReader.Get(ctx, key, secret); err != nil {
		return nil, false, client.IgnoreNotFound(err)
	}
	held := secretCredential(secret)
	if !metav1.IsControlledBy(secret, sb) || !secretFits(secret, sb) || held.ID != st.ID ||
		secret.Annotations[AnnotationCredentialDigest] != credentialDigest(held) {
		return nil, false, nil
	}
	return secret, true, nil
}

// cachedMetadata reads the metadata of the backend's Secret or ConfigMap (kind) from the cache;
// nil when there is none.
func (r *StateBackendReconciler) cachedMetadata(ctx context.Context, kind string, key types.NamespacedName) (*metav1.PartialObjectMetadata, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	if err := r.Get(ctx, key, m); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return m, nil
}

// reconcileSteady is the steady path of a backend steadySecret accepted. It keeps the Secret and
// ConfigMap rendered (read, and written only when they changed, unless both are at the versions
// recorded in status and were rendered from the current input: then they are not even read) and,
// when the backend's drift check is due, makes that one provider read. It reports done=false when
// the check found drift: the caller goes on with the full path, which repairs it.
func (r *StateBackendReconciler) reconcileSteady(ctx context.Context, s *scope, secret *corev1.Secret) (done bool, res ctrl.Result, err error) {
	sb := s.sb
	key := client.ObjectKeyFromObject(sb)
	now := r.Now()
	e := r.drift.entry(key, now, r.DriftInterval, s.providerVersion)
	if !now.Before(e.due) {
		checks := driftChecks(sb)
		check := checks[e.turn%len(checks)]
		clean, err := r.driftCheck(ctx, s, check)
		var rl *provider.RateLimitedError
		switch {
		case errors.As(err, &rl):
			// The backend still works: keep it Ready and try this check again when the provider
			// lets us, spread like other rate-limited backends.
			r.drift.postpone(key, now.Add(max(rl.RetryAfter, time.Second)+time.Duration(rand.Int64N(int64(r.RetryInterval)+1))))
		case err != nil:
			log.FromContext(ctx).Info("drift check failed; retrying later", "check", check, "error", err.Error())
			r.drift.postpone(key, now.Add(r.RetryInterval+time.Duration(rand.Int64N(int64(r.RetryInterval)+1))))
		case !clean:
			return false, ctrl.Result{}, nil
		default:
			r.drift.checked(key, now, r.DriftInterval, true, "")
		}
	}
	if secret != nil {
		if err := r.writeSecret(ctx, s, secret, secretCredential(secret)); err != nil {
			return true, ctrl.Result{}, err
		}
	}
	if err := r.steadyConfigMap(ctx, s, secret == nil); err != nil {
		if errors.Is(err, errTerminalCondition) {
			return true, ctrl.Result{RequeueAfter: r.RetryInterval}, nil
		}
		return true, ctrl.Result{}, err
	}
	return true, ctrl.Result{RequeueAfter: r.nextWake(sb)}, nil
}

// steadyConfigMap leaves the ConfigMap unread when it is at the version recorded in status and
// rendered is set (the Secret's render digest matched the current input); otherwise writeConfigMap
// reads it and writes it if it changed.
func (r *StateBackendReconciler) steadyConfigMap(ctx context.Context, s *scope, rendered bool) error {
	sb := s.sb
	if rendered {
		m, err := r.cachedMetadata(ctx, "ConfigMap", types.NamespacedName{Namespace: sb.Namespace, Name: configMapName(sb)})
		if err != nil {
			return fmt.Errorf("read ConfigMap metadata: %w", err)
		}
		if m != nil && metav1.IsControlledBy(m, sb) && m.ResourceVersion == s.base.Status.ConfigMapResourceVersion {
			return nil
		}
	}
	return r.writeConfigMap(ctx, s)
}

// driftCheck makes one check's provider read. clean is false when the check found something the
// full path must repair or replace.
func (r *StateBackendReconciler) driftCheck(ctx context.Context, s *scope, check driftCheck) (clean bool, err error) {
	sb := s.sb
	name := sb.Status.BucketName
	switch check {
	case checkGrant:
		st := sb.Status.Credential
		repaired, err := r.restoreGrant(ctx, s, st.ID, st.Name)
		switch {
		case errors.Is(err, provider.ErrCredentialNotFound), errors.Is(err, provider.ErrCredentialTooBroad):
			return false, nil // the full path replaces it
		case err != nil:
			return false, err
		}
		return !repaired, nil // a repaired grant is proven again by the full path
	case checkBucketAccess:
		return true, r.closePublicAccess(ctx, s, name)
	default:
		obs, err := s.provider.ObserveBucket(ctx, name)
		if err != nil {
			return false, err
		}
		// Only a marker sealed for this backend passes: anything else (a marker to seal again, one
		// rewritten by a tenant) is for the full path's claimBucket to judge.
		ours := obs.Exists && ownership.Judge(r.Ownership, name, obs.Owner, r.owner(sb, name)) == ownership.Ours
		versioned := sb.Status.Versioning != v1alpha1.VersioningEnabled || obs.Versioning
		return ours && versioned, nil
	}
}

// nextWake is when a Ready backend is next looked at: its drift check, or a rotation step due
// sooner.
func (r *StateBackendReconciler) nextWake(sb *v1alpha1.StateBackend) time.Duration {
	now := r.Now()
	next := r.drift.entry(client.ObjectKeyFromObject(sb), now, r.DriftInterval, "").due.Sub(now)
	if at := wakeAt(sb); !at.IsZero() {
		next = min(next, at.Sub(now))
	}
	return max(next, time.Second)
}
