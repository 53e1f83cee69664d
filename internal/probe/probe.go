// Package probe proves an issued credential with signed S3 calls of its own before a StateBackend is
// declared Ready: the store's word that a key was issued says nothing about whether it works, what
// it may do, or whether the store honours the conditional writes Terraform's use_lockfile relies on.
//
// It implements provider.Prober for every S3-speaking store with aws-sdk-go-v2's S3 client, built
// from s3.Options directly (no shared config files, no environment): the prober must use exactly the
// credential under test and nothing the operator's process happens to have.
package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/tfstate-operator/tfstate-operator/internal/egress"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

const (
	// DefaultPropagationWindow is how long the first call of a probe is retried while the store does
	// not accept the credential yet. New keys typically become valid within a few seconds; the
	// controller requeues on provider.ErrCredentialNotYetValid, so a longer wait belongs there, not
	// in a reconcile blocked on this call.
	DefaultPropagationWindow = 10 * time.Second

	// requestTimeout bounds each HTTP request: a probe object is a few bytes.
	requestTimeout = 30 * time.Second
	// maxAttempts bounds the SDK's own retries of throttling, 5xx and network errors per call.
	maxAttempts = 3
	// cleanupTimeout bounds the best-effort delete of a probe object after the caller's context
	// is done.
	cleanupTimeout = 15 * time.Second
)

// Prober implements provider.Prober. It is safe for concurrent use: each Probe builds its own S3
// client from the settings and credential it is given.
type Prober struct {
	window     time.Duration
	httpClient *http.Client
	firstDelay time.Duration
	maxDelay   time.Duration
}

// Option configures a Prober.
type Option func(*Prober)

// WithPropagationWindow sets how long the first call is retried, with backoff, while the store
// rejects the credential as unknown or not yet authorised, before Probe gives up with an error
// wrapping provider.ErrCredentialNotYetValid. Zero or less tries once.
func WithPropagationWindow(d time.Duration) Option {
	return func(p *Prober) { p.window = d }
}

// WithHTTPClient makes every probe use c as is (tests, proxies). BackendSettings.CABundle is then
// ignored: c's transport decides which certificates are trusted.
func WithHTTPClient(c *http.Client) Option {
	return func(p *Prober) { p.httpClient = c }
}

// New returns a Prober.
func New(opts ...Option) *Prober {
	p := &Prober{window: DefaultPropagationWindow, firstDelay: 250 * time.Millisecond, maxDelay: 2 * time.Second}
	for _, o := range opts {
		o(p)
	}
	return p
}

var _ provider.Prober = (*Prober)(nil)

// Probe implements provider.Prober.
//
// ReadWrite: list under provider.ReservedPrefix; put a random probe object with If-None-Match: *;
// put it again the same way, which must be refused (412 PreconditionFailed or 409
// ConditionalRequestConflict) for ConditionalWrites to be true; get it back and compare; delete it.
// The probe object is deleted on every path once it may exist.
//
// ReadOnly: list must succeed and a put under provider.ReservedPrefix must be denied (403). A put
// that succeeds is undone and reported as provider.ErrCredentialTooBroad.
//
// The first call is retried for the propagation window while the store answers
// InvalidAccessKeyId, SignatureDoesNotMatch, InvalidToken(Id) or AccessDenied; after that the error
// wraps provider.ErrCredentialNotYetValid. NoSuchBucket and every other failure are returned as
// plain (retryable) errors; an unusable endpoint or CA bundle wraps provider.ErrInvalidConfig. No
// error ever contains the secret key or the session token.
func (p *Prober) Probe(ctx context.Context, settings provider.BackendSettings, bucket string, cred provider.Credential, access provider.Access) (res provider.ProbeResult, err error) {
	defer func() { err = scrub(err, cred) }()
	if bucket == "" {
		return res, errors.New("probe: no bucket given")
	}
	if cred.AccessKeyID == "" || cred.SecretAccessKey == "" {
		return res, errors.New("probe: credential has no access key id or secret key")
	}
	if access != provider.ReadWrite && access != provider.ReadOnly {
		return res, fmt.Errorf("probe: unknown access %q", access)
	}
	client, hc, err := p.client(settings, cred)
	if err != nil {
		return res, err
	}
	if p.httpClient == nil || settings.RefuseLocalEndpoints {
		// The transport is this probe's alone: a connection left idle in it would stay open
		// (and its buffers and goroutines in memory) until the idle timeout.
		defer hc.CloseIdleConnections()
	}
	c := &call{client: client, bucket: bucket}
	if err := p.untilAccepted(ctx, c.list); err != nil {
		return res, fmt.Errorf("probe: access key %s: list objects in bucket %q: %w", cred.AccessKeyID, bucket, err)
	}
	if access == provider.ReadOnly {
		return res, c.readOnly(ctx)
	}
	return c.readWrite(ctx)
}

