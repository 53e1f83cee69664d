package probe

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

const (
	bucket      = "probe-state"
	otherBucket = "probe-other"
)

// startMinIO starts a real MinIO with the two buckets and returns it with a root client.
func startMinIO(t *testing.T) (*miniotest.Server, *minio.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := miniotest.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("start MinIO: %v", err)
	}
	t.Cleanup(srv.Stop)
	mc, err := minio.New(srv.Host, &minio.Options{Creds: credentials.NewStaticV4(srv.RootUser, srv.RootPassword, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{bucket, otherBucket} {
		if err := mc.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
	}
	return srv, mc
}

// assumeRole issues temporary MinIO credentials limited by a session policy.
func assumeRole(t *testing.T, srv *miniotest.Server, policy string) provider.Credential {
	t.Helper()
	c, err := credentials.NewSTSAssumeRole(srv.Endpoint, credentials.STSAssumeRoleOptions{
		AccessKey: srv.RootUser, SecretKey: srv.RootPassword, Policy: policy, DurationSeconds: 900, Location: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Get()
	if err != nil {
		t.Fatalf("STS AssumeRole: %v", err)
	}
	if v.SessionToken == "" {
		t.Fatal("STS AssumeRole returned no session token")
	}
	return provider.Credential{ID: v.AccessKeyID, AccessKeyID: v.AccessKeyID, SecretAccessKey: v.SecretAccessKey, SessionToken: v.SessionToken}
}

func policy(b string, objectActions ...string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[`+
		`{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::%[1]s"]},`+
		`{"Effect":"Allow","Action":["%[2]s"],"Resource":["arn:aws:s3:::%[1]s/*"]}]}`,
		b, strings.Join(objectActions, `","`))
}

func minioSettings(srv *miniotest.Server) provider.BackendSettings {
	return provider.BackendSettings{Region: "us-east-1", EndpointURL: srv.Endpoint, UsePathStyle: true, S3Compatible: true}
}

// leftovers lists every object under ReservedPrefix in b.
func leftovers(t *testing.T, mc *minio.Client, b string) []string {
	t.Helper()
	var keys []string
	for o := range mc.ListObjects(context.Background(), b, minio.ListObjectsOptions{Prefix: provider.ReservedPrefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", b, o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// assertNoSecrets fails when err's message holds the credential's secret or session token.
func assertNoSecrets(t *testing.T, err error, cred provider.Credential) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{cred.SecretAccessKey, cred.SessionToken} {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error leaks secret material: %v", err)
		}
	}
}

func TestProbeMinIO(t *testing.T) {
	srv, mc := startMinIO(t)
	settings := minioSettings(srv)
	root := provider.Credential{ID: srv.RootUser, AccessKeyID: srv.RootUser, SecretAccessKey: srv.RootPassword}
	rw := assumeRole(t, srv, policy(bucket, "s3:GetObject", "s3:PutObject", "s3:DeleteObject"))
	ro := assumeRole(t, srv, policy(bucket, "s3:GetObject"))
	elsewhere := assumeRole(t, srv, policy(otherBucket, "s3:GetObject", "s3:PutObject", "s3:DeleteObject"))
	noToken := rw
	noToken.SessionToken = ""
	wrongSecret := root
	wrongSecret.SecretAccessKey = "not-the-secret-" + root.SecretAccessKey[:4]

	const window = 600 * time.Millisecond
	cases := []struct {
		name     string
		reason   string
		cred     provider.Credential
		access   provider.Access
		bucket   string
		wantCW   bool
		wantErr  bool
		wantIs   error
		wantNot  error
		slowerBy time.Duration // the probe must have retried for about the window
	}{
		{
			name: "root ReadWrite", reason: "an unrestricted key on a store that honours If-None-Match proves locking",
			cred: root, access: provider.ReadWrite, bucket: bucket, wantCW: true,
		},
		{
			name: "scoped ReadWrite with session token", reason: "a temporary credential only works when the probe sends its session token",
			cred: rw, access: provider.ReadWrite, bucket: bucket, wantCW: true,
		},
		{
			name: "scoped ReadOnly", reason: "list allowed, put denied is exactly ReadOnly; locking does not apply",
			cred: ro, access: provider.ReadOnly, bucket: bucket, wantCW: false,
		},
		{
			name: "ReadWrite credential probed as ReadOnly", reason: "a ReadOnly credential that can write must be revoked, and its write undone",
			cred: rw, access: provider.ReadOnly, bucket: bucket, wantErr: true, wantIs: provider.ErrCredentialTooBroad,
		},
		{
			name: "root probed as ReadOnly", reason: "same, without a session token",
			cred: root, access: provider.ReadOnly, bucket: bucket, wantErr: true, wantIs: provider.ErrCredentialTooBroad,
		},
		{
			name: "ReadOnly credential probed as ReadWrite", reason: "a credential that cannot write is no ReadWrite credential; not a propagation problem since list worked",
			cred: ro, access: provider.ReadWrite, bucket: bucket, wantErr: true, wantNot: provider.ErrCredentialNotYetValid,
		},
		{
			name: "unknown access key", reason: "a key the store does not know yet (InvalidAccessKeyId) is retried for the window, then reported as not yet valid",
			cred:   provider.Credential{ID: "AKIDUNKNOWN", AccessKeyID: "AKIDUNKNOWN0123456789", SecretAccessKey: "unknown-secret-0123456789"},
			access: provider.ReadWrite, bucket: bucket, wantErr: true, wantIs: provider.ErrCredentialNotYetValid, slowerBy: window,
		},
		{
			name: "wrong secret", reason: "SignatureDoesNotMatch is how a key whose secret has not propagated looks",
			cred: wrongSecret, access: provider.ReadWrite, bucket: bucket, wantErr: true, wantIs: provider.ErrCredentialNotYetValid, slowerBy: window,
		},
		{
			name: "session token missing", reason: "a temporary key sent without its token is not accepted",
			cred: noToken, access: provider.ReadWrite, bucket: bucket, wantErr: true, wantIs: provider.ErrCredentialNotYetValid,
		},
		{
			name: "credential denied on the bucket", reason: "a credential scoped to another bucket never works here; AccessDenied is indistinguishable from a policy not yet propagated, so it is retried for the window and then reported",
			cred: elsewhere, access: provider.ReadWrite, bucket: bucket, wantErr: true, wantIs: provider.ErrCredentialNotYetValid, slowerBy: window,
		},
		{
			name: "bucket does not exist", reason: "NoSuchBucket is a plain retryable error, not a credential problem",
			cred: root, access: provider.ReadWrite, bucket: "probe-missing", wantErr: true, wantNot: provider.ErrCredentialNotYetValid,
		},
	}
	p := New(WithPropagationWindow(window))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			res, err := p.Probe(ctx, settings, tc.bucket, tc.cred, tc.access)
			took := time.Since(start)
			t.Logf("took %s, result %+v, error: %v", took.Round(time.Millisecond), res, err)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v (%s)", err, tc.wantErr, tc.reason)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error = %v, want it to wrap %v (%s)", err, tc.wantIs, tc.reason)
			}
			if tc.wantNot != nil && errors.Is(err, tc.wantNot) {
				t.Errorf("error = %v, must not wrap %v (%s)", err, tc.wantNot, tc.reason)
			}
			if err == nil && res.ConditionalWrites != tc.wantCW {
				t.Errorf("ConditionalWrites = %v, want %v (%s)", res.ConditionalWrites, tc.wantCW, tc.reason)
			}
			if took < tc.slowerBy {
				t.Errorf("probe gave up after %s: the first call was not retried for the propagation window", took)
			}
			assertNoSecrets(t, err, tc.cred)
			for _, b := range []string{bucket, otherBucket} {
				if keys := leftovers(t, mc, b); len(keys) != 0 {
					t.Errorf("probe left objects in %s: %v", b, keys)
				}
			}
		})
	}
}

// TestMinIOAnswers pins down what the prober's decisions rest on, as this MinIO answers it: a second
// If-None-Match put, a denied put and an unknown key.
func TestMinIOAnswers(t *testing.T) {
	srv, _ := startMinIO(t)
	ctx := context.Background()
	p := New()
	clientFor := func(cred provider.Credential) *call {
		c, _, err := p.client(minioSettings(srv), cred)
		if err != nil {
			t.Fatal(err)
		}
		return &call{client: c, bucket: bucket}
	}
	root := clientFor(provider.Credential{AccessKeyID: srv.RootUser, SecretAccessKey: srv.RootPassword})
	ro := clientFor(assumeRole(t, srv, policy(bucket, "s3:GetObject")))
	unknown := clientFor(provider.Credential{AccessKeyID: "AKIDUNKNOWN0123456789", SecretAccessKey: "unknown-secret"})

	key, body := probeObject()
	if err := root.put(ctx, key, body, true); err != nil {
		t.Fatal(err)
	}
	defer root.remove(ctx, key)
	for _, tc := range []struct {
		name, reason string
		err          error
		code         string
		status       int
	}{
		{"second conditional put", "412 is what makes ConditionalWrites true", root.put(ctx, key, body, true), "PreconditionFailed", http.StatusPreconditionFailed},
		{"ReadOnly put", "403 AccessDenied is what a ReadOnly probe expects", ro.put(ctx, key+"-ro", body, false), "AccessDenied", http.StatusForbidden},
		{"unknown key", "InvalidAccessKeyId is retried as propagation", unknown.list(ctx), "InvalidAccessKeyId", http.StatusForbidden},
	} {
		code, status := errorCode(tc.err)
		t.Logf("%s: %d %s", tc.name, status, code)
		if code != tc.code || status != tc.status {
			t.Errorf("%s: got %d %q (%v), want %d %q (%s)", tc.name, status, code, tc.err, tc.status, tc.code, tc.reason)
		}
	}
}

func TestProbeFakeStores(t *testing.T) {
	cred := provider.Credential{ID: "fake", AccessKeyID: "AKIDFAKE", SecretAccessKey: "fake-secret-do-not-print", SessionToken: "fake-session-token-do-not-print"}
	cases := []struct {
		name, reason string
		store        *fakeS3
		access       provider.Access
		wantCW       bool
		wantIs       error
		wantErr      bool
	}{
		{
			name: "store ignores If-None-Match", reason: "the second conditional put succeeds, so use_lockfile would not lock",
			store: newFakeS3(bucket, "ignore"), access: provider.ReadWrite, wantCW: false,
		},
		{
			name: "store rejects If-None-Match", reason: "501 on the conditional put: plain writes still prove ReadWrite, locking is off",
			store: newFakeS3(bucket, "reject"), access: provider.ReadWrite, wantCW: false,
		},
		{
			name: "store honours If-None-Match", reason: "412 on the second put proves locking",
			store: newFakeS3(bucket, "honour"), access: provider.ReadWrite, wantCW: true,
		},
		{
			name: "key propagates within the window", reason: "a few InvalidAccessKeyId answers right after issue are waited out",
			store: func() *fakeS3 {
				f := newFakeS3(bucket, "honour")
				f.denyCode, f.denyCount = "InvalidAccessKeyId", 2
				return f
			}(),
			access: provider.ReadWrite, wantCW: true,
		},
		{
			name: "store echoes the secret", reason: "whatever the store says, the secret and token never reach the error",
			store: func() *fakeS3 {
				f := newFakeS3(bucket, "honour")
				f.denyCode, f.denyCount = "SignatureDoesNotMatch", -1
				f.denyMessage = "string to sign used " + cred.SecretAccessKey + " and token " + cred.SessionToken
				return f
			}(),
			access: provider.ReadWrite, wantErr: true, wantIs: provider.ErrCredentialNotYetValid,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.store)
			defer srv.Close()
			p := New(WithPropagationWindow(500 * time.Millisecond))
			p.firstDelay = 20 * time.Millisecond
			settings := provider.BackendSettings{Region: "garage", EndpointURL: srv.URL, UsePathStyle: true, S3Compatible: true}
			res, err := p.Probe(context.Background(), settings, bucket, cred, tc.access)
			t.Logf("result %+v, error: %v", res, err)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v (%s)", err, tc.wantErr, tc.reason)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error = %v, want it to wrap %v (%s)", err, tc.wantIs, tc.reason)
			}
			if err == nil && res.ConditionalWrites != tc.wantCW {
				t.Errorf("ConditionalWrites = %v, want %v (%s)", res.ConditionalWrites, tc.wantCW, tc.reason)
			}
			assertNoSecrets(t, err, cred)
			if keys := tc.store.keys(); len(keys) != 0 {
				t.Errorf("probe left objects: %v", keys)
			}
			var conditional int
			for _, r := range tc.store.seen() {
				if r.SecurityToken != cred.SessionToken {
					t.Errorf("%s %s sent session token %q, want the credential's", r.Method, r.Path, r.SecurityToken)
				}
				if r.Method == http.MethodPut && r.IfNoneMatch == "*" {
					conditional++
				}
			}
			if !tc.wantErr && tc.store.ifNoneMatch != "reject" && conditional != 2 {
				t.Errorf("sent %d conditional puts, want 2", conditional)
			}
		})
	}
}

