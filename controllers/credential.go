package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/naming"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

func secretName(sb *v1alpha1.StateBackend) string {
	if sb.Spec.SecretName != "" {
		return sb.Spec.SecretName
	}
	return sb.Name
}

func configMapName(sb *v1alpha1.StateBackend) string { return secretName(sb) + "-backend" }

func access(sb *v1alpha1.StateBackend) provider.Access {
	if sb.Spec.Access == v1alpha1.AccessReadOnly {
		return provider.ReadOnly
	}
	return provider.ReadWrite
}

// reconcileCredential keeps exactly one live credential, held by the Secret:
//
//  1. The Secret's name must be free or ours; otherwise nothing is issued.
//  2. Every listed credential of this backend that the Secret does not hold is revoked: it was
//     issued by a reconcile that crashed before writing the Secret, or replaced earlier.
//  3. If the Secret's credential no longer fits the spec (or there is none), a new one is issued
//     under a name recorded in status first, written to the Secret at once, and only then is the
//     old one revoked, so a runner never holds a key that was revoked before its replacement.
//     A rotation (spec.credentials) does the same, but the old credential is kept as
//     status.previousCredential until its revokeAt, so runs that started with it can finish; at
//     most one credential is ever in that grace.
//  4. A credential not yet proven is probed with its own signed S3 calls; the probe also decides
//     whether use_lockfile is emitted.
func (r *StateBackendReconciler) reconcileCredential(ctx context.Context, s *scope) (ctrl.Result, error) {
	sb := s.sb
	if c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionCredentialReady); c != nil &&
		c.Reason == v1alpha1.ReasonCredentialRejected && c.ObservedGeneration == sb.Generation {
		// A credential issued for this spec could do more than asked and was revoked. Issuing
		// another would most likely repeat that (and loop through the Secret's update events):
		// wait for the spec to change.
		return ctrl.Result{}, errTerminalCondition
	}
	secret, err := r.ownedSecret(ctx, s)
	if err != nil || secret == nil {
		return ctrl.Result{}, err
	}
	held := secretCredential(secret)

	var live []provider.CredentialInfo
	if (sb.Status.Credential != nil && s.plannedCredential == "") || sb.Status.PreviousCredential != nil || held.AccessKeyID != "" {
		// Otherwise nothing was ever issued for this StateBackend: issue records the name in
		// status before it calls the provider, so there is nothing to list. (A name this very
		// reconcile planned was recorded, but not issued.)
		var err error
		if live, err = r.listCredentials(ctx, s, mayHoldLegacyCredential(sb, held.Name)); err != nil {
			return r.credentialNotReady(s, err)
		}
	}
	now := r.Now()
	var current *provider.CredentialInfo
	prev, prevLive := sb.Status.PreviousCredential, false
	for i := range live {
		if holds(held, live[i]) {
			current = &live[i]
			continue
		}
		if prev != nil && live[i].ID == prev.ID && now.Before(prev.RevokeAt.Time) {
			prevLive = true // in its grace period
			continue
		}
		why := "not held by the Secret"
		if prev != nil && live[i].ID == prev.ID {
			why = "replaced by rotation; its grace period is over"
		}
		if err := r.revoke(ctx, s, live[i], why); err != nil {
			return ctrl.Result{}, err
		}
	}
	if !prevLive {
		sb.Status.PreviousCredential = nil
	}

	rotate, keep := "", current != nil && secretFits(secret, sb)
	if keep {
		rotate = rotationDue(sb, now)
	}
	if keep && rotate == "" {
		var err error
		if keep, err = r.repairGrant(ctx, s, *current); err != nil {
			return ctrl.Result{}, err
		}
	}
	if keep && rotate == "" {
		held.ID, held.Name, held.ExpiresAt = current.ID, current.Name, current.ExpiresAt
	} else {
		if rotate != "" {
			// At most one credential in grace: the one an earlier rotation replaced goes now. The
			// current one is recorded as previous before the new one is issued (issue patches
			// status first), so a crash after the Secret switched still leaves it its grace.
			if old := sb.Status.PreviousCredential; old != nil && old.ID != current.ID {
				if err := r.revoke(ctx, s, provider.CredentialInfo{ID: old.ID, Name: old.Name}, "replaced by a second rotation within its grace period"); err != nil {
					return ctrl.Result{}, err
				}
			}
			revokeAt := now.Add(revokeAfter(sb))
			if !current.ExpiresAt.IsZero() && current.ExpiresAt.Before(revokeAt) {
				revokeAt = current.ExpiresAt // it stops working then anyway
			}
			sb.Status.PreviousCredential = &v1alpha1.RetiredCredentialStatus{Name: current.Name, ID: current.ID, RevokeAt: metav1.Time{Time: revokeAt}}
		} else if p := legacyToReplace(sb, current, now); p != nil {
			sb.Status.PreviousCredential = p
		}
		issued, err := r.issue(ctx, s)
		if err != nil {
			return ctrl.Result{}, err
		}
		// Probed before the Secret is written, so that the Secret is written once, with what the
		// probe found; verifyAndPublish writes it whatever the probe's outcome, except for a
		// credential it refuses and revokes. Until then the new credential is held nowhere: a
		// crash leaves it to the next reconcile's listing, which revokes it.
		res, err := r.verifyAndPublish(ctx, s, secret, issued, true)
		if secretCredential(secret).AccessKeyID != issued.AccessKeyID {
			// Not written: the write failed (the old one stays, the new one is revoked by the
			// next listing), or the probe refused the new one as too broad. A current credential
			// that no longer fits the spec then goes too: fail closed.
			if errors.Is(err, provider.ErrCredentialTooBroad) && rotate == "" && current != nil {
				if rerr := r.revoke(ctx, s, *current, "no longer fits the spec, and its replacement was refused"); rerr != nil {
					return ctrl.Result{}, errors.Join(err, rerr)
				}
			}
			return res, err
		}
		switch {
		case rotate != "":
			r.event(sb, corev1.EventTypeNormal, v1alpha1.ReasonCredentialRotated, "RotateCredential",
				"rotated credential %q to %q (%s); the old one is revoked at %s", current.Name, issued.Name, rotate,
				sb.Status.PreviousCredential.RevokeAt.UTC().Format(time.RFC3339))
		case current != nil:
			if rerr := r.revoke(ctx, s, *current, "replaced"); rerr != nil {
				return ctrl.Result{}, errors.Join(err, rerr)
			}
		}
		return res, err
	}
	return r.verifyAndPublish(ctx, s, secret, held, false)
}