// client builds an S3 client for exactly this store and credential, and returns the HTTP client
// it sends with.
func (p *Prober) client(settings provider.BackendSettings, cred provider.Credential) (*s3.Client, *http.Client, error) {
	o := s3.Options{
		Region:       settings.Region,
		UsePathStyle: settings.UsePathStyle,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{
				AccessKeyID:     cred.AccessKeyID,
				SecretAccessKey: cred.SecretAccessKey,
				SessionToken:    cred.SessionToken,
				Source:          "tfstate-operator probe",
			}, nil
		}),
		Retryer: retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.MaxBackoff = 2 * time.Second
			// A probe is a handful of calls on a fresh client: the client-side retry quota only
			// matters for long-lived clients under sustained failure.
			so.RateLimiter = ratelimit.None
			// An untrusted certificate does not become trusted on the next attempt.
			so.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				var cv *tls.CertificateVerificationError
				if errors.As(err, &cv) {
					return aws.FalseTernary
				}
				return aws.UnknownTernary
			})}, so.Retryables...)
		}),
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if settings.EndpointURL != "" {
		u, err := url.Parse(settings.EndpointURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, fmt.Errorf("probe: endpoint %q is not an http(s) URL: %w", settings.EndpointURL, provider.ErrInvalidConfig)
		}
		o.BaseEndpoint = aws.String(settings.EndpointURL)
	}
	if settings.S3Compatible {
		// Most S3-compatible stores reject the checksum trailers the SDK sends by default; send
		// and validate checksums only where the operation requires them, as Terraform is told to.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	switch {
	case p.httpClient != nil:
		o.HTTPClient = p.httpClient
	default:
		hc, err := httpClient(settings.CABundle)
		if err != nil {
			return nil, nil, err
		}
		o.HTTPClient = hc
	}
	if settings.RefuseLocalEndpoints {
		guarded, err := egress.Client(o.HTTPClient.(*http.Client))
		if err != nil {
			return nil, nil, err
		}
		o.HTTPClient = guarded
	}
	hc, _ := o.HTTPClient.(*http.Client)
	return s3.New(o), hc, nil
}

// httpClient trusts the system roots plus caBundle, so a store behind a private CA is probed the
// way its runners will reach it.
func httpClient(caBundle string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caBundle != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(caBundle)) {
			return nil, fmt.Errorf("probe: CA bundle holds no PEM certificate: %w", provider.ErrInvalidConfig)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}, nil
}

// untilAccepted runs fn until the store accepts the credential or the propagation window ends; the
// last attempt is made at the end of the window.
func (p *Prober) untilAccepted(ctx context.Context, fn func(context.Context) error) error {
	deadline := time.Now().Add(p.window)
	delay := p.firstDelay
	for {
		err := fn(ctx)
		if err == nil || !notYetAccepted(err) {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			code, _ := errorCode(err)
			return fmt.Errorf("%w (the store still answers %s after %s; a credential that keeps failing this way may be scoped wrongly): %w",
				provider.ErrCredentialNotYetValid, code, p.window, err)
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, p.maxDelay)
	}
}

// notYetAccepted reports whether err is how stores answer a credential they have not propagated
// yet: an unknown key (InvalidAccessKeyId, or SignatureDoesNotMatch while the secret is not
// everywhere), an unknown session token (InvalidToken on AWS, InvalidTokenId on MinIO), or a key
// whose policy is not attached everywhere yet (AccessDenied).
func notYetAccepted(err error) bool {
	code, _ := errorCode(err)
	switch code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "InvalidTokenId", "AccessDenied":
		return true
	}
	return false
}

// errorCode returns the S3 error code and HTTP status of err, "" and 0 when it carries none.
func errorCode(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// call is one probe's client and bucket.
type call struct {
	client *s3.Client
	bucket string
}

func (c *call) list(ctx context.Context) error {
	_, err := c.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:  aws.String(c.bucket),
		Prefix:  aws.String(provider.ReservedPrefix),
		MaxKeys: aws.Int32(1),
	})
	return redact(err)
}

func (c *call) put(ctx context.Context, key string, body []byte, ifNoneMatch bool) error {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(c.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("text/plain"),
	}
	if ifNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	_, err := c.client.PutObject(ctx, in)
	return redact(err)
}

// remove deletes key best effort, even when ctx is already done.
func (c *call) remove(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := c.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(key)})
	return redact(err)
}

