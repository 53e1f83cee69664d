package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/naming"
	"github.com/tfstate-operator/tfstate-operator/internal/ownership"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
)

// resolveProvider finds the referenced provider and its credentials and builds a client. A missing
// provider or Secret is a condition and a slow retry (the provider watch brings the backend back as
// soon as the provider appears), never a hot loop.
func (r *StateBackendReconciler) resolveProvider(ctx context.Context, s *scope) (ctrl.Result, error) {
	sb := s.sb
	ref := sb.Spec.ProviderRef
	var spec *v1alpha1.StorageProviderSpec
	var uid types.UID
	// notAllowed says why a ClusterStorageProvider does not serve the backend's namespace ("":
	// it does). The client is still built, to withdraw what the backend holds.
	secretNS, providerNS, notAllowed := "", "", ""
	switch ref.Kind {
	case v1alpha1.StorageProviderKind:
		p := &v1alpha1.StorageProvider{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: sb.Namespace, Name: ref.Name}, p); err != nil {
			return r.providerMissing(s, err, fmt.Sprintf("StorageProvider %q not found in namespace %q", ref.Name, sb.Namespace))
		}
		spec, providerNS, uid = &p.Spec, p.Namespace, p.UID
		s.providerVersion = fmt.Sprintf("%s/%d", p.UID, p.Generation)
		ns, err := storageProviderCredentialsNamespace(p)
		if err != nil {
			// Admission refuses both cases too; checked again because the credentials (or, without
			// any, the ambient identity) are the operator's to protect.
			r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderInvalid, err.Error())
			return ctrl.Result{}, nil // the provider watch brings the backend back when it is fixed
		}
		secretNS = ns
	default:
		p := &v1alpha1.ClusterStorageProvider{}
		if err := r.Get(ctx, types.NamespacedName{Name: ref.Name}, p); err != nil {
			return r.providerMissing(s, err, fmt.Sprintf("ClusterStorageProvider %q not found", ref.Name))
		}
		spec, uid = &p.Spec, p.UID
		s.providerVersion = fmt.Sprintf("%s/%d", p.UID, p.Generation)
		ns, err := clusterCredentialsNamespace(p, r.OperatorNamespace)
		if err != nil {
			r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderInvalid, err.Error())
			return ctrl.Result{}, nil // the provider watch brings the backend back when it is fixed
		}
		secretNS = ns
		allowed, msg, err := r.namespaceAllowed(ctx, sb, p)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !allowed {
			notAllowed = msg
		}
		if within, msg, err := r.namespaceQuota(ctx, sb, p); notAllowed == "" && (err != nil || !within) {
			if err != nil {
				return ctrl.Result{}, err
			}
			r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNamespaceQuotaExceeded, msg)
			// Re-checked when the provider changes (watched) and after the retry interval: another
			// backend of the namespace may have gone.
			return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
		}
	}
	location := providers.Location(spec, placement(sb))
	if from := movedFrom(&sb.Status, location); from != "" {
		// Before the credentials are read or a client is built: nothing may reach the new location.
		return r.locationChanged(s, from, location)
	}

	creds, secretKey, err := credentialsData(ctx, r.secrets, secretNS, spec.CredentialsSecretRef)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("read provider credentials: %w", err)
		}
		if notAllowed != "" {
			return r.refuseNamespace(ctx, s, notAllowed)
		}
		r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonCredentialsNotFound,
			fmt.Sprintf("provider credentials Secret %s not found", secretKey))
		return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
	}
	s.refuseLocalEndpoints = refuseLocalEndpoints(providerNS, r.AllowLocalEndpoints)
	c, err := r.NewClient(ctx, providers.Source{UID: string(uid), Namespace: providerNS, Spec: spec, Credentials: creds,
		RefuseLocalEndpoints: s.refuseLocalEndpoints}, placement(sb))
	if notAllowed != "" {
		s.provider = c // nil when it could not be built: refuseNamespace says what it could not revoke
		return r.refuseNamespace(ctx, s, notAllowed)
	}
	if err != nil {
		r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, reasonFor(err), err.Error())
		return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
	}
	if from := legacyMovedFrom(&sb.Status, c.Settings()); from != "" {
		return r.locationChanged(s, from, location)
	}
	if p := sb.Spec.Credentials; p != nil && p.ExpireAfter != nil && !c.Settings().Expiry {
		r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderInvalid,
			fmt.Sprintf("spec.credentials.expireAfter needs a provider whose credentials can expire (cloudflareR2, minio); %s cannot: use rotationPeriod", providers.Name(spec)))
		return ctrl.Result{}, nil
	}
	if p := sb.Spec.Credentials; p != nil && p.Temporary && !c.Settings().TemporaryCredentials {
		r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderInvalid,
			fmt.Sprintf("spec.credentials.temporary needs a provider that issues session credentials (cloudflareR2); %s cannot: use expireAfter alone", providers.Name(spec)))
		return ctrl.Result{}, nil
	}
	if sb.Spec.KeyPrefix != "" && !c.Settings().PrefixScoping {
		r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderInvalid,
			fmt.Sprintf("spec.keyPrefix needs a provider whose credentials can be confined to a key prefix (awsS3); %s cannot", providers.Name(spec)))
		return ctrl.Result{}, nil
	}
	s.provider, s.settings, s.allowAdoption, s.providerResolved = c, c.Settings(), spec.AllowBucketAdoption, true
	s.allowCrossNamespaceReads = spec.AllowCrossNamespaceBucketReads
	s.bucketNaming = spec.BucketNaming
	recordLocation(&s.sb.Status, location)
	s.sb.Status.Endpoint = s.settings.EndpointURL
	s.sb.Status.Region = s.settings.Region
	// Recorded with the bucket name, before the bucket is created: a later change of the
	// provider's default jurisdiction must not move an existing backend.
	s.sb.Status.Jurisdiction = v1alpha1.R2Jurisdiction(s.settings.Placement.Jurisdiction)
	return ctrl.Result{}, nil
}

