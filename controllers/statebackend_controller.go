// Package controllers reconciles StateBackends into a bucket, a credential scoped to it, and the
// Secret and ConfigMap a Terraform runner consumes.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/ownership"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
)

const (
	// Finalizer keeps a StateBackend until its credential is revoked (and, with deletionPolicy Delete,
	// its empty bucket removed).
	Finalizer = "tfstate.dev/finalizer"

	// LabelManagedBy marks the Secrets and ConfigMaps the operator writes; the manager's cache holds
	// only objects with this label, so unrelated Secrets never reach its memory.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "tfstate-operator"
	// LabelStateBackend names the StateBackend an object belongs to (naming.LabelValue of its name:
	// the name itself up to 63 characters, else a cut of it and a hash).
	LabelStateBackend = "tfstate.dev/statebackend"

	// AnnotationCredentialName, AnnotationCredentialAccess and AnnotationBucket record on the Secret
	// what its credential was issued for, so a change of spec.access is noticed without a provider call.
	AnnotationCredentialName   = "tfstate.dev/credential-name"
	AnnotationCredentialAccess = "tfstate.dev/credential-access"
	AnnotationBucket           = "tfstate.dev/bucket"
	// AnnotationCredentialID records the provider's id of the Secret's credential: for session
	// credentials the only link between the Secret's keys and the credential they derive from.
	AnnotationCredentialID = "tfstate.dev/credential-id"

	// indexProviderRef indexes StateBackends by "<kind>/<namespace>/<name>" of their provider.
	indexProviderRef = "spec.providerRef"
)

// ClientFactory builds a provider client from a provider (its UID, spec and the data of its
// credentials Secret) and the placement of the backend's bucket (zero: the provider's default). It
// makes no network call; errors wrap provider.ErrInvalidConfig.
type ClientFactory func(ctx context.Context, src providers.Source, placement provider.Placement) (provider.Client, error)

// StateBackendReconciler reconciles a StateBackend.
type StateBackendReconciler struct {
	// Client reads through the manager's cache. Secrets and ConfigMaps are cached only when they
	// carry LabelManagedBy.
	client.Client
	// APIReader reads from the API server directly: the providers' credentials Secrets (not cached)
	// and a Secret whose name is taken by an object the operator did not label.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	// NewClient builds provider clients.
	NewClient ClientFactory
	// Prober proves issued credentials with signed S3 calls of their own.
	Prober provider.Prober
	// Now is the clock; tests may set it.
	Now func() time.Time
	// RetryInterval is how soon a backend waiting on something outside the cluster (a missing
	// provider Secret, a propagating credential, a non-empty bucket) is looked at again.
	RetryInterval time.Duration
	// DriftInterval is how often a Ready backend is checked against the provider.
	DriftInterval time.Duration
	// PropagationTimeout bounds the wait for a new credential to be accepted (R2 documents up to a
	// minute). One still refused after it is not propagating but broken (a policy that denies its
	// own bucket, say): it becomes an ordinary error with exponential backoff, not a 3-second loop.
	PropagationTimeout time.Duration
	// OperatorNamespace is where ClusterStorageProviders' credentials Secrets must live ("": not
	// enforced).
	OperatorNamespace string
	// ClusterID identifies this cluster (internal/clusterid): two clusters sharing one storage
	// account must never take each other's buckets or credentials.
	ClusterID string
	// Ownership is the cluster's ownership key (internal/ownership): it seals every bucket's
	// ownership marker, so that a marker a tenant rewrote is not trusted, and salts default bucket
	// names, so that another tenant cannot predict them.
	Ownership ownership.Key
	// AllowLocalEndpoints lets a namespaced StorageProvider's endpoints be loopback or link-local
	// addresses (--allow-local-endpoints; tests whose stores listen on 127.0.0.1). Off, the
	// operator never dials them for a tenant: they reach its own pod, node and cloud identity.
	AllowLocalEndpoints bool

	// drift schedules the drift checks of Ready backends (see steady.go).
	drift driftSchedule
	// secrets reads providers' credentials Secrets, reusing each for a few seconds (made by
	// SetupWithManager).
	secrets *secretReadCache

	// written maps a StateBackend's key to the resourceVersion this reconciler last wrote, until the
	// cache has caught up with it (see readBackend).
	written sync.Map
}

