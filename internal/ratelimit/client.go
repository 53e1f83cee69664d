package ratelimit

import (
	"context"
	"errors"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// Client returns c with every call (Settings excepted: it makes none) admitted by l first, so that
// all the clients of one provider account built around the same Limiter together stay under its
// limit. A call the provider refuses with a Retry-After blocks the whole account for that long: the
// other reconciles would only be refused too. The result implements provider.Checker exactly when
// c does, so the provider health check still finds it.
func Client(c provider.Client, l *Limiter) provider.Client {
	lc := &limited{next: c, l: l}
	if checker, ok := c.(provider.Checker); ok {
		return &limitedChecker{limited: lc, checker: checker}
	}
	return lc
}

type limited struct {
	next provider.Client
	l    *Limiter
}

// call waits for l, calls f, and blocks l when f's error carries a Retry-After.
func call[T any](c *limited, ctx context.Context, f func() (T, error)) (T, error) {
	if err := c.l.Wait(ctx); err != nil {
		var zero T
		return zero, err
	}
	v, err := f()
	var rl *provider.RateLimitedError
	if errors.As(err, &rl) && rl.RetryAfter > 0 {
		c.l.Block(rl.RetryAfter)
	}
	return v, err
}

// callErr is call for the methods that return only an error.
func callErr(c *limited, ctx context.Context, f func() error) error {
	_, err := call(c, ctx, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

func (c *limited) Settings() provider.BackendSettings { return c.next.Settings() }

func (c *limited) ObserveBucket(ctx context.Context, bucket string) (provider.BucketObservation, error) {
	return call(c, ctx, func() (provider.BucketObservation, error) { return c.next.ObserveBucket(ctx, bucket) })
}

func (c *limited) CreateBucket(ctx context.Context, req provider.BucketRequest) error {
	return callErr(c, ctx, func() error { return c.next.CreateBucket(ctx, req) })
}

func (c *limited) MarkBucket(ctx context.Context, bucket string, owner provider.Owner) error {
	return callErr(c, ctx, func() error { return c.next.MarkBucket(ctx, bucket, owner) })
}

func (c *limited) EnableVersioning(ctx context.Context, bucket string) error {
	return callErr(c, ctx, func() error { return c.next.EnableVersioning(ctx, bucket) })
}

func (c *limited) RepairBucketAccess(ctx context.Context, bucket string) (bool, error) {
	return call(c, ctx, func() (bool, error) { return c.next.RepairBucketAccess(ctx, bucket) })
}

func (c *limited) DeleteBucket(ctx context.Context, bucket string) error {
	return callErr(c, ctx, func() error { return c.next.DeleteBucket(ctx, bucket) })
}

func (c *limited) IssueCredential(ctx context.Context, req provider.CredentialRequest) (provider.Credential, error) {
	return call(c, ctx, func() (provider.Credential, error) { return c.next.IssueCredential(ctx, req) })
}

func (c *limited) ListCredentials(ctx context.Context, namePrefix string) ([]provider.CredentialInfo, error) {
	return call(c, ctx, func() ([]provider.CredentialInfo, error) { return c.next.ListCredentials(ctx, namePrefix) })
}

func (c *limited) RevokeCredential(ctx context.Context, id string) error {
	return callErr(c, ctx, func() error { return c.next.RevokeCredential(ctx, id) })
}

func (c *limited) RepairGrant(ctx context.Context, id string, req provider.CredentialRequest) (bool, error) {
	return call(c, ctx, func() (bool, error) { return c.next.RepairGrant(ctx, id, req) })
}

type limitedChecker struct {
	*limited
	checker provider.Checker
}

func (c *limitedChecker) Check(ctx context.Context) error {
	return callErr(c.limited, ctx, func() error { return c.checker.Check(ctx) })
}
