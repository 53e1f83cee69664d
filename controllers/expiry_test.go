package controllers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/api/v1alpha1"
	"github.com/tfstate-operator/tfstate-operator/internal/backendconfig"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/memory"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/r2"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakecloudflare"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

// These tests run the reconciler against a real store that really expires credentials: the fake
// Cloudflare API (sharing the reconciler's clock, testNow) over a real MinIO, which refuses a
// token's S3 keys, and the sessions derived from it, once its expires_on has passed.

var (
	minioOnce sync.Once
	minioSrv  *miniotest.Server
	minioErr  error
	minioDir  string
)

// stopSharedMinIO stops the MinIO sharedMinIO started, if any.
func stopSharedMinIO() {
	if minioSrv != nil {
		minioSrv.Stop()
	}
	if minioDir != "" {
		_ = os.RemoveAll(minioDir)
	}
}

// sharedMinIO starts one MinIO for the package's store-backed tests; runSuite stops it and removes
// its data.
func sharedMinIO(t *testing.T) *miniotest.Server {
	t.Helper()
	minioOnce.Do(func() {
		dir, err := os.MkdirTemp("", "controllers-minio-")
		if err != nil {
			minioErr = err
			return
		}
		minioDir = dir
		minioSrv, minioErr = miniotest.Start(context.Background(), dir)
	})
	if minioErr != nil {
		t.Fatalf("start MinIO (MINIO_BIN, built by `make tools`): %v", minioErr)
	}
	return minioSrv
}

// r2Tenant is a tenant whose provider is the real R2 client against the fake Cloudflare API.
type r2Tenant struct {
	*tenant
	fake  *fakecloudflare.Server
	minio *miniotest.Server
}