// holds says the Secret's credential is the listed one: the same access key, or for session
// credentials (whose keys the listing cannot show) the credential they derive from.
func holds(held provider.Credential, c provider.CredentialInfo) bool {
	if held.AccessKeyID == "" {
		return false
	}
	return c.AccessKeyID == held.AccessKeyID || (held.SessionToken != "" && held.ID != "" && c.ID == held.ID)
}

// repairGrant restores what the store lets the current credential do when that was changed out of
// band (widened or narrowed), keeping its keys so runners are not disturbed; the credential is
// then proven again before the backend stays Ready. It reports false when the credential cannot
// be narrowed back in place (a Spaces key made fullaccess): it must be replaced, and revoked at
// once rather than given a grace.
func (r *StateBackendReconciler) repairGrant(ctx context.Context, s *scope, c provider.CredentialInfo) (bool, error) {
	sb := s.sb
	_, err := r.restoreGrant(ctx, s, c.ID, c.Name)
	if errors.Is(err, provider.ErrCredentialTooBroad) {
		r.event(sb, corev1.EventTypeWarning, v1alpha1.ReasonCredentialGrantRepaired, "RepairGrant",
			"credential %q (id %s) was given more than %s on bucket %q outside the operator and cannot be narrowed back; it is replaced and revoked",
			c.Name, c.ID, access(sb), sb.Status.BucketName)
		return false, nil
	}
	if err != nil {
		_, err = r.credentialNotReady(s, fmt.Errorf("check the grant of credential %q: %w", c.Name, err))
		return false, err
	}
	return true, nil
}

