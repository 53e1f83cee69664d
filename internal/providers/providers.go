// Package providers builds a provider.Client from a StorageProviderSpec: the one place that knows
// which provider block maps to which implementation. It is a plain switch, not a registry.
package providers

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/metrics"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/minio"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/r2"
)

// Credential keys of the providers' credentials Secrets.
const (
	MinIOAccessKeyID     = "accessKeyID"
	MinIOSecretAccessKey = "secretAccessKey"
	CloudflareAPIToken   = "apiToken"
)

// Factory builds provider clients. Clients are cheap and built per reconcile; what must be shared
// between the reconciles of one provider account (Cloudflare's request limiter, cached lookups)
// lives in the Factory, which main creates once.
type Factory struct {
	// HTTPClient is used by every client; nil means one with a 30 s timeout.
	HTTPClient *http.Client
	// Metrics, when set, records every call of the clients New returns.
	Metrics *metrics.Metrics

	mu         sync.Mutex
	r2Accounts map[string]*r2.Account
}

// NewFactory returns an empty Factory.
func NewFactory() *Factory { return &Factory{r2Accounts: map[string]*r2.Account{}} }

// New builds the client for spec with the data of its credentials Secret, for buckets at placement
// (zero: the provider's default). It makes no network call. Errors wrap provider.ErrInvalidConfig
// and name missing keys, never their values.
func (f *Factory) New(_ context.Context, spec *v1alpha1.StorageProviderSpec, creds map[string][]byte, placement provider.Placement) (provider.Client, error) {
	c, err := f.build(spec, creds, placement)
	if err != nil || f.Metrics == nil {
		return c, err
	}
	return f.Metrics.Instrument(Name(spec), c), nil
}

// Name is the provider's name in metrics and logs: the spec's provider block.
func Name(spec *v1alpha1.StorageProviderSpec) string {
	switch {
	case spec.MinIO != nil:
		return "minio"
	case spec.CloudflareR2 != nil:
		return "cloudflare-r2"
	default:
		return "unknown"
	}
}

func (f *Factory) build(spec *v1alpha1.StorageProviderSpec, creds map[string][]byte, placement provider.Placement) (provider.Client, error) {
	hc := f.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
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
		return minio.New(minio.Config{
			Endpoint:        spec.MinIO.Endpoint,
			Region:          spec.MinIO.Region,
			CABundle:        spec.MinIO.CABundle,
			AccessKeyID:     ak,
			SecretAccessKey: sk,
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
		}, f.r2Account(p))
	default:
		return nil, fmt.Errorf("%w: no provider block is set", provider.ErrInvalidConfig)
	}
}

// r2Account returns the shared state of one Cloudflare account behind one API endpoint. Providers
// that name the same account share its limiter: Cloudflare's limit is the account's, not theirs.
func (f *Factory) r2Account(p *v1alpha1.CloudflareR2Provider) *r2.Account {
	key := p.AccountID + " " + p.APIBaseURL
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
