package controllers

import (
	"bytes"
	"context"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
)

func containsFinalizer(sb *v1alpha1.StateBackend) bool {
	return controllerutil.ContainsFinalizer(sb, Finalizer)
}

func removeFinalizer(sb *v1alpha1.StateBackend) { controllerutil.RemoveFinalizer(sb, Finalizer) }

func equalityOf(a, b v1alpha1.StateBackendStatus) bool { return equality.Semantic.DeepEqual(a, b) }

// mergeMaps returns base with extra's entries set; base may be nil.
func mergeMaps(base, extra map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(extra))
	maps.Copy(out, base)
	maps.Copy(out, extra)
	return out
}

// sameObject compares the metadata the operator writes.
func sameObject(a, b metav1.ObjectMeta) bool {
	return maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations) &&
		equality.Semantic.DeepEqual(a.OwnerReferences, b.OwnerReferences)
}

func bytesEqual(a, b []byte) bool { return bytes.Equal(a, b) }

// deletionPredicate passes updates that start a deletion, which do not change the generation of
// every kind of object.
func deletionPredicate() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !e.ObjectNew.GetDeletionTimestamp().IsZero()
		},
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// controllerOptions sizes the worker pool and the per-item retry backoff (1 s doubling to 5 min), so
// that a failing provider is retried patiently rather than hammered.
func controllerOptions(maxConcurrent int) controller.Options {
	if maxConcurrent <= 0 {
		maxConcurrent = 16
	}
	return controller.Options{
		MaxConcurrentReconciles: maxConcurrent,
		RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, 5*time.Minute),
	}
}

// credentialsData reads the data of the credentials Secret ref names, in namespace ns (the one the
// provider kind allows). A spec without credentialsSecretRef (AWS S3 on the default credential
// chain) has none: nil data and no error.
func credentialsData(ctx context.Context, c secretGetter, ns string, ref *v1alpha1.SecretReference) (map[string][]byte, types.NamespacedName, error) {
	if ref == nil {
		return nil, types.NamespacedName{}, nil
	}
	key := types.NamespacedName{Namespace: ns, Name: ref.Name}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, key, secret); err != nil {
		return nil, key, err
	}
	if secret.Data == nil {
		return map[string][]byte{}, key, nil // named, but empty: not "no Secret"
	}
	return secret.Data, key, nil
}

// secretGetter reads one Secret: the API server, or a secretReadCache in front of it.
type secretGetter interface {
	Get(ctx context.Context, key types.NamespacedName, secret *corev1.Secret) error
}

// apiSecrets reads Secrets from a client.Reader.
type apiSecrets struct{ client.Reader }

func (a apiSecrets) Get(ctx context.Context, key types.NamespacedName, secret *corev1.Secret) error {
	return a.Reader.Get(ctx, key, secret)
}

// providerSecretTTL is how long a provider's credentials Secret, read from the API server (it is
// not cached: it carries no operator label), is reused. Every reconcile needs it; during a burst of
// new backends re-reading it each time would be most of the operator's reads. A changed Secret is
// seen within the TTL.
const providerSecretTTL = 5 * time.Second

// secretReadCache reads Secrets through next and keeps each for providerSecretTTL. Only successful
// reads are kept: a missing Secret is asked for again at once. Expired entries are dropped whenever
// one is added, so it holds only the Secrets read in the last providerSecretTTL: tenants' providers
// come and go, and a Secret read once must not stay in memory for the process's life.
type secretReadCache struct {
	next secretGetter
	now  func() time.Time // nil: time.Now
	mu   sync.Mutex
	m    map[types.NamespacedName]cachedSecret
}

type cachedSecret struct {
	secret *corev1.Secret
	at     time.Time
}

func (c *secretReadCache) Get(ctx context.Context, key types.NamespacedName, secret *corev1.Secret) error {
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now().Sub(e.at) < providerSecretTTL {
		e.secret.DeepCopyInto(secret)
		return nil
	}
	if err := c.next.Get(ctx, key, secret); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[types.NamespacedName]cachedSecret{}
	}
	at := now()
	for k, e := range c.m {
		if at.Sub(e.at) >= providerSecretTTL {
			delete(c.m, k)
		}
	}
	c.m[key] = cachedSecret{secret: secret.DeepCopy(), at: at}
	return nil
}