// locationChanged stops a backend whose provider now resolves elsewhere than the location its
// bucket and credentials are at (see location.go). The provider watch brings it back when the
// provider changes again; status.endpoint and status.region keep the old location's values.
func (r *StateBackendReconciler) locationChanged(s *scope, from string, current v1alpha1.BucketLocation) (ctrl.Result, error) {
	ref := s.sb.Spec.ProviderRef
	kind := ref.Kind
	if kind == "" {
		kind = v1alpha1.ClusterStorageProviderKind
	}
	r.setCondition(s.sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderLocationChanged,
		locationChangedMessage(s.sb, fmt.Sprintf("%s %q", kind, ref.Name), from, current))
	return ctrl.Result{}, nil
}

// refuseNamespace refuses a backend whose namespace its ClusterStorageProvider does not serve and
// withdraws what it holds (s.provider set, or nil when no client could be built: then the
// credential is left, and the condition says so). It is re-checked when the provider changes
// (watched) and at the drift interval (a namespace's labels may change).
func (r *StateBackendReconciler) refuseNamespace(ctx context.Context, s *scope, msg string) (ctrl.Result, error) {
	sb := s.sb
	if c := meta.FindStatusCondition(s.base.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Reason != v1alpha1.ReasonNamespaceNotAllowed {
		// Once, when the refusal starts, not at every re-check.
		r.event(sb, corev1.EventTypeWarning, v1alpha1.ReasonNamespaceNotAllowed, "ResolveProvider", "%s", msg)
	}
	r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNamespaceNotAllowed, msg)
	if s.provider == nil {
		if sb.Status.Credential != nil || sb.Status.PreviousCredential != nil {
			r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNamespaceNotAllowed,
				msg+"; its credential could not be revoked yet: the provider's client cannot be built")
			return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
		}
		return ctrl.Result{RequeueAfter: r.DriftInterval}, nil
	}
	if err := r.withdraw(ctx, s, v1alpha1.ReasonNamespaceNotAllowed); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: r.DriftInterval}, nil
}

// namespaceAllowed applies the ClusterStorageProvider's allowedNamespaces to the StateBackend's
// namespace. A StateBackend being deleted is always allowed, so narrowing a provider never strands
// a credential that deletion must revoke.
func (r *StateBackendReconciler) namespaceAllowed(ctx context.Context, sb *v1alpha1.StateBackend, p *v1alpha1.ClusterStorageProvider) (bool, string, error) {
	if p.Spec.AllowedNamespaces == nil || !sb.DeletionTimestamp.IsZero() {
		return true, "", nil
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.AllowedNamespaces)
	if err != nil {
		return false, fmt.Sprintf("ClusterStorageProvider %q has an invalid allowedNamespaces selector: %v", p.Name, err), nil
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, types.NamespacedName{Name: sb.Namespace}, ns); err != nil {
		return false, "", fmt.Errorf("read namespace %q: %w", sb.Namespace, err)
	}
	if !sel.Matches(labels.Set(ns.Labels)) {
		return false, fmt.Sprintf("ClusterStorageProvider %q does not serve namespace %q (its allowedNamespaces selects %s); ask the platform team, or use another provider",
			p.Name, sb.Namespace, sel.String()), nil
	}
	return true, "", nil
}

