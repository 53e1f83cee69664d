package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// permission is one verb on one resource (with subresource) of one API group, within namespace ("" =
// any: a ClusterRole's grant).
type permission struct {
	group, resource, verb, namespace string
}

func (p permission) String() string {
	g := p.group
	if g == "" {
		g = "core"
	}
	s := fmt.Sprintf("%s %s/%s", p.verb, g, p.resource)
	if p.namespace != "" {
		s += " in " + p.namespace
	}
	return s
}

// unobservable are granted permissions an end-to-end run cannot be relied on to show in the audit
// log, each with why the manager needs it. Nothing else may go unused.
var unobservable = map[permission]string{
	{group: "tfstate.dev", resource: "statebackends/finalizers", verb: "update"}: "checked by the OwnerReferencesPermissionEnforcement admission plugin when the " +
		"Secret and ConfigMap are written with blockOwnerDeletion; never a request of its own (the harness enables the plugin, so a missing rule fails the run)",
	{group: "tfstate.dev", resource: "statebackends", verb: "get"}: "read-your-writes: a reconcile whose cache has not yet seen the reconciler's last status " +
		"write reads the StateBackend from the API server; whether the cache lags is a matter of timing",
	{group: "events.k8s.io", resource: "events", verb: "patch"}: "an event series: sent only when the same event repeats for the same object version",
}

// grantedPermissions expands the chart's ClusterRoles and Roles into single permissions, failing on
// wildcards.
func grantedPermissions(t *testing.T, chart []*unstructured.Unstructured) []permission {
	t.Helper()
	var out []permission
	for _, o := range chart {
		var rules []rbacv1.PolicyRule
		switch o.GetKind() {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
				t.Fatal(err)
			}
			rules = r.Rules
		case "Role":
			var r rbacv1.Role
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r); err != nil {
				t.Fatal(err)
			}
			rules = r.Rules
		default:
			continue
		}
		for _, rule := range rules {
			if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 {
				t.Errorf("%s %s: rule %+v: resourceNames and nonResourceURLs are not expected", o.GetKind(), o.GetName(), rule)
			}
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						if g == "*" || res == "*" || v == "*" || strings.HasSuffix(res, "/*") {
							t.Errorf("%s %s grants a wildcard: %+v", o.GetKind(), o.GetName(), rule)
						}
						out = append(out, permission{group: g, resource: res, verb: v, namespace: o.GetNamespace()})
					}
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the chart renders no RBAC rules")
	}
	return out
}

// everyGrantIsUsed fails for each permission the chart grants the operator that the manager did
// not use during the run (per the API server's audit log), except the documented unobservable ones.
// Run it last: the run must have gone through deletion, drift repair and leader election.
func everyGrantIsUsed(t *testing.T, env *Env) {
	t.Helper()
	requests, err := env.RequestsBy(env.OperatorUser)
	if err != nil {
		t.Fatal(err)
	}
	if len(requests) == 0 {
		t.Fatalf("the audit log holds no request from %s", env.OperatorUser)
	}
	used := map[permission]bool{}
	for _, r := range requests {
		if r.Code >= 400 && r.Code != 404 && r.Code != 409 {
			continue // refused or failed: not a use of a grant (404 and 409 are answers, granted)
		}
		res := r.Resource
		if r.Subresource != "" {
			res += "/" + r.Subresource
		}
		verbs := []string{r.Verb}
		if r.Verb == "watch" {
			// An informer lists then watches. Against this API server it streams the initial list
			// within the watch (WatchList); against one without streaming lists it sends LIST.
			verbs = append(verbs, "list")
		}
		for _, v := range verbs {
			used[permission{group: r.APIGroup, resource: res, verb: v, namespace: r.Namespace}] = true
			used[permission{group: r.APIGroup, resource: res, verb: v}] = true // a cluster-wide grant covers it
		}
	}
	granted := grantedPermissions(t, env.Chart)
	for _, p := range granted {
		if _, ok := unobservable[p]; ok {
			continue
		}
		if !used[p] {
			t.Errorf("the chart grants %s, which the manager never used in this run: drop it from the +kubebuilder:rbac markers (or, if a path the e2e does not take needs it, take that path here)", p)
		}
	}
	for p := range unobservable {
		if !slices.Contains(granted, p) {
			t.Errorf("stale exception: %s is no longer granted; remove it from unobservable", p)
		}
	}
}
