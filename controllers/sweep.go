package controllers

// This file owns the orphan sweep: revoking the credentials of this cluster that no StateBackend
// records any more. A StateBackend deleted with its finalizer stripped never revoked its own, and
// its key would keep working and count against the account's quota (R2: 500 tokens, Spaces: 200
// keys) for ever. Each provider object's account is swept when its health check passes, at most
// once per interval.
//
// What the sweep may revoke is decided by orphans (a pure function); sweepOrphans only lists,
// gathers what the StateBackends record and revokes.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/naming"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
)

// OrphanSweepConfig configures the orphan sweep of a provider's account.
type OrphanSweepConfig struct {
	// Interval is how often each provider's account is swept (--orphan-sweep-interval); zero turns
	// the sweep off. The first sweep of a provider comes with its first health check after the
	// operator starts.
	Interval time.Duration
	// MinAge is how old a credential must be (by the issue time in its name) before it is swept
	// (--orphan-sweep-min-age): longer than the manager's cache can lag behind a StateBackend
	// just created, whose name is recorded in status before its credential is issued.
	MinAge time.Duration
	// MaxRevocations bounds the revocations of one sweep of one provider (zero:
	// defaultMaxSweepRevocations); the rest, oldest first, wait for the next sweep.
	MaxRevocations int
}

// defaultMaxSweepRevocations bounds one sweep's provider calls on one account: a listing plus at
// most this many revocations.
const defaultMaxSweepRevocations = 50

// sweepTimeout bounds one sweep of one provider: the provider controllers reconcile one object at
// a time, and a sweep is not worth holding up the other providers' checks for longer. (On AWS a
// listing costs one IAM call per user of the cluster.)
const sweepTimeout = 5 * time.Minute

// sweepRecords is what the cluster's StateBackends record: the backend tag of every existing one
// (naming.BackendTag of its UID), and the credential names and ids their status holds.
type sweepRecords struct {
	backends, names, ids map[string]bool
}

func newSweepRecords() sweepRecords {
	return sweepRecords{backends: map[string]bool{}, names: map[string]bool{}, ids: map[string]bool{}}
}

func (r sweepRecords) record(name, id string) {
	if name != "" {
		r.names[name] = true
	}
	if id != "" {
		r.ids[id] = true
	}
}

// orphans decides which listed credentials the sweep revokes: those whose name this release made
// (naming.ParseCredentialName) for this cluster (clusterPrefix), for a StateBackend that no longer
// exists, recorded by no existing StateBackend, and issued at least minAge before now. Anything
// else is left alone: the previous release's names (they carry no cluster, so they may be another
// cluster's), other clusters', the providers' minted admin keys, keys named by hand, and every
// credential of an existing backend (its own reconcile revokes what its Secret does not hold). At
// most limit are returned, oldest first.
func orphans(listed []provider.CredentialInfo, clusterPrefix string, rec sweepRecords, now time.Time, minAge time.Duration, limit int) []provider.CredentialInfo {
	type aged struct {
		c  provider.CredentialInfo
		at time.Time
	}
	var out []aged
	for _, c := range listed {
		p, ok := naming.ParseCredentialName(c.Name)
		switch {
		case !ok, p.ClusterPrefix != clusterPrefix, rec.backends[p.BackendTag], rec.names[c.Name], rec.ids[c.ID]:
			continue
		case now.Sub(p.IssuedAt) < minAge:
			continue // too young: its StateBackend may be too new for the cache
		}
		out = append(out, aged{c, p.IssuedAt})
	}
	slices.SortFunc(out, func(a, b aged) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.c.Name, b.c.Name)) })
	res := make([]provider.CredentialInfo, 0, min(len(out), limit))
	for _, a := range out[:min(len(out), limit)] {
		res = append(res, a.c)
	}
	return res
}

// sweepSchedule remembers when this process last swept each provider object. It lives in memory:
// after a restart every provider is swept with its first health check.
type sweepSchedule struct {
	mu   sync.Mutex
	last map[types.UID]time.Time
}

// due says whether the provider is to be swept now and, if not, how long until it is.
func (s *sweepSchedule) due(uid types.UID, now time.Time, interval time.Duration) (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.last[uid]
	if !ok || now.Sub(last) >= interval {
		return true, 0
	}
	return false, interval - now.Sub(last)
}

func (s *sweepSchedule) done(uid types.UID, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[types.UID]time.Time{}
	}
	s.last[uid] = now
}

func (s *sweepSchedule) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.last, uid)
}