// restoreGrant asks the provider to put the credential's grant back (RepairGrant) and, when it
// did, says so in a warning event and marks the credential as unproven, so it is probed again. The
// full path and the steady path's grant check share it.
func (r *StateBackendReconciler) restoreGrant(ctx context.Context, s *scope, id, name string) (bool, error) {
	sb := s.sb
	if !ownCredentialName(r.ClusterID, sb, name) {
		return false, fmt.Errorf("repair the grant of credential %q: %w", name, errForeignCredential)
	}
	repaired, err := s.provider.RepairGrant(ctx, id, credentialRequest(sb, name, time.Time{}))
	if err != nil || !repaired {
		return false, err
	}
	r.event(sb, corev1.EventTypeWarning, v1alpha1.ReasonCredentialGrantRepaired, "RepairGrant",
		"what credential %q (id %s) may do had been changed outside the operator; restored to %s on bucket %q",
		name, id, access(sb), sb.Status.BucketName)
	if st := sb.Status.Credential; st != nil {
		st.VerifiedAt = nil
	}
	return true, nil
}

// errForeignCredential: a credential recorded for the backend (in status, which is not the
// operator's own record) does not carry the backend's credential name prefix; its id is never
// handed to the provider.
var errForeignCredential = errors.New("its name does not carry this StateBackend's credential prefix, so it is not the operator's to change")

// ownCredentialName says name is one of the backend's own credential names in this cluster, or one
// the previous release issued for it (whose names carried no cluster): the one check before an id
// recorded with it reaches RevokeCredential or RepairGrant.
func ownCredentialName(cluster string, sb *v1alpha1.StateBackend, name string) bool {
	return strings.HasPrefix(name, naming.CredentialPrefix(cluster, string(sb.UID))) ||
		strings.HasPrefix(name, naming.LegacyCredentialPrefix(string(sb.UID)))
}

// mayHoldLegacyCredential says the backend may still have a credential the previous release issued:
// its status or its Secret (heldName) records one. The previous release recorded every name before
// issuing it, and one replaced since stays recorded until its revocation is seen through
// (legacyToReplace), so a backend that records none has none, and its listings need not ask for
// the previous release's prefix (on AWS each listing costs a call per matching IAM user).
func mayHoldLegacyCredential(sb *v1alpha1.StateBackend, heldName string) bool {
	legacy := naming.LegacyCredentialPrefix(string(sb.UID))
	names := []string{heldName}
	if c := sb.Status.Credential; c != nil {
		names = append(names, c.Name)
	}
	if p := sb.Status.PreviousCredential; p != nil {
		names = append(names, p.Name)
	}
	for _, n := range names {
		if strings.HasPrefix(n, legacy) {
			return true
		}
	}
	return false
}

// legacyToReplace is what status records of a current credential the previous release issued when
// it is replaced at once (it no longer fits the spec): itself, as a previous credential whose grace
// is already over. Once the new credential's name is recorded and the Secret holds it, nothing else
// would name the old one, and a revocation that failed then would never be retried: the previous
// release's prefix is listed only while something records one of its names
// (mayHoldLegacyCredential). nil when current is not such a credential, or when a rotation's
// previous credential is recorded already (it carries the previous release's prefix too: it is
// older than current).
func legacyToReplace(sb *v1alpha1.StateBackend, current *provider.CredentialInfo, now time.Time) *v1alpha1.RetiredCredentialStatus {
	if current == nil || sb.Status.PreviousCredential != nil ||
		!strings.HasPrefix(current.Name, naming.LegacyCredentialPrefix(string(sb.UID))) {
		return nil
	}
	return &v1alpha1.RetiredCredentialStatus{Name: current.Name, ID: current.ID, RevokeAt: metav1.Time{Time: now}}
}

// listCredentials lists the backend's live credentials in this cluster and, with legacy, those the
// previous release issued for it.
func (r *StateBackendReconciler) listCredentials(ctx context.Context, s *scope, legacy bool) ([]provider.CredentialInfo, error) {
	prefixes := []string{naming.CredentialPrefix(r.ClusterID, string(s.sb.UID))}
	if legacy {
		prefixes = append(prefixes, naming.LegacyCredentialPrefix(string(s.sb.UID)))
	}
	var out []provider.CredentialInfo
	for _, p := range prefixes {
		live, err := s.provider.ListCredentials(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("list credentials: %w", err)
		}
		out = append(out, live...)
	}
	return out, nil
}

