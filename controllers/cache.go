package controllers

// This file owns what the manager's cache holds of Secrets and ConfigMaps: only the metadata the
// operator reads, of the objects that carry its managed-by label. A tenant can put that label on
// any Secret of its namespace, so what the cache holds of one object must not depend on its size:
// the contents of a Secret or ConfigMap are read from the API server when needed, never cached.

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheByObject is the manager's cache.Options.ByObject: Secrets and ConfigMaps are watched only
// when they carry the operator's label, and only as their trimmed metadata (the controller watches
// them with builder.OnlyMetadata).
func CacheByObject() map[client.Object]cache.ByObject {
	managed := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue})
	return map[client.Object]cache.ByObject{
		&corev1.Secret{}:    {Label: managed, Transform: trimMetadata},
		&corev1.ConfigMap{}: {Label: managed, Transform: trimMetadata},
	}
}

// UncachedObjects is the manager's client.CacheOptions.DisableFor: a typed read of a Secret or
// ConfigMap goes to the API server, so that no code path can start an informer that would cache
// whole Secrets.
func UncachedObjects() []client.Object {
	return []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}
}

// keptAnnotations are the annotations the steady path reads from a cached Secret's metadata.
var keptAnnotations = []string{
	AnnotationCredentialName, AnnotationCredentialID, AnnotationCredentialAccess, AnnotationBucket,
	AnnotationCredentialDigest, AnnotationRenderDigest,
}

// trimMetadata keeps of a cached object only what the operator reads: its identity, version, its
// controller reference, the operator's labels and annotations, and its deletion. Everything else a
// tenant may set (other labels and annotations, owner references, managed fields) is dropped, so
// one cached object costs a bounded amount whatever it carries.
func trimMetadata(in any) (any, error) {
	p, ok := in.(*metav1.PartialObjectMetadata)
	if !ok {
		// Only metadata informers are expected (UncachedObjects); anything else is left alone.
		return in, nil
	}
	out := &metav1.PartialObjectMetadata{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              p.Name,
			Namespace:         p.Namespace,
			UID:               p.UID,
			ResourceVersion:   p.ResourceVersion,
			DeletionTimestamp: p.DeletionTimestamp,
			Labels:            pick(p.Labels, LabelManagedBy, LabelStateBackend),
			Annotations:       pick(p.Annotations, keptAnnotations...),
		},
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		out.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return out, nil
}

// pick returns the entries of m under keys, nil when there are none.
func pick(m map[string]string, keys ...string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if v, ok := m[k]; ok {
			if out == nil {
				out = make(map[string]string, len(keys))
			}
			out[k] = v
		}
	}
	return out
}

var _ toolscache.TransformFunc = trimMetadata