// namespaceQuota reports whether sb is within its namespace's share of the ClusterStorageProvider p
// (spec.limits.maxBackendsPerNamespace), and why not. The namespace's backends on p come from the
// cache's providerRef index. A backend being deleted is always let through: it may hold what
// must be cleaned up.
func (r *StateBackendReconciler) namespaceQuota(ctx context.Context, sb *v1alpha1.StateBackend, p *v1alpha1.ClusterStorageProvider) (bool, string, error) {
	if p.Spec.Limits == nil || p.Spec.Limits.MaxBackendsPerNamespace == nil || !sb.DeletionTimestamp.IsZero() {
		return true, "", nil
	}
	limit := int(*p.Spec.Limits.MaxBackendsPerNamespace)
	list := &v1alpha1.StateBackendList{}
	if err := r.List(ctx, list, client.InNamespace(sb.Namespace), client.MatchingFields{indexProviderRef: providerKey(sb)}); err != nil {
		return false, "", fmt.Errorf("list the namespace's StateBackends on the provider: %w", err)
	}
	if withinQuota(sb, list.Items, limit) {
		return true, "", nil
	}
	return false, fmt.Sprintf("namespace %q already has %d StateBackends on ClusterStorageProvider %q (its spec.limits.maxBackendsPerNamespace); "+
		"this one gets no bucket or credential until one of them is deleted or the limit raised. Lowering the limit revokes nothing: "+
		"backends that hold a bucket or credential keep them", sb.Namespace, limit, p.Name), nil
}

// withinQuota decides whether sb is among the limit backends of its namespace that a provider
// serves, given the namespace's backends on that provider (sb may be among them). Deterministic,
// so that every reconcile of every backend agrees: backends being deleted do not count; a backend
// that already holds a bucket or credential is always served (never pushed out by another, nor by a
// lowered limit); the remaining places go to the oldest by creationTimestamp, then name.
func withinQuota(sb *v1alpha1.StateBackend, backends []v1alpha1.StateBackend, limit int) bool {
	if holdsSomething(sb) {
		return true
	}
	holders, ahead := 0, 0
	for i := range backends {
		b := &backends[i]
		switch {
		case b.UID == sb.UID && b.Name == sb.Name, !b.DeletionTimestamp.IsZero():
			continue
		case holdsSomething(b):
			holders++
		case b.CreationTimestamp.Before(&sb.CreationTimestamp) ||
			(b.CreationTimestamp.Equal(&sb.CreationTimestamp) && b.Name < sb.Name):
			ahead++
		}
	}
	return holders+ahead < limit
}

// holdsSomething reports whether the backend has a bucket or credential recorded: the provider has
// (or may have) made something for it.
func holdsSomething(sb *v1alpha1.StateBackend) bool {
	return sb.Status.BucketName != "" || sb.Status.Credential != nil || sb.Status.PreviousCredential != nil
}

// placement is where the backend's bucket lives: the spec's choice, else the one recorded when the
// bucket was first named, else (zero) the provider's default.
func placement(sb *v1alpha1.StateBackend) provider.Placement {
	if o := sb.Spec.CloudflareR2; o != nil && o.Jurisdiction != "" {
		return provider.Placement{Jurisdiction: string(o.Jurisdiction)}
	}
	return provider.Placement{Jurisdiction: string(sb.Status.Jurisdiction)}
}

func (r *StateBackendReconciler) providerMissing(s *scope, err error, msg string) (ctrl.Result, error) {
	if !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("read provider: %w", err)
	}
	r.setCondition(s.sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderNotFound, msg)
	// The provider watch requeues this backend when the provider is created.
	return ctrl.Result{}, nil
}

// bucketName is the bucket this backend uses: the spec's, else the one recorded in status, else
// the deterministic default under the provider's naming prefix. A recorded name wins over the
// default, so a naming policy added to the provider later never moves an existing bucket.
// The default is keyed with the cluster's bucket-name salt, so another tenant cannot predict it; a
// name recorded by the previous release (unsalted) is kept.
func (r *StateBackendReconciler) bucketName(sb *v1alpha1.StateBackend, policy *v1alpha1.BucketNamingPolicy) string {
	switch {
	case sb.Spec.BucketName != "":
		return sb.Spec.BucketName
	case sb.Status.BucketName != "":
		return sb.Status.BucketName
	default:
		return derivedBucketName(r.Ownership.BucketNameSalt(), sb, policy)
	}
}

// derivedBucketName is the default bucket name of sb under policy, keyed with salt (nil: the
// previous release's unkeyed name).
func derivedBucketName(salt []byte, sb *v1alpha1.StateBackend, policy *v1alpha1.BucketNamingPolicy) string {
	if policy != nil {
		return naming.PrefixedBucketName(salt, policy.Prefix, sb.Namespace, sb.Name)
	}
	return naming.DefaultBucketName(salt, sb.Namespace, sb.Name)
}

// refusedBucketName says why the backend's spec.bucketName does not fit the provider's naming
// policy ("" when it fits, or when there is no policy or no explicit name). A name already recorded
// in status was accepted before the policy and is kept: a policy never moves an existing bucket.
func refusedBucketName(sb *v1alpha1.StateBackend, policy *v1alpha1.BucketNamingPolicy) string {
	name := sb.Spec.BucketName
	if policy == nil || name == "" || sb.Status.BucketName == name {
		return ""
	}
	want := naming.RequiredBucketPrefix(policy.Prefix, policy.PerNamespace, sb.Namespace)
	if strings.HasPrefix(name, want) {
		return ""
	}
	msg := fmt.Sprintf("spec.bucketName %q does not start with %q, which the provider's bucketNaming requires", name, want)
	if policy.PerNamespace {
		msg += " (its prefix and this StateBackend's namespace)"
	}
	return msg + "; spec.bucketName is immutable: re-create the StateBackend with a fitting name, or leave it unset for the default"
}