// credentialRequest is what the backend's credentials are issued for.
func credentialRequest(sb *v1alpha1.StateBackend, name string, expiresAt time.Time) provider.CredentialRequest {
	return provider.CredentialRequest{
		Name:        name,
		ExpiresAt:   expiresAt,
		Bucket:      sb.Status.BucketName,
		Access:      access(sb),
		KeyPrefix:   sb.Spec.KeyPrefix,
		Temporary:   temporary(sb),
		Description: fmt.Sprintf("tfstate-operator: %s/%s", sb.Namespace, sb.Name),
	}
}

func temporary(sb *v1alpha1.StateBackend) bool {
	return sb.Spec.Credentials != nil && sb.Spec.Credentials.Temporary
}

// defaultRevokeAfter is how long a rotated-out credential keeps working when the spec does not say.
const defaultRevokeAfter = time.Hour

func revokeAfter(sb *v1alpha1.StateBackend) time.Duration {
	if c := sb.Spec.Credentials; c != nil && c.RevokeAfter != nil {
		return c.RevokeAfter.Duration
	}
	return defaultRevokeAfter
}

// rotationDue says why the current credential must be rotated now ("" when it need not): a new
// spec.credentials.rotationRequest, the rotation period elapsed since it was issued, or two thirds
// of an expiring credential's life passed.
func rotationDue(sb *v1alpha1.StateBackend, now time.Time) string {
	policy, st := sb.Spec.Credentials, sb.Status.Credential
	if st == nil {
		return ""
	}
	if policy != nil && policy.RotationRequest != "" && policy.RotationRequest != st.RotationRequest {
		return fmt.Sprintf("rotation requested (%q)", policy.RotationRequest)
	}
	at := nextRotation(sb)
	switch {
	case at == nil || now.Before(*at):
		return ""
	case expires(st) && !at.Before(renewal(st)):
		return fmt.Sprintf("expires at %s", st.ExpiresAt.UTC().Format(time.RFC3339))
	default:
		return fmt.Sprintf("older than rotationPeriod %s", policy.RotationPeriod.Duration)
	}
}

// expires says the credential has a real expiry. One before its issue is a store's way of saying
// "never", not a reason to rotate.
func expires(st *v1alpha1.CredentialStatus) bool {
	return st.ExpiresAt != nil && (st.IssuedAt == nil || st.ExpiresAt.After(st.IssuedAt.Time))
}

// renewal is when an expiring credential is replaced: two thirds into its life, so the replaced
// one still works for the last third while runs that started with it finish.
func renewal(st *v1alpha1.CredentialStatus) time.Time {
	if st.IssuedAt == nil {
		return st.ExpiresAt.Time
	}
	return st.IssuedAt.Add(st.ExpiresAt.Sub(st.IssuedAt.Time) * 2 / 3)
}

// nextRotation is when the current credential is replaced (nil: never): after the rotation
// period, or at its renewal when it expires, whichever comes first.
func nextRotation(sb *v1alpha1.StateBackend) *time.Time {
	policy, st := sb.Spec.Credentials, sb.Status.Credential
	if st == nil {
		return nil
	}
	var at *time.Time
	if policy != nil && policy.RotationPeriod != nil && st.IssuedAt != nil {
		t := st.IssuedAt.Add(policy.RotationPeriod.Duration)
		at = &t
	}
	if expires(st) {
		// Whatever the spec says now: a credential that expires is renewed before it does.
		if t := renewal(st); at == nil || t.Before(*at) {
			at = &t
		}
	}
	return at
}

// wakeAt is the earliest time a rotation step is due for sb (zero: none): the next scheduled
// rotation or the end of the previous credential's grace.
func wakeAt(sb *v1alpha1.StateBackend) time.Time {
	var at time.Time
	if n := nextRotation(sb); n != nil {
		at = *n
	}
	if p := sb.Status.PreviousCredential; p != nil && (at.IsZero() || p.RevokeAt.Time.Before(at)) {
		at = p.RevokeAt.Time
	}
	return at
}

