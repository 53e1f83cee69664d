package minioadmin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

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
		{"Argon2id + AES-GCM, what the client sends", idArgon2idAESGCM},
		{"Argon2id + ChaCha20-Poly1305, what servers without AES instructions send", idArgon2idChaCha20Poly1305},
		{"PBKDF2 + AES-GCM, what FIPS builds send", idPBKDF2AESGCM},
	}
	salt, nonce := bytes.Repeat([]byte{7}, saltSize), bytes.Repeat([]byte{9}, nonceSize)
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			sealed, err := seal("secret", tc.id, salt, nonce, []byte(`{"a":1}`))
			if err != nil {
				t.Fatal(err)
			}
			if sealed[saltSize] != tc.id || !bytes.Equal(sealed[:saltSize], salt) {
				t.Fatal("header is not salt | id | nonce")
			}
			plain, err := decrypt("secret", sealed)
			if err != nil || string(plain) != `{"a":1}` {
				t.Fatalf("decrypt = %q, %v", plain, err)
			}
			if _, err := decrypt("other", sealed); !errors.Is(err, errMalformed) {
				t.Fatalf("decrypt with the wrong password: err = %v, want errMalformed", err)
			}
		})
	}
	if _, err := decrypt("secret", []byte("short")); !errors.Is(err, errMalformed) {
		t.Fatalf("short payload: err = %v", err)
	}
}

func TestServiceAccountsAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	c, err := New(srv.Endpoint, srv.RootUser, srv.RootPassword, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	root, err := minio.New(srv.Host, &minio.Options{Creds: credentials.NewStaticV4(srv.RootUser, srv.RootPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"own-bucket", "other-bucket"} {
		if err := root.MakeBucket(ctx, b, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	policy := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":["arn:aws:s3:::own-bucket/*"]}]}`)
	creds, err := c.AddServiceAccount(ctx, AddServiceAccountRequest{Policy: policy, Name: "tfso-test-1", Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := minio.New(srv.Host, &minio.Options{Creds: credentials.NewStaticV4(creds.AccessKey, creds.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
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
	_, err = c.ListServiceAccounts(context.Background(), srv.RootUser)
	var apiErr *Error
	if !errors.As(err, &apiErr) || !apiErr.IsAuth() {
		t.Fatalf("err = %v, want an auth *Error", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Fatal("the error contains the secret")
	}
}
