package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

func TestLocationDecisions(t *testing.T) {
	here := v1alpha1.BucketLocation{Provider: "minio", Endpoint: "http://a:9000", Region: "us-east-1"}
	there := v1alpha1.BucketLocation{Provider: "minio", Endpoint: "http://b:9000", Region: "us-east-1"}
	settingsHere := provider.BackendSettings{EndpointURL: "http://a:9000", Region: "us-east-1"}
	settingsThere := provider.BackendSettings{EndpointURL: "http://b:9000", Region: "us-east-1"}
	cred := &v1alpha1.CredentialStatus{Name: "tfso-1"}
	cases := []struct {
		reason   string
		status   v1alpha1.StateBackendStatus
		current  v1alpha1.BucketLocation
		settings provider.BackendSettings
		moved    bool // movedFrom or legacyMovedFrom reports a move
		recorded *v1alpha1.BucketLocation
	}{
		{"a new backend records where it is about to create", v1alpha1.StateBackendStatus{}, here, settingsHere, false, &here},
		{"a backend that created nothing follows its provider (a mistyped endpoint fixed)",
			v1alpha1.StateBackendStatus{Location: &here, BucketName: "b"}, there, settingsThere, false, &there},
		{"a backend with a credential stays where it is",
			v1alpha1.StateBackendStatus{Location: &here, Credential: cred}, there, settingsThere, true, &here},
		{"a backend whose bucket was claimed stays where it is",
			v1alpha1.StateBackendStatus{Location: &here, Versioning: v1alpha1.VersioningEnabled}, there, settingsThere, true, &here},
		{"a credential only in its rotation grace still needs the old location to be revoked",
			v1alpha1.StateBackendStatus{Location: &here, PreviousCredential: &v1alpha1.RetiredCredentialStatus{Name: "x", ID: "y", RevokeAt: metav1.Now()}}, there, settingsThere, true, &here},
		{"an unchanged provider is no move", v1alpha1.StateBackendStatus{Location: &here, Credential: cred}, here, settingsHere, false, &here},
		{"an upgraded backend whose recorded endpoint and region match adopts the location",
			v1alpha1.StateBackendStatus{Credential: cred, Endpoint: "http://a:9000", Region: "us-east-1"}, here, settingsHere, false, &here},
		{"an upgraded backend whose provider moved before the upgrade finished stays",
			v1alpha1.StateBackendStatus{Credential: cred, Endpoint: "http://a:9000", Region: "us-east-1"}, there, settingsThere, true, nil},
		{"an upgraded backend whose recorded region differs stays",
			v1alpha1.StateBackendStatus{Credential: cred, Endpoint: "http://a:9000", Region: "eu-west-1"}, here, settingsHere, true, nil},
		{"an upgraded backend with nothing recorded has nothing to compare and adopts",
			v1alpha1.StateBackendStatus{Credential: cred}, there, settingsThere, false, &there},
	}
	for _, tc := range cases {
		st := tc.status
		moved := movedFrom(&st, tc.current) != ""
		if !moved {
			moved = legacyMovedFrom(&st, tc.settings) != ""
		}
		if moved != tc.moved {
			t.Errorf("%s: moved = %v, want %v", tc.reason, moved, tc.moved)
			continue
		}
		if moved {
			if tc.recorded != nil && (st.Location == nil || *st.Location != *tc.recorded) {
				t.Errorf("%s: status.location changed to %+v", tc.reason, st.Location)
			}
			continue
		}
		recordLocation(&st, tc.current)
		if st.Location == nil || *st.Location != *tc.recorded {
			t.Errorf("%s: recorded %+v, want %+v", tc.reason, st.Location, tc.recorded)
		}
	}
}

func TestDescribeLocationNamesEveryField(t *testing.T) {
	got := describeLocation(v1alpha1.BucketLocation{Provider: "cloudflare-r2", AccountID: "acct", Endpoint: "http://s3", Jurisdiction: "eu"})
	want := "provider cloudflare-r2, account acct, endpoint http://s3, jurisdiction eu"
	if got != want {
		t.Errorf("describeLocation = %q, want %q", got, want)
	}
}
