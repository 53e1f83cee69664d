package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/awss3"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakeaws"
)

// newAWSTenant is a tenant whose provider is the real awss3 client against the fake IAM and S3 over
// the shared MinIO; it returns the fake and the operator principal's keys too.
func newAWSTenant(t *testing.T) (*tenant, *fakeaws.Server, string, string) {
	t.Helper()
	ctx := context.Background()
	fake, err := fakeaws.New(ctx, fakeaws.Config{MinIO: sharedMinIO(t)})
	must(t, err)
	t.Cleanup(fake.Close)
	ak, sk, err := fake.AddPrincipal("tfstate-operator")
	must(t, err)
	c, err := awss3.New(ctx, awss3.Config{Region: "us-east-1", IAMPath: "/tfstate-operator/", S3Endpoint: fake.S3Endpoint(),
		IAMEndpoint: fake.IAMEndpoint(), STSEndpoint: fake.STSEndpoint(), AccessKeyID: ak, SecretAccessKey: sk})
	must(t, err)
	tn := newTenant(t)
	realClients.Store(tn.provider, provider.Client(c))
	return tn, fake, ak, sk
}

// TestTamperedStatusNeverStripsAForeignIAMUser: whoever can write statebackends/status sets a
// backend's status.credential and status.previousCredential to an IAM user the operator did not
// create (outside its IAM path, without its prefix: a platform deployer with policies of its own).
// Drift repair, rotation and deletion of the backend then leave that user, its policies and its
// key as they were (AWS fake over MinIO, the real awss3 client).
func TestTamperedStatusNeverStripsAForeignIAMUser(t *testing.T) {
	ctx := context.Background()
	tn, fake, ak, sk := newAWSTenant(t)
	admin := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(fake.IAMEndpoint()),
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, "")})

	const foreign = "platform-deployer"
	_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(foreign), Path: aws.String("/")})
	must(t, err)
	_, err = admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(foreign), PolicyName: aws.String("deploy"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)})
	must(t, err)
	_, err = admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(foreign)})
	must(t, err)
	untouched := func(after string) {
		t.Helper()
		if _, err := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(foreign)}); err != nil {
			t.Fatalf("after %s: the foreign user is gone: %v", after, err)
		}
		pols, err := admin.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String(foreign)})
		if err != nil || len(pols.PolicyNames) != 1 || pols.PolicyNames[0] != "deploy" {
			t.Fatalf("after %s: the foreign user's policies: %v (%v), want only its own", after, pols, err)
		}
		keys, err := admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(foreign)})
		if err != nil || len(keys.AccessKeyMetadata) != 1 {
			t.Fatalf("after %s: the foreign user's keys: %v (%v), want its one key", after, keys, err)
		}
	}
	forge := func() {
		t.Helper()
		sb := getBackend(t, client.ObjectKey{Namespace: tn.ns, Name: "state"})
		base := sb.DeepCopy()
		sb.Status.Credential = &v1alpha1.CredentialStatus{Name: foreign, ID: foreign, IssuedAt: &metav1.Time{Time: time.Now().Add(-time.Hour)}}
		sb.Status.PreviousCredential = &v1alpha1.RetiredCredentialStatus{Name: foreign, ID: foreign, RevokeAt: metav1.Time{Time: time.Now().Add(-time.Minute)}}
		must(t, k8s.Status().Patch(ctx, sb, client.MergeFrom(base)))
	}

	key := tn.backend("state", nil)
	waitReady(t, key)

	forge()
	requestReconcile(t, key)
	waitHandled(t, key)
	untouched("drift repair")

	forge()
	sb := getBackend(t, key)
	patch := client.MergeFrom(sb.DeepCopy())
	sb.Spec.Credentials = &v1alpha1.CredentialPolicy{RotationRequest: "rotate-1"}
	must(t, k8s.Patch(ctx, sb, patch))
	eventually(t, 30*time.Second, func() error {
		sb := getBackend(t, key)
		if st := sb.Status.Credential; st == nil || st.RotationRequest != "rotate-1" {
			return fmt.Errorf("not rotated yet: %+v", st)
		}
		return nil
	})
	untouched("rotation")

	forge()
	must(t, k8s.Delete(ctx, getBackend(t, key)))
	eventually(t, 30*time.Second, func() error {
		if err := k8s.Get(ctx, key, &v1alpha1.StateBackend{}); err == nil {
			return fmt.Errorf("the backend is still there")
		}
		return nil
	})
	untouched("deletion")
}