func TestProbeCABundle(t *testing.T) {
	store := newFakeS3(bucket, "honour")
	srv := httptest.NewUnstartedServer(store)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	cred := provider.Credential{AccessKeyID: "AKIDFAKE", SecretAccessKey: "fake-secret"}
	bundle := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	cases := []struct {
		name, reason, caBundle string
		wantErr                error // nil: success
	}{
		{name: "private CA in the bundle", reason: "a store behind a private CA is reached with the published bundle", caBundle: bundle},
		{name: "no bundle", reason: "without the bundle the certificate is untrusted", wantErr: errors.New("any")},
		{name: "bundle without certificates", reason: "a bundle that holds no certificate is a configuration error", caBundle: "not PEM", wantErr: provider.ErrInvalidConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			settings := provider.BackendSettings{Region: "us-east-1", EndpointURL: srv.URL, UsePathStyle: true, S3Compatible: true, CABundle: tc.caBundle}
			res, err := New(WithPropagationWindow(0)).Probe(context.Background(), settings, bucket, cred, provider.ReadWrite)
			t.Logf("result %+v, error: %v", res, err)
			switch {
			case tc.wantErr == nil && (err != nil || !res.ConditionalWrites):
				t.Errorf("got %+v, %v; want ConditionalWrites (%s)", res, err, tc.reason)
			case tc.wantErr != nil && err == nil:
				t.Errorf("probe succeeded, want an error (%s)", tc.reason)
			case tc.wantErr == provider.ErrInvalidConfig && !errors.Is(err, provider.ErrInvalidConfig):
				t.Errorf("error = %v, want ErrInvalidConfig (%s)", err, tc.reason)
			}
			if errors.Is(err, provider.ErrCredentialNotYetValid) {
				t.Errorf("a TLS failure is not a propagation problem: %v", err)
			}
		})
	}
}

