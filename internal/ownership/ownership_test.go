package ownership

import (
	"bytes"
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

func key(t *testing.T, fill byte) Key {
	t.Helper()
	k, err := NewKey(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestJudge: what a bucket's marker means for the backend that wants it.
func TestJudge(t *testing.T) {
	k, lost := key(t, 1), key(t, 2)
	const bucket = "team-a-net-1a2b3c4d"
	want := provider.Owner{Namespace: "team-a", Name: "net", UID: "uid-now", Cluster: "cluster-a"}
	with := func(f func(*provider.Owner)) *provider.Owner { o := want; f(&o); return &o }
	sealed := func(key Key, o *provider.Owner) *provider.Owner { s := key.Sealed(bucket, *o); return &s }
	cases := []struct {
		reason string
		marker *provider.Owner
		want   Verdict
	}{
		{"no marker", nil, Unmarked},
		{"the backend's own sealed marker", sealed(k, &want), Ours},
		{"the backend's marker from the previous release (no cluster, no seal)", with(func(o *provider.Owner) { o.Cluster = "" }), Reseal},
		{"the backend's marker with this cluster and no seal", &want, Reseal},
		{"the backend's marker sealed with a lost key", sealed(lost, &want), Reseal},
		{"the backend's marker sealed for another bucket", with(func(o *provider.Owner) { o.Seal = k.Seal("other-bucket", want) }), Reseal},
		{"a sealed marker of an earlier backend of the same name in this cluster", sealed(k, with(func(o *provider.Owner) { o.UID = "uid-before" })), Reclaim},
		{"an unsealed marker of an earlier backend of the same name (previous release)", with(func(o *provider.Owner) { o.UID, o.Cluster = "uid-before", "" }), Unverified},
		{"a marker of an earlier backend sealed with a lost key", sealed(lost, with(func(o *provider.Owner) { o.UID = "uid-before" })), Unverified},
		{"a squatter's sealed marker rewritten to name the backend (its seal covers its own names)",
			with(func(o *provider.Owner) {
				o.UID, o.Seal = "guessed", k.Seal(bucket, provider.Owner{Namespace: "squatter", Name: "x", UID: "s", Cluster: "cluster-a"})
			}), Unverified},
		{"another backend's marker", sealed(k, with(func(o *provider.Owner) { o.Namespace = "team-b" })), OwnedByOther},
		{"another name in the namespace, unsealed", with(func(o *provider.Owner) { o.Name = "other" }), OwnedByOther},
		{"another cluster's marker for the same namespace and name", with(func(o *provider.Owner) { o.UID, o.Cluster, o.Seal = "uid-there", "cluster-b", "their-seal" }), OwnedByOtherCluster},
		{"another cluster's marker sealed with a shared key, even with the same uid", sealed(k, with(func(o *provider.Owner) { o.Cluster = "cluster-b" })), OwnedByOtherCluster},
	}
	for _, tc := range cases {
		if got := Judge(k, bucket, tc.marker, want); got != tc.want {
			t.Errorf("%s: Judge = %s, want %s", tc.reason, got, tc.want)
		}
	}
	if (Key{}).Seal(bucket, want) != "" || Judge(Key{}, bucket, sealed(k, &want), want) != Reseal {
		t.Errorf("the zero key must seal nothing and verify nothing")
	}
}

// TestSealCoversEveryField: changing any field, or shifting text between fields, breaks the seal.
func TestSealCoversEveryField(t *testing.T) {
	k := key(t, 7)
	base := provider.Owner{Namespace: "ab", Name: "c", UID: "u", Cluster: "x"}
	seal := k.Seal("b", base)
	if len(seal) != 43 || !k.Verify("b", k.Sealed("b", base)) {
		t.Fatalf("seal %q: want 43 base64url characters that verify", seal)
	}
	variants := []struct {
		reason string
		bucket string
		o      provider.Owner
	}{
		{"another bucket", "c", base},
		{"another namespace", "b", provider.Owner{Namespace: "ax", Name: "c", UID: "u", Cluster: "x"}},
		{"text moved from namespace to name", "b", provider.Owner{Namespace: "a", Name: "bc", UID: "u", Cluster: "x"}},
		{"another uid", "b", provider.Owner{Namespace: "ab", Name: "c", UID: "v", Cluster: "x"}},
		{"another cluster", "b", provider.Owner{Namespace: "ab", Name: "c", UID: "u", Cluster: "y"}},
		{"no cluster", "b", provider.Owner{Namespace: "ab", Name: "c", UID: "u"}},
	}
	for _, v := range variants {
		v.o.Seal = seal
		if k.Verify(v.bucket, v.o) {
			t.Errorf("%s: the seal still verifies", v.reason)
		}
	}
	if key(t, 8).Verify("b", k.Sealed("b", base)) {
		t.Errorf("another key verifies the seal")
	}
}

// TestBucketNameSaltIsNotTheKey: bucket names are public, so the salt mixed into them must not
// reveal the key; two keys give two salts.
func TestBucketNameSaltIsNotTheKey(t *testing.T) {
	a, b := key(t, 3), key(t, 4)
	if bytes.Equal(a.BucketNameSalt(), bytes.Repeat([]byte{3}, KeySize)) || bytes.Equal(a.BucketNameSalt(), b.BucketNameSalt()) {
		t.Errorf("salts: %x and %x", a.BucketNameSalt(), b.BucketNameSalt())
	}
	if (Key{}).BucketNameSalt() != nil {
		t.Errorf("the zero key has a salt")
	}
}

// TestEnsureCreatesTheKeyOnceAndKeepsIt: the first start makes an immutable Secret in the operator's
// namespace; later starts read the same key; without a namespace there is nowhere to keep it.
func TestEnsureCreatesTheKeyOnceAndKeepsIt(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().Build()
	first, err := Ensure(ctx, c, c, "tfstate-system")
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "tfstate-system", Name: SecretName}, s); err != nil {
		t.Fatal(err)
	}
	if s.Immutable == nil || !*s.Immutable || len(s.Data[SecretKey]) != KeySize || s.Labels["app.kubernetes.io/managed-by"] != "tfstate-operator" {
		t.Errorf("key Secret: immutable %v, %d bytes, labels %v", s.Immutable, len(s.Data[SecretKey]), s.Labels)
	}
	again, err := Ensure(ctx, c, c, "tfstate-system")
	if err != nil || again.Seal("b", provider.Owner{UID: "u"}) != first.Seal("b", provider.Owner{UID: "u"}) {
		t.Errorf("a second start got another key (err %v)", err)
	}
	if _, err := Ensure(ctx, c, c, ""); !errors.Is(err, ErrNoNamespace) {
		t.Errorf("no namespace: err = %v, want ErrNoNamespace", err)
	}
	bad := fake.NewClientBuilder().WithObjects(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: SecretName}, Data: map[string][]byte{SecretKey: []byte("short")}}).Build()
	if _, err := Ensure(ctx, bad, bad, "ns"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("a damaged key Secret: err = %v, want ErrInvalidKey (never silently replaced)", err)
	}
}
