package controllers

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	lua "github.com/yuin/gopher-lua"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
)

// kstatusOf computes what kstatus (Flux's health checks, cli-utils) makes of the object as the API
// server holds it.
func kstatusOf(t *testing.T, obj client.Object) status.Status {
	t.Helper()
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: raw})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// argoHealth runs the Argo CD health check shipped in examples/argocd on obj, as Argo CD does: the
// object as a Lua table in the global obj, and the script's returned table's status.
func argoHealth(t *testing.T, obj client.Object) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("..", "examples", "argocd", "statebackend-health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, raw))
	if err := L.DoString(string(script)); err != nil {
		t.Fatalf("health script: %v", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health script returned %v, want a table", L.Get(-1))
	}
	return ret.RawGetString("status").String()
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		tbl := L.NewTable()
		for k, e := range v {
			tbl.RawSetString(k, toLua(L, e))
		}
		return tbl
	case []any:
		tbl := L.NewTable()
		for _, e := range v {
			tbl.Append(toLua(L, e))
		}
		return tbl
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	default:
		return lua.LNil
	}
}

// TestKstatusSeesReadyProgressingAndStalled: GitOps tools judge a StateBackend through kstatus, which
// reads observedGeneration and the Reconciling/Stalled conditions, not Ready. A Ready backend must be
// Current, one still being worked on InProgress, and one that needs a human Failed.
func TestKstatusSeesReadyProgressingAndStalled(t *testing.T) {
	tn := newTenant(t)
	ready := tn.backend("ready", nil)
	waiting := tn.backend("waiting", func(sb *v1alpha1.StateBackend) { sb.Spec.ProviderRef.Name = "not-applied-yet" })
	must(t, k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "taken"},
		Data:       map[string][]byte{"mine": []byte("x")},
	}))
	stalled := tn.backend("stalled", func(sb *v1alpha1.StateBackend) { sb.Spec.SecretName = "taken" })

	for _, tc := range []struct {
		reason   string
		key      client.ObjectKey
		ready    metav1.ConditionStatus
		why      string
		want     status.Status
		wantArgo string
	}{
		{"a Ready backend is Current", ready, metav1.ConditionTrue, v1alpha1.ReasonReady, status.CurrentStatus, "Healthy"},
		{"a missing provider may still be applied (GitOps ordering): InProgress", waiting, metav1.ConditionFalse, v1alpha1.ReasonProviderNotFound, status.InProgressStatus, "Progressing"},
		{"a Secret name taken by someone else needs a human: Failed", stalled, metav1.ConditionFalse, v1alpha1.ReasonSecretConflict, status.FailedStatus, "Degraded"},
	} {
		sb := waitCondition(t, tc.key, v1alpha1.ConditionReady, tc.ready, tc.why)
		if got := kstatusOf(t, sb); got != tc.want {
			t.Errorf("%s: kstatus %s, want %s; conditions %+v", tc.reason, got, tc.want, sb.Status.Conditions)
		}
		if got := argoHealth(t, sb); got != tc.wantArgo {
			t.Errorf("%s: Argo CD health %s, want %s", tc.reason, got, tc.wantArgo)
		}
	}

	// A spec change the operator has not yet observed is InProgress even though Ready is still True
	// for the previous generation.
	sb := getBackend(t, ready)
	sb.Spec.Key = "moved/terraform.tfstate"
	sb.Status = v1alpha1.StateBackendStatus{} // as read right after the update: status unchanged
	before := getBackend(t, ready)
	must(t, k8s.Update(context.Background(), sb))
	before.Generation = sb.Generation // the new generation, with the status of the old one
	if got := kstatusOf(t, before); got != status.InProgressStatus {
		t.Errorf("a new generation not yet observed: kstatus %s, want InProgress", got)
	}
	if got := argoHealth(t, before); got != "Progressing" {
		t.Errorf("a new generation not yet observed: Argo CD health %s, want Progressing", got)
	}
	if got := argoHealth(t, &v1alpha1.StateBackend{ObjectMeta: metav1.ObjectMeta{Generation: 1}}); got != "Progressing" {
		t.Errorf("a backend without status: Argo CD health %s, want Progressing", got)
	}
	if got := kstatusOf(t, waitReady(t, ready)); got != status.CurrentStatus {
		t.Errorf("the new generation reconciled: kstatus %s, want Current", got)
	}
}

// TestKstatusConditionsFollowReady: Reconciling and Stalled are derived from Ready alone, so they can
// never contradict it.
func TestKstatusConditionsFollowReady(t *testing.T) {
	for _, tc := range []struct {
		reason                     string
		ready                      *metav1.Condition
		wantReconciling, wantStall bool
	}{
		{"no Ready yet: being worked on", nil, true, false},
		{"Ready", &metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonReady}, false, false},
		{"a transient provider error is retried", &metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonProviderError}, true, false},
		{"rate limited is retried", &metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonProviderRateLimited}, true, false},
		{"a bucket owned by another backend needs a human", &metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonBucketOwnedByOther}, false, true},
		{"missing permissions need a human", &metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonProviderPermissionDenied}, false, true},
		{"a provider moved away from the backend's state needs a human", &metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonProviderLocationChanged}, false, true},
	} {
		// Start from the opposite state, so that stale conditions must be removed.
		conds := []metav1.Condition{
			{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: "Old"},
			{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "Old"},
		}
		if tc.ready != nil {
			conds = append(conds, *tc.ready)
		}
		setKstatusConditions(&conds, 3)
		has := func(typ string) bool {
			for _, c := range conds {
				if c.Type == typ {
					if c.Status != metav1.ConditionTrue || c.ObservedGeneration != 3 {
						t.Errorf("%s: %s present but %+v, want True for generation 3", tc.reason, typ, c)
					}
					return true
				}
			}
			return false
		}
		if got := has(v1alpha1.ConditionReconciling); got != tc.wantReconciling {
			t.Errorf("%s: Reconciling present %v, want %v", tc.reason, got, tc.wantReconciling)
		}
		if got := has(v1alpha1.ConditionStalled); got != tc.wantStall {
			t.Errorf("%s: Stalled present %v, want %v", tc.reason, got, tc.wantStall)
		}
	}
}
