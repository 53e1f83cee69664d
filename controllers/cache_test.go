package controllers

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCachedMetadataIsTrimmed: what a tenant adds to a Secret it labelled as the operator's (large
// annotations, labels, owner references) does not reach the cache.
func TestCachedMetadataIsTrimmed(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	isTrue := true
	in := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: "s", Namespace: "team", ResourceVersion: "7", UID: "u",
		Labels:      map[string]string{LabelManagedBy: ManagedByValue, LabelStateBackend: "state", "tenant": "label"},
		Annotations: map[string]string{AnnotationCredentialID: "id", AnnotationRenderDigest: "d", "tenant/blob": big},
		OwnerReferences: []metav1.OwnerReference{
			{Name: "other", UID: "o"},
			{Name: "state", UID: "sb", Controller: &isTrue},
		},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	in.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
	got, err := trimMetadata(in)
	if err != nil {
		t.Fatal(err)
	}
	out := got.(*metav1.PartialObjectMetadata)
	cases := []struct {
		reason string
		ok     bool
	}{
		{"identity and version are kept", out.Name == "s" && out.Namespace == "team" && out.ResourceVersion == "7" && out.UID == "u"},
		{"the operator's labels are kept, a tenant's dropped", len(out.Labels) == 2 && out.Labels[LabelStateBackend] == "state"},
		{"the operator's annotations are kept, a tenant's blob dropped", len(out.Annotations) == 2 && out.Annotations[AnnotationCredentialID] == "id"},
		{"only the controller reference is kept", len(out.OwnerReferences) == 1 && out.OwnerReferences[0].UID == "sb"},
		{"managed fields are dropped", out.ManagedFields == nil},
		{"the kind is kept", out.Kind == "PartialObjectMetadata"},
	}
	for _, tc := range cases {
		if !tc.ok {
			t.Errorf("%s: %+v", tc.reason, out.ObjectMeta)
		}
	}
}