// issue records the new credential's name in status, then asks the provider for it.
func (r *StateBackendReconciler) issue(ctx context.Context, s *scope) (provider.Credential, error) {
	sb := s.sb
	now := r.Now()
	name := naming.CredentialName(r.ClusterID, string(sb.UID), now)
	planned := s.plannedCredential != "" && s.base.Status.Credential != nil && s.base.Status.Credential.Name == s.plannedCredential
	if planned {
		name = s.plannedCredential // already on the server: createBucket recorded it
	}
	sb.Status.Credential = &v1alpha1.CredentialStatus{Name: name}
	r.setCondition(sb, v1alpha1.ConditionCredentialReady, metav1.ConditionFalse, v1alpha1.ReasonProgressing, fmt.Sprintf("issuing credential %q", name))
	if !planned {
		if err := r.patchStatus(ctx, s); err != nil {
			return provider.Credential{}, err
		}
	}
	var expiresAt time.Time
	if p := sb.Spec.Credentials; p != nil && p.ExpireAfter != nil {
		expiresAt = now.Add(p.ExpireAfter.Duration).Truncate(time.Second) // status keeps seconds
	}
	cred, err := s.provider.IssueCredential(ctx, credentialRequest(sb, name, expiresAt))
	if err != nil {
		_, err = r.credentialNotReady(s, fmt.Errorf("issue credential %q: %w", name, err))
		return provider.Credential{}, err
	}
	if cred.Name == "" {
		cred.Name = name
	}
	sb.Status.Credential = &v1alpha1.CredentialStatus{Name: cred.Name, ID: cred.ID, IssuedAt: &metav1.Time{Time: now}, ExpiresAt: optionalTime(cred.ExpiresAt)}
	if p := sb.Spec.Credentials; p != nil {
		sb.Status.Credential.RotationRequest = p.RotationRequest
	}
	r.event(sb, corev1.EventTypeNormal, v1alpha1.ReasonCredentialIssued, "IssueCredential", "issued %s credential %q (id %s) for bucket %q", access(sb), cred.Name, cred.ID, sb.Status.BucketName)
	return cred, nil
}

func (r *StateBackendReconciler) revoke(ctx context.Context, s *scope, c provider.CredentialInfo, why string) error {
	if !ownCredentialName(r.ClusterID, s.sb, c.Name) {
		_, err := r.credentialNotReady(s, fmt.Errorf("revoke credential %q: %w", c.Name, errForeignCredential))
		return err
	}
	if err := s.provider.RevokeCredential(ctx, c.ID); err != nil {
		_, err = r.credentialNotReady(s, fmt.Errorf("revoke credential %q: %w", c.Name, err))
		return err
	}
	r.event(s.sb, corev1.EventTypeNormal, "CredentialRevoked", "RevokeCredential", "revoked credential %q (id %s): %s", c.Name, c.ID, why)
	return nil
}

// revokeAll revokes every live credential of the backend except the one with keepAccessKeyID; why
// goes into each revocation's event. The previous release's names are listed too when anything
// records one, and always on deletion (legacy), the backend's last chance to revoke them.
func (r *StateBackendReconciler) revokeAll(ctx context.Context, s *scope, keepAccessKeyID, why string, legacy bool) error {
	live, err := r.listCredentials(ctx, s, legacy || mayHoldLegacyCredential(s.sb, ""))
	if err != nil {
		return err
	}
	for _, c := range live {
		if keepAccessKeyID != "" && c.AccessKeyID == keepAccessKeyID {
			continue
		}
		if err := r.revoke(ctx, s, c, why); err != nil {
			return err
		}
	}
	return nil
}

