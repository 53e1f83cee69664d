package awss3_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/awss3"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakeaws"
)

// TestRevokeAndRepairRefuseAForeignIAMUser: an id handed to RevokeCredential or RepairGrant may
// come from a StateBackend's status, which whoever can write statebackends/status controls. Only
// an IAM user the operator created (a name with its "tfso-" prefix, under its IAM path) is ever
// changed: a foreign user keeps its keys, its policies and its existence.
func TestRevokeAndRepairRefuseAForeignIAMUser(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{})
	c := e.client(t)
	bucket := createdBucket(t, c)
	admin := e.iam()
	for _, tc := range []struct {
		reason, name, path string
	}{
		{"a user outside the operator's path, without its prefix (a platform user)", "platform-deployer", "/"},
		{"a user with the operator's prefix outside its path", "tfso-0123456789abcdef-x", "/other-team/"},
		{"a user under the operator's path without its prefix", "ci-runner", e.iamPath},
	} {
		if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(tc.name), Path: aws.String(tc.path)}); err != nil {
			t.Fatalf("%s: %v", tc.reason, err)
		}
		if _, err := admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(tc.name), PolicyName: aws.String("its-own"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}`)}); err != nil {
			t.Fatalf("%s: %v", tc.reason, err)
		}
		if _, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(tc.name)}); err != nil {
			t.Fatalf("%s: %v", tc.reason, err)
		}

		if _, err := c.RepairGrant(ctx, tc.name, provider.CredentialRequest{Name: tc.name, Bucket: bucket, Access: provider.ReadWrite}); !errors.Is(err, awss3.ErrForeignUser) {
			t.Errorf("%s: RepairGrant = %v, want ErrForeignUser", tc.reason, err)
		}
		if err := c.RevokeCredential(ctx, tc.name); !errors.Is(err, awss3.ErrForeignUser) {
			t.Errorf("%s: RevokeCredential = %v, want ErrForeignUser", tc.reason, err)
		}

		if _, err := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(tc.name)}); err != nil {
			t.Fatalf("%s: the user is gone: %v", tc.reason, err)
		}
		pols, err := admin.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String(tc.name)})
		if err != nil || len(pols.PolicyNames) != 1 || pols.PolicyNames[0] != "its-own" {
			t.Errorf("%s: the user's inline policies are %v (%v), want only its own", tc.reason, pols, err)
		}
		keys, err := admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(tc.name)})
		if err != nil || len(keys.AccessKeyMetadata) != 1 {
			t.Errorf("%s: the user's access keys: %v (%v), want its one key", tc.reason, keys, err)
		}
	}
}