// The verbs are the ones the manager sends, and no more: the chart's e2e test audits the API server
// and fails on a granted verb that went unused. Cached kinds need list and watch only; get is for
// reads that bypass the cache (the APIReader). finalizers/update is checked at admission when the
// owned Secret and ConfigMap carry blockOwnerDeletion (OwnerReferencesPermissionEnforcement).
// +kubebuilder:rbac:groups=tfstate.dev,resources=statebackends,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=tfstate.dev,resources=statebackends/status,verbs=patch
// +kubebuilder:rbac:groups=tfstate.dev,resources=statebackends/finalizers,verbs=update
// +kubebuilder:rbac:groups=tfstate.dev,resources=clusterstorageproviders;storageproviders,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=list;watch

// Reconcile moves one StateBackend towards its spec. Status is written once, in a deferred patch,
// except where a name must be recorded before the provider call that creates it.
func (r *StateBackendReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	sb, err := r.readBackend(ctx, req.NamespacedName)
	if err != nil || sb == nil {
		return ctrl.Result{}, err
	}
	s := &scope{sb: sb, base: sb.DeepCopy()}
	defer func() {
		if err := r.patchStatus(ctx, s); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, err)
		}
	}()

	if !sb.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	if !controllerutil.ContainsFinalizer(sb, Finalizer) {
		// Finalizer first: nothing is created at the provider until deletion is guaranteed to
		// come back here to revoke it.
		patch := client.MergeFrom(sb.DeepCopy())
		controllerutil.AddFinalizer(sb, Finalizer)
		if err := r.Patch(ctx, sb, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
		r.wrote(sb)
		s.base.Finalizers = sb.Finalizers
		s.base.ResourceVersion = sb.ResourceVersion
	}
	return r.reconcileNormal(ctx, s)
}

// scope carries one reconcile's state between phases.
type scope struct {
	sb *v1alpha1.StateBackend
	// base is the object as last written, for the status patch.
	base *v1alpha1.StateBackend
	// client and settings of the resolved provider.
	provider      provider.Client
	settings      provider.BackendSettings
	allowAdoption bool
	// allowCrossNamespaceReads: the provider lets readers (spec.bucketFrom) read buckets of
	// StateBackends in other namespaces.
	allowCrossNamespaceReads bool
	// bucketNaming is the provider's naming policy for new bucket names (nil: none).
	bucketNaming     *v1alpha1.BucketNamingPolicy
	providerResolved bool
	// refuseLocalEndpoints: the provider is a tenant's StorageProvider and the operator does not
	// allow local endpoints; the prober's calls are guarded like the provider client's.
	refuseLocalEndpoints bool
	// providerVersion is the resolved provider's UID and generation: a change of the provider's
	// spec sends its backends through the full path.
	providerVersion string
	// plannedCredential is the name of a new backend's first credential, recorded by this
	// reconcile before it created the bucket ("": none).
	plannedCredential string
}

func (r *StateBackendReconciler) reconcileNormal(ctx context.Context, s *scope) (ctrl.Result, error) {
	s.sb.Status.SecretName = secretName(s.sb)
	s.sb.Status.ConfigMapName = configMapName(s.sb)

	for _, phase := range []func(context.Context, *scope) (ctrl.Result, error){
		r.resolveProvider, r.steadyPath, r.reconcileBucket, r.reconcileCredential,
	} {
		res, err := phase(ctx, s)
		if errors.Is(err, errTerminalCondition) {
			// A condition says what must change (spec, or something outside the cluster such as a
			// conflicting Secret or bucket); look again slowly rather than never.
			return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
		}
		if errors.Is(err, errSteady) {
			return res, nil
		}
		if err != nil || !res.IsZero() || !s.providerResolved {
			// !providerResolved: resolveProvider set a condition and the provider watch brings
			// the backend back.
			return r.outcome(s, res, err)
		}
	}
	r.setCondition(s.sb, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady,
		fmt.Sprintf("Secret %q holds a verified credential for bucket %q", s.sb.Status.SecretName, s.sb.Status.BucketName))
	s.sb.Status.LastHandledReconcileAt = s.sb.Annotations[v1alpha1.AnnotationReconcileRequestedAt]
	// The full path checked everything: the next drift check is one interval away. A rotation or
	// the end of a grace period may be due sooner.
	r.drift.checked(client.ObjectKeyFromObject(s.sb), r.Now(), r.DriftInterval, false, s.providerVersion)
	return ctrl.Result{RequeueAfter: r.nextWake(s.sb)}, nil
}

