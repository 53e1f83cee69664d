// Package metrics holds the operator's Prometheus metrics beyond controller-runtime's own:
//
//	tfstate_operator_provider_calls_total{provider,operation,result}      counter
//	tfstate_operator_provider_call_duration_seconds{provider,operation}    histogram
//	tfstate_operator_statebackends{ready,reason}                           gauge, read at scrape time
//	tfstate_operator_credential_age_seconds{namespace,name}                gauge, read at scrape time
//	tfstate_operator_credential_expiry_seconds{namespace,name}             gauge, read at scrape time
//	tfstate_operator_credential_rotation_seconds{namespace,name}           gauge, read at scrape time
//	tfstate_operator_orphaned_credentials_revoked_total{provider}          counter
//
// Nothing registers itself: main creates a Metrics and registers it with controller-runtime's
// registry, and tests use a registry of their own.
package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

const namespace = "tfstate_operator"

// Results of a provider call, the "result" label: success, or the class of the error.
const (
	ResultSuccess          = "success"
	ResultRateLimited      = "rate_limited"
	ResultPermissionDenied = "permission_denied"
	ResultInvalidConfig    = "invalid_config"
	ResultQuotaExceeded    = "quota_exceeded"
	ResultNotSupported     = "not_supported"
	ResultConflict         = "conflict" // bucket name taken, bucket not empty: answers, not faults
	ResultError            = "error"
)

// Metrics are the operator's own metrics.
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	orphans  *prometheus.CounterVec
	backends *backendCollector
}

// New returns the metrics. backends, when not nil, is read at every scrape for the gauges of
// StateBackends (the manager's cache: a scrape costs no API request).
func New(backends client.Reader) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "provider_calls_total",
			Help:      "Calls of a storage provider's API by provider, operation and result (success or the error's class).",
		}, []string{"provider", "operation", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "provider_call_duration_seconds",
			Help:      "Duration of the calls of a storage provider's API, including client-side rate-limit waits.",
			Buckets:   []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"provider", "operation"}),
		orphans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "orphaned_credentials_revoked_total",
			Help:      "Credentials of this cluster that no StateBackend recorded (a StateBackend deleted without the operator's finalizer), revoked by the orphan sweep, by provider.",
		}, []string{"provider"}),
	}
	if backends != nil {
		m.backends = newBackendCollector(backends)
	}
	return m
}

// Collectors returns what to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	cs := []prometheus.Collector{m.calls, m.duration, m.orphans}
	if m.backends != nil {
		cs = append(cs, m.backends)
	}
	return cs
}

// Observe records one call of operation on providerName that took d and ended with err.
func (m *Metrics) Observe(providerName, operation string, d time.Duration, err error) {
	m.calls.WithLabelValues(providerName, operation, Result(err)).Inc()
	m.duration.WithLabelValues(providerName, operation).Observe(d.Seconds())
}

// OrphanedCredentialRevoked counts one credential the orphan sweep revoked on providerName.
func (m *Metrics) OrphanedCredentialRevoked(providerName string) {
	m.orphans.WithLabelValues(providerName).Inc()
}

// Result classifies a provider call's error for the "result" label.
func Result(err error) string {
	var rl *provider.RateLimitedError
	switch {
	case err == nil:
		return ResultSuccess
	case errors.As(err, &rl):
		return ResultRateLimited
	case errors.Is(err, provider.ErrPermissionDenied):
		return ResultPermissionDenied
	case errors.Is(err, provider.ErrInvalidConfig):
		return ResultInvalidConfig
	case errors.Is(err, provider.ErrQuotaExceeded):
		return ResultQuotaExceeded
	case errors.Is(err, provider.ErrNotSupported):
		return ResultNotSupported
	case errors.Is(err, provider.ErrBucketNameTaken), errors.Is(err, provider.ErrBucketNotEmpty):
		return ResultConflict
	default:
		return ResultError
	}
}

// backendCollector reports the StateBackends by Ready state, and the age of each one's credential,
// from a list made at scrape time: deleted backends leave no stale series behind.
type backendCollector struct {
	reader        client.Reader
	now           func() time.Time
	backends      *prometheus.Desc
	credentialAge *prometheus.Desc
	// untilExpiry and untilRotation are only reported for credentials that expire or rotate.
	untilExpiry   *prometheus.Desc
	untilRotation *prometheus.Desc
	listErrors    *prometheus.Desc
}

func newBackendCollector(reader client.Reader) *backendCollector {
	return &backendCollector{
		reader: reader,
		now:    time.Now,
		backends: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "statebackends"),
			"StateBackends by their Ready condition's status (True, False, Unknown: none yet) and reason.",
			[]string{"ready", "reason"}, nil),
		credentialAge: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "credential_age_seconds"),
			"Seconds since the credential a StateBackend's Secret holds was issued.",
			[]string{"namespace", "name"}, nil),
		untilExpiry: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "credential_expiry_seconds"),
			"Seconds until the credential a StateBackend's Secret holds expires (only credentials that expire).",
			[]string{"namespace", "name"}, nil),
		untilRotation: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "credential_rotation_seconds"),
			"Seconds until the credential a StateBackend's Secret holds is rotated (only with spec.credentials.rotationPeriod).",
			[]string{"namespace", "name"}, nil),
		listErrors: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "statebackends_scrape_error"),
			"1 when the StateBackends could not be listed for this scrape (the gauges above are then missing).",
			nil, nil),
	}
}

func (c *backendCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.backends
	ch <- c.credentialAge
	ch <- c.untilExpiry
	ch <- c.untilRotation
	ch <- c.listErrors
}

func (c *backendCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list v1alpha1.StateBackendList
	if err := c.reader.List(ctx, &list); err != nil {
		ch <- prometheus.MustNewConstMetric(c.listErrors, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.listErrors, prometheus.GaugeValue, 0)
	type state struct{ ready, reason string }
	counts := map[state]int{}
	now := c.now()
	for i := range list.Items {
		sb := &list.Items[i]
		st := state{ready: "Unknown"}
		if ready := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionReady); ready != nil {
			st = state{ready: string(ready.Status), reason: ready.Reason}
		}
		counts[st]++
		cred := sb.Status.Credential
		if cred == nil {
			continue
		}
		if cred.IssuedAt != nil {
			ch <- prometheus.MustNewConstMetric(c.credentialAge, prometheus.GaugeValue,
				now.Sub(cred.IssuedAt.Time).Seconds(), sb.Namespace, sb.Name)
		}
		if cred.ExpiresAt != nil {
			ch <- prometheus.MustNewConstMetric(c.untilExpiry, prometheus.GaugeValue, cred.ExpiresAt.Sub(now).Seconds(), sb.Namespace, sb.Name)
		}
		if cred.NextRotationAt != nil {
			ch <- prometheus.MustNewConstMetric(c.untilRotation, prometheus.GaugeValue, cred.NextRotationAt.Sub(now).Seconds(), sb.Namespace, sb.Name)
		}
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.backends, prometheus.GaugeValue, float64(n), st.ready, st.reason)
	}
}
