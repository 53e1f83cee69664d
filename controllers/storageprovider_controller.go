package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/metrics"
	"github.com/tfstate-operator/tfstate-operator/internal/naming"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
)

// ProviderFinalizer keeps a provider object until no StateBackend uses it (a StateBackend without its
// provider could not revoke its credential when deleted) and until what the operator minted for the
// provider itself is revoked.
const ProviderFinalizer = "tfstate.dev/provider-protection"

// StorageProviderReconciler reports on ClusterStorageProviders and StorageProviders whether their
// admin credentials are there, accepted, and hold the permissions the operator needs, so a platform
// engineer sees a missing permission on the provider before any StateBackend trips over it. It
// holds deleted providers back while StateBackends use them (ProviderFinalizer).
type StorageProviderReconciler struct {
	client.Client
	// APIReader reads the credentials Secret (not cached: the operator caches only its own Secrets).
	APIReader client.Reader
	NewClient ClientFactory
	// Release revokes what the operator minted for a provider itself, before a deleted provider
	// object goes; nil when nothing is ever minted.
	Release func(ctx context.Context, src providers.Source) error
	// CheckInterval is how often a provider is checked again (the credentials Secret is not
	// watched); RetryInterval how soon after a failed check.
	CheckInterval, RetryInterval time.Duration
	// OperatorNamespace is where ClusterStorageProviders' credentials Secrets must live ("": not
	// enforced, for tests that run without a namespace of their own).
	OperatorNamespace string
	// ClusterID identifies this cluster (internal/clusterid).
	ClusterID string
	// AllowLocalEndpoints: see StateBackendReconciler.AllowLocalEndpoints.
	AllowLocalEndpoints bool
	// OrphanSweep is how often, and after what age, credentials of this cluster that no
	// StateBackend records are revoked (sweep.go); a zero Interval turns the sweep off.
	OrphanSweep OrphanSweepConfig
	// Recorder records the sweep's revocations on the provider object; nil records none.
	Recorder events.EventRecorder
	// Metrics counts the sweep's revocations; nil counts none.
	Metrics *metrics.Metrics
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	// sweeps remembers when each provider was last swept (sweep.go).
	sweeps sweepSchedule
}

// +kubebuilder:rbac:groups=tfstate.dev,resources=clusterstorageproviders/status;storageproviders/status,verbs=patch
// +kubebuilder:rbac:groups=tfstate.dev,resources=clusterstorageproviders;storageproviders,verbs=patch

// SetupWithManager registers one controller per provider kind.
func (r *StorageProviderReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.CheckInterval == 0 {
		r.CheckInterval = 10 * time.Minute
	}
	if r.RetryInterval == 0 {
		r.RetryInterval = 30 * time.Second
	}
	changed := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	if err := ctrl.NewControllerManagedBy(mgr).Named("clusterstorageprovider").
		For(&v1alpha1.ClusterStorageProvider{}, changed).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
			return r.reconcile(ctx, req, &v1alpha1.ClusterStorageProvider{})
		})); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("storageprovider").
		For(&v1alpha1.StorageProvider{}, changed).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
			return r.reconcile(ctx, req, &v1alpha1.StorageProvider{})
		}))
}

// providerObject is a ClusterStorageProvider or a StorageProvider.
type providerObject interface {
	client.Object
	spec() *v1alpha1.StorageProviderSpec
	status() *v1alpha1.StorageProviderStatus
	// credentialsNamespace is where the credentials Secret must be, and whether the spec may name it.
	credentialsNamespace() (string, error)
}

type clusterProvider struct {
	*v1alpha1.ClusterStorageProvider
	operatorNamespace string
}

func (p clusterProvider) spec() *v1alpha1.StorageProviderSpec     { return &p.Spec }
func (p clusterProvider) status() *v1alpha1.StorageProviderStatus { return &p.Status }
func (p clusterProvider) credentialsNamespace() (string, error) {
	return clusterCredentialsNamespace(p.ClusterStorageProvider, p.operatorNamespace)
}

// clusterCredentialsNamespace is where a ClusterStorageProvider's credentials Secret is read: the
// operator's own namespace and no other, so a provider can never be pointed at a Secret in a
// tenant's namespace (which the tenant could write).
func clusterCredentialsNamespace(p *v1alpha1.ClusterStorageProvider, operatorNamespace string) (string, error) {
	ref := p.Spec.CredentialsSecretRef
	if ref == nil {
		return "", nil
	}
	if operatorNamespace != "" && ref.Namespace != operatorNamespace {
		return "", fmt.Errorf("a ClusterStorageProvider's credentialsSecretRef must name a Secret in the operator's namespace %q, not %q", operatorNamespace, ref.Namespace)
	}
	return ref.Namespace, nil
}

type namespacedProvider struct{ *v1alpha1.StorageProvider }