// owner is the marker the backend writes on bucket: it names the backend and this cluster, sealed
// with the cluster's ownership key.
func (r *StateBackendReconciler) owner(sb *v1alpha1.StateBackend, bucket string) provider.Owner {
	return r.Ownership.Sealed(bucket, provider.Owner{Namespace: sb.Namespace, Name: sb.Name, UID: string(sb.UID), Cluster: r.ClusterID})
}

// reconcileBucket makes sure the bucket exists, is ours and keeps versions.
func (r *StateBackendReconciler) reconcileBucket(ctx context.Context, s *scope) (ctrl.Result, error) {
	if s.sb.Spec.BucketFrom != nil {
		return r.referencedBucket(ctx, s)
	}
	sb, p, policy := s.sb, s.provider, s.bucketNaming
	if msg := refusedBucketName(sb, policy); msg != "" {
		// Before the name is recorded and before any provider call: a refused name is never
		// observed, created or claimed.
		return ctrl.Result{}, r.refuseBucket(ctx, s, v1alpha1.ReasonBucketNameRefused, msg)
	}
	name := r.bucketName(sb, policy)
	// Written to the server before any provider call that could create or mark the bucket
	// (createBucket, claimBucket); observing it needs no record.
	sb.Status.BucketName = name

	obs, err := p.ObserveBucket(ctx, name)
	if err != nil {
		return r.bucketNotReady(s, fmt.Errorf("observe bucket %q: %w", name, err))
	}
	created := false
	if !obs.Exists {
		res, ok, err := r.createBucket(ctx, s, name)
		if err != nil || !res.IsZero() {
			return res, err
		}
		if ok {
			// CreateBucket wrote the marker: what observing it again would show, without the call.
			want := r.owner(sb, name)
			obs, created = provider.BucketObservation{Exists: true, Owner: &want}, true
		} else if obs, err = p.ObserveBucket(ctx, name); err != nil {
			return r.bucketNotReady(s, fmt.Errorf("observe bucket %q: %w", name, err))
		}
	}
	if res, err := r.claimBucket(ctx, s, name, obs); err != nil || !res.IsZero() {
		return res, err
	}

	sb.Status.Versioning = v1alpha1.VersioningUnsupported
	if s.settings.Versioning {
		if !obs.Versioning {
			if err := p.EnableVersioning(ctx, name); err != nil && !errors.Is(err, provider.ErrNotSupported) {
				return r.bucketNotReady(s, fmt.Errorf("enable versioning on %q: %w", name, err))
			} else if err == nil {
				sb.Status.Versioning = v1alpha1.VersioningEnabled
			}
		} else {
			sb.Status.Versioning = v1alpha1.VersioningEnabled
		}
	}
	// State holds secrets: a bucket of ours that was opened to the public outside the operator
	// is closed again. One this reconcile created is private.
	if !created {
		if err := r.closePublicAccess(ctx, s, name); err != nil {
			return r.bucketNotReady(s, err)
		}
	}
	msg := fmt.Sprintf("bucket %q exists and is owned by this StateBackend", name)
	if sb.Status.Versioning != v1alpha1.VersioningEnabled {
		msg += "; the store has no object versioning, so earlier state versions are not kept"
	}
	r.setCondition(sb, v1alpha1.ConditionBucketReady, metav1.ConditionTrue, v1alpha1.ReasonReady, msg)
	return ctrl.Result{}, nil
}

// closePublicAccess undoes what opened the bucket to the public outside the operator
// (RepairBucketAccess) and says so in a warning event. The full path and the steady path's
// public-access check share it.
func (r *StateBackendReconciler) closePublicAccess(ctx context.Context, s *scope, name string) error {
	opened, err := s.provider.RepairBucketAccess(ctx, name)
	if err != nil {
		return fmt.Errorf("check public access to bucket %q: %w", name, err)
	}
	if opened {
		r.event(s.sb, corev1.EventTypeWarning, v1alpha1.ReasonBucketAccessRepaired, "RepairBucketAccess",
			"bucket %q had been opened to the public outside the operator; public access was removed", name)
	}
	return nil
}