func newR2Tenant(t *testing.T) *r2Tenant {
	t.Helper()
	m := sharedMinIO(t)
	fake, err := fakecloudflare.Start(fakecloudflare.Config{MinIO: m, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	_, admin, err := fake.AddToken("tfstate-operator", "Workers R2 Storage Write", "Account API Tokens Write")
	if err != nil {
		t.Fatal(err)
	}
	c, err := r2.New(r2.Config{AccountID: fake.AccountID(), APIBaseURL: fake.URL(), S3Endpoint: fake.S3Endpoint(), APIToken: admin, Now: testNow}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tn := newTenant(t)
	realClients.Store(tn.provider, provider.Client(c))
	return &r2Tenant{tenant: tn, fake: fake, minio: m}
}

// runner is what a Terraform runner pod sees: the Secret's keys (and session token), read afresh.
func (tn *r2Tenant) runner(t *testing.T, key client.ObjectKey) provider.Credential {
	t.Helper()
	return backendconfig.CredentialFromSecret(getSecret(t, key.Namespace, getBackend(t, key).Status.SecretName).Data)
}

// write puts a state object with cred, as Terraform would.
func (tn *r2Tenant) write(t *testing.T, cred provider.Credential, bucket string) error {
	t.Helper()
	c, err := miniogo.New(tn.minio.Host, &miniogo.Options{Creds: credentials.NewStaticV4(cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken), Region: r2.Region})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PutObject(context.Background(), bucket, "network/terraform.tfstate", strings.NewReader("{}"), 2, miniogo.PutObjectOptions{})
	return err
}

// advance moves the reconciler's (and the fake's) clock, lets the fake expire what is due, and
// has the backend reconciled.
func (tn *r2Tenant) advance(t *testing.T, key client.ObjectKey, d time.Duration) {
	t.Helper()
	clockOffset.Add(int64(d))
	must(t, tn.fake.ExpireDue())
	requestReconcile(t, key)
}

// waitSecretMoves waits until the Secret holds another access key than from.
func waitSecretMoves(t *testing.T, tn *r2Tenant, key client.ObjectKey, from string) provider.Credential {
	t.Helper()
	var cred provider.Credential
	eventually(t, 30*time.Second, func() error {
		cred = tn.runner(t, key)
		if cred.AccessKeyID == from {
			return errors.New("the Secret still holds the old credential")
		}
		return nil
	})
	waitReady(t, key)
	return cred
}

// TestExpiringCredentialReplacedBeforeTheStoreRefusesIt: a token with expires_on is replaced two
// thirds into its life. A runner that reads the Secret when it starts always gets keys the store
// accepts; the replaced token keeps working until the store expires it, and is then revoked.
func TestExpiringCredentialReplacedBeforeTheStoreRefusesIt(t *testing.T) {
	tn := newR2Tenant(t)
	key := tn.backend("expiring", func(sb *v1alpha1.StateBackend) {
		sb.Spec.Credentials = &v1alpha1.CredentialPolicy{ExpireAfter: &metav1.Duration{Duration: 30 * time.Minute}}
	})
	sb := waitReady(t, key)
	first := tn.runner(t, key)
	if err := tn.write(t, first, sb.Status.BucketName); err != nil {
		t.Fatalf("a runner with the first credential: %v", err)
	}

	tn.advance(t, key, 21*time.Minute) // past the renewal at 20m, before the expiry at 30m
	second := waitSecretMoves(t, tn, key, first.AccessKeyID)
	for _, c := range []struct {
		reason string
		cred   provider.Credential
	}{{"the renewed credential", second}, {"the replaced one, before its expiry (a run that started with it)", first}} {
		if err := tn.write(t, c.cred, sb.Status.BucketName); err != nil {
			t.Errorf("%s: %v", c.reason, err)
		}
	}

	tn.advance(t, key, 9*time.Minute+time.Second) // past the first token's expires_on
	if err := tn.write(t, first, sb.Status.BucketName); err == nil {
		t.Fatal("the store still accepts the first token after its expiry (the test would prove nothing)")
	}
	if err := tn.write(t, tn.runner(t, key), sb.Status.BucketName); err != nil {
		t.Fatalf("a runner starting now, with the Secret: %v", err)
	}
	eventually(t, 30*time.Second, func() error {
		for _, tok := range tn.fake.Tokens() {
			if tok.ID == first.AccessKeyID {
				return fmt.Errorf("the expired token %s is still there (%s)", tok.ID, tok.Status)
			}
		}
		if p := getBackend(t, key).Status.PreviousCredential; p != nil {
			return fmt.Errorf("status still shows %+v in grace", p)
		}
		return nil
	})
}

// TestTemporaryCredentialsRenewed: with temporary credentials the Secret holds R2 session keys and
// AWS_SESSION_TOKEN; a reconcile keeps them, renewal replaces them before they expire, and the
// replaced session dies with its parent token.
func TestTemporaryCredentialsRenewed(t *testing.T) {
	tn := newR2Tenant(t)
	key := tn.backend("sessions", func(sb *v1alpha1.StateBackend) {
		sb.Spec.Credentials = &v1alpha1.CredentialPolicy{Temporary: true, ExpireAfter: &metav1.Duration{Duration: time.Hour}}
	})
	sb := waitReady(t, key)
	first := tn.runner(t, key)
	secret := getSecret(t, key.Namespace, sb.Status.SecretName)
	if first.SessionToken == "" || first.AccessKeyID == sb.Status.Credential.ID || secret.Annotations[AnnotationCredentialID] != sb.Status.Credential.ID {
		t.Fatalf("Secret: session token set %v, access key %s, credential-id annotation %q; status id %s: want session keys tied to the parent token",
			first.SessionToken != "", first.AccessKeyID, secret.Annotations[AnnotationCredentialID], sb.Status.Credential.ID)
	}
	if err := tn.write(t, first, sb.Status.BucketName); err != nil {
		t.Fatalf("a runner with the session keys: %v", err)
	}
	withoutToken := first
	withoutToken.SessionToken = ""
	if err := tn.write(t, withoutToken, sb.Status.BucketName); err == nil {
		t.Fatal("the session keys work without AWS_SESSION_TOKEN")
	}

	// A reconcile with nothing due keeps the session: the listing shows only the parent token,
	// and the Secret is matched to it (its grant is then read back, which is how this test knows
	// the reconcile got that far).
	grantReads := func() int {
		n := 0
		for _, r := range tn.fake.Requests() {
			if r.Method == "GET" && strings.HasSuffix(r.Path, "/tokens/"+sb.Status.Credential.ID) {
				n++
			}
		}
		return n
	}
	before := grantReads()
	requestReconcile(t, key)
	eventually(t, 20*time.Second, func() error {
		if grantReads() == before {
			return errors.New("no reconcile has read the parent token's grant yet")
		}
		return nil
	})
	waitReady(t, key)
	if n := len(tn.fake.TemporaryCredentials()); n != 1 {
		t.Fatalf("%d sessions issued after a no-op reconcile, want 1", n)
	}

	tn.advance(t, key, 41*time.Minute) // past the renewal at 40m
	second := waitSecretMoves(t, tn, key, first.AccessKeyID)
	if second.SessionToken == "" {
		t.Fatal("the renewed Secret holds no session token")
	}
	if err := tn.write(t, first, sb.Status.BucketName); err != nil {
		t.Errorf("the replaced session before its expiry: %v", err)
	}
	tn.advance(t, key, 19*time.Minute+time.Second) // past the first session's expiry
	if err := tn.write(t, first, sb.Status.BucketName); err == nil {
		t.Error("the first session still works after its parent expired")
	}
	if err := tn.write(t, second, sb.Status.BucketName); err != nil {
		t.Errorf("the current session: %v", err)
	}
}

func TestTemporaryNeedsAProviderWithSessions(t *testing.T) {
	settings := memory.DefaultSettings()
	settings.Expiry = true // expiring tokens, but no sessions (like MinIO's service accounts)
	tn := newTenantWith(t, settings)
	key := tn.backend("sessions", func(sb *v1alpha1.StateBackend) {
		sb.Spec.Credentials = &v1alpha1.CredentialPolicy{Temporary: true, ExpireAfter: &metav1.Duration{Duration: time.Hour}}
	})
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProviderInvalid)
	if n := tn.store.Calls(memory.OpIssueCredential); n != 0 {
		t.Errorf("%d credentials issued for a refused backend, want 0", n)
	}
}