func (p namespacedProvider) spec() *v1alpha1.StorageProviderSpec     { return &p.Spec }
func (p namespacedProvider) status() *v1alpha1.StorageProviderStatus { return &p.Status }
func (p namespacedProvider) credentialsNamespace() (string, error) {
	return storageProviderCredentialsNamespace(p.StorageProvider)
}

// errAmbientIdentity refuses a StorageProvider without a credentials Secret: with none, awsS3 would
// run on the default AWS credential chain, which is the operator's own identity (IRSA, EKS Pod
// Identity, node role) and would reach past allowedNamespaces, bucketNaming, adoption consent and
// permissionsBoundaryARN. Admission refuses it too; this catches objects stored before that rule.
var errAmbientIdentity = errors.New("a StorageProvider needs spec.credentialsSecretRef: without it awsS3 would use the operator's own AWS identity (the default credential chain), which only a ClusterStorageProvider may use")

// storageProviderCredentialsNamespace is where a StorageProvider's credentials Secret is read: its
// own namespace, which the tenant controls, and never the operator's identity instead.
func storageProviderCredentialsNamespace(p *v1alpha1.StorageProvider) (string, error) {
	ref := p.Spec.CredentialsSecretRef
	switch {
	case ref == nil:
		return "", errAmbientIdentity
	case ref.Namespace != "" && ref.Namespace != p.Namespace:
		return "", errors.New("a StorageProvider's credentialsSecretRef must name a Secret in its own namespace")
	}
	return p.Namespace, nil
}

func wrapProvider(o client.Object, operatorNamespace string) providerObject {
	switch p := o.(type) {
	case *v1alpha1.ClusterStorageProvider:
		return clusterProvider{p, operatorNamespace}
	case *v1alpha1.StorageProvider:
		return namespacedProvider{p}
	}
	panic(fmt.Sprintf("not a provider: %T", o))
}

func (r *StorageProviderReconciler) reconcile(ctx context.Context, req reconcile.Request, obj client.Object) (ctrl.Result, error) {
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p := wrapProvider(obj, r.OperatorNamespace)
	if !obj.GetDeletionTimestamp().IsZero() {
		return r.reconcileDelete(ctx, obj, p)
	}
	if !controllerutil.ContainsFinalizer(obj, ProviderFinalizer) {
		base := obj.DeepCopyObject().(client.Object)
		controllerutil.AddFinalizer(obj, ProviderFinalizer)
		if err := r.Patch(ctx, obj, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}
	base := obj.DeepCopyObject().(client.Object)
	cond, requeue, c := r.check(ctx, p)
	cond.ObservedGeneration = obj.GetGeneration()
	st := p.status()
	meta.SetStatusCondition(&st.Conditions, cond)
	setKstatusConditions(&st.Conditions, obj.GetGeneration())
	st.ObservedGeneration = obj.GetGeneration()
	if err := r.Status().Patch(ctx, obj, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, fmt.Errorf("patch provider status: %w", err)
	}
	// After the status patch, so that a long sweep never holds back what the check found.
	if cond.Status == metav1.ConditionTrue {
		requeue = r.sweepIfDue(ctx, obj, p, c, requeue)
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// reconcileDelete lets a deleted provider go once no StateBackend uses it and what the operator
// minted for it is revoked. Until then Ready says what it waits for.
// obj is the object p wraps (the one to patch).
func (r *StorageProviderReconciler) reconcileDelete(ctx context.Context, obj client.Object, p providerObject) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, ProviderFinalizer) {
		return ctrl.Result{}, nil
	}
	users, err := r.backendsUsing(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(users) > 0 {
		msg := fmt.Sprintf("deletion waits for %d StateBackend(s) that use this provider: %s", len(users), strings.Join(users[:min(len(users), 5)], ", "))
		if len(users) > 5 {
			msg += ", ..."
		}
		base := obj.DeepCopyObject().(client.Object)
		st := p.status()
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonProviderInUse, Message: msg, ObservedGeneration: p.GetGeneration()})
		setKstatusConditions(&st.Conditions, p.GetGeneration())
		if err := r.Status().Patch(ctx, obj, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, fmt.Errorf("patch provider status: %w", err)
		}
		// StateBackends are not watched here; their deletion takes a while anyway.
		return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
	}
	if err := r.release(ctx, p); err != nil {
		return ctrl.Result{}, err
	}
	r.sweeps.forget(p.GetUID())
	base := obj.DeepCopyObject().(client.Object)
	controllerutil.RemoveFinalizer(obj, ProviderFinalizer)
	if err := r.Patch(ctx, obj, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// backendsUsing lists "namespace/name" of the StateBackends that reference p.
func (r *StorageProviderReconciler) backendsUsing(ctx context.Context, p providerObject) ([]string, error) {
	kind := v1alpha1.ClusterStorageProviderKind
	opts := []client.ListOption{}
	if _, ok := p.(namespacedProvider); ok {
		kind = v1alpha1.StorageProviderKind
		opts = append(opts, client.InNamespace(p.GetNamespace()))
	}
	list := &v1alpha1.StateBackendList{}
	opts = append(opts, client.MatchingFields{indexProviderRef: string(kind) + "/" + p.GetNamespace() + "/" + p.GetName()})
	if err := r.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("list StateBackends using the provider: %w", err)
	}
	out := make([]string, 0, len(list.Items))
	for _, sb := range list.Items {
		out = append(out, sb.Namespace+"/"+sb.Name)
	}
	return out, nil
}

// release revokes what the operator minted for p. A provider whose credentials are gone or refused
// cannot revoke anything: that is logged (with what to delete by hand) and does not block the
// deletion. A transient failure is retried.
func (r *StorageProviderReconciler) release(ctx context.Context, p providerObject) error {
	if r.Release == nil {
		return nil
	}
	logger := log.FromContext(ctx)
	ns, err := p.credentialsNamespace()
	if err != nil {
		return nil // never had usable credentials
	}
	spec := p.spec()
	creds, _, err := credentialsData(ctx, apiSecrets{r.APIReader}, ns, spec.CredentialsSecretRef)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("read credentials Secret: %w", err)
		}
		logger.Info("the credentials Secret is gone: keys the operator minted for this provider cannot be revoked; delete them by hand",
			"keyNamePrefix", naming.AdminKeyPrefix(string(p.GetUID())))
		return nil
	}
	err = r.Release(ctx, r.source(p, creds))
	if errors.Is(err, provider.ErrInvalidConfig) {
		logger.Info("keys the operator minted for this provider cannot be revoked; delete them by hand",
			"keyNamePrefix", naming.AdminKeyPrefix(string(p.GetUID())), "error", err.Error())
		return nil
	}
	if err != nil {
		return fmt.Errorf("revoke the provider's minted keys: %w", err)
	}
	return nil
}