// referencedBucket is reconcileBucket for a reader (spec.bucketFrom): the bucket is the other
// StateBackend's, once it has one; nothing is created, marked or changed.
func (r *StateBackendReconciler) referencedBucket(ctx context.Context, s *scope) (ctrl.Result, error) {
	sb, ref := s.sb, s.sb.Spec.BucketFrom
	ns := ref.Namespace
	if ns == "" {
		ns = sb.Namespace
	}
	refuse := func(msg string) (ctrl.Result, error) {
		return ctrl.Result{}, r.refuseBucket(ctx, s, v1alpha1.ReasonBucketReferenceRefused, msg)
	}
	if ns != sb.Namespace && !s.allowCrossNamespaceReads {
		return refuse(fmt.Sprintf("spec.bucketFrom names StateBackend %s/%s in another namespace; the provider does not allow cross-namespace reads (allowCrossNamespaceBucketReads)", ns, ref.Name))
	}
	other := &v1alpha1.StateBackend{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, other); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		return r.referenceNotReady(s, fmt.Sprintf("StateBackend %s/%s (spec.bucketFrom) not found", ns, ref.Name))
	}
	sameProvider := other.Spec.ProviderRef == sb.Spec.ProviderRef &&
		(sb.Spec.ProviderRef.Kind != v1alpha1.StorageProviderKind || ns == sb.Namespace)
	if !sameProvider {
		return refuse(fmt.Sprintf("StateBackend %s/%s uses another provider; a reader must use the provider of the bucket it reads", ns, ref.Name))
	}
	if other.Spec.BucketFrom != nil {
		return refuse(fmt.Sprintf("StateBackend %s/%s reads a bucket itself; name the StateBackend that owns it", ns, ref.Name))
	}
	if c := meta.FindStatusCondition(other.Status.Conditions, v1alpha1.ConditionBucketReady); other.Status.BucketName == "" || c == nil || c.Status != metav1.ConditionTrue {
		return r.referenceNotReady(s, fmt.Sprintf("StateBackend %s/%s has no bucket ready yet", ns, ref.Name))
	}
	// Status is not the operator's own record: whoever may write statebackends/status can point
	// bucketName at any bucket. The ownership marker, which only the operator writes, must name
	// the referenced backend before a reader is given a credential for the bucket.
	obs, err := s.provider.ObserveBucket(ctx, other.Status.BucketName)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("observe bucket %q of StateBackend %s/%s: %w", other.Status.BucketName, ns, ref.Name, err)
	}
	if !markerNames(r.Ownership, r.ClusterID, obs, other) {
		return refuse(fmt.Sprintf("bucket %q, which the status of StateBackend %s/%s names, is not marked as that StateBackend's", other.Status.BucketName, ns, ref.Name))
	}
	sb.Status.BucketName, sb.Status.Versioning = other.Status.BucketName, other.Status.Versioning
	r.setCondition(sb, v1alpha1.ConditionBucketReady, metav1.ConditionTrue, v1alpha1.ReasonReady,
		fmt.Sprintf("reads bucket %q of StateBackend %s/%s", other.Status.BucketName, ns, ref.Name))
	return ctrl.Result{}, nil
}

// markerNames says the bucket exists and its ownership marker holds for other (ownership.Judge:
// sealed for it by this cluster's key, or naming its namespace, name and UID exactly as markers
// of the previous release do until its own reconcile seals them): what lets a reader trust the
// bucket other's status names. It is the one place that decides it.
func markerNames(key ownership.Key, cluster string, obs provider.BucketObservation, other *v1alpha1.StateBackend) bool {
	want := provider.Owner{Namespace: other.Namespace, Name: other.Name, UID: string(other.UID), Cluster: cluster}
	return obs.Exists && ownership.Judge(key, other.Status.BucketName, obs.Owner, want).Holds()
}

func (r *StateBackendReconciler) referenceNotReady(s *scope, msg string) (ctrl.Result, error) {
	r.setCondition(s.sb, v1alpha1.ConditionBucketReady, metav1.ConditionFalse, v1alpha1.ReasonBucketReferenceNotReady, msg)
	r.setCondition(s.sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketReferenceNotReady, msg)
	return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
}

// createBucket creates the bucket. The intent is recorded in the BucketReady condition first
// (reason Creating), so that a crash between the create call and the ownership marker is repaired
// by the next reconcile instead of being mistaken for somebody else's bucket.
// The same patch records the bucket's name. It reports created=true when the bucket was created
// (and marked) by this call.
func (r *StateBackendReconciler) createBucket(ctx context.Context, s *scope, name string) (ctrl.Result, bool, error) {
	sb := s.sb
	r.setCondition(sb, v1alpha1.ConditionBucketReady, metav1.ConditionFalse, reasonCreating, fmt.Sprintf("creating bucket %q", name))
	if sb.Status.Credential == nil && sb.Status.PreviousCredential == nil {
		// A new backend: the name of its first credential is recorded in the same write, so
		// that issuing it needs no write of its own (see issue).
		s.plannedCredential = naming.CredentialName(r.ClusterID, string(sb.UID), r.Now())
		sb.Status.Credential = &v1alpha1.CredentialStatus{Name: s.plannedCredential}
	}
	if err := r.patchStatus(ctx, s); err != nil {
		return ctrl.Result{}, false, err
	}
	err := s.provider.CreateBucket(ctx, provider.BucketRequest{Name: name, Owner: r.owner(sb, name)})
	switch {
	case err == nil:
		r.event(sb, corev1.EventTypeNormal, v1alpha1.ReasonBucketCreated, "CreateBucket", "created bucket %q", name)
		return ctrl.Result{}, true, nil
	case errors.Is(err, provider.ErrBucketNameTaken):
		// Someone else got the name between observe and create: it is not ours to claim.
		r.setCondition(sb, v1alpha1.ConditionBucketReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNotReady,
			fmt.Sprintf("bucket name %q was taken by someone else", name))
		return ctrl.Result{}, false, nil
	default:
		// The call may have taken effect before it failed (a lost reply): keep reason Creating so
		// that the next reconcile marks the bucket as ours instead of refusing it as foreign.
		err = fmt.Errorf("create bucket %q: %w", name, err)
		r.setCondition(sb, v1alpha1.ConditionBucketReady, metav1.ConditionFalse, reasonCreating, err.Error())
		return ctrl.Result{}, false, err
	}
}

