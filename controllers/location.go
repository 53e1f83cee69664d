package controllers

import (
	"fmt"
	"strings"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// location.go owns where a backend's bucket and credentials live (status.location) and the refusal
// to follow a provider whose endpoint, region, account or kind changed after something was created
// there. Following it would create a fresh, empty bucket at the new location, point the Secret at
// it (Terraform would plan from empty state) and leave the old credentials live where nothing can
// revoke them. So a backend records its location before anything is created, and one whose provider
// now resolves elsewhere makes no provider call and keeps its Secret and ConfigMap as they are.

// placed reports whether something of the backend may exist at its location: a credential (its
// name is recorded before it is issued; a new backend's first name in the same write as its bucket's
// creation intent) or a bucket it claimed (versioning is recorded once the bucket is ours). Until
// then the backend follows its provider, so fixing a mistyped endpoint needs no migration.
func placed(st *v1alpha1.StateBackendStatus) bool {
	return st.Credential != nil || st.PreviousCredential != nil || st.Versioning != ""
}

// movedFrom says where the backend's bucket and credentials are when the provider now resolves to
// current and the backend recorded another location ("" when it did not move). It needs no
// provider client: it is decided before any is built.
func movedFrom(st *v1alpha1.StateBackendStatus, current v1alpha1.BucketLocation) string {
	if st.Location == nil || !placed(st) || *st.Location == current {
		return ""
	}
	return describeLocation(*st.Location)
}

// legacyMovedFrom is movedFrom for a backend recorded by a release that kept no status.location:
// its status.endpoint and status.region, which were the provider's settings when it last
// reconciled, are its location. An upgrade must not move it; a backend whose recorded fields are
// empty has nothing to compare and adopts the provider's location.
func legacyMovedFrom(st *v1alpha1.StateBackendStatus, settings provider.BackendSettings) string {
	if st.Location != nil || !placed(st) || (st.Endpoint == "" && st.Region == "") {
		return ""
	}
	if st.Endpoint == settings.EndpointURL && st.Region == settings.Region {
		return ""
	}
	return describeLocation(v1alpha1.BucketLocation{Endpoint: st.Endpoint, Region: st.Region})
}

// recordLocation sets status.location to current unless the backend is placed somewhere already:
// a new backend records it before its first create, an upgraded one adopts it once legacyMovedFrom
// found it where it was.
func recordLocation(st *v1alpha1.StateBackendStatus, current v1alpha1.BucketLocation) {
	if st.Location == nil || !placed(st) {
		loc := current
		st.Location = &loc
	}
}

// describeLocation names a location in a condition message: its non-empty fields.
func describeLocation(l v1alpha1.BucketLocation) string {
	var parts []string
	for _, f := range []struct{ name, value string }{
		{"provider", l.Provider}, {"account", l.AccountID}, {"endpoint", l.Endpoint}, {"region", l.Region},
		{"jurisdiction", string(l.Jurisdiction)}, {"iamEndpoint", l.IAMEndpoint}, {"iamPath", l.IAMPath},
	} {
		if f.value != "" {
			parts = append(parts, f.name+" "+f.value)
		}
	}
	if len(parts) == 0 {
		return "(unrecorded)"
	}
	return strings.Join(parts, ", ")
}

// locationChangedMessage is the Ready message of a backend whose provider moved: where each is,
// what the operator does, and what a human can do.
func locationChangedMessage(sb *v1alpha1.StateBackend, providerName, from string, current v1alpha1.BucketLocation) string {
	msg := fmt.Sprintf("%s now points at %s, but this backend's bucket %q and credentials are at %s, where its state is; "+
		"no provider call is made and the Secret and ConfigMap keep pointing there. Change the provider back to resume; "+
		"to move the state, create a StateBackend on a provider for the new location and migrate it (terraform init -migrate-state)",
		providerName, describeLocation(current), sb.Status.BucketName, from)
	if !sb.DeletionTimestamp.IsZero() {
		msg += ". Deletion waits: only the old location can revoke the credentials; change the provider back, " +
			"or revoke the credentials named " + credentialNames(sb) + " there by hand and then remove the finalizer " + Finalizer
	}
	return msg
}

// credentialNames lists the names of the backend's recorded credentials, for a human to revoke.
func credentialNames(sb *v1alpha1.StateBackend) string {
	var names []string
	if c := sb.Status.Credential; c != nil {
		names = append(names, fmt.Sprintf("%q (id %q)", c.Name, c.ID))
	}
	if p := sb.Status.PreviousCredential; p != nil {
		names = append(names, fmt.Sprintf("%q (id %q)", p.Name, p.ID))
	}
	return strings.Join(names, " and ")
}
