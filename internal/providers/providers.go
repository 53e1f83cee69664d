// Package providers builds a provider.Client from a StorageProviderSpec: the one place that knows
// which provider block maps to which implementation. It is a plain switch, not a registry.
package providers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/egress"
	"github.com/tfstate-operator/tfstate-operator/internal/metrics"
	"github.com/tfstate-operator/tfstate-operator/internal/minioadmin"
	"github.com/tfstate-operator/tfstate-operator/internal/naming"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/awss3"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/minio"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/r2"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/spaces"
)

// Credential keys of the providers' credentials Secrets.
const (
	MinIOAccessKeyID     = "accessKeyID"
	MinIOSecretAccessKey = "secretAccessKey"
	CloudflareAPIToken   = "apiToken"
	DigitalOceanToken    = "accessToken"
	// SpacesAccessKeyID and SpacesSecretAccessKey optionally hold a full-access Spaces key that the
	// operator uses for bucket calls instead of minting one.
	SpacesAccessKeyID     = "spacesAccessKeyID"
	SpacesSecretAccessKey = "spacesSecretAccessKey"
	// AWSAccessKeyID, AWSSecretAccessKey and AWSSessionToken are an AWS provider's static keys; an
	// AWS provider without a credentials Secret uses the SDK's default chain.
	AWSAccessKeyID     = "accessKeyID"
	AWSSecretAccessKey = "secretAccessKey"
	AWSSessionToken    = "sessionToken"
)

// Source is a provider object as the factory needs it.
type Source struct {
	// UID is the provider object's UID. It names what the operator mints for the provider itself
	// (DigitalOcean Spaces' full-access key) and keys what the provider's reconciles share.
	UID string
	// Namespace is a StorageProvider's namespace; empty for a ClusterStorageProvider. A tenant's
	// provider never shares what the factory keeps per account (a limiter) with a cluster one.
	Namespace string
	// Spec is the provider's spec.
	Spec *v1alpha1.StorageProviderSpec
	// Credentials is the data of its credentials Secret.
	Credentials map[string][]byte
	// RefuseLocalEndpoints makes every call of the client refuse to dial loopback and link-local
	// addresses (internal/egress, checked on the address dialled, so a name resolving there is
	// refused too) with an error wrapping provider.ErrEndpointRefused. The controllers set it for
	// a tenant's StorageProvider unless the operator allows local endpoints.
	RefuseLocalEndpoints bool
}

// Factory builds provider clients. Clients are cheap and built per reconcile; what must be shared
// between the reconciles of one provider account (Cloudflare's request limiter, cached lookups)
// lives in the Factory, which main creates once.
type Factory struct {
	// HTTPClient is used by every client; nil means one with a 30 s timeout.
	HTTPClient *http.Client
	// Metrics, when set, records every call of the clients New returns.
	Metrics *metrics.Metrics
	// MinIOKeyDerivations bounds the Argon2id derivations of every MinIO client's admin replies
	// (64 MiB each); nil: one at a time.
	MinIOKeyDerivations *minioadmin.KeyDerivations
	// PropagationTimeout is the operator's --propagation-timeout: how long a client waits on a
	// new token the store does not accept yet (R2's temporary credentials); 0: the client's
	// default.
	PropagationTimeout time.Duration

	mu             sync.Mutex
	r2Accounts     map[string]*r2.Account
	spacesAccounts map[string]*spaces.Account
	// transports are shared by every client the factory builds, one per CA bundle and egress
	// guard: clients are built per reconcile, and a transport of each client's own would keep
	// the connections of every past reconcile idle for 90 s.
	transports map[transportKey]*http.Transport
}

type transportKey struct {
	caBundle [32]byte // SHA-256 of the PEM; zero for the system's roots
	guarded  bool
}

// maxTransports bounds the transports kept: CA bundles come from tenants' StorageProviders, so
// their number is not the operator's to choose. Past it the cache starts over (idle connections of
// the dropped transports are closed).
const maxTransports = 64