// reasonCreating marks a create call that was started; see createBucket.
const reasonCreating = "Creating"

// claimBucket decides whether an existing bucket is ours (ownership.Judge), adopts, reclaims or
// seals its marker again where that is allowed, and refuses it otherwise (no credential is issued
// for a refused bucket).
func (r *StateBackendReconciler) claimBucket(ctx context.Context, s *scope, name string, obs provider.BucketObservation) (ctrl.Result, error) {
	sb, want := s.sb, r.owner(s.sb, name)
	if obs.Elsewhere != "" {
		// Another account's bucket or one in another region: not even its marker can be read,
		// and adopting it could only fail (or hand a tenant someone else's state).
		return ctrl.Result{}, r.refuseBucket(ctx, s, v1alpha1.ReasonBucketNotOwned, fmt.Sprintf("bucket %q already exists %s, out of "+
			"the provider's reach; it is never adopted: name another bucket (spec.bucketName, or the provider's bucket naming)", name, obs.Elsewhere))
	}
	var reason, action string
	switch verdict, o := ownership.Judge(r.Ownership, name, obs.Owner, want), obs.Owner; verdict {
	case ownership.Ours:
		return ctrl.Result{}, nil
	case ownership.Reseal:
		// The marker names this very backend (its UID, which other tenants cannot see) but its
		// seal is missing or stale: a bucket of the previous release, or the key was regenerated.
		reason, action = v1alpha1.ReasonBucketResealed, "sealed the ownership marker of bucket %q again with the cluster's ownership key"
	case ownership.Reclaim:
		// The bucket of an earlier StateBackend of this namespace and name in this cluster, kept
		// by deletionPolicy Retain and sealed by this operator: re-created backends get their
		// state back.
		reason, action = "BucketReclaimed", "re-claimed bucket %q retained by an earlier StateBackend of the same name"
	case ownership.OwnedByOtherCluster:
		return ctrl.Result{}, r.refuseBucket(ctx, s, v1alpha1.ReasonBucketOwnedByOther, fmt.Sprintf("bucket %q belongs to "+
			"StateBackend %s/%s of another cluster (%q) sharing the storage account; it is never adopted. A restored or migrated "+
			"cluster takes its buckets back by running the operator with --cluster-id=%s and the Secret %s of the cluster it replaces",
			name, o.Namespace, o.Name, o.Cluster, o.Cluster, ownership.SecretName))
	case ownership.OwnedByOther:
		return ctrl.Result{}, r.refuseBucket(ctx, s, v1alpha1.ReasonBucketOwnedByOther,
			fmt.Sprintf("bucket %q belongs to StateBackend %s/%s; it is never adopted", name, o.Namespace, o.Name))
	case ownership.Unmarked, ownership.Unverified:
		switch {
		case verdict == ownership.Unmarked && bucketCreateStarted(sb, name, s.bucketNaming, r.Ownership.BucketNameSalt()):
			reason, action = "BucketMarked", "marked bucket %q created by an interrupted reconcile as owned"
		case sb.Spec.AdoptExistingBucket && s.allowAdoption:
			reason, action = "BucketAdopted", "adopted existing bucket %q"
		default:
			return ctrl.Result{}, r.refuseBucket(ctx, s, v1alpha1.ReasonBucketNotOwned, notOwnedMessage(sb, name, verdict))
		}
	}
	if s.base.Status.BucketName != name {
		// Recorded before the marker is written, so a crash leaves the name the marker names.
		if err := r.patchStatus(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := s.provider.MarkBucket(ctx, name, want); err != nil {
		return r.bucketNotReady(s, fmt.Errorf("mark bucket %q: %w", name, err))
	}
	r.event(sb, corev1.EventTypeNormal, reason, "MarkBucket", action, name)
	return ctrl.Result{}, nil
}

// notOwnedMessage says why an existing bucket without a marker this backend can trust is refused,
// and how to take it over: adoption, which is also how a bucket retained before the ownership key
// was lost (or by the previous release) is taken back.
func notOwnedMessage(sb *v1alpha1.StateBackend, name string, verdict ownership.Verdict) string {
	msg := fmt.Sprintf("bucket %q already exists and is not owned by this StateBackend", name)
	if verdict == ownership.Unverified {
		msg = fmt.Sprintf("bucket %q carries a marker naming %s/%s with another UID and no seal the cluster's ownership key "+
			"verifies (retained before the key was lost or by an earlier release, or forged)", name, sb.Namespace, sb.Name)
	}
	if sb.Spec.AdoptExistingBucket {
		return msg + "; the provider does not allow adoption (spec.allowBucketAdoption)"
	}
	return msg + "; set spec.adoptExistingBucket (and allowBucketAdoption on the provider) to take it over"
}

// bucketCreateStarted says an interrupted create of this bucket is to be finished (marked). Status
// is untrusted input (statebackends/status may be granted by mistake): the intent is honoured only
// for a name the operator itself derives for this backend, or the one its spec names, never for a
// name status alone points at (someone else's unmarked bucket).
func bucketCreateStarted(sb *v1alpha1.StateBackend, name string, policy *v1alpha1.BucketNamingPolicy, salt []byte) bool {
	// The previous release derived unsalted names: one it recorded before its create was
	// interrupted is still finished.
	legacy := name == sb.Status.BucketName &&
		(name == derivedBucketName(nil, sb, policy) || name == naming.DefaultBucketName(nil, sb.Namespace, sb.Name))
	derived := name == sb.Spec.BucketName || name == derivedBucketName(salt, sb, policy) || legacy ||
		(policy != nil && name == naming.DefaultBucketName(salt, sb.Namespace, sb.Name))
	if !derived {
		return false
	}
	for _, c := range sb.Status.Conditions {
		if c.Type == v1alpha1.ConditionBucketReady {
			return c.Reason == reasonCreating
		}
	}
	return false
}

// errTerminalCondition is returned by a phase that has set a condition which only a spec change
// (or a change outside the cluster) can clear.
var errTerminalCondition = errors.New("waiting for the spec or the bucket to change")

// refuseBucket says why the bucket is refused and withdraws whatever the backend already holds: a
// refused backend holds nothing (a squatter whose bucket turned out to be another's keeps no key
// to it). It returns errTerminalCondition, or the error that kept the withdrawal from finishing
// (retried).
func (r *StateBackendReconciler) refuseBucket(ctx context.Context, s *scope, reason, msg string) error {
	r.setCondition(s.sb, v1alpha1.ConditionBucketReady, metav1.ConditionFalse, reason, msg)
	r.setCondition(s.sb, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	r.event(s.sb, corev1.EventTypeWarning, reason, "ClaimBucket", "%s", msg)
	if err := r.withdraw(ctx, s, reason); err != nil {
		return err
	}
	return errTerminalCondition
}

// withdraw revokes every credential listed under the backend's prefix and deletes the Secret it
// controls (never one it does not), so that a refused backend holds nothing. The Secret is deleted
// rather than emptied: a runner then fails on a missing Secret, which names the problem, instead
// of on an empty key, and the operator writes a fresh one if the refusal is lifted. Status forgets
// the credentials, so the next issue starts clean. Nothing is listed for a backend that never
// recorded a credential and holds no Secret: issue records the name before it calls the provider.
func (r *StateBackendReconciler) withdraw(ctx context.Context, s *scope, reason string) error {
	sb := s.sb
	secret := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: sb.Namespace, Name: secretName(sb)}, secret)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("read Secret %q: %w", secretName(sb), err)
	}
	ours := err == nil && metav1.IsControlledBy(secret, sb)
	if sb.Status.Credential != nil || sb.Status.PreviousCredential != nil || ours {
		// The previous release's names too, whatever status says: a refusal is rare, and what it
		// leaves live is what the refusal is meant to withdraw.
		if err := r.revokeAll(ctx, s, "", "refused ("+reason+")", true); err != nil {
			return err
		}
	}
	if ours {
		if err := r.Delete(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete Secret %q: %w", secret.Name, err)
		}
		r.event(sb, corev1.EventTypeWarning, reason, "DeleteSecret", "deleted Secret %q: a refused StateBackend holds no credential", secret.Name)
	}
	sb.Status.Credential, sb.Status.PreviousCredential = nil, nil
	if meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionCredentialReady) != nil {
		r.setCondition(sb, v1alpha1.ConditionCredentialReady, metav1.ConditionFalse, reason, "no credential is held while the bucket or provider is refused")
	}
	return nil
}

