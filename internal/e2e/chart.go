package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/kubetools"
)

// auditPolicy records every request's metadata (who, verb, resource, response code) once it is
// answered: enough to tell which permissions the manager used, and never a request body.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`

// newControlPlane configures envtest's API server as a cluster is: RBAC (envtest's default), an
// audit log, and OwnerReferencesPermissionEnforcement, which makes setting blockOwnerDeletion on
// the Secret and ConfigMap need update on statebackends/finalizers (OpenShift enables it; without
// it a missing finalizers rule would go unnoticed here).
func (e *Env) newControlPlane() (*envtest.Environment, error) {
	policy := filepath.Join(e.Dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	e.auditLog = filepath.Join(e.Dir, "audit.log")
	api := &envtest.APIServer{}
	api.Configure().
		Set("audit-policy-file", policy).
		Set("audit-log-path", e.auditLog).
		Set("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	return &envtest.Environment{
		ControlPlane:          envtest.ControlPlane{APIServer: api},
		BinaryAssetsDirectory: assetsDir(),
	}, nil
}

// ChartRelease is how the tests render the chart of the repository at root: release ReleaseName in
// OperatorNamespace, with the chart's default values until the caller adds some.
func ChartRelease(root string) kubetools.Release {
	return kubetools.Release{Name: ReleaseName, Namespace: OperatorNamespace, Chart: filepath.Join(root, "charts", "tfstate-operator")}
}

// installChart renders the chart with the real helm binary and creates every object it holds, CRDs
// first, as `helm install` would; it returns once the CRDs are served.
func (e *Env) installChart(ctx context.Context, values map[string]string) error {
	rel := ChartRelease(e.Root)
	rel.Values = values
	objs, err := kubetools.Template(ctx, filepath.Join(e.Dir, "helm-home"), rel)
	if err != nil {
		return err
	}
	e.Chart = objs
	if err := e.ensureNamespace(ctx, rel.Namespace); err != nil {
		return err
	}
	// CRDs first, as their custom resources would need them.
	for _, crdPass := range []bool{true, false} {
		for _, o := range objs {
			if (o.GetKind() == "CustomResourceDefinition") != crdPass {
				continue
			}
			if ns := o.GetNamespace(); ns != "" {
				// RoleBindings in watched namespaces (watchNamespaces) need those namespaces.
				if err := e.ensureNamespace(ctx, ns); err != nil {
					return err
				}
			}
			if err := e.Kube.Create(ctx, o.DeepCopy()); err != nil {
				return fmt.Errorf("install the chart: create %s %s: %w", o.GetKind(), o.GetName(), err)
			}
		}
	}
	e.step("installed the chart (%s, %d objects) as release %s in %s", rel.Chart, len(objs), rel.Name, rel.Namespace)
	return e.poll(ctx, 30*time.Second, func(ctx context.Context) bool {
		return e.Kube.List(ctx, &v1alpha1.StateBackendList{}) == nil &&
			e.Kube.List(ctx, &v1alpha1.ClusterStorageProviderList{}) == nil &&
			e.Kube.List(ctx, &v1alpha1.StorageProviderList{}) == nil
	}, func() string { return "the chart's CRDs are not served" })
}

// chartDeployment returns the chart's Deployment and sets OperatorUser to its ServiceAccount.
func (e *Env) chartDeployment() (*appsv1.Deployment, error) {
	deps := kubetools.OfKind(e.Chart, "Deployment")
	if len(deps) != 1 {
		return nil, fmt.Errorf("the chart renders %d Deployments, want 1", len(deps))
	}
	dep := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(deps[0].Object, dep); err != nil {
		return nil, err
	}
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		return nil, fmt.Errorf("the chart's Deployment has %d containers, want 1", len(dep.Spec.Template.Spec.Containers))
	}
	if p := dep.Spec.Template.Spec.Containers[0].ReadinessProbe; p == nil || p.HTTPGet == nil {
		return nil, fmt.Errorf("the chart's Deployment has no HTTP readiness probe")
	}
	e.OperatorUser = "system:serviceaccount:" + dep.Namespace + ":" + dep.Spec.Template.Spec.ServiceAccountName
	return dep, nil
}

// impersonatingKubeconfig writes a kubeconfig for an admin that impersonates OperatorUser: the
// API server authorizes every request as the chart's ServiceAccount (and the audit log names it).
func (e *Env) impersonatingKubeconfig(dep *appsv1.Deployment) (string, error) {
	admin, err := e.controlPlane.AddUser(envtest.User{Name: "operator-launcher", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("launcher user: %w", err)
	}
	raw, err := admin.KubeConfig()
	if err != nil {
		return "", err
	}
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return "", err
	}
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = e.OperatorUser
	}
	path := filepath.Join(e.Dir, "operator.kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// AuditedRequest is one request the API server answered, from its audit log.
type AuditedRequest struct {
	Verb, APIGroup, Resource, Subresource, Namespace, Name string
	Code                                                   int
}

// RequestsBy returns the requests the audit log holds from user, whether sent as user or by
// impersonation.
func (e *Env) RequestsBy(user string) ([]AuditedRequest, error) {
	f, err := os.Open(e.auditLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AuditedRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var ev struct {
			Verb             string `json:"verb"`
			User             struct{ Username string }
			ImpersonatedUser *struct{ Username string } `json:"impersonatedUser"`
			ObjectRef        *struct {
				Resource, Namespace, Name, APIGroup, Subresource string
			} `json:"objectRef"`
			ResponseStatus *struct{ Code int } `json:"responseStatus"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		who := ev.User.Username
		if ev.ImpersonatedUser != nil {
			who = ev.ImpersonatedUser.Username
		}
		if who != user || ev.ObjectRef == nil {
			continue
		}
		r := AuditedRequest{Verb: ev.Verb, APIGroup: ev.ObjectRef.APIGroup, Resource: ev.ObjectRef.Resource,
			Subresource: ev.ObjectRef.Subresource, Namespace: ev.ObjectRef.Namespace, Name: ev.ObjectRef.Name}
		if ev.ResponseStatus != nil {
			r.Code = ev.ResponseStatus.Code
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// freeAddr returns a free 127.0.0.1 address.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// httpGet returns the body of url, or an error unless it answers 200.
func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}