// TestProbeInvalidInput covers what fails before any request.
func TestProbeInvalidInput(t *testing.T) {
	cred := provider.Credential{AccessKeyID: "AKID", SecretAccessKey: "secret"}
	ok := provider.BackendSettings{Region: "us-east-1", EndpointURL: "http://127.0.0.1:1", UsePathStyle: true}
	cases := []struct {
		name, reason string
		settings     provider.BackendSettings
		bucket       string
		cred         provider.Credential
		access       provider.Access
		wantIs       error
	}{
		{name: "malformed endpoint", reason: "a human must fix the endpoint", settings: provider.BackendSettings{EndpointURL: "127.0.0.1:9000"}, bucket: bucket, cred: cred, access: provider.ReadWrite, wantIs: provider.ErrInvalidConfig},
		{name: "no bucket", reason: "nothing to probe", settings: ok, cred: cred, access: provider.ReadWrite},
		{name: "no secret", reason: "an empty credential cannot sign", settings: ok, bucket: bucket, cred: provider.Credential{AccessKeyID: "AKID"}, access: provider.ReadWrite},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New().Probe(context.Background(), tc.settings, tc.bucket, tc.cred, tc.access)
			if err == nil {
				t.Fatalf("probe succeeded, want an error (%s)", tc.reason)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error = %v, want it to wrap %v (%s)", err, tc.wantIs, tc.reason)
			}
		})
	}
}

