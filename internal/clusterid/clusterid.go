// Package clusterid resolves the identity of the cluster the operator runs in. It goes into the
// ownership marker of every bucket and into the names of the credentials the operator issues, so that
// two clusters sharing one storage account never take each other's buckets or revoke each other's
// credentials.
package clusterid

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The identity defaults to the UID of the kube-system namespace: created with the cluster, never
// re-created, and readable with a namespace get.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get

// systemNamespace is the namespace whose UID identifies the cluster.
const systemNamespace = "kube-system"

// overridePattern is what --cluster-id accepts: a restored or migrated cluster passes the identity of
// the cluster it replaces (its kube-system UID), so that it takes its buckets back.
var overridePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ErrInvalidOverride: --cluster-id is not a usable identity.
var ErrInvalidOverride = errors.New("invalid cluster id")

// Resolve returns override when it is set, else the UID of the kube-system namespace read through
// reader (an API reader: the manager's cache has not started when this runs).
func Resolve(ctx context.Context, reader client.Reader, override string) (string, error) {
	if override != "" {
		if !overridePattern.MatchString(override) {
			return "", fmt.Errorf("%w %q: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalidOverride, override)
		}
		return override, nil
	}
	ns := &corev1.Namespace{}
	if err := reader.Get(ctx, types.NamespacedName{Name: systemNamespace}, ns); err != nil {
		return "", fmt.Errorf("read namespace %s for the cluster identity (or set --cluster-id): %w", systemNamespace, err)
	}
	if ns.UID == "" {
		return "", fmt.Errorf("namespace %s has no UID", systemNamespace)
	}
	return string(ns.UID), nil
}