// sweepIfDue sweeps the account of provider p (obj, the object it wraps, whose health check just
// passed with client c) when its sweep is due, and returns requeue shortened to when the next one
// is. A failed sweep is logged
// and waits for the next interval like a successful one: orphans are not urgent, and a failing
// account is not asked again and again.
func (r *StorageProviderReconciler) sweepIfDue(ctx context.Context, obj client.Object, p providerObject, c provider.Client, requeue time.Duration) time.Duration {
	interval := r.OrphanSweep.Interval
	if interval <= 0 {
		return requeue
	}
	now := r.now()
	if due, wait := r.sweeps.due(p.GetUID(), now, interval); !due {
		return shorter(requeue, wait)
	}
	sweepCtx, cancel := context.WithTimeout(ctx, sweepTimeout)
	defer cancel()
	if err := r.sweepOrphans(sweepCtx, obj, p, c, now); err != nil {
		log.FromContext(ctx).Info("orphan sweep failed; trying again at the next interval", "error", err.Error())
	}
	r.sweeps.done(p.GetUID(), now)
	return shorter(requeue, interval)
}

// shorter is the sooner of two requeue delays, where zero means none.
func shorter(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// sweepOrphans lists the credentials of this cluster in p's account, then what the StateBackends
// record (after the listing, so that every listed credential's backend, if it exists, is in the
// records), and revokes the orphans, each with a log line, a Warning event on obj (p's object; an
// event needs the API type, not its wrapper) and a count in
// tfstate_operator_orphaned_credentials_revoked_total.
func (r *StorageProviderReconciler) sweepOrphans(ctx context.Context, obj client.Object, p providerObject, c provider.Client, now time.Time) error {
	prefix := naming.ClusterCredentialPrefix(r.ClusterID)
	listed, err := c.ListCredentials(ctx, prefix)
	if err != nil {
		return fmt.Errorf("list credentials: %w", err)
	}
	rec, err := r.sweepRecords(ctx)
	if err != nil {
		return err
	}
	limit := r.OrphanSweep.MaxRevocations
	if limit <= 0 {
		limit = defaultMaxSweepRevocations
	}
	logger := log.FromContext(ctx)
	kind := providers.Name(p.spec())
	// One orphan that cannot be revoked (a user locked by hand) must not keep the others live:
	// every one is tried, and the failures are reported together.
	var errs []error
	for _, o := range orphans(listed, prefix, rec, now, r.OrphanSweep.MinAge, limit) {
		if err := c.RevokeCredential(ctx, o.ID); err != nil {
			errs = append(errs, fmt.Errorf("revoke orphaned credential %q: %w", o.Name, err))
			continue
		}
		logger.Info("revoked an orphaned credential: no StateBackend of this cluster records it", "credential", o.Name, "id", o.ID)
		if r.Recorder != nil {
			r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, v1alpha1.ReasonOrphanedCredentialRevoked, "RevokeCredential",
				"revoked credential %q (id %s): it was issued by this cluster for a StateBackend that no longer exists (deleted without the operator's finalizer) and no StateBackend records it",
				o.Name, o.ID)
		}
		if r.Metrics != nil {
			r.Metrics.OrphanedCredentialRevoked(kind)
		}
	}
	return errors.Join(errs...)
}

// sweepRecords gathers, from the manager's cache, what every StateBackend of the cluster records.
// The names in status are almost always the backend's own, which its backend tag protects
// already; they matter where a credential outlived the UID it was named for (objects re-created
// with a restored status). The backends' Secrets add nothing: a Secret counts only when its
// StateBackend controls it, that is one of the same UID, whose tag already protects every
// credential the operator wrote into it. The list is read in place (no deep copy): at 10,000
// backends a copy per sweep and provider would be tens of MiB.
func (r *StorageProviderReconciler) sweepRecords(ctx context.Context) (sweepRecords, error) {
	backends := &v1alpha1.StateBackendList{}
	if err := r.List(ctx, backends, client.UnsafeDisableDeepCopy); err != nil {
		return sweepRecords{}, fmt.Errorf("list StateBackends: %w", err)
	}
	rec := newSweepRecords()
	for i := range backends.Items {
		sb := &backends.Items[i]
		rec.backends[naming.BackendTag(string(sb.UID))] = true
		if c := sb.Status.Credential; c != nil {
			rec.record(c.Name, c.ID)
		}
		if p := sb.Status.PreviousCredential; p != nil {
			rec.record(p.Name, p.ID)
		}
	}
	return rec, nil
}

func (r *StorageProviderReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
