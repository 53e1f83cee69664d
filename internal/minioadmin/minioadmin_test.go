package minioadmin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

var srv *miniotest.Server

func TestMain(m *testing.M) { os.Exit(miniotest.RunTests(m, &srv)) }

func TestEncryptionRoundTrip(t *testing.T) {
	cases := []struct {
		reason string
		id     byte
	}{
		{"Argon2id + AES-GCM, what servers not in FIPS mode send", idArgon2idAESGCM},
		{"Argon2id + ChaCha20-Poly1305, what servers without AES instructions send", idArgon2idChaCha20Poly1305},
		{"PBKDF2 + AES-GCM, what the client sends, and FIPS builds", idPBKDF2AESGCM},
	}
	salt, nonce := bytes.Repeat([]byte{7}, saltSize), bytes.Repeat([]byte{9}, nonceSize)
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			sealed, err := seal(context.Background(), defaultKeyDerivations, "secret", tc.id, salt, nonce, []byte(`{"a":1}`))
			if err != nil {
				t.Fatal(err)
			}
			if sealed[saltSize] != tc.id || !bytes.Equal(sealed[:saltSize], salt) {
				t.Fatal("header is not salt | id | nonce")
			}
			plain, err := decrypt(context.Background(), defaultKeyDerivations, "secret", sealed)
			if err != nil || string(plain) != `{"a":1}` {
				t.Fatalf("decrypt = %q, %v", plain, err)
			}
			if _, err := decrypt(context.Background(), defaultKeyDerivations, "other", sealed); !errors.Is(err, errMalformed) {
				t.Fatalf("decrypt with the wrong password: err = %v, want errMalformed", err)
			}
		})
	}
	if _, err := decrypt(context.Background(), defaultKeyDerivations, "secret", []byte("short")); !errors.Is(err, errMalformed) {
		t.Fatalf("short payload: err = %v", err)
	}
}

