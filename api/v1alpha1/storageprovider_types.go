package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StorageProviderSpec says which object store backs StateBackends and how the operator authenticates
// to it. Exactly one provider block is set.
// +kubebuilder:validation:XValidation:rule="[has(self.minio)].filter(x, x).size() == 1",message="exactly one provider block must be set (minio)"
type StorageProviderSpec struct {
	// MinIO is a self-hosted MinIO server. Buckets are created with the S3 API; credentials are MinIO
	// service accounts (revocable access keys) limited by an inline policy to one bucket.
	// +optional
	MinIO *MinIOProvider `json:"minio,omitempty"`

	// CredentialsSecretRef names the Secret that holds the provider's admin credentials. The keys it
	// must hold depend on the provider (MinIO: accessKeyID, secretAccessKey). For a StorageProvider
	// the namespace, when set, must be the StorageProvider's own.
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef"`

	// AllowBucketAdoption lets StateBackends that set spec.adoptExistingBucket take over an existing
	// bucket that carries no ownership marker. A bucket marked as owned by another StateBackend is
	// never adopted. Default false: an existing bucket that is not ours is refused.
	// +optional
	AllowBucketAdoption bool `json:"allowBucketAdoption,omitempty"`
}

// MinIOProvider configures a MinIO server.
type MinIOProvider struct {
	// Endpoint is the URL of the MinIO S3 API, e.g. http://minio.minio.svc:9000. The scheme decides
	// whether TLS is used. The same URL is handed to Terraform as AWS_ENDPOINT_URL_S3, so it must be
	// reachable from runner pods too.
	// +kubebuilder:validation:Pattern=`^https?://[A-Za-z0-9.:\[\]-]+(/)?$`
	// +kubebuilder:validation:MaxLength=253
	Endpoint string `json:"endpoint"`

	// Region is the MinIO server's region.
	// +kubebuilder:default=us-east-1
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9-]{0,62}$`
	// +optional
	Region string `json:"region,omitempty"`

	// CABundle is a PEM bundle of the certificate authorities that sign the server's certificate, for
	// private CAs. It is published beside the backend config (key ca.crt) for runners to mount.
	// +optional
	CABundle string `json:"caBundle,omitempty"`
}

// SecretReference names a Secret.
type SecretReference struct {
	// Namespace of the Secret. Required for a ClusterStorageProvider; for a StorageProvider it
	// defaults to, and must equal, the StorageProvider's namespace.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// StorageProviderStatus is the observed state of a provider.
type StorageProviderStatus struct {
	// Conditions: none are set yet by this version; reserved for provider health checks.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=csp,categories=tfstate
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ClusterStorageProvider is an object store and its admin credentials, usable by StateBackends in
// every namespace. Its credentials Secret lives in the operator's own namespace, never a tenant's.
// +kubebuilder:validation:XValidation:rule="has(self.spec.credentialsSecretRef.__namespace__)",message="spec.credentialsSecretRef.namespace is required for a ClusterStorageProvider"
type ClusterStorageProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StorageProviderSpec   `json:"spec"`
	Status StorageProviderStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterStorageProviderList is a list of ClusterStorageProviders.
type ClusterStorageProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterStorageProvider `json:"items"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sp,categories=tfstate
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// StorageProvider is an object store and its admin credentials, usable only by StateBackends in its
// own namespace. Its credentials Secret is read from its own namespace (CEL cannot see metadata.namespace,
// so a different spec.credentialsSecretRef.namespace is refused by the controller with ProviderInvalid).
type StorageProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StorageProviderSpec   `json:"spec"`
	Status StorageProviderStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// StorageProviderList is a list of StorageProviders.
type StorageProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StorageProvider `json:"items"`
}
