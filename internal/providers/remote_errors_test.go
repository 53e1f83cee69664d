package providers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/probe"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// bodyMarker is what the service behind a tenant's endpoint answers; no error text may hold it.
const bodyMarker = "INTERNAL-SERVICE-ANSWER-7f3a9c"

// markerServer answers every request with status and a body holding bodyMarker, as an in-cluster
// HTTP service that is not an object store would. structured makes the body look like the
// provider's own error replies (JSON for the Cloudflare and DigitalOcean APIs, S3/AWS XML for the
// rest), so that the marker sits in their message fields; otherwise it is plain text.
func markerServer(t *testing.T, status int, structured bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api := strings.HasPrefix(r.URL.Path, "/client/v4/") || strings.HasPrefix(r.URL.Path, "/v2/")
		switch {
		case !structured:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(status)
			fmt.Fprintf(w, "internal service: token=%s database=orders\n", bodyMarker)
		case api:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"success":false,"errors":[{"code":10000,"message":%[1]q}],"messages":[],"result":null,"id":"internal","message":%[1]q,"request_id":"r-1"}`, bodyMarker)
		default:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>%[1]s</Message><Resource>%[1]s</Resource><RequestId>r-1</RequestId></Error>`, bodyMarker)
			fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InternalError</Code><Message>%s</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`, bodyMarker)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// markerSources are, for every provider kind, a provider whose every endpoint is srv.
func markerSources(srv *httptest.Server) map[string]Source {
	awsCreds := map[string][]byte{AWSAccessKeyID: []byte("AKIAEXAMPLEEXAMPLE00"), AWSSecretAccessKey: []byte("not-a-real-secret-key-0000000000000000000")}
	return map[string]Source{
		"minio": {UID: "minio", Spec: &v1alpha1.StorageProviderSpec{MinIO: &v1alpha1.MinIOProvider{Endpoint: srv.URL, Region: "us-east-1"}},
			Credentials: map[string][]byte{MinIOAccessKeyID: []byte("admin"), MinIOSecretAccessKey: []byte("admin-secret-key")}},
		"r2": {UID: "r2", Spec: &v1alpha1.StorageProviderSpec{CloudflareR2: &v1alpha1.CloudflareR2Provider{
			AccountID: strings.Repeat("a", 32), Jurisdiction: v1alpha1.R2JurisdictionDefault, APIBaseURL: srv.URL + "/client/v4/", S3Endpoint: srv.URL, RequestsPerFiveMinutes: 1200,
		}}, Credentials: map[string][]byte{CloudflareAPIToken: []byte("cloudflare-token")}},
		"spaces": {UID: "spaces", Spec: &v1alpha1.StorageProviderSpec{DigitalOceanSpaces: &v1alpha1.DigitalOceanSpacesProvider{
			Region: "fra1", APIBaseURL: srv.URL + "/", S3Endpoint: srv.URL, RequestsPerMinute: 250,
		}}, Credentials: map[string][]byte{DigitalOceanToken: []byte("digitalocean-token")}},
		"spaces-own-key": {UID: "spaces-own-key", Spec: &v1alpha1.StorageProviderSpec{DigitalOceanSpaces: &v1alpha1.DigitalOceanSpacesProvider{
			Region: "fra1", APIBaseURL: srv.URL + "/", S3Endpoint: srv.URL, RequestsPerMinute: 250,
		}}, Credentials: map[string][]byte{DigitalOceanToken: []byte("digitalocean-token"), SpacesAccessKeyID: []byte("DO00EXAMPLE"), SpacesSecretAccessKey: []byte("spaces-secret")}},
		"aws-s3": {UID: "aws-s3", Spec: &v1alpha1.StorageProviderSpec{AWSS3: &v1alpha1.AWSS3Provider{
			Region: "us-east-1", IAMPath: "/tfstate-operator/", S3Endpoint: srv.URL, IAMEndpoint: srv.URL, STSEndpoint: srv.URL,
		}}, Credentials: awsCreds},
	}
}

// TestProviderErrorsCarryNoRemoteBody: for every provider kind, every call of a client whose
// endpoints answer 500 (and 400 and 403, which the SDKs decode differently) with a body holding a
// marker, as plain text or in the provider's own error format, fails with an error that holds no
// part of the body.
// The S3 probe of an issued credential is held to the same rule.
func TestProviderErrorsCarryNoRemoteBody(t *testing.T) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, tc := range []struct {
		status     int
		structured bool
	}{{http.StatusInternalServerError, false}, {http.StatusForbidden, false}, {http.StatusInternalServerError, true}, {http.StatusBadRequest, true}} {
		status := tc.status
		srv := markerServer(t, status, tc.structured)
		f := NewFactory()
		f.HTTPClient = &http.Client{Timeout: 5 * time.Second}
		for name, src := range markerSources(srv) {
			c, err := f.New(ctx, src, provider.Placement{})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			calls := map[string]func() error{
				"observe bucket": func() error { _, err := c.ObserveBucket(ctx, "state"); return err },
				"create bucket":  func() error { return c.CreateBucket(ctx, provider.BucketRequest{Name: "state"}) },
				"mark bucket":    func() error { return c.MarkBucket(ctx, "state", provider.Owner{Namespace: "ns", Name: "sb", UID: "u"}) },
				"versioning":     func() error { return c.EnableVersioning(ctx, "state") },
				"bucket access":  func() error { _, err := c.RepairBucketAccess(ctx, "state"); return err },
				"delete bucket":  func() error { return c.DeleteBucket(ctx, "state") },
				"issue": func() error {
					_, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-x", Bucket: "state", Access: provider.ReadWrite})
					return err
				},
				"list":   func() error { _, err := c.ListCredentials(ctx, "tfso-"); return err },
				"revoke": func() error { return c.RevokeCredential(ctx, "tfso-x") },
				"repair grant": func() error {
					_, err := c.RepairGrant(ctx, "tfso-x", provider.CredentialRequest{Name: "tfso-x", Bucket: "state", Access: provider.ReadWrite})
					return err
				},
			}
			if ch, ok := c.(provider.Checker); ok {
				calls["check"] = func() error { return ch.Check(ctx) }
			}
			for op, call := range calls {
				// In parallel: the SDKs retry 5xx replies with backoff, and nothing here is shared.
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := call(); err != nil && strings.Contains(err.Error(), bodyMarker) {
						t.Errorf("%s, HTTP %d (structured %v), %s: the error holds the reply's body: %v", name, status, tc.structured, op, err)
					}
				}()
			}
		}
		settings := provider.BackendSettings{Region: "us-east-1", EndpointURL: srv.URL, UsePathStyle: true, S3Compatible: true}
		cred := provider.Credential{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret"}
		for _, access := range []provider.Access{provider.ReadWrite, provider.ReadOnly} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := probe.New(probe.WithPropagationWindow(0)).Probe(ctx, settings, "state", cred, access)
				if err == nil || strings.Contains(err.Error(), bodyMarker) {
					t.Errorf("probe, HTTP %d (structured %v), %s: %v; want an error without the reply's body", status, tc.structured, access, err)
				}
			}()
		}
	}
	wg.Wait()
}