// redact describes an S3 error by its status and code, never the reply's message: the endpoint is
// a tenant's choice when the provider is a StorageProvider.
func redact(err error) error {
	if err == nil {
		return nil
	}
	code, status := errorCode(err)
	return provider.Redact(err, status, code)
}

func (c *call) readWrite(ctx context.Context) (res provider.ProbeResult, err error) {
	key, body := probeObject()
	// From here on the probe object may exist, whatever happens: delete it on every path.
	defer c.cleanup(ctx, key, &err)

	perr := c.put(ctx, key, body, true)
	if code, status := errorCode(perr); perr != nil && (status == http.StatusNotImplemented || code == "NotImplemented") {
		// The store rejects If-None-Match outright: writes may still work, locking cannot.
		if perr = c.put(ctx, key, body, false); perr != nil {
			return res, fmt.Errorf("probe: put of %q in bucket %q: %w", key, c.bucket, perr)
		}
		return res, c.readBack(ctx, key, body)
	}
	if perr != nil {
		return res, fmt.Errorf("probe: conditional put of %q in bucket %q: %w", key, c.bucket, perr)
	}

	// The same conditional put again: a store that honours If-None-Match refuses it, which is
	// what makes Terraform's use_lockfile a lock rather than a plain write.
	perr = c.put(ctx, key, body, true)
	code, status := errorCode(perr)
	switch {
	case perr == nil:
		res.ConditionalWrites = false
	case status == http.StatusPreconditionFailed || code == "PreconditionFailed" ||
		status == http.StatusConflict || code == "ConditionalRequestConflict":
		res.ConditionalWrites = true
	case status == http.StatusNotImplemented || code == "NotImplemented":
		res.ConditionalWrites = false
	default:
		return res, fmt.Errorf("probe: second conditional put of %q in bucket %q: %w", key, c.bucket, perr)
	}
	return res, c.readBack(ctx, key, body)
}

func (c *call) readBack(ctx context.Context, key string, want []byte) error {
	out, err := c.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("probe: get %q from bucket %q: %w", key, c.bucket, redact(err))
	}
	defer out.Body.Close()
	got, err := io.ReadAll(io.LimitReader(out.Body, int64(len(want))+1024))
	if err != nil {
		return fmt.Errorf("probe: read %q from bucket %q: %w", key, c.bucket, redact(err))
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("probe: %q read back from bucket %q differs from what was written (%d bytes, want %d)", key, c.bucket, len(got), len(want))
	}
	return nil
}

// cleanup deletes the probe object; a failed delete becomes the probe's error if it had none, since
// a ReadWrite credential that cannot delete cannot release Terraform's lock file either.
func (c *call) cleanup(ctx context.Context, key string, err *error) {
	if derr := c.remove(ctx, key); derr != nil && *err == nil {
		*err = fmt.Errorf("probe: delete %q from bucket %q: %w", key, c.bucket, derr)
	}
}

func (c *call) readOnly(ctx context.Context) error {
	key, body := probeObject()
	err := c.put(ctx, key, body, false)
	if err == nil {
		msg := fmt.Sprintf("probe: a ReadOnly credential could write %q in bucket %q", key, c.bucket)
		if derr := c.remove(ctx, key); derr != nil {
			msg += fmt.Sprintf(" (and the object could not be deleted: %v)", derr)
		}
		return fmt.Errorf("%s: %w", msg, provider.ErrCredentialTooBroad)
	}
	if code, status := errorCode(err); status == http.StatusForbidden || code == "AccessDenied" {
		return nil
	}
	// Not denied, not written: the put failed for another reason (a timeout may even have let it
	// land), so nothing is proven.
	_ = c.remove(ctx, key)
	return fmt.Errorf("probe: put of %q in bucket %q was not denied as a ReadOnly credential's must be: %w", key, c.bucket, err)
}

// probeObject returns a fresh probe key (provider.ProbeKey: 16 random bytes in lowercase hex, the
// exact shape DeleteBucket recognises as the operator's own) and its content.
func probeObject() (key string, body []byte) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	return provider.ProbeKey(id), []byte("tfstate-operator credential probe " + id + "\n")
}

// scrub keeps the secret key and session token out of err's message, whatever a store echoed back.
func scrub(err error, cred provider.Credential) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range []string{cred.SecretAccessKey, cred.SessionToken} {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "[REDACTED]")
		}
	}
	if clean == msg {
		return err
	}
	return &scrubbed{msg: clean, err: err}
}

// scrubbed is an error with a redacted message that still matches its chain with errors.Is/As.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
