package clusterid

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestResolve(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	withSystem := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: "5f0c1a2b-uid"},
	}).Build()
	empty := fake.NewClientBuilder().WithScheme(scheme).Build()
	for _, tc := range []struct {
		reason   string
		override string
		empty    bool
		want     string
		wantErr  error
		anyErr   bool
	}{
		{reason: "the kube-system UID by default", want: "5f0c1a2b-uid"},
		{reason: "an override wins (a restored cluster takes its old identity)", override: "old-cluster.uid_1", want: "old-cluster.uid_1"},
		{reason: "an override with a space is refused", override: "a b", wantErr: ErrInvalidOverride},
		{reason: "an override starting with '-' is refused", override: "-x", wantErr: ErrInvalidOverride},
		{reason: "no kube-system and no override is an error, never an empty identity", empty: true, anyErr: true},
	} {
		reader := withSystem
		if tc.empty {
			reader = empty
		}
		got, err := Resolve(context.Background(), reader, tc.override)
		switch {
		case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
			t.Errorf("%s: err %v, want %v", tc.reason, err, tc.wantErr)
		case tc.anyErr && err == nil:
			t.Errorf("%s: no error (got %q)", tc.reason, got)
		case tc.wantErr == nil && !tc.anyErr && (err != nil || got != tc.want):
			t.Errorf("%s: got %q, %v; want %q", tc.reason, got, err, tc.want)
		}
	}
}