// verifyAndPublish probes a credential that has not been proven yet, then writes the Secret and the
// ConfigMap with what the probe found. A fresh credential (issued by this reconcile and held
// nowhere yet) is written to the Secret even when the probe could not prove it yet, so that it is
// not lost; only one the probe refuses as too broad is revoked instead.
func (r *StateBackendReconciler) verifyAndPublish(ctx context.Context, s *scope, secret *corev1.Secret, cred provider.Credential, fresh bool) (ctrl.Result, error) {
	sb := s.sb
	st := sb.Status.Credential
	if st == nil || st.ID != cred.ID {
		// Status lost (restored from backup, or written by an older version): rebuild it from the
		// provider's listing rather than trusting it.
		// Its age is unknown: the rotation clock starts now.
		st = &v1alpha1.CredentialStatus{Name: cred.Name, ID: cred.ID, IssuedAt: &metav1.Time{Time: r.Now()}, ExpiresAt: optionalTime(cred.ExpiresAt)}
		if p := sb.Spec.Credentials; p != nil {
			st.RotationRequest = p.RotationRequest // the request is answered by this credential
		}
		sb.Status.Credential = st
	}
	if st.VerifiedAt == nil || sb.Status.Locking == "" {
		res, err := s.probe(ctx, r.Prober, cred, access(sb))
		switch {
		case errors.Is(err, provider.ErrCredentialNotYetValid) && st.IssuedAt != nil && r.Now().Sub(st.IssuedAt.Time) < r.PropagationTimeout:
			r.setCondition(sb, v1alpha1.ConditionCredentialReady, metav1.ConditionFalse, v1alpha1.ReasonCredentialPropagating,
				fmt.Sprintf("credential %q is not accepted by the store yet; new credentials take a while to propagate", cred.Name))
			r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCredentialPropagating, "waiting for the new credential to propagate")
			if fresh {
				if err := r.writeSecret(ctx, s, secret, cred); err != nil {
					return ctrl.Result{}, err
				}
			}
			return ctrl.Result{RequeueAfter: propagationRetry}, nil
		case errors.Is(err, provider.ErrCredentialTooBroad):
			// Never hand out a credential that can do more than asked: revoke it and stop.
			if rerr := r.revoke(ctx, s, provider.CredentialInfo{ID: cred.ID, Name: cred.Name, AccessKeyID: cred.AccessKeyID}, "broader than requested"); rerr != nil {
				return ctrl.Result{}, rerr
			}
			r.setCondition(sb, v1alpha1.ConditionCredentialReady, metav1.ConditionFalse, v1alpha1.ReasonCredentialRejected, err.Error())
			r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCredentialRejected, err.Error())
			return ctrl.Result{}, err
		case err != nil:
			res, err := r.credentialNotReady(s, fmt.Errorf("probe credential %q: %w", cred.Name, err))
			if fresh {
				if werr := r.writeSecret(ctx, s, secret, cred); werr != nil {
					return ctrl.Result{}, errors.Join(err, werr)
				}
			}
			return res, err
		}
		st.VerifiedAt = &metav1.Time{Time: r.Now()}
		sb.Status.Locking = lockingState(access(sb), res)
	}
	if err := r.writeSecret(ctx, s, secret, cred); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeConfigMap(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	st.NextRotationAt = nil
	if n := nextRotation(sb); n != nil {
		st.NextRotationAt = &metav1.Time{Time: *n}
	}
	r.setCondition(sb, v1alpha1.ConditionCredentialReady, metav1.ConditionTrue, v1alpha1.ReasonReady,
		fmt.Sprintf("credential %q (%s) was proven against bucket %q; locking: %s", cred.Name, access(sb), sb.Status.BucketName, sb.Status.Locking))
	return ctrl.Result{}, nil
}

// propagationRetry is how soon a credential the store does not accept yet is probed again.
const propagationRetry = 3 * time.Second

func (s *scope) probe(ctx context.Context, p provider.Prober, cred provider.Credential, a provider.Access) (provider.ProbeResult, error) {
	settings := s.settings
	settings.RefuseLocalEndpoints = s.refuseLocalEndpoints
	return p.Probe(ctx, settings, s.sb.Status.BucketName, cred, a)
}

func lockingState(a provider.Access, res provider.ProbeResult) v1alpha1.LockingState {
	switch {
	case a == provider.ReadOnly:
		return v1alpha1.LockingNotApplicable
	case res.ConditionalWrites:
		return v1alpha1.LockingLockfile
	default:
		return v1alpha1.LockingUnsupported
	}
}

func (r *StateBackendReconciler) credentialNotReady(s *scope, err error) (ctrl.Result, error) {
	r.setCondition(s.sb, v1alpha1.ConditionCredentialReady, metav1.ConditionFalse, reasonFor(err), err.Error())
	return ctrl.Result{}, err
}

