package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/providers"
)

// bodyMarker is what the in-cluster service behind a tenant's endpoint answers; it must never come
// back to the tenant.
const bodyMarker = "INTERNAL-SERVICE-ANSWER-7f3a9c"

// markerServer answers every request with 500 and a body (not XML, not JSON) holding bodyMarker, as
// an in-cluster HTTP service that is not an object store would.
func markerServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "internal service: token=%s database=orders\n", bodyMarker)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestProviderErrorBodiesNeverReachTenantStatus: a tenant's StorageProvider whose endpoints name an
// in-cluster HTTP service (here one that answers 500 with a body holding a marker), for every
// provider kind and every endpoint it can set, built by the real provider factory. The StateBackend
// and the StorageProvider end up not Ready with the class of the error (operation, HTTP status), and
// the marker appears in no status and no Event.
func TestProviderErrorBodiesNeverReachTenantStatus(t *testing.T) {
	tn := newTenant(t)
	ctx := context.Background()
	srv := markerServer(t)
	factory := providers.NewFactory()
	factory.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	awsCreds := map[string][]byte{providers.AWSAccessKeyID: []byte("AKIAEXAMPLEEXAMPLE00"), providers.AWSSecretAccessKey: []byte("not-a-real-secret-key-0000000000000000000")}
	kinds := []struct {
		name  string
		spec  v1alpha1.StorageProviderSpec
		creds map[string][]byte
	}{
		{"minio", v1alpha1.StorageProviderSpec{MinIO: &v1alpha1.MinIOProvider{Endpoint: srv.URL, Region: "us-east-1"}},
			map[string][]byte{providers.MinIOAccessKeyID: []byte("admin"), providers.MinIOSecretAccessKey: []byte("admin-secret-key")}},
		{"r2", v1alpha1.StorageProviderSpec{CloudflareR2: &v1alpha1.CloudflareR2Provider{
			AccountID: strings.Repeat("a", 32), Jurisdiction: v1alpha1.R2JurisdictionDefault, APIBaseURL: srv.URL + "/client/v4/", S3Endpoint: srv.URL, RequestsPerFiveMinutes: 1200,
		}}, map[string][]byte{providers.CloudflareAPIToken: []byte("cloudflare-token")}},
		{"spaces", v1alpha1.StorageProviderSpec{DigitalOceanSpaces: &v1alpha1.DigitalOceanSpacesProvider{
			Region: "fra1", APIBaseURL: srv.URL + "/", S3Endpoint: srv.URL, RequestsPerMinute: 250,
		}}, map[string][]byte{providers.DigitalOceanToken: []byte("digitalocean-token")}},
		{"aws-s3", v1alpha1.StorageProviderSpec{AWSS3: &v1alpha1.AWSS3Provider{
			Region: "us-east-1", IAMPath: "/tfstate-operator/", S3Endpoint: srv.URL, IAMEndpoint: srv.URL, STSEndpoint: srv.URL,
		}}, awsCreds},
	}
	for _, k := range kinds {
		store := tn.provider + "-" + k.name
		data := map[string][]byte{storeKey: []byte(store)}
		for key, v := range k.creds {
			data[key] = v
		}
		must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: k.name + "-admin"}, Data: data}))
		sp := &v1alpha1.StorageProvider{ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: k.name}, Spec: k.spec}
		sp.Spec.CredentialsSecretRef = &v1alpha1.SecretReference{Name: k.name + "-admin"}
		// The client is built before the object exists (the suite's factory serves it by store
		// name), from the spec the object will have, by the operator's real factory.
		c, err := factory.New(ctx, providers.Source{UID: "uid-" + store, Spec: &sp.Spec, Credentials: data}, provider.Placement{})
		if err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		realClients.Store(store, c)
		must(t, k8s.Create(ctx, sp))
		tn.backend(k.name, func(sb *v1alpha1.StateBackend) {
			sb.Spec.ProviderRef = v1alpha1.ProviderReference{Kind: v1alpha1.StorageProviderKind, Name: k.name}
		})
	}

	for _, k := range kinds {
		key := client.ObjectKey{Namespace: tn.ns, Name: k.name}
		sb := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderError)
		if c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "500") {
			t.Errorf("%s: StateBackend Ready message %q does not say what failed (HTTP 500)", k.name, c.Message)
		}
		sp := &v1alpha1.StorageProvider{}
		eventually(t, 30*time.Second, func() error {
			must(t, k8s.Get(ctx, key, sp))
			if c := meta.FindStatusCondition(sp.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.ObservedGeneration != sp.Generation {
				return fmt.Errorf("%s: StorageProvider Ready %+v, want False", k.name, c)
			}
			return nil
		})
		assertNoMarker(t, k.name+" StateBackend status", sb.Status)
		assertNoMarker(t, k.name+" StorageProvider status", sp.Status)
	}
	evs := &eventsv1.EventList{}
	must(t, k8s.List(ctx, evs, client.InNamespace(tn.ns)))
	assertNoMarker(t, "events.k8s.io/v1 Events", evs.Items)
	core := &corev1.EventList{}
	must(t, k8s.List(ctx, core, client.InNamespace(tn.ns)))
	assertNoMarker(t, "core/v1 Events", core.Items)
}

func assertNoMarker(t *testing.T, where string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	if strings.Contains(string(b), bodyMarker) {
		t.Errorf("%s holds the remote service's answer: %s", where, b)
	}
}