func (r *StateBackendReconciler) bucketNotReady(s *scope, err error) (ctrl.Result, error) {
	r.setCondition(s.sb, v1alpha1.ConditionBucketReady, metav1.ConditionFalse, reasonFor(err), err.Error())
	return ctrl.Result{}, err
}

// event records an event. Messages carry names and ids, never secret material.
func (r *StateBackendReconciler) event(sb *v1alpha1.StateBackend, typ, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(sb, nil, typ, reason, action, note, args...)
	}
}

// reconcileDelete revokes every credential of the backend, deletes the bucket when the policy says
// so and it is empty, and then releases the finalizer.
func (r *StateBackendReconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	sb := s.sb
	if !containsFinalizer(sb) {
		return ctrl.Result{}, nil
	}
	if sb.Status.BucketName == "" && sb.Status.Credential == nil {
		// Names are recorded in status before any provider call that creates something, so a
		// backend with neither never reached a provider (a typo in providerRef, say): there is
		// nothing to revoke, and waiting for a provider that may never exist would block deletion.
		return ctrl.Result{}, r.releaseFinalizer(ctx, sb)
	}
	r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonDeleting, "revoking the credential")
	if res, err := r.resolveProvider(ctx, s); err != nil || !res.IsZero() || !s.providerResolved {
		// Without the provider nothing can be revoked; the condition says why the finalizer stays.
		if err == nil && res.IsZero() {
			res = ctrl.Result{RequeueAfter: r.RetryInterval}
		}
		return r.outcome(s, res, err)
	}
	if err := r.revokeAll(ctx, s, "", "StateBackend deleted", true); err != nil {
		return r.outcome(s, ctrl.Result{}, err)
	}
	// The Secret would be garbage-collected with its owner; deleting it now stops runners from
	// picking up a revoked key in the meantime.
	if err := r.deleteOwned(ctx, sb, &corev1.Secret{}, secretName(sb)); err != nil {
		return ctrl.Result{}, err
	}
	// The ConfigMap too, so a StateBackend re-created under the same name at once does not find
	// its predecessor's ConfigMap waiting for the garbage collector.
	if err := r.deleteOwned(ctx, sb, &corev1.ConfigMap{}, configMapName(sb)); err != nil {
		return ctrl.Result{}, err
	}
	if sb.Spec.DeletionPolicy == v1alpha1.DeletionPolicyDelete && sb.Status.BucketName != "" {
		if res, err := r.deleteBucket(ctx, s); err != nil || !res.IsZero() {
			return r.outcome(s, res, err)
		}
	}
	if err := r.releaseFinalizer(ctx, sb); err != nil {
		return ctrl.Result{}, err
	}
	log.FromContext(ctx).Info("StateBackend deleted", "bucket", sb.Status.BucketName, "deletionPolicy", sb.Spec.DeletionPolicy)
	return ctrl.Result{}, nil
}