// errSteady ends a reconcile that the steady path completed.
var errSteady = errors.New("steady")

// steadyPath hands a backend that is Ready and current to reconcileSteady, and lets every other
// backend (or one whose drift check found something) go on to the full path.
func (r *StateBackendReconciler) steadyPath(ctx context.Context, s *scope) (ctrl.Result, error) {
	secret, steady, err := r.steadySecret(ctx, s)
	if err != nil || !steady {
		return ctrl.Result{}, err
	}
	done, res, err := r.reconcileSteady(ctx, s, secret)
	switch {
	case !done:
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	default:
		return res, errSteady
	}
}

// outcome ends a reconcile that stopped early. A provider that asked us to slow down is looked at
// again after the time it named (the workqueue's backoff knows nothing of Retry-After); other
// errors go through fail.
func (r *StateBackendReconciler) outcome(s *scope, res ctrl.Result, err error) (ctrl.Result, error) {
	var rl *provider.RateLimitedError
	if errors.As(err, &rl) {
		r.setCondition(s.sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderRateLimited, err.Error())
		wait := max(rl.RetryAfter, time.Second)
		// Spread the backends a limit stopped together, so they do not all return at once.
		wait += time.Duration(rand.Int64N(int64(wait/10) + 1))
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	return res, r.fail(s, err)
}

// fail turns an error into the Ready condition (when a phase has not already said something more
// specific) and decides between retry and terminal.
func (r *StateBackendReconciler) fail(s *scope, err error) error {
	if err == nil {
		return nil
	}
	ready := meta.FindStatusCondition(s.sb.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Status == metav1.ConditionTrue || ready.ObservedGeneration != s.sb.Generation ||
		ready.Reason == v1alpha1.ReasonProgressing || ready.Reason == v1alpha1.ReasonProviderRateLimited {
		r.setCondition(s.sb, v1alpha1.ConditionReady, metav1.ConditionFalse, reasonFor(err), err.Error())
	}
	if isTerminal(err) {
		return reconcile.TerminalError(err)
	}
	return err
}

// reasonFor maps an error to a stable condition reason.
func reasonFor(err error) string {
	var rl *provider.RateLimitedError
	switch {
	case errors.As(err, &rl):
		return v1alpha1.ReasonProviderRateLimited
	case errors.Is(err, provider.ErrPermissionDenied):
		return v1alpha1.ReasonProviderPermissionDenied
	case errors.Is(err, provider.ErrEndpointRefused):
		// Before ErrInvalidConfig, which it wraps.
		return v1alpha1.ReasonEndpointRefused
	case errors.Is(err, provider.ErrInvalidConfig):
		return v1alpha1.ReasonProviderInvalid
	case errors.Is(err, provider.ErrQuotaExceeded):
		return v1alpha1.ReasonProviderQuotaExceeded
	default:
		return v1alpha1.ReasonProviderError
	}
}

func isTerminal(err error) bool {
	return errors.Is(err, provider.ErrInvalidConfig) || errors.Is(err, provider.ErrQuotaExceeded) ||
		errors.Is(err, provider.ErrCredentialTooBroad)
}

func (r *StateBackendReconciler) setCondition(sb *v1alpha1.StateBackend, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&sb.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: sb.Generation,
	})
}

// patchStatus writes status if it changed since it was last written.
func (r *StateBackendReconciler) patchStatus(ctx context.Context, s *scope) error {
	if s.sb.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(s.sb, Finalizer) {
		s.sb.Status.ObservedGeneration = s.sb.Generation
	}
	setKstatusConditions(&s.sb.Status.Conditions, s.sb.Generation)
	if equalStatus(s.base.Status, s.sb.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, s.sb, client.MergeFrom(s.base)); err != nil {
		return fmt.Errorf("patch status: %w", err)
	}
	r.wrote(s.sb)
	s.base = s.sb.DeepCopy()
	return nil
}