// ownedSecret returns the backend's Secret: an empty one to be created when the name is free, the
// existing one when this StateBackend controls it, and nil (with a condition) when the name is taken
// by a Secret the operator must not overwrite.
func (r *StateBackendReconciler) ownedSecret(ctx context.Context, s *scope) (*corev1.Secret, error) {
	sb := s.sb
	key := types.NamespacedName{Namespace: sb.Namespace, Name: secretName(sb)}
	// Read from the API server: the cache holds no Secret's contents (CacheByObject), and an
	// unlabelled Secret of the same name must be seen before the name is taken as free.
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Secret %s: %w", key, err)
	}
	if !metav1.IsControlledBy(secret, sb) {
		msg := fmt.Sprintf("Secret %q exists and is not controlled by this StateBackend; it is never overwritten: "+
			"delete it or choose another spec.secretName", key.Name)
		r.setCondition(sb, v1alpha1.ConditionCredentialReady, metav1.ConditionFalse, v1alpha1.ReasonSecretConflict, msg)
		r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretConflict, msg)
		r.event(sb, corev1.EventTypeWarning, v1alpha1.ReasonSecretConflict, "WriteSecret", "%s", msg)
		return nil, errTerminalCondition
	}
	return secret, nil
}

// secretCredential reads the credential a Secret holds.
func secretCredential(secret *corev1.Secret) provider.Credential {
	c := backendconfig.CredentialFromSecret(secret.Data)
	c.Name = secret.Annotations[AnnotationCredentialName]
	c.ID = secret.Annotations[AnnotationCredentialID]
	return c
}

// secretFits reports whether the Secret's credential was issued for the current bucket and access,
// and is a session credential exactly when the spec asks for one.
func secretFits(secret *corev1.Secret, sb *v1alpha1.StateBackend) bool {
	held := secretCredential(secret)
	return secret.Annotations[AnnotationCredentialAccess] == string(access(sb)) &&
		secret.Annotations[AnnotationBucket] == sb.Status.BucketName &&
		held.SecretAccessKey != "" && (held.SessionToken != "") == temporary(sb)
}

// isolation is the isolated Secret shape the spec asks for (nil: environment variables).
func isolation(sb *v1alpha1.StateBackend) *backendconfig.Isolation {
	iso := sb.Spec.Isolation
	if iso == nil {
		return nil
	}
	out := &backendconfig.Isolation{MountPath: iso.MountPath, Profile: iso.Profile}
	if out.MountPath == "" {
		out.MountPath = v1alpha1.DefaultIsolationMountPath
	}
	if out.Profile == "" {
		out.Profile = v1alpha1.DefaultIsolationProfile
	}
	return out
}

// workspaceKeyPrefix is the spec's, or under spec.keyPrefix when only that is set: Terraform's
// default "env:" would put workspace state outside the prefix the credential is confined to.
func workspaceKeyPrefix(sb *v1alpha1.StateBackend) string {
	if sb.Spec.WorkspaceKeyPrefix == "" && sb.Spec.KeyPrefix != "" {
		return sb.Spec.KeyPrefix + "/env"
	}
	return sb.Spec.WorkspaceKeyPrefix
}

func (r *StateBackendReconciler) renderInput(s *scope) backendconfig.Input {
	sb := s.sb
	return backendconfig.Input{
		Settings:           s.settings,
		Bucket:             sb.Status.BucketName,
		Key:                sb.Spec.Key,
		WorkspaceKeyPrefix: workspaceKeyPrefix(sb),
		UseLockfile:        sb.Status.Locking == v1alpha1.LockingLockfile,
		Isolation:          isolation(sb),
		OmitCLIArgs:        sb.Spec.OmitCLIArgs,
	}
}