// source is what the provider factory needs of p.
func (r *StorageProviderReconciler) source(p providerObject, creds map[string][]byte) providers.Source {
	return providers.Source{UID: string(p.GetUID()), Namespace: p.GetNamespace(), Spec: p.spec(), Credentials: creds,
		RefuseLocalEndpoints: refuseLocalEndpoints(p.GetNamespace(), r.AllowLocalEndpoints)}
}

// refuseLocalEndpoints decides whether the operator's calls for a provider must stay off loopback
// and link-local addresses: only for a namespaced StorageProvider (providerNamespace set), whose
// endpoints a tenant writes, and unless the operator allows local endpoints. A
// ClusterStorageProvider is the platform's, which may well run its store next to the operator.
func refuseLocalEndpoints(providerNamespace string, allowLocal bool) bool {
	return providerNamespace != "" && !allowLocal
}

// check builds the provider's client and, where the provider can tell without changing anything,
// asks it whether its credentials are accepted and hold the permissions the operator needs. The
// client is returned with a Ready condition (nil otherwise).
func (r *StorageProviderReconciler) check(ctx context.Context, p providerObject) (metav1.Condition, time.Duration, provider.Client) {
	notReady := func(reason, msg string, requeue time.Duration) (metav1.Condition, time.Duration, provider.Client) {
		return metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: msg}, requeue, nil
	}
	ns, err := p.credentialsNamespace()
	if err != nil {
		return notReady(v1alpha1.ReasonProviderInvalid, err.Error(), 0)
	}
	spec := p.spec()
	creds, key, err := credentialsData(ctx, apiSecrets{r.APIReader}, ns, spec.CredentialsSecretRef)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return notReady(v1alpha1.ReasonCredentialsNotFound, fmt.Sprintf("credentials Secret %s not found", key), r.RetryInterval)
		}
		return notReady(v1alpha1.ReasonProviderError, fmt.Sprintf("read credentials Secret %s: %v", key, err), r.RetryInterval)
	}
	c, err := r.NewClient(ctx, r.source(p, creds), provider.Placement{})
	if err != nil {
		return notReady(reasonFor(err), err.Error(), r.CheckInterval)
	}
	checker, ok := c.(provider.Checker)
	if !ok {
		return metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonReady,
			Message: "the credentials Secret is present; this provider cannot check its permissions without changing anything"}, r.CheckInterval, c
	}
	err = checker.Check(ctx)
	var rl *provider.RateLimitedError
	switch {
	case err == nil:
		return metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonReady,
			Message: "the admin credentials were accepted and hold the permissions the operator needs"}, r.CheckInterval, c
	case errors.As(err, &rl):
		return notReady(v1alpha1.ReasonProviderRateLimited, err.Error(), max(rl.RetryAfter, time.Second))
	case errors.Is(err, provider.ErrInvalidConfig):
		// Includes ErrPermissionDenied; reasonFor tells them apart.
		return notReady(reasonFor(err), err.Error(), r.CheckInterval)
	default:
		return notReady(v1alpha1.ReasonProviderError, err.Error(), r.RetryInterval)
	}
}