// readBackend reads a StateBackend, from the cache unless the cache has not yet seen this
// reconciler's last write of it. A reconcile woken right after another (by the Secret the first one
// wrote, or by its error's requeue) would otherwise start from a status older than its own last
// write: it would probe a proven credential again, issue anew after a rejection, or, finding the
// stale status equal to what it wants, skip the patch and leave the newer, wrong status on the
// server. Nil, nil when it does not exist.
func (r *StateBackendReconciler) readBackend(ctx context.Context, key types.NamespacedName) (*v1alpha1.StateBackend, error) {
	sb := &v1alpha1.StateBackend{}
	if err := r.Get(ctx, key, sb); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Delete(key)
			r.drift.forget(key)
			return nil, nil
		}
		return nil, err
	}
	last, ok := r.written.Load(key)
	if !ok {
		return sb, nil
	}
	if last == sb.ResourceVersion {
		r.written.Delete(key) // the cache has caught up
		return sb, nil
	}
	fresh := &v1alpha1.StateBackend{}
	if err := r.APIReader.Get(ctx, key, fresh); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Delete(key)
			return nil, nil
		}
		return nil, err
	}
	// Wait for the cache to reach this version (ours, or a later one of someone else's).
	r.written.Store(key, fresh.ResourceVersion)
	return fresh, nil
}

// wrote remembers the resourceVersion of a write of sb, for readBackend.
func (r *StateBackendReconciler) wrote(sb *v1alpha1.StateBackend) {
	r.written.Store(client.ObjectKeyFromObject(sb), sb.ResourceVersion)
}

func equalStatus(a, b v1alpha1.StateBackendStatus) bool { return equalityOf(a, b) }

// SetupWithManager registers the controller: StateBackends, the Secrets and ConfigMaps they own, and
// the providers they reference.
func (r *StateBackendReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, maxConcurrent int) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.RetryInterval == 0 {
		r.RetryInterval = 30 * time.Second
	}
	if r.DriftInterval == 0 {
		r.DriftInterval = 10 * time.Minute
	}
	if r.PropagationTimeout == 0 {
		r.PropagationTimeout = 3 * time.Minute
	}
	r.secrets = &secretReadCache{next: apiSecrets{r.APIReader}}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.StateBackend{}, indexProviderRef, func(o client.Object) []string {
		return []string{providerKey(o.(*v1alpha1.StateBackend))}
	}); err != nil {
		return fmt.Errorf("index providerRef: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.StateBackend{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionPredicate()))).
		// Only their metadata is cached (CacheByObject): a tenant may label any Secret as ours.
		Owns(&corev1.Secret{}, builder.OnlyMetadata).
		Owns(&corev1.ConfigMap{}, builder.OnlyMetadata).
		// Only a provider's spec concerns its backends: its status (the health check) changing must
		// not wake every backend, least of all one waiting out a provider's Retry-After.
		Watches(&v1alpha1.ClusterStorageProvider{}, handler.EnqueueRequestsFromMapFunc(r.backendsUsing(v1alpha1.ClusterStorageProviderKind)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.StorageProvider{}, handler.EnqueueRequestsFromMapFunc(r.backendsUsing(v1alpha1.StorageProviderKind)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controllerOptions(maxConcurrent)).
		Complete(r)
}

// backendsUsing maps a provider event to the StateBackends that reference the provider.
func (r *StateBackendReconciler) backendsUsing(kind v1alpha1.ProviderKind) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		list := &v1alpha1.StateBackendList{}
		key := string(kind) + "/" + o.GetNamespace() + "/" + o.GetName()
		opts := []client.ListOption{client.MatchingFields{indexProviderRef: key}}
		if kind == v1alpha1.StorageProviderKind {
			opts = append(opts, client.InNamespace(o.GetNamespace()))
		}
		if err := r.List(ctx, list, opts...); err != nil {
			log.FromContext(ctx).Error(err, "list StateBackends for provider", "provider", key)
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return reqs
	}
}

// providerKey is the index value of a StateBackend's provider reference.
func providerKey(sb *v1alpha1.StateBackend) string {
	kind := sb.Spec.ProviderRef.Kind
	if kind == "" {
		kind = v1alpha1.ClusterStorageProviderKind
	}
	ns := ""
	if kind == v1alpha1.StorageProviderKind {
		ns = sb.Namespace
	}
	return string(kind) + "/" + ns + "/" + sb.Spec.ProviderRef.Name
}
