package bench

// This file owns the stores a scenario's ClusterStorageProvider names: the emulator's placeholder,
// or a real MinIO and, over it, the fake Cloudflare, DigitalOcean and AWS APIs, which the manager
// then reaches with the operator's real clients (minioadmin and minio-go, the R2 client, the
// Spaces client, the AWS SDK).

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakeaws"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakecloudflare"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakedigitalocean"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

// Providers a scenario runs against.
const (
	// ProviderEmulated is the emulated account at the provider.Client seam (latency, rate limit
	// and faults injected).
	ProviderEmulated = "emulated"
	// ProviderMinIO is a real MinIO through the operator's real MinIO client (admin API and
	// minio-go), started by the bench.
	ProviderMinIO = "minio"
	// ProviderR2, ProviderSpaces and ProviderAWS are the operator's real R2, Spaces and AWS
	// clients against the fake Cloudflare, DigitalOcean and AWS APIs over a real MinIO. Each
	// fake answers after the scenario's latency and enforces the provider's documented rate
	// limits (Cloudflare: 1,200 requests per five minutes; DigitalOcean: 250 a minute, 5,000 an
	// hour), as do the clients' own limiters; no fault is injected.
	ProviderR2     = "r2"
	ProviderSpaces = "spaces"
	ProviderAWS    = "aws"
)

// store is what the scenario's ClusterStorageProvider names: its provider block and the data of
// its credentials Secret.
type store struct {
	spec        v1alpha1.StorageProviderSpec
	credentials map[string]string
}

// emulatedStore is what the provider names for the emulator, which ignores the provider's spec:
// it only has to pass admission.
var emulatedStore = store{
	spec:        v1alpha1.StorageProviderSpec{MinIO: &v1alpha1.MinIOProvider{Endpoint: "http://127.0.0.1:9"}},
	credentials: map[string]string{providers.MinIOAccessKeyID: "bench", providers.MinIOSecretAccessKey: "bench-secret-key"},
}

func providerOf(sc Scenario) string {
	if sc.Provider == "" {
		return ProviderEmulated
	}
	return sc.Provider
}

// accountCapacity is how many backends one account of the provider holds in a scenario: half the
// documented ceiling on what each backend holds, since a backend holds two credentials while a
// rotated one is in its grace (README, Scale). Cloudflare: 500 account API tokens per account;
// DigitalOcean: 100 buckets (one per backend) and 200 Spaces keys per account; AWS: 5,000 IAM users
// per account, one per credential. MinIO and the emulator have no such ceiling (0).
func accountCapacity(provider string) int {
	switch provider {
	case ProviderR2:
		return 250
	case ProviderSpaces:
		return 100
	case ProviderAWS:
		return 2500
	}
	return 0
}

// accountsFor is how many accounts n backends of the provider need: one ClusterStorageProvider
// each, as a platform team past an account's ceiling would have.
func accountsFor(provider string, n int) int {
	c := accountCapacity(provider)
	if c == 0 || n <= c {
		return 1
	}
	return (n + c - 1) / c
}

// startStores starts what the scenario's provider needs under dir for n backends, the fakes
// answering after latency: one MinIO, and over it one fake account per accountsFor (each with its
// own admin token, rate limits and quotas). It returns a store per account and a function that
// stops them all. The fakes' admin identities hold what the README asks of the real ones.
func startStores(ctx context.Context, provider, dir string, latency time.Duration, n int) ([]store, func(), error) {
	if provider == "" || provider == ProviderEmulated {
		return []store{emulatedStore}, func() {}, nil
	}
	m, err := miniotest.Start(ctx, filepath.Join(dir, "minio"))
	if err != nil {
		return nil, nil, fmt.Errorf("start MinIO: %w", err)
	}
	stops := []func(){m.Stop}
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	var stores []store
	for range accountsFor(provider, n) {
		s, stopAccount, err := startAccount(ctx, provider, m, latency)
		if err != nil {
			stop()
			return nil, nil, err
		}
		stops = append(stops, stopAccount)
		stores = append(stores, s)
	}
	return stores, stop, nil
}

// startAccount starts one account of the provider over m.
func startAccount(ctx context.Context, provider string, m *miniotest.Server, latency time.Duration) (store, func(), error) {
	switch provider {
	case ProviderMinIO:
		return store{
			spec:        v1alpha1.StorageProviderSpec{MinIO: &v1alpha1.MinIOProvider{Endpoint: m.Endpoint}},
			credentials: map[string]string{providers.MinIOAccessKeyID: m.RootUser, providers.MinIOSecretAccessKey: m.RootPassword},
		}, func() {}, nil
	case ProviderR2:
		cf, err := fakecloudflare.Start(fakecloudflare.Config{MinIO: m, Latency: latency})
		if err != nil {
			return store{}, nil, err
		}
		_, token, err := cf.AddToken("tfstate-operator admin", "Workers R2 Storage Write", "Account API Tokens Write")
		if err != nil {
			cf.Close()
			return store{}, nil, err
		}
		return store{
			spec: v1alpha1.StorageProviderSpec{CloudflareR2: &v1alpha1.CloudflareR2Provider{
				AccountID: cf.AccountID(), APIBaseURL: cf.URL(), S3Endpoint: cf.S3Endpoint(),
			}},
			credentials: map[string]string{providers.CloudflareAPIToken: token},
		}, cf.Close, nil
	case ProviderSpaces:
		do, err := fakedigitalocean.Start(fakedigitalocean.Config{MinIO: m, Latency: latency})
		if err != nil {
			return store{}, nil, err
		}
		token := do.AddToken("tfstate-operator", fakedigitalocean.ScopeCreate, fakedigitalocean.ScopeRead, fakedigitalocean.ScopeDelete, fakedigitalocean.ScopeUpdate)
		return store{
			spec: v1alpha1.StorageProviderSpec{DigitalOceanSpaces: &v1alpha1.DigitalOceanSpacesProvider{
				Region: "fra1", APIBaseURL: do.URL(), S3Endpoint: do.S3Endpoint(),
			}},
			credentials: map[string]string{providers.DigitalOceanToken: token},
		}, do.Close, nil
	case ProviderAWS:
		f, err := fakeaws.New(ctx, fakeaws.Config{MinIO: m, Latency: latency})
		if err != nil {
			return store{}, nil, err
		}
		ak, sk, err := f.AddPrincipal("tfstate-operator")
		if err != nil {
			f.Close()
			return store{}, nil, err
		}
		return store{
			spec: v1alpha1.StorageProviderSpec{AWSS3: &v1alpha1.AWSS3Provider{
				Region: "us-east-1", IAMPath: "/tfstate-operator/",
				S3Endpoint: f.S3Endpoint(), IAMEndpoint: f.IAMEndpoint(), STSEndpoint: f.STSEndpoint(),
			}},
			credentials: map[string]string{providers.AWSAccessKeyID: ak, providers.AWSSecretAccessKey: sk},
		}, f.Close, nil
	}
	return store{}, nil, errors.New("unknown provider " + provider + ": want emulated, minio, r2, spaces or aws")
}
