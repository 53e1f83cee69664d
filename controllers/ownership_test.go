package controllers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/naming"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/r2"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/spaces"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakedigitalocean"
)

// The ownership marker is the operator's record of which StateBackend a bucket belongs to. On R2
// and Spaces it is an object in the bucket, which the tenant's own read-write credential can
// rewrite: only a seal made with the cluster's ownership key (which no tenant holds) makes it the
// operator's word.

// newSpacesTenant is a tenant whose provider is the real Spaces client against the fake DigitalOcean
// API over the shared MinIO.
func newSpacesTenant(t *testing.T) *tenant {
	t.Helper()
	m := sharedMinIO(t)
	fake, err := fakedigitalocean.Start(fakedigitalocean.Config{MinIO: m, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	tn := newTenant(t)
	c, err := spaces.New(spaces.Config{
		Region: "fra1", APIBaseURL: fake.URL(), S3Endpoint: fake.S3Endpoint(),
		APIToken: fake.AddToken("tfstate-operator"), AdminKeyPrefix: naming.AdminKeyPrefix(tn.ns),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	realClients.Store(tn.provider, provider.Client(c))
	return tn
}

// rewriteMarkerAs is what a squatter does with the read-write credential in its own Secret: read
// the marker object of its bucket and write it back naming another StateBackend, keeping every other
// field it finds (a seal included).
func rewriteMarkerAs(t *testing.T, cred provider.Credential, bucket, region, namespace, name string) []byte {
	t.Helper()
	m := sharedMinIO(t)
	c, err := miniogo.New(m.Host, &miniogo.Options{Creds: credentials.NewStaticV4(cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken), Region: region})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	obj, err := c.GetObject(ctx, bucket, provider.OwnerMarkerKey, miniogo.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(obj)
	_ = obj.Close()
	if err != nil {
		t.Fatalf("the squatter's credential cannot read its marker: %v", err)
	}
	fields := map[string]any{}
	must(t, json.Unmarshal(body, &fields))
	fields["namespace"], fields["name"], fields["uid"] = namespace, name, "guessed-uid"
	forged, _ := json.Marshal(fields)
	if _, err := c.PutObject(ctx, bucket, provider.OwnerMarkerKey, bytes.NewReader(forged), int64(len(forged)), miniogo.PutObjectOptions{}); err != nil {
		t.Fatalf("the squatter's credential cannot write its marker: %v", err)
	}
	return forged
}

// readMarker reads bucket's marker object with the MinIO root credentials.
func readMarker(t *testing.T, bucket string) []byte {
	t.Helper()
	m := sharedMinIO(t)
	c, err := miniogo.New(m.Host, &miniogo.Options{Creds: credentials.NewStaticV4(m.RootUser, m.RootPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(context.Background(), bucket, provider.OwnerMarkerKey, miniogo.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestForgedOwnershipMarkerNeverHandsAVictimTheSquattersBucket: a squatter's backend owns bucket X
// and, with the credential from its own Secret, rewrites X's marker to name a victim's namespace and
// name. A victim StateBackend pointed at X is refused (no credential, no Secret) and the operator
// leaves the forged marker as it is: the victim's Terraform never writes into the squatter's bucket.
func TestForgedOwnershipMarkerNeverHandsAVictimTheSquattersBucket(t *testing.T) {
	for _, store := range []struct {
		name   string
		tenant func(t *testing.T) *tenant
		region string
	}{
		{"r2", func(t *testing.T) *tenant { return newR2Tenant(t).tenant }, r2.Region},
		{"spaces", newSpacesTenant, spaces.Region},
	} {
		t.Run(store.name, func(t *testing.T) {
			tn := store.tenant(t)
			victimNS := tn.ns + "-v"
			must(t, k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: victimNS}}))
			bucket := "squat-" + store.name + "-" + hex.EncodeToString([]byte(time.Now().Format("150405.000")))[:12]

			squatter := tn.backend("squatter", bucketNamed(bucket))
			waitReady(t, squatter)
			cred := backendconfig.CredentialFromSecret(getSecret(t, squatter.Namespace, getBackend(t, squatter).Status.SecretName).Data)
			forged := rewriteMarkerAs(t, cred, bucket, store.region, victimNS, "network")

			victim := backendIn(t, victimNS, "network", tn.provider, bucketNamed(bucket))
			sb := waitCondition(t, victim, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNotOwned)
			if live := credentialsOf(t, tn, string(sb.UID)); len(live) != 0 {
				t.Errorf("the victim was issued credentials for the squatter's bucket: %v", live)
			}
			assertNoSecret(t, victim)
			time.Sleep(time.Second)
			if got := readMarker(t, bucket); !bytes.Equal(got, forged) {
				t.Errorf("the operator rewrote the forged marker: %s, want it left as %s", got, forged)
			}
		})
	}
}

// credentialsOf lists the live credentials issued for the backend with this UID at the tenant's
// (real) store.
func credentialsOf(t *testing.T, tn *tenant, uid string) []string {
	t.Helper()
	c, _ := realClients.Load(tn.provider)
	list, err := c.(provider.Client).ListCredentials(context.Background(), naming.CredentialPrefix(testClusterID, uid))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Name)
	}
	return names
}

// legacyDefaultBucketName is the default bucket name of the releases before the ownership key:
// "<namespace>-<name>-" and 8 hex characters of the SHA-256 of "namespace/name", which anyone
// knowing the namespace and name can compute (for lowercase names that need no sanitising).
func legacyDefaultBucketName(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	base := namespace + "-" + name
	if len(base) > 63-9 {
		base = strings.TrimRight(base[:63-9], "-")
	}
	return base + "-" + hex.EncodeToString(sum[:])[:8]
}

// TestDefaultBucketNamesCannotBePredictedByAnotherTenant: a backend without spec.bucketName gets a
// name another tenant cannot compute from its namespace and name (so it cannot create that bucket
// first), while a backend whose status records a name from before the upgrade keeps it.
func TestDefaultBucketNamesCannotBePredictedByAnotherTenant(t *testing.T) {
	tn := newTenant(t)
	fresh := waitReady(t, tn.backend("network", nil))
	if fresh.Status.BucketName == legacyDefaultBucketName(tn.ns, "network") {
		t.Errorf("default bucket name %q is computable from the namespace and name alone", fresh.Status.BucketName)
	}

	// A backend of the previous release: its bucket is at the old default name, marked without a
	// seal, and its status records the name. The provider appears only once that state is in place.
	later := tn.provider + "-later"
	key := backendIn(t, tn.ns, "legacy", later, nil)
	old := getBackend(t, key)
	legacy := legacyDefaultBucketName(tn.ns, "legacy")
	tn.store.PutBucket(legacy, &provider.Owner{Namespace: tn.ns, Name: "legacy", UID: string(old.UID)})
	patchStatusAsTenant(t, key, func(s *v1alpha1.StateBackendStatus) { s.BucketName = legacy })
	must(t, k8s.Create(context.Background(), namingProvider(later, tn.provider, nil)))
	sb := waitReady(t, key)
	if sb.Status.BucketName != legacy {
		t.Errorf("an upgraded backend moved from its bucket %q to %q", legacy, sb.Status.BucketName)
	}
	if b, _ := tn.store.Bucket(legacy); b.Owner == nil || b.Owner.UID != string(old.UID) || b.Owner.Seal == "" {
		t.Errorf("the upgraded backend's bucket is marked %+v, want its uid and a seal", b.Owner)
	}
}

// TestLostOwnershipKeyDoesNotLockAnyoneOutOfTheirBucket: markers sealed with a key the operator no
// longer holds (the key Secret was lost and a new one generated) do not lock anyone out. A backend
// whose bucket's marker names it, uid included, stays Ready on its bucket and the marker is sealed
// again with the current key. A re-created backend's retained bucket (another uid, a seal that no
// longer verifies) is refused with a message pointing at adoption, and adopted with consent.
func TestLostOwnershipKeyDoesNotLockAnyoneOutOfTheirBucket(t *testing.T) {
	tn := newTenant(t)
	ctx := context.Background()
	adopting := tn.createNamingProvider("adopting", func(s *v1alpha1.StorageProviderSpec) { s.AllowBucketAdoption = true })
	// The key the markers were sealed with before it was lost; the suite's key is the regenerated one.
	lost := mustKey([]byte("the ownership key that was lost!"))
	var lostSeal string
	sealLost := func(bucket string, sb *v1alpha1.StateBackend) {
		t.Helper()
		o := lost.Sealed(bucket, provider.Owner{Namespace: sb.Namespace, Name: sb.Name, UID: string(sb.UID), Cluster: testClusterID})
		lostSeal = o.Seal
		must(t, tn.store.MarkBucket(ctx, bucket, o))
	}

	existingKey := backendIn(t, tn.ns, "existing", adopting, nil)
	existing := waitReady(t, existingKey)
	sealLost(existing.Status.BucketName, existing)
	requestReconcile(t, existingKey)
	waitHandled(t, existingKey)
	if sb := waitReady(t, existingKey); sb.Status.BucketName != existing.Status.BucketName {
		t.Errorf("the backend moved from bucket %q to %q", existing.Status.BucketName, sb.Status.BucketName)
	}
	eventually(t, 20*time.Second, func() error {
		b, _ := tn.store.Bucket(existing.Status.BucketName)
		if b.Owner == nil || b.Owner.UID != string(existing.UID) || b.Owner.Seal == "" || b.Owner.Seal == lostSeal {
			return fmt.Errorf("the existing backend's marker is %+v, want it sealed again with the current key", b.Owner)
		}
		return nil
	})

	retainedKey := backendIn(t, tn.ns, "retained", adopting, nil)
	retained := waitReady(t, retainedKey)
	deleteAndWait(t, retainedKey)
	sealLost(retained.Status.BucketName, retained)

	refusedKey := backendIn(t, tn.ns, "retained", adopting, nil)
	refused := waitCondition(t, refusedKey, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonBucketNotOwned)
	if c := meta.FindStatusCondition(refused.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "adoptExistingBucket") {
		t.Errorf("the refusal does not point at adoption: %q", c.Message)
	}
	assertNoSecret(t, refusedKey)
	deleteAndWait(t, refusedKey)

	adoptedKey := backendIn(t, tn.ns, "retained", adopting, func(sb *v1alpha1.StateBackend) { sb.Spec.AdoptExistingBucket = true })
	adopted := waitReady(t, adoptedKey)
	if adopted.Status.BucketName != retained.Status.BucketName {
		t.Errorf("the adopting backend got bucket %q, want the retained %q", adopted.Status.BucketName, retained.Status.BucketName)
	}
	if b, _ := tn.store.Bucket(retained.Status.BucketName); b.Owner == nil || b.Owner.UID != string(adopted.UID) || b.Owner.Seal == "" || b.Owner.Seal == lostSeal {
		t.Errorf("the adopted bucket is marked %+v, want the adopting backend's uid and a fresh seal", b.Owner)
	}
}
