package providers

import (
	"strings"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/awss3"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/minio"
)

// Location is where the provider spec's buckets and credentials live for a backend at placement
// (zero: the provider's default): the fields that choose the store, the account and the region its
// calls reach, with URLs normalised (case, a trailing slash) so that spellings of one endpoint
// compare equal. Fields that only change how the same place is reached (apiBaseURL, caBundle, rate
// limits, kmsKeyID, stsEndpoint, locationHint) are left out: changing them moves nothing.
// A Spaces or AWS account is whatever the admin credentials belong to; no spec field names it.
func Location(spec *v1alpha1.StorageProviderSpec, placement provider.Placement) v1alpha1.BucketLocation {
	loc := v1alpha1.BucketLocation{Provider: Name(spec)}
	switch {
	case spec.MinIO != nil:
		loc.Endpoint, loc.Region = normalURL(spec.MinIO.Endpoint), orDefault(spec.MinIO.Region, minio.DefaultRegion)
	case spec.CloudflareR2 != nil:
		p := spec.CloudflareR2
		loc.AccountID, loc.Endpoint = p.AccountID, normalURL(p.S3Endpoint)
		loc.Jurisdiction = v1alpha1.R2Jurisdiction(placement.Jurisdiction)
		if loc.Jurisdiction == "" {
			loc.Jurisdiction = p.Jurisdiction
		}
		if loc.Jurisdiction == "" {
			loc.Jurisdiction = v1alpha1.R2JurisdictionDefault
		}
	case spec.DigitalOceanSpaces != nil:
		loc.Region, loc.Endpoint = spec.DigitalOceanSpaces.Region, normalURL(spec.DigitalOceanSpaces.S3Endpoint)
	case spec.AWSS3 != nil:
		p := spec.AWSS3
		loc.Region, loc.Endpoint, loc.IAMEndpoint = p.Region, normalURL(p.S3Endpoint), normalURL(p.IAMEndpoint)
		loc.IAMPath = orDefault(p.IAMPath, awss3.DefaultIAMPath)
	}
	return loc
}

// normalURL is an endpoint URL as the store sees it: scheme and host are case-insensitive, and the
// admitted patterns allow at most a trailing slash as path.
func normalURL(u string) string { return strings.ToLower(strings.TrimSuffix(u, "/")) }

// orDefault is v, or def when v is empty: what the client uses when the spec leaves a field out.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