func (r *StateBackendReconciler) releaseFinalizer(ctx context.Context, sb *v1alpha1.StateBackend) error {
	patch := client.MergeFrom(sb.DeepCopy())
	removeFinalizer(sb)
	if err := r.Patch(ctx, sb, patch); err != nil {
		return fmt.Errorf("remove finalizer: %w", err)
	}
	// The backend is gone once its finalizer is: no later read will clear its entries.
	r.written.Delete(client.ObjectKeyFromObject(sb))
	r.drift.forget(client.ObjectKeyFromObject(sb))
	return nil
}

// deleteBucket removes the bucket only if it is ours and empty. A non-empty bucket blocks the
// deletion with reason BucketNotEmpty: the operator never empties a bucket.
func (r *StateBackendReconciler) deleteBucket(ctx context.Context, s *scope) (ctrl.Result, error) {
	sb, name := s.sb, s.sb.Status.BucketName
	obs, err := s.provider.ObserveBucket(ctx, name)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("observe bucket %q: %w", name, err)
	}
	if !obs.Exists {
		return ctrl.Result{}, nil
	}
	if !ownership.Judge(r.Ownership, name, obs.Owner, r.owner(sb, name)).Holds() {
		// Never ours (refused), taken over since, or a marker naming only this namespace and name
		// (a retained bucket of an earlier backend, or a tenant's forgery): not ours to delete.
		r.event(sb, corev1.EventTypeNormal, "BucketKept", "DeleteBucket", "bucket %q is not owned by this StateBackend and was left alone", name)
		return ctrl.Result{}, nil
	}
	err = s.provider.DeleteBucket(ctx, name)
	switch {
	case err == nil:
		r.event(sb, corev1.EventTypeNormal, "BucketDeleted", "DeleteBucket", "deleted empty bucket %q", name)
		return ctrl.Result{}, nil
	case errors.Is(err, provider.ErrBucketNotEmpty):
		msg := fmt.Sprintf("deletionPolicy is Delete but bucket %q still holds objects; the operator never empties a bucket: "+
			"remove the objects (or set deletionPolicy: Retain) to finish the deletion", name)
		r.setCondition(sb, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNotEmpty, msg)
		r.setCondition(sb, v1alpha1.ConditionBucketReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNotEmpty, msg)
		r.event(sb, corev1.EventTypeWarning, v1alpha1.ReasonBucketNotEmpty, "DeleteBucket", "%s", msg)
		return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
	default:
		return ctrl.Result{}, fmt.Errorf("delete bucket %q: %w", name, err)
	}
}

// deleteOwned deletes the named object if this StateBackend controls it.
func (r *StateBackendReconciler) deleteOwned(ctx context.Context, sb *v1alpha1.StateBackend, obj client.Object, name string) error {
	if err := r.Get(ctx, types.NamespacedName{Namespace: sb.Namespace, Name: name}, obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(obj, sb) {
		return nil
	}
	if err := r.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}