// TestRequestsNeedNoArgon2id: what the client encrypts uses PBKDF2 (id 0x02), which needs no 64 MiB
// derivation; MinIO accepts it (TestServiceAccountsAgainstMinIO adds and updates accounts with it).
func TestRequestsNeedNoArgon2id(t *testing.T) {
	sealed, err := encrypt("secret", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if sealed[saltSize] != idPBKDF2AESGCM {
		t.Fatalf("request sealed with algorithm %#x, want PBKDF2 + AES-GCM (%#x)", sealed[saltSize], idPBKDF2AESGCM)
	}
}

// TestKeyDerivationsBoundArgon2id: an Argon2id reply waits for a free slot of the process's bound
// (and gives up with its context), a PBKDF2 one needs none, and the slot is given back.
func TestKeyDerivationsBoundArgon2id(t *testing.T) {
	salt, nonce := bytes.Repeat([]byte{7}, saltSize), bytes.Repeat([]byte{9}, nonceSize)
	k := NewKeyDerivations(1)
	argon, err := seal(context.Background(), k, "secret", idArgon2idAESGCM, salt, nonce, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	pbkdf, err := seal(context.Background(), k, "secret", idPBKDF2AESGCM, salt, nonce, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := decrypt(ctx, k, "secret", argon); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an Argon2id reply with every slot taken: err = %v, want it to wait until its context ends", err)
	}
	if _, err := decrypt(context.Background(), k, "secret", pbkdf); err != nil {
		t.Fatalf("a PBKDF2 reply with every slot taken: %v, want it decrypted (it needs no slot)", err)
	}
	k.release()
	for i := range 2 {
		if _, err := decrypt(context.Background(), k, "secret", argon); err != nil {
			t.Fatalf("Argon2id reply %d once the slot is free: %v (a slot not given back?)", i, err)
		}
	}
}

func TestKeyDerivationsFor(t *testing.T) {
	for _, tc := range []struct {
		reason string
		limit  uint64
		want   int
	}{
		{"an unknown limit: one at a time", 0, 1},
		{"the chart's 256 MiB: a quarter holds one 64 MiB derivation", 256 << 20, 1},
		{"1 GiB: four", 1 << 30, 4},
		{"a huge limit is capped", 64 << 30, 8},
		{"less than one derivation's worth still allows one", 32 << 20, 1},
	} {
		if got := KeyDerivationsFor(tc.limit).Slots(); got != tc.want {
			t.Errorf("%s: KeyDerivationsFor(%d) = %d slots, want %d", tc.reason, tc.limit, got, tc.want)
		}
	}
}

func TestServiceAccountsAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	c := rootClient(t, "own-bucket", "other-bucket")
	creds, err := c.AddServiceAccount(ctx, AddServiceAccountRequest{Policy: bucketPolicy("own-bucket"), Name: "tfso-test-1", Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	sa := s3Client(t, creds.AccessKey, creds.SecretKey)
	if _, err := sa.PutObject(ctx, "own-bucket", "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("the inline policy allows own-bucket: %v", err)
	}
	if _, err := sa.PutObject(ctx, "other-bucket", "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err == nil {
		t.Fatal("the inline policy does not allow other-bucket, yet the put succeeded")
	}

	list, err := c.ListServiceAccounts(ctx, srv.RootUser)
	if err != nil {
		t.Fatal(err)
	}
	var found *ServiceAccount
	for i := range list {
		if list[i].AccessKey == creds.AccessKey {
			found = &list[i]
		}
	}
	if found == nil || found.Name != "tfso-test-1" {
		t.Fatalf("listed %+v, want the account named tfso-test-1", list)
	}

	if err := c.DeleteServiceAccount(ctx, creds.AccessKey); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteServiceAccount(ctx, creds.AccessKey); err != nil {
		t.Fatalf("deleting an absent account must succeed: %v", err)
	}
	if _, err := sa.PutObject(ctx, "own-bucket", "k2", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err == nil {
		t.Fatal("a deleted service account still writes")
	}
}

func TestBadAdminKeysAreAnAuthError(t *testing.T) {
	c, err := New(srv.Endpoint, srv.RootUser, "wrong-secret", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	userSecret := randomHex(32)
	cases := []struct {
		reason string
		call   func() error
	}{
		{"a call with a plain reply body", func() error {
			_, err := c.ListServiceAccounts(context.Background(), srv.RootUser)
			return err
		}},
		{"a call whose body carries another secret", func() error {
			return c.AddUser(context.Background(), randomHex(16), userSecret, UserEnabled)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			err := tc.call()
			var apiErr *Error
			if !errors.As(err, &apiErr) || !apiErr.IsAuth() {
				t.Fatalf("err = %v, want an auth *Error", err)
			}
			if strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), userSecret) {
				t.Fatal("the error contains a secret")
			}
		})
	}
}

func TestRefusedUserSecretIsNotInTheError(t *testing.T) {
	c := rootClient(t)
	const short = "7-chars" // MinIO wants at least 8
	err := c.AddUser(context.Background(), randomHex(16), short, UserEnabled)
	if err == nil {
		t.Fatal("AddUser accepted a 7-character secret key")
	}
	if strings.Contains(err.Error(), short) {
		t.Fatalf("the error contains the secret key: %v", err)
	}
}

// rootClient returns an admin client with the root credentials, after creating buckets.
func rootClient(t *testing.T, buckets ...string) *Client {
	t.Helper()
	c, err := New(srv.Endpoint, srv.RootUser, srv.RootPassword, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	root := s3Client(t, srv.RootUser, srv.RootPassword)
	for _, b := range buckets {
		if err := root.MakeBucket(context.Background(), b, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// s3Client returns an S3 client of the test server with the given keys.
func s3Client(t *testing.T, accessKey, secretKey string) *minio.Client {
	t.Helper()
	c, err := minio.New(srv.Host, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bucketPolicy is an IAM policy allowing object puts and gets in bucket only.
func bucketPolicy(bucket string) []byte {
	return []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]}]}`)
}

func randomHex(bytes int) string {
	b := make([]byte, bytes)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// TestUsersGroupsAndPoliciesAgainstMinIO walks a user with R2-shaped keys (32 hex characters of
// access key, 64 of secret key, longer than a service account may have) through its life: member
// of a group whose canned policy allows one bucket, disabled, enabled, removed.
func TestUsersGroupsAndPoliciesAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	c := rootClient(t, "user-bucket", "user-other-bucket")
	accessKey, secretKey := randomHex(16), randomHex(32)
	group, policy := "group-"+accessKey, "policy-"+accessKey
	if err := c.AddCannedPolicy(ctx, policy, bucketPolicy("user-bucket")); err != nil {
		t.Fatalf("AddCannedPolicy: %v", err)
	}
	if err := c.AddUser(ctx, accessKey, secretKey, UserEnabled); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	if err := c.AddGroupMembers(ctx, group, []string{accessKey}); err != nil {
		t.Fatalf("AddGroupMembers: %v", err)
	}
	if err := c.SetGroupPolicy(ctx, group, policy); err != nil {
		t.Fatalf("SetGroupPolicy: %v", err)
	}
	if err := c.RemoveGroup(ctx, group); err == nil {
		t.Fatal("RemoveGroup removed a group that still has a member")
	}
	user := s3Client(t, accessKey, secretKey)

	// The steps run in order: each changes the user (admin, when set), then puts into bucket.
	steps := []struct {
		reason   string
		admin    func() error
		bucket   string
		wantCode string // S3 error code; "" = the put succeeds
	}{
		{"the group's policy allows its bucket", nil, "user-bucket", ""},
		{"the group's policy allows no other bucket", nil, "user-other-bucket", "AccessDenied"},
		{"a disabled user is refused like an unknown key",
			func() error { return c.SetUserStatus(ctx, accessKey, UserDisabled) }, "user-bucket", "InvalidAccessKeyId"},
		{"an enabled user works again",
			func() error { return c.SetUserStatus(ctx, accessKey, UserEnabled) }, "user-bucket", ""},
		{"a removed user is refused",
			func() error { return c.RemoveUser(ctx, accessKey) }, "user-bucket", "InvalidAccessKeyId"},
	}
	for _, tc := range steps {
		if !t.Run(tc.reason, func(t *testing.T) {
			if tc.admin != nil {
				if err := tc.admin(); err != nil {
					t.Fatal(err)
				}
			}
			_, err := user.PutObject(ctx, tc.bucket, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{})
			if code := minio.ToErrorResponse(err).Code; code != tc.wantCode {
				t.Fatalf("PutObject err = %v, want code %q", err, tc.wantCode)
			}
		}) {
			return
		}
	}

	removals := []struct {
		reason string
		remove func() error
	}{
		{"removing a removed user succeeds", func() error { return c.RemoveUser(ctx, accessKey) }},
		{"removing the group, empty since its member was removed", func() error { return c.RemoveGroup(ctx, group) }},
		{"removing an absent group succeeds", func() error { return c.RemoveGroup(ctx, group) }},
		{"removing the canned policy", func() error { return c.RemoveCannedPolicy(ctx, policy) }},
		{"removing an absent canned policy succeeds", func() error { return c.RemoveCannedPolicy(ctx, policy) }},
	}
	for _, tc := range removals {
		t.Run(tc.reason, func(t *testing.T) {
			if err := tc.remove(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if err := c.SetGroupPolicy(ctx, group, policy); err == nil {
		t.Fatal("SetGroupPolicy succeeded with a removed group and policy")
	}
}

// TestServiceAccountInfoAndUpdateAgainstMinIO reads a service account back, moves its inline
// policy to another bucket in place (same keys), and checks what MinIO does with absent accounts
// and with updates that carry no policy.
func TestServiceAccountInfoAndUpdateAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	c := rootClient(t, "info-bucket", "info-other-bucket")
	creds, err := c.AddServiceAccount(ctx, AddServiceAccountRequest{Policy: bucketPolicy("info-bucket"), Name: "tfso-info-1", Description: "before"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DeleteServiceAccount(ctx, creds.AccessKey) })

	info, err := c.InfoServiceAccount(ctx, creds.AccessKey)
	if err != nil {
		t.Fatalf("InfoServiceAccount: %v", err)
	}
	if info.ParentUser != srv.RootUser || info.ImpliedPolicy || info.Name != "tfso-info-1" || info.Description != "before" ||
		info.AccountStatus != "on" || info.Expiration != nil {
		t.Fatalf("info = %+v, want root's enabled, non-expiring tfso-info-1 with its own policy", info)
	}
	if !strings.Contains(info.Policy, `"arn:aws:s3:::info-bucket/*"`) {
		t.Fatalf("info.Policy = %s, want the inline policy on info-bucket", info.Policy)
	}

	if err := c.UpdateServiceAccount(ctx, creds.AccessKey, UpdateServiceAccountRequest{
		NewPolicy: bucketPolicy("info-other-bucket"), NewDescription: "after",
	}); err != nil {
		t.Fatalf("UpdateServiceAccount: %v", err)
	}
	sa := s3Client(t, creds.AccessKey, creds.SecretKey)
	puts := []struct {
		bucket   string
		wantCode string // "" = the put succeeds
	}{{"info-other-bucket", ""}, {"info-bucket", "AccessDenied"}}
	for _, p := range puts {
		_, err := sa.PutObject(ctx, p.bucket, "k", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		if code := minio.ToErrorResponse(err).Code; code != p.wantCode {
			t.Errorf("after the update, the same keys putting into %s: err = %v, want code %q", p.bucket, err, p.wantCode)
		}
	}
	info, err = c.InfoServiceAccount(ctx, creds.AccessKey)
	if err != nil {
		t.Fatal(err)
	}
	if info.Description != "after" || info.Name != "tfso-info-1" || !strings.Contains(info.Policy, `"arn:aws:s3:::info-other-bucket/*"`) {
		t.Fatalf("after the update, info = %+v", info)
	}

	absent := randomHex(8)
	notFound := []struct {
		reason string
		call   func() error
	}{
		{"info of an absent account", func() error { _, err := c.InfoServiceAccount(ctx, absent); return err }},
		{"update of an absent account", func() error {
			return c.UpdateServiceAccount(ctx, absent, UpdateServiceAccountRequest{NewPolicy: bucketPolicy("info-bucket")})
		}},
		{"info of a user, not a service account", func() error { _, err := c.InfoServiceAccount(ctx, srv.RootUser); return err }},
	}
	for _, tc := range notFound {
		t.Run(tc.reason, func(t *testing.T) {
			err := tc.call()
			var apiErr *Error
			if !errors.As(err, &apiErr) || !apiErr.IsNotFound() || apiErr.IsAuth() {
				t.Fatalf("err = %v, want a not-found *Error", err)
			}
		})
	}

	t.Run("an update without a policy is refused before it reaches MinIO", func(t *testing.T) {
		for _, policy := range []string{"", " ", `{}`, `{"Version":"2012-10-17","Statement":[]}`} {
			err := c.UpdateServiceAccount(ctx, creds.AccessKey, UpdateServiceAccountRequest{NewPolicy: json.RawMessage(policy), NewDescription: "x"})
			if !errors.Is(err, ErrNoPolicy) {
				t.Errorf("policy %q: err = %v, want ErrNoPolicy", policy, err)
			}
		}
	})

	// Why UpdateServiceAccount refuses those: sent anyway, MinIO drops the inline policy and the
	// account inherits everything root may do. If this starts failing, MinIO changed the behaviour.
	t.Run("MinIO widens an account updated without a policy", func(t *testing.T) {
		sealed, err := encrypt(srv.RootPassword, []byte(`{"newDescription":"no policy"}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.do(ctx, http.MethodPost, "/update-service-account", url.Values{"accessKey": {creds.AccessKey}}, sealed); err != nil {
			t.Fatal(err)
		}
		info, err := c.InfoServiceAccount(ctx, creds.AccessKey)
		if err != nil {
			t.Fatal(err)
		}
		if !info.ImpliedPolicy {
			t.Fatalf("info = %+v, want an implied policy", info)
		}
		if _, err := sa.PutObject(ctx, "info-bucket", "k", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("the account without its inline policy cannot write info-bucket: %v", err)
		}
	})
}
