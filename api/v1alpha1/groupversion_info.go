// Package v1alpha1 contains the tfstate.dev/v1alpha1 API: StateBackend, ClusterStorageProvider and
// StorageProvider.
// +kubebuilder:object:generate=true
// +groupName=tfstate.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of every kind in this package.
var GroupVersion = schema.GroupVersion{Group: "tfstate.dev", Version: "v1alpha1"}

// AddToScheme adds the kinds of this package to a scheme. It is an explicit list rather than
// init()-time registration so that what a scheme holds is visible at the call site.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&StateBackend{}, &StateBackendList{},
		&ClusterStorageProvider{}, &ClusterStorageProviderList{},
		&StorageProvider{}, &StorageProviderList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
