// Package minioidentity turns what a fake control plane issues (a Cloudflare token, a Spaces key,
// an IAM access key) into a real MinIO identity with exactly the issued keys and an IAM policy, so
// that real S3 clients and real Terraform are authenticated and authorised by a real S3 server.
// It is shared by every fake in internal/testutil.
//
// MinIO service accounts cannot hold provider-shaped keys: MinIO limits a service account's access
// key to 3..20 characters and its secret key to 8..40 (internal/auth.CreateNewCredentialsWithMetadata),
// while an R2 secret is 64 hex characters and a Spaces secret 43. MinIO users only have the lower
// bounds (3 and 8; IAMSys.CreateUser), so each identity is a MinIO user with the exact keys, member
// of a group of its own to which a canned policy of its own is attached.
package minioidentity

import (
	"context"

	"github.com/tfstate-operator/tfstate-operator/internal/minioadmin"
)

// Identities creates and removes identities through MinIO's admin API. Names is the prefix of the
// group and canned policy of each identity ("cf-token-", "do-key-"), so fakes sharing one MinIO
// do not collide.
type Identities struct {
	Admin  *minioadmin.Client
	Prefix string
}

func (i Identities) name(accessKey string) string { return i.Prefix + accessKey }

// Put creates user accessKey with secretKey, restricted to policy (an AWS-style IAM policy).
//
// The user must never authenticate without its policy (it would answer AccessDenied where the
// fakes promise InvalidAccessKeyId until the identity is complete), so it is created disabled (a
// disabled key answers InvalidAccessKeyId like an absent one) and enabled last. MinIO refuses to
// attach a policy to a disabled user, but not to a group holding one, so the policy is attached
// to a group of its own.
func (i Identities) Put(ctx context.Context, accessKey, secretKey string, policy []byte) error {
	name := i.name(accessKey)
	for _, step := range []func() error{
		func() error { return i.Admin.AddCannedPolicy(ctx, name, policy) },
		func() error { return i.Admin.AddUser(ctx, accessKey, secretKey, minioadmin.UserDisabled) },
		func() error { return i.Admin.AddGroupMembers(ctx, name, []string{accessKey}) },
		func() error { return i.Admin.SetGroupPolicy(ctx, name, name) },
		func() error { return i.Admin.SetUserStatus(ctx, accessKey, minioadmin.UserEnabled) },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// SetPolicy replaces the policy of the existing identity accessKey (made by Put). The user stays
// enabled throughout, so requests in flight never see it missing.
func (i Identities) SetPolicy(ctx context.Context, accessKey string, policy []byte) error {
	return i.Admin.AddCannedPolicy(ctx, i.name(accessKey), policy)
}

// Delete removes user accessKey, its group (with the group's policy mapping) and its canned
// policy. Absent ones are fine.
func (i Identities) Delete(ctx context.Context, accessKey string) error {
	name := i.name(accessKey)
	if err := i.Admin.RemoveUser(ctx, accessKey); err != nil {
		return err
	}
	if err := i.Admin.RemoveGroup(ctx, name); err != nil {
		return err
	}
	return i.Admin.RemoveCannedPolicy(ctx, name)
}

// Statement is one statement of an AWS-style IAM policy as MinIO reads it.
type Statement struct {
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}