// transport returns the shared transport for caBundle (empty: the system's roots) and guard.
func (f *Factory) transport(caBundle string, guarded bool) (*http.Transport, error) {
	key := transportKey{guarded: guarded}
	if caBundle != "" {
		key.caBundle = sha256.Sum256([]byte(caBundle))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.transports[key]; t != nil {
		return t, nil
	}
	t, err := minio.NewTransport(caBundle, guarded)
	if err != nil {
		return nil, err
	}
	// minio-go's own default: objects are read as stored, never decoded on the way.
	t.DisableCompression = true
	// As many idle connections per host as reconciles run at once by default, so a burst of
	// reconciles against one store reuses connections rather than dialling anew.
	t.MaxIdleConnsPerHost = 16
	if f.transports == nil || len(f.transports) >= maxTransports {
		for _, old := range f.transports {
			old.CloseIdleConnections()
		}
		f.transports = map[transportKey]*http.Transport{}
	}
	f.transports[key] = t
	return t, nil
}

// NewFactory returns an empty Factory.
func NewFactory() *Factory {
	return &Factory{r2Accounts: map[string]*r2.Account{}, spacesAccounts: map[string]*spaces.Account{}}
}

// New builds the client of the provider src, for buckets at placement (zero: the provider's
// default). It makes no network call. Errors wrap provider.ErrInvalidConfig and name missing keys,
// never their values.
func (f *Factory) New(ctx context.Context, src Source, placement provider.Placement) (provider.Client, error) {
	c, err := f.build(ctx, src, placement)
	if err != nil || f.Metrics == nil {
		return c, err
	}
	return f.Metrics.Instrument(Name(src.Spec), c), nil
}

// Release revokes what the operator minted for the provider src itself (DigitalOcean Spaces'
// full-access key); other providers hold nothing of their own and return nil at once. The
// controller calls it before it lets a deleted provider object go.
func (f *Factory) Release(ctx context.Context, src Source) error {
	if src.Spec.DigitalOceanSpaces == nil {
		return nil
	}
	c, err := f.build(ctx, src, provider.Placement{})
	if err != nil {
		return err
	}
	return c.(*spaces.Client).Release(ctx)
}

// Name is the provider's name in metrics and logs: the spec's provider block.
func Name(spec *v1alpha1.StorageProviderSpec) string {
	switch {
	case spec.MinIO != nil:
		return "minio"
	case spec.CloudflareR2 != nil:
		return "cloudflare-r2"
	case spec.DigitalOceanSpaces != nil:
		return "digitalocean-spaces"
	case spec.AWSS3 != nil:
		return "aws-s3"
	default:
		return "unknown"
	}
}

func (f *Factory) build(ctx context.Context, src Source, placement provider.Placement) (provider.Client, error) {
	spec, creds := src.Spec, src.Credentials
	var hc *http.Client
	if f.HTTPClient != nil {
		hc = f.HTTPClient
		if src.RefuseLocalEndpoints {
			guarded, err := egress.Client(hc)
			if err != nil {
				return nil, err
			}
			hc = guarded
		}
	} else {
		t, err := f.transport("", src.RefuseLocalEndpoints)
		if err != nil {
			return nil, err
		}
		hc = &http.Client{Timeout: 30 * time.Second, Transport: t}
	}
	switch {
	case spec.MinIO != nil:
		if placement != (provider.Placement{}) {
			return nil, fmt.Errorf("%w: a MinIO provider has no jurisdictions (spec.cloudflareR2 is set on the StateBackend)", provider.ErrInvalidConfig)
		}
		ak, sk := string(creds[MinIOAccessKeyID]), string(creds[MinIOSecretAccessKey])
		if ak == "" || sk == "" {
			return nil, fmt.Errorf("%w: the credentials Secret must hold the keys %q and %q", provider.ErrInvalidConfig, MinIOAccessKeyID, MinIOSecretAccessKey)
		}
		var transport *http.Transport
		if f.HTTPClient == nil {
			t, err := f.transport(spec.MinIO.CABundle, src.RefuseLocalEndpoints)
			if err != nil {
				return nil, err
			}
			transport = t
		}
		return minio.New(minio.Config{
			Endpoint:        spec.MinIO.Endpoint,
			Region:          spec.MinIO.Region,
			CABundle:        spec.MinIO.CABundle,
			AccessKeyID:     ak,
			SecretAccessKey: sk,
			// MinIO builds its own transport (for its CA bundle), so it is guarded there.
			RefuseLocalEndpoints: src.RefuseLocalEndpoints,
			KeyDerivations:       f.MinIOKeyDerivations,
			Transport:            transport,
		})
	case spec.CloudflareR2 != nil:
		p := spec.CloudflareR2
		token := string(creds[CloudflareAPIToken])
		if token == "" {
			return nil, fmt.Errorf("%w: the credentials Secret must hold the key %q (a Cloudflare API token)", provider.ErrInvalidConfig, CloudflareAPIToken)
		}
		jurisdiction := placement.Jurisdiction
		if jurisdiction == "" {
			jurisdiction = string(p.Jurisdiction)
		}
		return r2.New(r2.Config{
			AccountID:    p.AccountID,
			Jurisdiction: jurisdiction,
			LocationHint: p.LocationHint,
			APIBaseURL:   p.APIBaseURL,
			S3Endpoint:   p.S3Endpoint,
			APIToken:     token,
			HTTPClient:   hc,

			PropagationTimeout: f.PropagationTimeout,
		}, f.r2Account(src.Namespace, p, token))
	case spec.DigitalOceanSpaces != nil:
		p := spec.DigitalOceanSpaces
		if placement != (provider.Placement{}) {
			return nil, fmt.Errorf("%w: a DigitalOcean Spaces provider has no jurisdictions (spec.cloudflareR2 is set on the StateBackend)", provider.ErrInvalidConfig)
		}
		token := string(creds[DigitalOceanToken])
		if token == "" {
			return nil, fmt.Errorf("%w: the credentials Secret must hold the key %q (a DigitalOcean API token)", provider.ErrInvalidConfig, DigitalOceanToken)
		}
		if src.UID == "" {
			return nil, fmt.Errorf("%w: the provider object has no UID", provider.ErrInvalidConfig)
		}
		return spaces.New(spaces.Config{
			Region:               p.Region,
			APIBaseURL:           p.APIBaseURL,
			S3Endpoint:           p.S3Endpoint,
			APIToken:             token,
			AdminKeyPrefix:       naming.AdminKeyPrefix(src.UID),
			AdminAccessKeyID:     string(creds[SpacesAccessKeyID]),
			AdminSecretAccessKey: string(creds[SpacesSecretAccessKey]),
			HTTPClient:           hc,
		}, f.spacesAccount(src.UID, p, token))
	case spec.AWSS3 != nil:
		p := spec.AWSS3
		if placement != (provider.Placement{}) {
			return nil, fmt.Errorf("%w: an AWS S3 provider has no jurisdictions (spec.cloudflareR2 is set on the StateBackend)", provider.ErrInvalidConfig)
		}
		ak, sk := string(creds[AWSAccessKeyID]), string(creds[AWSSecretAccessKey])
		if creds != nil && (ak == "" || sk == "") {
			return nil, fmt.Errorf("%w: the credentials Secret must hold the keys %q and %q (and optionally %q); without a credentialsSecretRef the default AWS credential chain is used",
				provider.ErrInvalidConfig, AWSAccessKeyID, AWSSecretAccessKey, AWSSessionToken)
		}
		return awss3.New(ctx, awss3.Config{
			Region:                 p.Region,
			KMSKeyID:               p.KMSKeyID,
			IAMPath:                p.IAMPath,
			PermissionsBoundaryARN: p.PermissionsBoundaryARN,
			S3Endpoint:             p.S3Endpoint,
			IAMEndpoint:            p.IAMEndpoint,
			STSEndpoint:            p.STSEndpoint,
			AccessKeyID:            ak,
			SecretAccessKey:        sk,
			SessionToken:           string(creds[AWSSessionToken]),
			HTTPClient:             hc,
		})
	default:
		return nil, fmt.Errorf("%w: no provider block is set", provider.ErrInvalidConfig)
	}
}

// spacesAccount returns the shared state of one Spaces provider object and API token: the token's
// limiters (DigitalOcean's limits are per token) and the provider's minted full-access key.
func (f *Factory) spacesAccount(uid string, p *v1alpha1.DigitalOceanSpacesProvider, token string) *spaces.Account {
	sum := sha256.Sum256([]byte(token))
	key := uid + " " + p.APIBaseURL + " " + hex.EncodeToString(sum[:8])
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.spacesAccounts == nil {
		f.spacesAccounts = map[string]*spaces.Account{}
	}
	a, ok := f.spacesAccounts[key]
	if !ok {
		a = spaces.NewAccount(int(p.RequestsPerMinute))
		f.spacesAccounts[key] = a
	}
	return a
}

// r2Account returns the shared state of one Cloudflare account behind one API endpoint, as seen
// with one API token from one scope (a StorageProvider's namespace, or the cluster). Providers that
// name the same account with the same token share its limiter: Cloudflare's limit is the token
// owner's, not theirs. The token (by its hash: the key never holds the secret) and the scope are
// part of the key because the account id is not a secret: a tenant's StorageProvider naming the
// platform's account would otherwise share, and could poison, the platform's limiter (its 429s
// blocking the platform's calls, the first provider's requestsPerFiveMinutes applying to all).
func (f *Factory) r2Account(namespace string, p *v1alpha1.CloudflareR2Provider, token string) *r2.Account {
	key := limiterKey(namespace, p.AccountID, p.APIBaseURL, token)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r2Accounts == nil {
		f.r2Accounts = map[string]*r2.Account{}
	}
	a, ok := f.r2Accounts[key]
	if !ok {
		a = r2.NewAccount(int(p.RequestsPerFiveMinutes))
		f.r2Accounts[key] = a
	}
	return a
}

// limiterKey identifies what one credential may share in one scope: the scope, the account and
// endpoint, and a hash of the credential (never the credential itself).
func limiterKey(scope, account, endpoint, credential string) string {
	sum := sha256.Sum256([]byte(credential))
	return scope + " " + account + " " + endpoint + " " + hex.EncodeToString(sum[:16])
}
