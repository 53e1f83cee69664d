package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
)

// stalledReasons are the Ready reasons that no retry fixes: a human must change the spec, the
// provider, or a conflicting object. Everything else not Ready is still being worked on (including
// a provider or admin Secret that does not exist yet: GitOps may be about to apply it).
var stalledReasons = map[string]bool{
	v1alpha1.ReasonProviderInvalid:          true,
	v1alpha1.ReasonEndpointRefused:          true,
	v1alpha1.ReasonProviderPermissionDenied: true,
	v1alpha1.ReasonProviderQuotaExceeded:    true,
	v1alpha1.ReasonBucketOwnedByOther:       true,
	v1alpha1.ReasonBucketNotOwned:           true,
	v1alpha1.ReasonBucketNotEmpty:           true,
	v1alpha1.ReasonSecretConflict:           true,
	v1alpha1.ReasonConfigMapConflict:        true,
	v1alpha1.ReasonCredentialRejected:       true,
	v1alpha1.ReasonInvalidBackendSettings:   true,
	v1alpha1.ReasonBucketReferenceRefused:   true,
	v1alpha1.ReasonBucketNameRefused:        true,
	v1alpha1.ReasonNamespaceNotAllowed:      true,
	v1alpha1.ReasonProviderLocationChanged:  true,
	v1alpha1.ReasonNamespaceQuotaExceeded:   true,
}

// setKstatusConditions derives Reconciling and Stalled from Ready, the abnormal-true conditions
// kstatus (Flux's health checks, `kubectl wait`, cli-utils) reads: Ready is Current; Stalled=True is
// Failed; Reconciling=True, or an observedGeneration behind the spec, is InProgress. Ready=False
// alone would read as Current.
func setKstatusConditions(conditions *[]metav1.Condition, generation int64) {
	ready := meta.FindStatusCondition(*conditions, v1alpha1.ConditionReady)
	switch {
	case ready != nil && ready.Status == metav1.ConditionTrue:
		meta.RemoveStatusCondition(conditions, v1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(conditions, v1alpha1.ConditionStalled)
	case ready != nil && stalledReasons[ready.Reason]:
		meta.RemoveStatusCondition(conditions, v1alpha1.ConditionReconciling)
		meta.SetStatusCondition(conditions, metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
			Reason: ready.Reason, Message: ready.Message, ObservedGeneration: generation})
	default:
		reason, msg := v1alpha1.ReasonProgressing, "not reconciled yet"
		if ready != nil {
			reason, msg = ready.Reason, ready.Message
		}
		meta.RemoveStatusCondition(conditions, v1alpha1.ConditionStalled)
		meta.SetStatusCondition(conditions, metav1.Condition{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionTrue,
			Reason: reason, Message: msg, ObservedGeneration: generation})
	}
}