// TestProbeLeavesOnlyObjectsDeleteBucketRecognises: on a versioned bucket a probe's deleted object
// leaves versions behind; each must be one provider.IsOperatorObject recognises by its exact name,
// so deletionPolicy Delete removes them and counts anything else under the prefix as state.
func TestProbeLeavesOnlyObjectsDeleteBucketRecognises(t *testing.T) {
	srv, mc := startMinIO(t)
	ctx := context.Background()
	const versioned = "probe-versioned"
	if err := mc.MakeBucket(ctx, versioned, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := mc.EnableVersioning(ctx, versioned); err != nil {
		t.Fatal(err)
	}
	root := provider.Credential{ID: srv.RootUser, AccessKeyID: srv.RootUser, SecretAccessKey: srv.RootPassword}
	if _, err := New().Probe(ctx, minioSettings(srv), versioned, root, provider.ReadWrite); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for o := range mc.ListObjects(ctx, versioned, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if len(keys) == 0 {
		t.Fatal("a probe of a versioned bucket left no version: nothing was written")
	}
	for _, k := range keys {
		if !provider.IsOperatorObject(k) {
			t.Errorf("the probe left %q, which DeleteBucket would count as state", k)
		}
	}
}

// TestProbeLeavesNoConnectionOpen: each probe builds its own client, so a connection it left idle
// would be held by nobody but its transport's idle timeout (90 s): creating 1,000 Spaces backends
// at once kept hundreds of them, tens of MiB of the manager's memory, until the timeout. A probe
// closes what it opened.
func TestProbeLeavesNoConnectionOpen(t *testing.T) {
	var open atomic.Int64
	srv := httptest.NewUnstartedServer(newFakeS3(bucket, "honour"))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	cred := provider.Credential{AccessKeyID: "AKIDFAKE", SecretAccessKey: "fake-secret"}
	settings := provider.BackendSettings{Region: "us-east-1", EndpointURL: srv.URL, UsePathStyle: true, S3Compatible: true}
	if _, err := New(WithPropagationWindow(0)).Probe(context.Background(), settings, bucket, cred, provider.ReadWrite); err != nil {
		t.Fatal(err)
	}
	// The server notes a close when it reads EOF: wait for that state (bounded), not for a time.
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n != 0 {
		t.Errorf("%d connections still open after the probe returned", n)
	}
}
