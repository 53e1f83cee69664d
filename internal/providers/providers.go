// Package providers builds a provider.Client from a StorageProviderSpec: the one place that knows
// which provider block maps to which implementation. It is a plain switch, not a registry.
package providers

import (
	"context"
	"fmt"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/minio"
)

// Credential keys of a MinIO provider's credentials Secret.
const (
	MinIOAccessKeyID     = "accessKeyID"
	MinIOSecretAccessKey = "secretAccessKey"
)

// New builds the client for spec with the data of its credentials Secret. It makes no network call.
// Errors wrap provider.ErrInvalidConfig and name missing keys, never their values.
func New(_ context.Context, spec *v1alpha1.StorageProviderSpec, creds map[string][]byte) (provider.Client, error) {
	switch {
	case spec.MinIO != nil:
		ak, sk := string(creds[MinIOAccessKeyID]), string(creds[MinIOSecretAccessKey])
		if ak == "" || sk == "" {
			return nil, fmt.Errorf("%w: the credentials Secret must hold the keys %q and %q", provider.ErrInvalidConfig, MinIOAccessKeyID, MinIOSecretAccessKey)
		}
		return minio.New(minio.Config{
			Endpoint:        spec.MinIO.Endpoint,
			Region:          spec.MinIO.Region,
			CABundle:        spec.MinIO.CABundle,
			AccessKeyID:     ak,
			SecretAccessKey: sk,
		})
	default:
		return nil, fmt.Errorf("%w: no provider block is set", provider.ErrInvalidConfig)
	}
}
