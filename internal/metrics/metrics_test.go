package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
)

func TestResultClassifiesProviderErrors(t *testing.T) {
	for _, tc := range []struct {
		reason string
		err    error
		want   string
	}{
		{"no error", nil, ResultSuccess},
		{"a 429 with Retry-After", &provider.RateLimitedError{RetryAfter: time.Second, Err: errors.New("429")}, ResultRateLimited},
		{"a missing permission, though it wraps ErrInvalidConfig", fmt.Errorf("list tokens: %w", provider.ErrPermissionDenied), ResultPermissionDenied},
		{"refused admin keys", fmt.Errorf("verify: %w", provider.ErrInvalidConfig), ResultInvalidConfig},
		{"a full account", fmt.Errorf("issue: %w", provider.ErrQuotaExceeded), ResultQuotaExceeded},
		{"R2 has no versioning", fmt.Errorf("versioning: %w", provider.ErrNotSupported), ResultNotSupported},
		{"a taken name is an answer", fmt.Errorf("create: %w", provider.ErrBucketNameTaken), ResultConflict},
		{"a non-empty bucket is an answer", fmt.Errorf("delete: %w", provider.ErrBucketNotEmpty), ResultConflict},
		{"anything else", errors.New("connection reset"), ResultError},
	} {
		if got := Result(tc.err); got != tc.want {
			t.Errorf("%s: Result = %q, want %q", tc.reason, got, tc.want)
		}
	}
}

// TestInstrumentCountsEveryCallAndKeepsTheChecker: each call of the wrapped client is counted under
// its provider, operation and result, and the health check still finds the Checker.
func TestInstrumentCountsEveryCallAndKeepsTheChecker(t *testing.T) {
	m := New(nil)
	store := memory.New(memory.DefaultSettings())
	c := m.Instrument("memory", store)
	ctx := context.Background()
	if err := c.CreateBucket(ctx, provider.BucketRequest{Name: "state", Owner: provider.Owner{Namespace: "a", Name: "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateBucket(ctx, provider.BucketRequest{Name: "state", Owner: provider.Owner{Namespace: "a", Name: "b"}}); !errors.Is(err, provider.ErrBucketNameTaken) {
		t.Fatalf("second create: %v, want ErrBucketNameTaken passed through", err)
	}
	if _, err := c.ObserveBucket(ctx, "state"); err != nil {
		t.Fatal(err)
	}
	checker, ok := c.(provider.Checker)
	if !ok {
		t.Fatal("the instrumented client of a Checker is not a Checker")
	}
	store.CheckError = fmt.Errorf("no: %w", provider.ErrPermissionDenied)
	if err := checker.Check(ctx); !errors.Is(err, provider.ErrPermissionDenied) {
		t.Fatalf("Check: %v", err)
	}
	for _, tc := range []struct {
		op, result string
		want       float64
	}{
		{OpCreateBucket, ResultSuccess, 1},
		{OpCreateBucket, ResultConflict, 1},
		{OpObserveBucket, ResultSuccess, 1},
		{OpCheck, ResultPermissionDenied, 1},
		{OpIssueCredential, ResultSuccess, 0},
	} {
		if got := testutil.ToFloat64(m.calls.WithLabelValues("memory", tc.op, tc.result)); got != tc.want {
			t.Errorf("calls{%s,%s} = %v, want %v", tc.op, tc.result, got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != 3 {
		t.Errorf("%d duration series, want 3 (CreateBucket, ObserveBucket, Check)", n)
	}

	// A client that is not a Checker does not become one.
	if _, ok := m.Instrument("memory", notAChecker{store}).(provider.Checker); ok {
		t.Error("the instrumented client of a non-Checker claims to be a Checker")
	}
}

type notAChecker struct{ provider.Client }

// TestBackendGaugesComeFromTheCurrentList: backends by Ready state and credential age are computed
// from what the reader lists at scrape time, so a deleted backend's series disappear with it.
func TestBackendGaugesComeFromTheCurrentList(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = v1alpha1.AddToScheme(scheme)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	backend := func(name string, ready metav1.ConditionStatus, reason string, issued time.Duration) client.Object {
		sb := &v1alpha1.StateBackend{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name}}
		if reason != "" {
			sb.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: ready, Reason: reason}}
		}
		if issued > 0 {
			sb.Status.Credential = &v1alpha1.CredentialStatus{Name: "c", IssuedAt: &metav1.Time{Time: now.Add(-issued)}}
		}
		return sb
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		backend("one", metav1.ConditionTrue, v1alpha1.ReasonReady, time.Hour),
		backend("two", metav1.ConditionTrue, v1alpha1.ReasonReady, 2*time.Hour),
		backend("three", metav1.ConditionFalse, v1alpha1.ReasonProviderNotFound, 0),
		backend("new", "", "", 0),
		func() client.Object {
			sb := backend("rotating", metav1.ConditionTrue, v1alpha1.ReasonReady, time.Hour).(*v1alpha1.StateBackend)
			sb.Status.Credential.ExpiresAt = &metav1.Time{Time: now.Add(90 * time.Minute)}
			sb.Status.Credential.NextRotationAt = &metav1.Time{Time: now.Add(30 * time.Minute)}
			return sb
		}(),
	).Build()
	m := New(reader)
	m.backends.now = func() time.Time { return now }
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.Collectors()...)
	want := `
# HELP tfstate_operator_credential_age_seconds Seconds since the credential a StateBackend's Secret holds was issued.
# TYPE tfstate_operator_credential_age_seconds gauge
tfstate_operator_credential_age_seconds{name="one",namespace="team-a"} 3600
tfstate_operator_credential_age_seconds{name="rotating",namespace="team-a"} 3600
tfstate_operator_credential_age_seconds{name="two",namespace="team-a"} 7200
# HELP tfstate_operator_credential_expiry_seconds Seconds until the credential a StateBackend's Secret holds expires (only credentials that expire).
# TYPE tfstate_operator_credential_expiry_seconds gauge
tfstate_operator_credential_expiry_seconds{name="rotating",namespace="team-a"} 5400
# HELP tfstate_operator_credential_rotation_seconds Seconds until the credential a StateBackend's Secret holds is rotated (only with spec.credentials.rotationPeriod).
# TYPE tfstate_operator_credential_rotation_seconds gauge
tfstate_operator_credential_rotation_seconds{name="rotating",namespace="team-a"} 1800
# HELP tfstate_operator_statebackends StateBackends by their Ready condition's status (True, False, Unknown: none yet) and reason.
# TYPE tfstate_operator_statebackends gauge
tfstate_operator_statebackends{ready="False",reason="ProviderNotFound"} 1
tfstate_operator_statebackends{ready="True",reason="Ready"} 3
tfstate_operator_statebackends{ready="Unknown",reason=""} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tfstate_operator_statebackends", "tfstate_operator_credential_age_seconds",
		"tfstate_operator_credential_expiry_seconds", "tfstate_operator_credential_rotation_seconds"); err != nil {
		t.Fatal(err)
	}
	if err := reader.Delete(context.Background(), backend("two", "", "", 0)); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.backends, "tfstate_operator_credential_age_seconds"); n != 2 {
		t.Errorf("%d credential age series after a delete, want 2", n)
	}
}