// writeSecret creates or updates the Secret with cred, writing only when something changed.
func (r *StateBackendReconciler) writeSecret(ctx context.Context, s *scope, secret *corev1.Secret, cred provider.Credential) error {
	sb := s.sb
	data, err := backendconfig.SecretData(r.renderInput(s), cred)
	if err != nil {
		return r.renderFailed(s, err)
	}
	desired := secret.DeepCopy()
	desired.Type = corev1.SecretTypeOpaque
	desired.Data = data
	setManaged(&desired.ObjectMeta, sb)
	desired.Annotations = mergeMaps(desired.Annotations, map[string]string{
		AnnotationCredentialName:   cred.Name,
		AnnotationCredentialID:     cred.ID,
		AnnotationCredentialAccess: string(access(sb)),
		AnnotationBucket:           sb.Status.BucketName,
		AnnotationCredentialDigest: credentialDigest(cred),
		AnnotationRenderDigest:     renderDigest(r.renderInput(s)),
	})
	if err := controllerutil.SetControllerReference(sb, desired, r.Scheme); err != nil {
		return fmt.Errorf("own Secret: %w", err)
	}
	if desired.ResourceVersion == "" {
		if err := r.Create(ctx, desired); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("Secret %q appeared while it was being created; retrying: %w", desired.Name, err)
			}
			return fmt.Errorf("create Secret %q: %w", desired.Name, err)
		}
	} else if !sameObject(secret.ObjectMeta, desired.ObjectMeta) || !maps.EqualFunc(secret.Data, desired.Data, bytesEqual) || secret.Type != desired.Type {
		if err := r.Update(ctx, desired); err != nil {
			return fmt.Errorf("update Secret %q: %w", desired.Name, err)
		}
	}
	*secret = *desired
	sb.Status.SecretResourceVersion = desired.ResourceVersion
	return nil
}

// writeConfigMap creates or updates the ConfigMap with the non-secret backend settings. A ConfigMap of
// that name the operator does not control is never overwritten.
func (r *StateBackendReconciler) writeConfigMap(ctx context.Context, s *scope) error {
	sb := s.sb
	data, err := backendconfig.ConfigMapData(r.renderInput(s))
	if err != nil {
		return r.renderFailed(s, err)
	}
	key := types.NamespacedName{Namespace: sb.Namespace, Name: configMapName(sb)}
	// Read from the API server: the cache holds no ConfigMap's contents (CacheByObject), and an
	// unlabelled ConfigMap of the same name must be seen.
	cm := &corev1.ConfigMap{}
	err = r.APIReader.Get(ctx, key, cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	case err != nil:
		return fmt.Errorf("read ConfigMap %s: %w", key, err)
	case !metav1.IsControlledBy(cm, sb):
		msg := fmt.Sprintf("ConfigMap %q exists and is not controlled by this StateBackend; it is never overwritten", key.Name)
		r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonConfigMapConflict, msg)
		r.event(sb, corev1.EventTypeWarning, v1alpha1.ReasonConfigMapConflict, "WriteConfigMap", "%s", msg)
		return errTerminalCondition
	}
	desired := cm.DeepCopy()
	desired.Data = data
	setManaged(&desired.ObjectMeta, sb)
	if err := controllerutil.SetControllerReference(sb, desired, r.Scheme); err != nil {
		return fmt.Errorf("own ConfigMap: %w", err)
	}
	if desired.ResourceVersion == "" {
		if err := r.Create(ctx, desired); err != nil {
			return fmt.Errorf("create ConfigMap %q: %w", desired.Name, err)
		}
		sb.Status.ConfigMapResourceVersion = desired.ResourceVersion
		return nil
	}
	if sameObject(cm.ObjectMeta, desired.ObjectMeta) && maps.Equal(cm.Data, desired.Data) {
		sb.Status.ConfigMapResourceVersion = cm.ResourceVersion
		return nil
	}
	if err := r.Update(ctx, desired); err != nil {
		return fmt.Errorf("update ConfigMap %q: %w", desired.Name, err)
	}
	sb.Status.ConfigMapResourceVersion = desired.ResourceVersion
	return nil
}

// renderFailed reports a value the renderer refused (it would be unsafe in TF_CLI_ARGS_init or the
// backend file). Admission validation should have caught it, so it is terminal.
func (r *StateBackendReconciler) renderFailed(s *scope, err error) error {
	err = fmt.Errorf("render backend settings: %w", err)
	r.setCondition(s.sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidBackendSettings, err.Error())
	return errTerminalCondition
}

// setManaged labels an object the operator writes for sb. The StateBackend label holds its name,
// hashed when too long for a label value (64 to 253 characters), so that the object can be written.
func setManaged(m *metav1.ObjectMeta, sb *v1alpha1.StateBackend) {
	m.Labels = mergeMaps(m.Labels, map[string]string{LabelManagedBy: ManagedByValue, LabelStateBackend: naming.LabelValue(sb.Name)})
}

func optionalTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return &metav1.Time{Time: t}
}
