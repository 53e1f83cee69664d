package e2e

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
)

// Steps of the day-two life of a backend: what a platform team's monitoring and hand edits see.

// handEditsAreReverted edits the Secret and the ConfigMap by hand; the operator writes both back.
func (b *backend) handEditsAreReverted(ctx context.Context, t *testing.T) {
	t.Helper()
	kube, ns := b.env.Kube, b.sb.Namespace
	secretKey := types.NamespacedName{Namespace: ns, Name: b.sb.Status.SecretName}
	cmKey := types.NamespacedName{Namespace: ns, Name: b.sb.Status.ConfigMapName}
	secret, cm := &corev1.Secret{}, &corev1.ConfigMap{}
	if err := kube.Get(ctx, secretKey, secret); err != nil {
		t.Fatal(err)
	}
	if err := kube.Get(ctx, cmKey, cm); err != nil {
		t.Fatal(err)
	}
	wantSecret, wantCM := maps.Clone(secret.Data), maps.Clone(cm.Data)
	secret.Data[backendconfig.EnvRegion] = []byte("tampered-region")
	cm.Data[backendconfig.ConfigMapBackendFile] = "# tampered\n"
	if err := kube.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if err := kube.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	err := b.env.poll(ctx, time.Minute, func(ctx context.Context) bool {
		return kube.Get(ctx, secretKey, secret) == nil && kube.Get(ctx, cmKey, cm) == nil &&
			maps.EqualFunc(secret.Data, wantSecret, func(a, b []byte) bool { return string(a) == string(b) }) &&
			maps.Equal(cm.Data, wantCM)
	}, func() string { return "the hand-edited Secret and ConfigMap were not written back" })
	if err != nil {
		t.Fatal(err)
	}
}

// namespacedProviderIsChecked applies a StorageProvider (a team's own MinIO admin keys, in its own
// namespace) and waits for its health check to pass.
func namespacedProviderIsChecked(ctx context.Context, t *testing.T, env *Env, namespace string) {
	t.Helper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "team-minio-admin"}, Data: map[string][]byte{
		"accessKeyID": []byte(env.MinIO.RootUser), "secretAccessKey": []byte(env.MinIO.RootPassword),
	}}
	sp := &v1alpha1.StorageProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "team-minio"},
		Spec: v1alpha1.StorageProviderSpec{
			MinIO:                &v1alpha1.MinIOProvider{Endpoint: env.MinIO.Endpoint},
			CredentialsSecretRef: &v1alpha1.SecretReference{Name: secret.Name},
		},
	}
	if err := env.Kube.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if err := env.Kube.Create(ctx, sp); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: namespace, Name: sp.Name}
	if err := env.waitConditionReady(ctx, "StorageProvider", key, sp, &sp.Status.Conditions, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// metricsReport scrapes the operator's metrics endpoint (the chart's metrics port) and checks the
// operator's own metrics: provider calls by provider, operation and result, backends by Ready
// state, and the age of each backend's credential.
func (b *backend) metricsReport(ctx context.Context, t *testing.T, providerName string) {
	t.Helper()
	var text string
	var problems []string
	err := b.env.poll(ctx, 30*time.Second, func(ctx context.Context) bool {
		var err error
		if text, err = httpGet(ctx, b.env.MetricsURL+"/metrics"); err != nil {
			problems = []string{err.Error()}
			return false
		}
		problems = nil
		// The calls every new backend makes (it lists no credentials: none can exist yet).
		for _, op := range []string{"ObserveBucket", "CreateBucket", "IssueCredential", "Check"} {
			if v, ok := metricValue(text, "tfstate_operator_provider_calls_total", map[string]string{"provider": providerName, "operation": op, "result": "success"}); !ok || v < 1 {
				problems = append(problems, fmt.Sprintf("provider_calls_total for a successful %s: %v (found %v)", op, v, ok))
			}
		}
		if v, ok := metricValue(text, "tfstate_operator_provider_call_duration_seconds_count", map[string]string{"provider": providerName, "operation": "CreateBucket"}); !ok || v < 1 {
			problems = append(problems, "no CreateBucket duration observed")
		}
		if v, ok := metricValue(text, "tfstate_operator_statebackends", map[string]string{"ready": "True", "reason": v1alpha1.ReasonReady}); !ok || v != 1 {
			problems = append(problems, fmt.Sprintf("statebackends{ready=True}: %v (found %v), want 1", v, ok))
		}
		age, ok := metricValue(text, "tfstate_operator_credential_age_seconds", map[string]string{"namespace": b.sb.Namespace, "name": b.sb.Name})
		if issued := b.sb.Status.Credential.IssuedAt; !ok || issued == nil || age < 0 || age > time.Since(issued.Time).Seconds()+5 {
			problems = append(problems, fmt.Sprintf("credential_age_seconds of %s/%s: %v (found %v), issued at %v", b.sb.Namespace, b.sb.Name, age, ok, issued))
		}
		return len(problems) == 0
	}, func() string { return "operator metrics: " + strings.Join(problems, "; ") })
	if err != nil {
		t.Fatal(err)
	}
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// metricValue finds the sample of name whose labels include want, in Prometheus' text format.
func metricValue(text, name string, want map[string]string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		labels := map[string]string{}
		for _, lp := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[lp[1]] = lp[2]
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		return v, err == nil
	}
	return 0, false
}
